"""Preprocessing of fine-tuning images (evaluation and training augmentation) and its preview."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from PIL import Image

from cnn_demo.finetune.config import AugmentSpec
from cnn_demo.models.data import DataConfig, transform


def make_transform(
    pre: DataConfig,
    augment: AugmentSpec | None = None,
    image_size: int | None = None,
    generator: torch.Generator | None = None,
) -> Callable:
    """PIL image → normalised tensor: resize + centre crop for evaluation, random augmentation for training.

    Built by the models' one transform builder (``cnn_demo.models.transform``) from the backbone's data config;
    ``image_size`` replaces its input size, the random ops draw from ``generator`` when given.
    """
    return transform(pre, augment or False, size=image_size, generator=generator)


def augment_preview(image: Image.Image, augment: AugmentSpec, n: int = 8, size: int = 128, seed: int = 0) -> np.ndarray:
    """``n`` augmented versions of ``image`` as uint8 ``(n, size, size, 3)`` arrays, for the page's preview.

    The draws come from a generator of its own seeded with ``seed``: torch's global generator, which every session
    of the server shares, is neither read nor changed, and the same seed gives the same preview.
    """
    pre = DataConfig((3, size, size), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), "bilinear", 1.0)
    tf = make_transform(pre, augment, generator=torch.Generator().manual_seed(int(seed)))
    out = [tf(image.convert("RGB")).permute(1, 2, 0).clamp(0, 1).mul(255).round().byte().numpy() for _ in range(n)]
    return np.stack(out)


def batch_tensor(images: Sequence[Image.Image], tf: Callable) -> torch.Tensor:
    """``images`` through ``tf``, stacked into one batch tensor."""
    return torch.stack([tf(im) for im in images])
