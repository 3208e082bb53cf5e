"""Input preprocessing of each model, read from where its weights were published (never hand-copied)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from torch import nn

from cnn_demo.errors import InputError
from cnn_demo.models.registry import get_info, model_name


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
        return math.floor(self.input_size[-1] / self.crop_pct + 1e-6)


def _torchvision_config(name: str) -> DataConfig:
    from cnn_demo.models.registry import torchvision_weights

    w = torchvision_weights(name)
    t = w.transforms()
    crop, resize = int(t.crop_size[0]), int(t.resize_size[0])
    return DataConfig(
        (3, crop, crop),
        tuple(float(v) for v in t.mean),
        tuple(float(v) for v in t.std),
        t.interpolation.value,
        crop / resize,
        f"torchvision {w}.transforms()",
    )


def _timm_config(cfg: dict, source: str) -> DataConfig:
    return DataConfig(
        tuple(int(v) for v in cfg["input_size"]),
        tuple(float(v) for v in cfg["mean"]),
        tuple(float(v) for v in cfg["std"]),
        str(cfg.get("interpolation", "bicubic")),
        float(cfg.get("crop_pct", 0.875)),
        source,
    )


def _imagenet_stats(name: str, size: tuple[int, int, int], why: str) -> DataConfig:
    from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

    return DataConfig(size, tuple(IMAGENET_DEFAULT_MEAN), tuple(IMAGENET_DEFAULT_STD), "bilinear", 1.0, why)


def data_config(name_or_model: str | nn.Module) -> DataConfig:
    """The :class:`DataConfig` of a registry name or of a model (from :func:`create`, or any timm model).

    torchvision models: their weights entry's ``transforms()``; timm models: their ``pretrained_cfg``; the CIFAR
    ResNets: 32×32 with the ImageNet mean/std their training code uses (timm.data constants); MyConvNet
    (untrained in the lecture): 32×32 with the same statistics.
    """
    if isinstance(name_or_model, nn.Module):
        name = model_name(name_or_model)
        if name is None:
            cfg = getattr(name_or_model, "pretrained_cfg", None)
            if cfg:
                from timm.data import resolve_model_data_config

                return _timm_config(resolve_model_data_config(name_or_model), "timm pretrained_cfg")
            raise InputError("This model was not created by cnn_demo.models.create, so its input format is unknown.")
    else:
        name = name_or_model
    info = get_info(name)
    if info.source == "torchvision":
        return _torchvision_config(name)
    if info.source == "timm":
        import timm

        cfg = timm.models.get_pretrained_cfg(name.removeprefix("timm/"))
        return _timm_config(cfg.to_dict(), f"timm pretrained_cfg of {name.removeprefix('timm/')}")
    if info.source == "cifar":
        return _imagenet_stats(name, info.input_size, "akamaster/pytorch_resnet_cifar10 (ImageNet mean/std)")
    return _imagenet_stats(name, info.input_size, "ImageNet mean/std (MyConvNet has no published weights)")


def transform(cfg: DataConfig, train: bool = False) -> nn.Module:
    """A torchvision transform from a PIL image (or uint8 tensor) to the normalised float tensor a model expects.

    Evaluation: resize the shorter side to ``cfg.resize_size``, centre-crop ``input_size``. Training: a random
    resized crop and a horizontal flip, the standard light augmentation for fine-tuning. PIL images are
    resized by PIL, exactly as torchvision's and timm's own evaluation transforms do.
    """
    import torch
    from torchvision.transforms import InterpolationMode, v2

    size = tuple(cfg.input_size[1:])
    interp = InterpolationMode(cfg.interpolation)
    if train:
        geometry = [v2.RandomResizedCrop(size, interpolation=interp, antialias=True), v2.RandomHorizontalFlip()]
    else:
        resize = cfg.resize_size if size[0] == size[1] else tuple(math.floor(s / cfg.crop_pct + 1e-6) for s in size)
        geometry = [v2.Resize(resize, interpolation=interp, antialias=True), v2.CenterCrop(size)]
    return v2.Compose(
        [
            *geometry,
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
