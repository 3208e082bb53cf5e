"""One PASCAL VOC colour map and class list (cnn_demo.data.voc), used by the dataset figures and segmentation."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from cnn_demo.applications import segmentation as S
from cnn_demo.data import datasets, figures, voc


def test_palette_has_vocs_published_colours():
    palette = voc.voc_palette()
    assert palette.shape == (256, 3) and palette.dtype == np.uint8
    # VOCdevkit's labelcolormap: background, aeroplane, bicycle, bird; person; and the void border 255.
    assert palette[:4].tolist() == [[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0]]
    assert tuple(palette[15]) == (192, 128, 128)
    assert tuple(palette[255]) == (224, 224, 192)
    assert len({tuple(c) for c in palette}) == 256  # every index its own colour
    np.testing.assert_array_equal(voc.voc_palette(21), palette[:21])


def test_segmentation_and_figures_use_the_one_palette():
    np.testing.assert_array_equal(figures.VOC_COLOURS, voc.voc_palette())
    assert not figures.VOC_COLOURS.flags.writeable
    assert figures.colour_hex(15) == "#c08080"
    mask = np.array([[0, 1, 2], [3, 15, 255]], dtype=np.uint8)
    drawn = figures.colourise(mask, figures.PREVIEW_COLOURS)
    np.testing.assert_array_equal(drawn[0], voc.voc_palette()[:3])
    assert tuple(drawn[1, 1]) == (192, 128, 128)
    assert tuple(drawn[1, 2]) == (255, 255, 255)  # ignore drawn white in dataset previews
    np.testing.assert_array_equal(figures.colourise(mask)[1, 2], (224, 224, 192))  # VOC's own void colour
    png = Image.open(io.BytesIO(S.mask_png(mask)))
    assert png.mode == "P" and png.getpalette()[: 3 * 4] == [0, 0, 0, 128, 0, 0, 0, 128, 0, 128, 128, 0]


def test_voc_class_names_have_one_home():
    assert datasets.VOC_CLASSES is voc.VOC_CLASSES
    assert len(voc.VOC_CLASSES) == 21 and voc.VOC_CLASSES[0] == "background" and voc.VOC_CLASSES[15] == "person"
