"""Why sliding P-Net is a convolution: one 12×12 window through P-Net alone gives the map's value for that window."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F

from cnn_demo.applications.faces.cascade import STRIDE, WINDOW, FaceConfig, as_rgb, normalise, shrink
from cnn_demo.applications.faces.nets import MTCNN, build_mtcnn


@dataclass(frozen=True)
class WindowCheck:
    """One 12×12 window of a pyramid level: its pixels, P-Net's probability for it run alone, and the value the
    whole-image pass wrote into the probability map for it."""

    row: int
    col: int
    pixels: np.ndarray  # (12, 12, 3) uint8
    alone: float
    in_map: float


@torch.inference_mode()
def pnet_window(
    image: Image.Image | np.ndarray,
    scale: float,
    row: int,
    col: int,
    config: FaceConfig | None = None,
    model: MTCNN | None = None,
) -> WindowCheck:
    """Run P-Net once on the whole pyramid level of ``scale`` and once on the 12×12 window (``row``, ``col``) of it.

    P-Net has no padding and one stride-2 pooling, so its output cell (r, c) sees exactly the input pixels
    2r..2r+11 × 2c..2c+11: the two numbers agree (up to float rounding). Sliding a classifier over every window
    costs one convolutional pass.
    """
    config = config or FaceConfig()
    model = model if model is not None else build_mtcnn()
    work, _ = shrink(as_rgb(image), config.max_side)
    img = torch.from_numpy(np.asarray(work).copy()).permute(2, 0, 1)[None].float()
    h, w = img.shape[-2:]
    level = F.interpolate(img, size=(int(h * scale + 1), int(w * scale + 1)), mode="area")
    _, prob = model.pnet(normalise(level))
    # Windows wholly inside the level (with ceil_mode pooling the last cell may reach past the edge).
    row = int(np.clip(row, 0, min(prob.shape[1] - 1, (level.shape[-2] - WINDOW) // STRIDE)))
    col = int(np.clip(col, 0, min(prob.shape[2] - 1, (level.shape[-1] - WINDOW) // STRIDE)))
    y, x = STRIDE * row, STRIDE * col
    window = level[:, :, y : y + WINDOW, x : x + WINDOW]
    _, alone = model.pnet(normalise(window))
    pixels = window[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()
    return WindowCheck(row, col, pixels, float(alone.reshape(-1)[0]), float(prob[0, row, col]))
