"""Input preprocessing of each model, read from where its weights were published (never hand-copied)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from cnn_demo.errors import InputError


@dataclass(frozen=True)
class DataConfig:
    """How images must be prepared for a model: evaluation ``input_size`` (C, H, W), normalisation, resizing.

    At evaluation the image is resized so its shorter side is ``input_size / crop_pct`` and centre-cropped
    to ``input_size`` (torchvision's and timm's recipe). ``source`` says where the numbers were read.
    """

    input_size: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    interpolation: str = "bilinear"
    crop_pct: float = 1.0
    source: str = ""

    @property
    def resize_size(self) -> int:
        """Shorter side after the evaluation resize, before the centre crop."""
        return resize_side(self.input_size[-1], self.crop_pct)


def resize_side(size: int, crop_pct: float) -> int:
    """The evaluation resize before a centre crop of ``size``: ``size / crop_pct`` (never below ``size``)."""
    return max(int(size), math.floor(size / max(crop_pct, 0.1) + 1e-6))


@dataclass(frozen=True)
class Augment:
    """Random training-time changes: a random resized crop keeping ``crop_scale`` to all of the image's area (else a
    resize and centre crop), a horizontal flip, colour jitter of strength ``jitter`` (0 = off).

    The defaults are the standard light augmentation for fine-tuning (torchvision's random resized crop and flip).
    """

    flip: bool = True
    crop: bool = True
    crop_scale: float = 0.08
    jitter: float = 0.0

    @property
    def enabled(self) -> bool:
        """Whether any augmentation is on."""
        return self.flip or self.crop or self.jitter > 0

    def __post_init__(self) -> None:
        if not 0.05 <= self.crop_scale <= 1.0:
            raise InputError("The crop scale must be between 0.05 and 1.")
        if not 0.0 <= self.jitter <= 1.0:
            raise InputError("Colour jitter must be between 0 and 1.")


def transform(
    cfg: DataConfig,
    train: bool | Augment = False,
    *,
    size: int | None = None,
    generator: torch.Generator | None = None,
) -> nn.Module:
    """A torchvision transform from a PIL image (or uint8 tensor) to the normalised float tensor a model expects.

    Evaluation (``train`` false, or an :class:`Augment` with nothing enabled): resize the shorter side to
    ``input_size / crop_pct``, centre-crop ``input_size``. Training: ``train=True`` is the standard light
    augmentation (``Augment()``: random resized crop and horizontal flip), an :class:`Augment` says which changes.
    ``size`` replaces the square input size (fine-tuning at another resolution). The random ops draw from
    ``generator`` when given (a preview that leaves torch's global generator, shared by all sessions, alone), else
    from the global one exactly as torchvision's own ops. PIL images are resized by PIL, exactly as torchvision's
    and timm's own evaluation transforms do.
    """
    from torchvision.transforms import InterpolationMode, v2

    from cnn_demo.models.augment import ColorJitter, HorizontalFlip, ResizedCrop

    hw = (size, size) if size else tuple(cfg.input_size[1:])
    square = hw[0] if hw[0] == hw[1] else hw
    try:
        interp = InterpolationMode(cfg.interpolation)
    except ValueError:
        interp = InterpolationMode.BILINEAR
    augment = (Augment() if train else None) if isinstance(train, bool) else train
    if augment is None or not augment.enabled:
        resize = resize_side(hw[0], cfg.crop_pct) if hw[0] == hw[1] else tuple(resize_side(s, cfg.crop_pct) for s in hw)
        ops = [v2.Resize(resize, interpolation=interp, antialias=True), v2.CenterCrop(hw)]
    else:
        if augment.crop:
            scale = (augment.crop_scale, 1.0)
            ops = [ResizedCrop(hw, scale=scale, interpolation=interp, antialias=True, generator=generator)]
        else:
            ops = [v2.Resize(square, interpolation=interp, antialias=True), v2.CenterCrop(hw)]
        if augment.flip:
            ops.append(HorizontalFlip(generator=generator))
        if augment.jitter > 0:
            j = augment.jitter
            ops.append(ColorJitter(brightness=j, contrast=j, saturation=j, hue=min(0.5, j / 4), generator=generator))
    return v2.Compose(
        [
            *ops,
            v2.ToImage(),
            v2.RGB(),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(mean=list(cfg.mean), std=list(cfg.std)),
        ]
    )


@dataclass(frozen=True)
class ChannelRange:
    """One channel of a model's input: its normalisation and the values it can and does take."""

    name: str
    mean: float
    std: float
    lo: float  # (0 − mean) / std: a black pixel
    hi: float  # (1 − mean) / std: a full-intensity pixel
    image_min: float  # this image's smallest value in the model's tensor
    image_max: float


@dataclass(frozen=True)
class InputTensor:
    """What a model receives for one picture, step by step: (H, W, C) 0..255 → (C, H, W) → /255 → (x − mean)/std.

    ``tensor`` is the model's own evaluation transform applied to the image (resize, centre crop, /255,
    normalise), a (C, H, W) float32 array; a batch of one adds the leading 1 of ``batch_shape``.
    """

    image_shape: tuple[int, ...]  # the picture as NumPy holds it, (H, W) or (H, W, 3)
    chw_shape: tuple[int, int, int]  # the same picture as a (C, H, W) tensor (C = 1 for grayscale), before resizing
    batch_shape: tuple[int, int, int, int]  # what the model's forward receives
    channels: tuple[ChannelRange, ...]
    tensor: np.ndarray
    config: DataConfig

    def pixel(self, value: float, channel: int) -> tuple[float, float]:
        """One 0..255 value of ``channel`` after ``/255`` and after normalisation."""
        c = self.channels[channel]
        scaled = float(value) / 255.0
        return scaled, (scaled - c.mean) / c.std


def input_tensor(image, cfg: DataConfig) -> InputTensor:
    """The tensor a model with data config ``cfg`` receives for a picture (PIL image, or an (H, W[, 3]) array of
    0..255 values); grayscale is repeated to RGB, as the model's transform does."""
    from PIL import Image

    if isinstance(image, np.ndarray):
        image = Image.fromarray(np.clip(np.rint(image), 0, 255).astype(np.uint8))
    if not isinstance(image, Image.Image):
        raise InputError("input_tensor needs a picture (a PIL image or an array of 0..255 values).")
    arr = np.asarray(image)
    h, w = arr.shape[:2]
    with _no_grad():
        t = transform(cfg)(image).numpy()
    names = ("red", "green", "blue") if t.shape[0] == 3 else tuple(f"channel {i}" for i in range(t.shape[0]))
    channels = tuple(
        ChannelRange(
            names[c],
            float(cfg.mean[c]),
            float(cfg.std[c]),
            (0.0 - cfg.mean[c]) / cfg.std[c],
            (1.0 - cfg.mean[c]) / cfg.std[c],
            float(t[c].min()),
            float(t[c].max()),
        )
        for c in range(t.shape[0])
    )
    c_in = 1 if arr.ndim == 2 else arr.shape[2]
    return InputTensor(tuple(arr.shape), (c_in, h, w), (1, *t.shape), channels, t, cfg)


def _no_grad():
    import torch

    return torch.no_grad()
