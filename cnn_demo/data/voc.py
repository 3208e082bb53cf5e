"""PASCAL VOC, the segmentation benchmark the lecture's examples use: its class names and its colour map.

One home for both: dataset readers, figures and the segmentation application all draw class ``i`` in the colour VOC's
own tools give it, and 255 (the void border VOC leaves unlabelled) in VOC's cream.
"""

from __future__ import annotations

import numpy as np

#: The 20 VOC object classes after background, in label order.
VOC_CLASSES: tuple[str, ...] = (
    "background",
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "dining table",
    "dog",
    "horse",
    "motorbike",
    "person",
    "potted plant",
    "sheep",
    "sofa",
    "train",
    "tv/monitor",
)


def voc_palette(n: int = 256) -> np.ndarray:
    """The PASCAL VOC colour map (n×3 uint8): class i gets the colour VOC's own tools give it.

    VOC's devkit spreads the bits of ``i`` over the three channels, high bits first: 1 is (128, 0, 0), 2 is
    (0, 128, 0), 15 ("person") is (192, 128, 128) and 255 (void) is (224, 224, 192).
    """
    out = np.zeros((n, 3), dtype=np.uint8)
    for i in range(n):
        c, r, g, b = i, 0, 0, 0
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        out[i] = (r, g, b)
    return out
