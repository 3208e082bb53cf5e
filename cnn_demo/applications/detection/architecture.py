"""A detector's architecture without its weights: its parts and their parameter counts (built on the meta device,
so nothing is computed and no weights are needed)."""

from __future__ import annotations

import functools

from cnn_demo.applications.detection.networks import detector_info
from cnn_demo.models import weightless

#: What each part of a torchvision detector does, in a few words (short enough for the page's table column).
PART_ROLES = {
    "backbone": "CNN + feature pyramid: feature maps at several scales",
    "rpn": "proposes regions: objectness and a box nudge per anchor",
    "roi_heads": "RoIAlign + head: class, box (and mask) per proposal",
    "head": "dense head: class and box per anchor or map point",
    "anchor_generator": "anchor boxes (sizes × aspect ratios): geometry, no weights",
    "transform": "resizing and normalising the image: no weights",
}


@functools.lru_cache(maxsize=16)
def detector_parts(name: str) -> tuple[tuple[str, str, int], ...]:
    """(part, what it does, parameters) for each top-level part of detector ``name`` with parameters, in order."""
    model = weightless(detector_info(name).row)
    out = []
    for part, module in model.named_children():
        count = sum(p.numel() for p in module.parameters())
        if count:
            out.append((part, PART_ROLES.get(part, ""), count))
    return tuple(out)


def parts_table(name: str) -> list[dict]:
    """:func:`detector_parts` as table rows, with a total."""
    parts = detector_parts(name)
    rows: list[dict] = [{"part": p, "parameters": n, "what it does": role} for p, role, n in parts]
    rows.append({"part": "total", "parameters": sum(n for _, _, n in parts), "what it does": ""})
    return rows
