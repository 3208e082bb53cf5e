"""COCO/VOC weights of torchvision's detection and segmentation networks, asked for by their weights entry.

The same resolver as every other network (:mod:`cnn_demo.weights.lookup`): the exact file name torchvision would
download, in the weights folder and torch hub's cache, checked against the sha256 prefix in its name and loaded
without unpickling arbitrary objects. Nothing is ever downloaded; a missing file raises
:class:`~cnn_demo.weights.files.WeightsMissing` saying which file to place where.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from cnn_demo.errors import InputError
from cnn_demo.weights.catalogue import vision_task_models
from cnn_demo.weights.files import load_file
from cnn_demo.weights.lookup import WeightsSpec, find_spec, resolve_spec, weights_spec

if TYPE_CHECKING:
    from torch import nn
    from torchvision.models import WeightsEnum


def weights_filename(entry: WeightsEnum) -> str:
    """The file name torchvision uses for a weights entry (the last part of its download URL)."""
    return entry.url.rsplit("/", 1)[-1]


def entry_spec(entry: WeightsEnum) -> WeightsSpec:
    """The :class:`WeightsSpec` of a torchvision weights entry: the catalogue's, or one made from the entry."""
    name = weights_filename(entry)
    for model in vision_task_models():
        spec = weights_spec(model)
        if spec.filename == name:
            return spec
    return WeightsSpec(name.split("-")[0], "torchvision", (name,), url=entry.url, task="detection")


def find_weights_file(entry: WeightsEnum) -> Path:
    """The local, hash-checked file holding ``entry``'s weights, or :class:`WeightsMissing` with instructions."""
    return resolve_spec(entry_spec(entry))


def weights_available(entry: WeightsEnum) -> bool:
    """Whether :func:`find_weights_file` would find a file (without hashing it)."""
    return find_spec(entry_spec(entry)) is not None


def load_pretrained(model: nn.Module, entry: WeightsEnum, *, drop_prefixes: tuple[str, ...] = ()) -> nn.Module:
    """Load ``entry``'s weight file into ``model`` (built with ``weights=None``).

    Keys under ``drop_prefixes`` (an auxiliary head the app does not build) are dropped; only BatchNorm step
    counters may be missing, because torchvision's pretrained detectors freeze their BatchNorms.
    """
    path = find_weights_file(entry)
    state = load_file(path)
    state = {k: v for k, v in state.items() if not k.startswith(drop_prefixes)}
    result = model.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if not k.endswith("num_batches_tracked")]
    if missing or result.unexpected_keys:
        raise InputError(
            f"The weight file {path} does not fit this network "
            f"({len(missing)} missing, {len(result.unexpected_keys)} unexpected parameters); replace it."
        )
    return model
