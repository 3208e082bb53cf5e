"""torchvision's random training ops drawing from a ``torch.Generator`` of their own when given one.

torchvision's v2 ops draw their parameters from torch's global random generator, which all sessions of the web
server share: seeding it for one student's augmentation preview would change another's draws mid-way (and theirs
ours). These subclasses draw exactly as torchvision does (same calls, same order), from ``generator`` when one is
given and from the global generator when it is ``None``, so training (``generator=None``) gives the tensors plain
torchvision gives (``tests/models/test_augment.py`` compares them).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torchvision.transforms import v2
from torchvision.transforms.v2._utils import query_size


class ResizedCrop(v2.RandomResizedCrop):
    """``v2.RandomResizedCrop`` drawing from ``generator``."""

    def __init__(self, *args: Any, generator: torch.Generator | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.generator = generator

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        height, width = query_size(flat_inputs)
        area = height * width
        g = self.generator
        log_ratio = self._log_ratio
        for _ in range(10):
            target_area = area * torch.empty(1).uniform_(self.scale[0], self.scale[1], generator=g).item()
            aspect_ratio = torch.exp(
                torch.empty(1).uniform_(float(log_ratio[0]), float(log_ratio[1]), generator=g)
            ).item()
            w = round(math.sqrt(target_area * aspect_ratio))
            h = round(math.sqrt(target_area / aspect_ratio))
            if 0 < w <= width and 0 < h <= height:
                i = int(torch.randint(0, height - h + 1, size=(1,), generator=g).item())
                j = int(torch.randint(0, width - w + 1, size=(1,), generator=g).item())
                return {"top": i, "left": j, "height": h, "width": w}
        in_ratio = float(width) / float(height)  # fallback: the central crop, as torchvision
        if in_ratio < min(self.ratio):
            w, h = width, round(width / min(self.ratio))
        elif in_ratio > max(self.ratio):
            h, w = height, round(height * max(self.ratio))
        else:
            w, h = width, height
        return {"top": (height - h) // 2, "left": (width - w) // 2, "height": h, "width": w}


class HorizontalFlip(v2.Transform):
    """``v2.RandomHorizontalFlip`` (probability ``p``) drawing from ``generator``."""

    def __init__(self, p: float = 0.5, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.p = p
        self.generator = generator

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        return {"flip": bool(torch.rand(1, generator=self.generator) < self.p)}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        return self._call_kernel(v2.functional.horizontal_flip, inpt) if params["flip"] else inpt


class ColorJitter(v2.ColorJitter):
    """``v2.ColorJitter`` drawing from ``generator``."""

    def __init__(self, *args: Any, generator: torch.Generator | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.generator = generator

    def _value(self, bounds: Any) -> float | None:
        if bounds is None:
            return None
        return float(torch.empty(1).uniform_(bounds[0], bounds[1], generator=self.generator).item())

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        fn_idx = torch.randperm(4, generator=self.generator)
        return {
            "fn_idx": fn_idx,
            "brightness_factor": self._value(self.brightness),
            "contrast_factor": self._value(self.contrast),
            "saturation_factor": self._value(self.saturation),
            "hue_factor": self._value(self.hue),
        }
