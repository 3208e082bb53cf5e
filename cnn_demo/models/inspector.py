"""The model inspector's data: layer table, totals and backbone/head split of a registered model.

Models are built on the meta device (structure and shapes without weights), so even VGG-16 is inspected in a
fraction of a second and nothing shared is touched.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from cnn_demo import models
from cnn_demo.errors import InputError


@dataclass(frozen=True)
class ModelReport:
    """Everything the inspector page shows about one model at one input size."""

    name: str
    info: models.ModelInfo
    summary: models.ModelSummary
    printed: str
    #: The final classification layer, the one fine-tuning replaces (AlexNet's ``classifier.6``).
    head: str
    head_params: int
    num_features: int
    stage_names: tuple[str, ...]
    backbone_params: int
    #: The lecture's split: the top-level block holding the final linear layers (the head, AlexNet's
    #: ``classifier``) and the blocks before it (the backbone: ``features``, ``avgpool``).
    classifier: str
    classifier_params: int
    classifier_in_features: int
    feature_blocks: tuple[str, ...]
    feature_params: int


def model_report(name: str, input_size: tuple[int, int, int] | None = None) -> ModelReport:
    """Layer table and structure of the registered model ``name`` for ``input_size`` (C, H, W)."""
    info = models.get_info(name)
    size = tuple(input_size) if input_size is not None else info.input_size
    with torch.device("meta"):
        model = models.create(name, pretrained=False)
    try:
        summary = models.summarize(model, size)
    except InputError as exc:
        smallest = smallest_input_side(model, size[0])
        if smallest is None:
            raise
        raise InputError(f"{exc} Height and width must each be at least {smallest} pixels.") from exc
    head_path = models.head_path(model)
    head = model.get_submodule(head_path)
    assert isinstance(head, nn.Linear)
    stage_names = tuple(n for n, _ in models.named_stages(model))
    head_params = sum(p.numel() for p in head.parameters())
    block, block_names = _classifier_block(model, head_path)
    classifier = model.get_submodule(block)
    classifier_params = sum(p.numel() for p in classifier.parameters())
    first_linear = next(m for m in classifier.modules() if isinstance(m, nn.Linear))
    return ModelReport(
        name=name,
        info=info,
        summary=summary,
        printed=str(model),
        head=head_path,
        head_params=head_params,
        num_features=head.in_features,
        stage_names=stage_names,
        backbone_params=summary.total_params - head_params,
        classifier=block,
        classifier_params=classifier_params,
        classifier_in_features=first_linear.in_features,
        feature_blocks=block_names,
        feature_params=summary.total_params - classifier_params,
    )


def _classifier_block(model: nn.Module, head_path: str) -> tuple[str, tuple[str, ...]]:
    """The top-level block holding the final linear layer (AlexNet's ``classifier``) and the blocks before it."""
    block = head_path.split(".")[0]
    names = [n for n, _ in model.named_children()]
    return block, tuple(names[: names.index(block)])


def smallest_input_side(model: nn.Module, channels: int, limit: int = 1024) -> int | None:
    """The smallest S for which ``model`` (built on the meta device) takes a ``channels``×S×S input.

    Convolutions and pooling treat rows and columns alike, so S is also the least height and the least width.
    None when even ``limit`` fails (a model that needs one fixed size, say). Bisects, assuming that larger
    inputs keep working.
    """

    def works(side: int) -> bool:
        try:
            models.summarize(model, (channels, side, side))
        except InputError:
            return False
        return True

    lo, hi = 0, limit  # lo fails, hi works
    if not works(hi):
        return None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if works(mid) else (mid, hi)
    return hi
