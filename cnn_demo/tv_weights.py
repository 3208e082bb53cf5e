"""Where torchvision's pretrained COCO/VOC weight files are looked for, and how they are loaded offline.

This is the single place the detection and segmentation modules ask for weights. It looks in
``CNN_DEMO_WEIGHTS_DIR`` (default ``./weights``) and in torch hub's cache (``$TORCH_HOME/hub/checkpoints``)
for the exact file name torchvision would download, and never downloads anything itself.
When ``cnn_demo.weights`` (the model layer) is merged, :func:`find_weights_file` should delegate to it.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn
from torchvision.models import WeightsEnum

from cnn_demo.errors import InputError


class WeightsMissing(InputError):
    """A pretrained weight file is not on this machine; the message says which file to place where."""


def weights_dirs() -> list[Path]:
    """The folders searched for weight files, in order."""
    dirs = [Path(os.environ.get("CNN_DEMO_WEIGHTS_DIR", "weights"))]
    dirs.append(Path(torch.hub.get_dir()) / "checkpoints")
    return dirs


def weights_filename(entry: WeightsEnum) -> str:
    """The file name torchvision uses for a weights entry (the last part of its download URL)."""
    return entry.url.rsplit("/", 1)[-1]


def find_weights_file(entry: WeightsEnum) -> Path:
    """The local file holding ``entry``'s weights, or :class:`WeightsMissing` saying which file to place where."""
    name = weights_filename(entry)
    for folder in weights_dirs():
        path = folder / name
        if path.is_file():
            return path
    where = " or ".join(str(d) for d in weights_dirs())
    raise WeightsMissing(
        f"The pretrained weights {name} are not on this server (it works offline). "
        f"Download {entry.url} on a machine with internet access and place the file in {where}; "
        "until then the network here is untrained (random weights)."
    )


def weights_available(entry: WeightsEnum) -> bool:
    """Whether :func:`find_weights_file` would find the file."""
    try:
        find_weights_file(entry)
    except WeightsMissing:
        return False
    return True


def load_pretrained(model: nn.Module, entry: WeightsEnum, *, drop_prefixes: tuple[str, ...] = ()) -> nn.Module:
    """Load ``entry``'s weight file into ``model`` (built with ``weights=None``); keys under ``drop_prefixes`` are
    dropped (an auxiliary head the app does not build). Only BatchNorm step counters may be missing."""
    path = find_weights_file(entry)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated or foreign file: say so instead of crashing the page
        raise InputError(f"The weight file {path} could not be read ({type(exc).__name__}); replace it.") from exc
    state = {k: v for k, v in state.items() if not k.startswith(drop_prefixes)}
    result = model.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if not k.endswith("num_batches_tracked")]
    if missing or result.unexpected_keys:
        raise InputError(
            f"The weight file {path} does not fit this network "
            f"({len(missing)} missing, {len(result.unexpected_keys)} unexpected parameters); replace it."
        )
    return model
