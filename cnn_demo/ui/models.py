"""Shared model loading for pages: one copy per server process, in eval mode, never mutated."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st
from torch import nn

from cnn_demo import models
from cnn_demo.device import get_device
from cnn_demo.weights import WeightsMissing


@dataclass(frozen=True)
class LoadedModel:
    """A shared model and how it was loaded. ``pretrained`` is False when it has random (untrained) weights."""

    name: str
    model: nn.Module
    pretrained: bool
    note: str

    @property
    def label(self) -> str:
        """The model name with "(pretrained)" or "(untrained: random weights)"."""
        return f"{self.name} ({'pretrained' if self.pretrained else 'untrained: random weights'})"


@st.cache_resource(max_entries=6, show_spinner="Loading the model…")
def _load(name: str, pretrained: bool) -> LoadedModel:
    note = ""
    used_pretrained = False
    if pretrained and models.get_info(name).has_pretrained:
        try:
            model = models.create(name, pretrained=True)
            used_pretrained = True
        except WeightsMissing as exc:
            note = str(exc)
            model = models.create(name, pretrained=False)
    else:
        model = models.create(name, pretrained=False)
        if pretrained:
            note = f"{name} has no published weights, so it runs with random weights."
    model = model.to(get_device()).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return LoadedModel(name, model, used_pretrained, note)


def load_model(name: str, pretrained: bool = True) -> LoadedModel:
    """The shared model ``name`` (eval mode, gradients off; do not change it), falling back to random weights.

    When the pretrained weights are missing the returned model is untrained and ``note`` says which file to
    place where; pages should show :func:`model_badge`.
    """
    return _load(name, bool(pretrained))


def model_badge(loaded: LoadedModel) -> None:
    """Say clearly whether the model is pretrained; when it is not, say why (and how to fix it)."""
    if loaded.pretrained:
        st.caption(f":material/check_circle: {loaded.label}")
    else:
        st.warning(
            f"**Untrained:** {loaded.name} runs with random weights, so its outputs mean nothing yet. "
            + (loaded.note or ""),
            icon=":material/warning:",
        )
