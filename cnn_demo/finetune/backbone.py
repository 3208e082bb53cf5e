"""Backbones as feature extractors (cnn_demo.models names or timm names) and what the page shows about them."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from cnn_demo.errors import InputError
from cnn_demo.finetune.config import HeadSpec, build_head
from cnn_demo.models.data import DataConfig


def preprocessing_fields(cfg: DataConfig) -> dict[str, Any]:
    """A backbone's square-input preprocessing as exports (config.json's ``preprocessing``) and feature-cache keys
    record it: ``input_size`` (one side), ``mean``, ``std``, ``crop_pct``, ``interpolation``."""
    return {
        "input_size": int(cfg.input_size[-1]),
        "mean": tuple(cfg.mean),
        "std": tuple(cfg.std),
        "crop_pct": float(cfg.crop_pct),
        "interpolation": cfg.interpolation,
    }


@dataclass
class Backbone:
    """A feature extractor: ``features(x)`` gives pooled ``(N, num_features)`` features."""

    name: str
    features: nn.Module
    num_features: int
    stages: list[nn.Module]
    preprocess: DataConfig  # the backbone's own data config (cnn_demo.models.data_config, or timm's pretrained_cfg)
    pretrained: bool


def _from_models(name: str, pretrained: bool) -> Backbone | None:
    from cnn_demo import models

    if name not in models.list_models():
        return None
    model = models.create(name, pretrained=pretrained)
    module, nfeat = models.feature_extractor(model)
    return Backbone(name, module, int(nfeat), list(models.stages(model)), models.data_config(model), pretrained)


def _rgb(values: Sequence[float]) -> tuple[float, float, float]:
    """A per-channel mean or std as three floats."""
    r, g, b = (float(v) for v in values)
    return (r, g, b)


def _from_timm(name: str, pretrained: bool) -> Backbone:
    import timm

    if not timm.is_model(name):
        raise InputError(f"Unknown backbone {name!r}; choose one of {', '.join(backbone_choices())} or a timm name.")
    try:
        model = timm.create_model(name, pretrained=pretrained, num_classes=0)
    except Exception as exc:
        raise InputError(
            f"Pretrained weights for {name} are not available on this server; choose 'no pretrained weights' "
            "or another backbone."
        ) from exc
    raw_cfg: Any = model.pretrained_cfg  # a dict (typed as a Module attribute)
    cfg: dict[str, Any] = dict(raw_cfg)
    size = int(cfg.get("input_size", (3, 224, 224))[-1])
    pre = DataConfig(
        (3, size, size),
        _rgb(cfg.get("mean", (0.485, 0.456, 0.406))),
        _rgb(cfg.get("std", (0.229, 0.224, 0.225))),
        str(cfg.get("interpolation", "bilinear")),
        float(cfg.get("crop_pct", 0.875)),
        f"timm pretrained_cfg of {name}",
    )
    stages = [model.get_submodule(f["module"]) for f in getattr(model, "feature_info", [])]
    nfeat: Any = model.num_features
    return Backbone(name, model, int(nfeat), stages, pre, pretrained)


def load_backbone(name: str, pretrained: bool = True) -> Backbone:
    """The backbone ``name`` as a feature extractor: a ``cnn_demo.models`` name, or any other timm model name."""
    if not isinstance(name, str) or not name:
        raise InputError("Choose a backbone.")
    found = _from_models(name, pretrained)
    if found is not None:
        return found
    return _from_timm(name, pretrained)


def backbone_choices() -> list[str]:
    """Backbone names offered by the page: every model of ``cnn_demo.models``."""
    from cnn_demo import models

    return list(models.list_models())


@functools.cache
def backbone_num_features(name: str) -> int:
    """Width of ``name``'s pooled features, read from a weightless (meta-device) copy: no memory, no init time."""
    from cnn_demo import models

    with torch.device("meta"):
        model = models.create(name, pretrained=False)
    return int(models.num_features(model))


def head_module(backbone: str, num_classes: int, spec: HeadSpec) -> str:
    """The printed head module that training ``backbone`` with ``spec`` will create."""
    return str(build_head(backbone_num_features(backbone), num_classes, spec))


IMAGE_SIZES: tuple[int, ...] = (32, 48, 64, 96, 128, 160, 192, 224, 256, 288, 320)


def image_size_choices(default: int) -> list[int]:
    """Image sizes the page offers: the usual ones from 32 to 320 px, plus the backbone's own ``default``."""
    return sorted({*IMAGE_SIZES, int(default)})


def describe_backbone(name: str) -> dict[str, Any]:
    """What the page shows before training: description, preprocessing, and whether weights are on this server."""
    from cnn_demo import models, weights

    info = models.get_info(name)
    cfg = models.data_config(name)
    found = weights.find(name) if info.has_pretrained else None
    return {
        "description": info.description,
        "params": info.params,
        "heavy": info.heavy,
        "has_pretrained": info.has_pretrained,
        "weights_here": found is not None,
        # where the pretrained weights were found, in words ("installed package …", "weights folder"), or ""
        "weights_origin": weights.origin(name, found) if found is not None else "",
        "input_size": int(cfg.input_size[-1]),
        "mean": tuple(round(float(m), 4) for m in cfg.mean),
        "std": tuple(round(float(v), 4) for v in cfg.std),
        "crop_pct": float(cfg.crop_pct),
        "interpolation": cfg.interpolation,
        "source": cfg.source,
    }
