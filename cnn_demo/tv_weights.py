"""Pretrained COCO/VOC weights of torchvision's detection and segmentation networks, found and loaded offline.

The detection and segmentation modules ask for weights only here. Files are looked up by the exact name
torchvision would download, in the app's weights folder and torch hub's cache (:mod:`cnn_demo.weights`),
checked against the sha256 prefix in their name and loaded without unpickling arbitrary objects. Nothing is
ever downloaded; a missing file raises :class:`~cnn_demo.weights.WeightsMissing` saying which file to place where.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn
from torchvision.models import WeightsEnum

from cnn_demo import weights
from cnn_demo.errors import InputError
from cnn_demo.weights import WeightsMissing

__all__ = ["WeightsMissing", "find_weights_file", "load_pretrained", "weights_available", "weights_filename"]


def weights_filename(entry: WeightsEnum) -> str:
    """The file name torchvision uses for a weights entry (the last part of its download URL)."""
    return entry.url.rsplit("/", 1)[-1]


def find_weights_file(entry: WeightsEnum) -> Path:
    """The local, hash-checked file holding ``entry``'s weights, or :class:`WeightsMissing` with instructions."""
    name = weights_filename(entry)
    for folder in (weights.weights_dir(), weights.hub_dir()):
        path = folder / name
        if path.is_file():
            weights.verify(path)
            return path
    model = next((m for m in weights.vision_task_models() if weights.weights_spec(m).filename == name), None)
    fetch = f" (`python -m cnn_demo weights fetch {model}` there does it)" if model else ""
    raise WeightsMissing(
        f"The pretrained weights {name} are not on this server, which works offline. The ImageNet weights that "
        "come with set-up serve classification only; this network needs its own COCO/VOC-trained file. "
        f"Download {entry.url} on a machine with internet access{fetch} and place the file in the folder "
        f"{weights.weights_dir()} (set {weights.WEIGHTS_ENV} to use another folder) or in {weights.hub_dir()}. "
        "Until then this network has random weights: it is untrained."
    )


def weights_available(entry: WeightsEnum) -> bool:
    """Whether :func:`find_weights_file` would find a file (without hashing it)."""
    name = weights_filename(entry)
    return any((folder / name).is_file() for folder in (weights.weights_dir(), weights.hub_dir()))


def load_pretrained(model: nn.Module, entry: WeightsEnum, *, drop_prefixes: tuple[str, ...] = ()) -> nn.Module:
    """Load ``entry``'s weight file into ``model`` (built with ``weights=None``).

    Keys under ``drop_prefixes`` (an auxiliary head the app does not build) are dropped; only BatchNorm step
    counters may be missing, because torchvision's pretrained detectors freeze their BatchNorms.
    """
    path = find_weights_file(entry)
    state = weights.load_file(path)
    state = {k: v for k, v in state.items() if not k.startswith(drop_prefixes)}
    result = model.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if not k.endswith("num_batches_tracked")]
    if missing or result.unexpected_keys:
        raise InputError(
            f"The weight file {path} does not fit this network "
            f"({len(missing)} missing, {len(result.unexpected_keys)} unexpected parameters); replace it."
        )
    return model
