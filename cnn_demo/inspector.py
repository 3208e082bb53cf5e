"""The model inspector's data: layer table, totals and backbone/head split of a registered model.

Models are built on the meta device (structure and shapes without weights), so even VGG-16 is inspected in a
fraction of a second and nothing shared is touched.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from cnn_demo import models


@dataclass(frozen=True)
class ModelReport:
    """Everything the inspector page shows about one model at one input size."""

    name: str
    info: models.ModelInfo
    summary: models.ModelSummary
    printed: str
    head: str
    head_params: int
    num_features: int
    stage_names: tuple[str, ...]
    backbone_params: int


def model_report(name: str, input_size: tuple[int, int, int] | None = None) -> ModelReport:
    """Layer table and structure of the registered model ``name`` for ``input_size`` (C, H, W)."""
    info = models.get_info(name)
    size = tuple(input_size) if input_size is not None else info.input_size
    with torch.device("meta"):
        model = models.create(name, pretrained=False)
    summary = models.summarize(model, size)
    head_path = models.head_path(model)
    head = model.get_submodule(head_path)
    stage_names = tuple(n for n, _ in models.named_stages(model))
    head_params = sum(p.numel() for p in head.parameters())
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
    )
