"""Where tensors live: the GPU when there is one, the CPU otherwise."""

from __future__ import annotations

import functools

import torch


@functools.cache
def get_device() -> torch.device:
    """The device every model and tensor of the app uses."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def describe_device() -> str:
    """A one-line description for the sidebar."""
    dev = get_device()
    if dev.type == "cuda":
        return f"GPU: {torch.cuda.get_device_name(dev)}"
    return f"CPU ({torch.get_num_threads()} threads)"
