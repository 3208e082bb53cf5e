"""Input preprocessing of each model, read from where its weights were published (never hand-copied)."""

from __future__ import annotations

import math
from dataclasses import dataclass

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
