"""Shared model loading for pages: one copy per server process, in eval mode, never mutated."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st
import torch
from torch import nn

from cnn_demo import explain, models
from cnn_demo.device import get_device
from cnn_demo.weights import WeightsMissing


@dataclass(frozen=True)
class LoadedModel:
    """A shared model and how it was loaded. ``pretrained`` is False when it has random (untrained) weights."""

    name: str
    model: nn.Module
    pretrained: bool
    note: str
    weights_file: str = ""  # which file the weights came from: with the name, identifies the weights

    @property
    def key(self) -> str:
        """Identifies the model and its weights, for caching results computed with it."""
        # Random weights differ from one load to the next, so an untrained model is identified by the object.
        return f"{self.name}|{self.weights_file}" if self.pretrained else f"{self.name}|random|{id(self.model)}"

    @property
    def label(self) -> str:
        """The model name with "(pretrained)" or "(untrained: random weights)"."""
        return f"{self.name} ({'pretrained' if self.pretrained else 'untrained: random weights'})"


def shared_copy(model: nn.Module) -> nn.Module:
    """Prepare a network that every session will share: eval mode, no gradients kept for its weights."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


@st.cache_resource(max_entries=6, show_spinner="Loading the model…")
def _load(name: str, pretrained: bool, weights_file: str) -> LoadedModel:
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
    model = shared_copy(model.to(get_device()))
    return LoadedModel(name, model, used_pretrained, note, weights_file if used_pretrained else "")


def load_model(name: str, pretrained: bool = True) -> LoadedModel:
    """The shared model ``name`` (eval mode, gradients off; do not change it), falling back to random weights.

    When the pretrained weights are missing the returned model is untrained and ``note`` says which file to
    place where; pages should show :func:`model_badge`.
    """
    from cnn_demo import weights

    found = weights.find(name) if pretrained and models.get_info(name).has_pretrained else None
    # The file found is part of the cache key: weights placed while the server runs are picked up.
    return _load(name, bool(pretrained), f"{weights.weights_dir()}|{found}")


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


@st.cache_data(max_entries=32, show_spinner=False)
def cached_model_report(name: str, input_size: tuple[int, int, int]):
    """:func:`cnn_demo.inspector.model_report`, cached per model and input size."""
    from cnn_demo.inspector import model_report

    return model_report(name, input_size)


def model_picker(key: str, default: str = "myconvnet", label: str = "Model", names: list[str] | None = None) -> str:
    """A select box of registered models, each shown with its source and size."""
    names = names or models.list_models()

    def fmt(name: str) -> str:
        info = models.get_info(name)
        slow = ", slow on CPU" if info.heavy else ""
        return f"{name} — {info.params / 1e6:.2f} M params ({info.source}{slow})"

    index = names.index(default) if default in names else 0
    return st.selectbox(label, names, index=index, key=key, format_func=fmt)


# Feature-map page results, computed once per (model and weights, picture, layer/class) and shared by every
# session. ``_loaded`` is not hashed (a leading underscore tells Streamlit so); ``key`` stands for it.


@st.cache_data(max_entries=16, show_spinner="Running the model…")
def cached_predictions(_loaded: LoadedModel, key: str, batch: np.ndarray, top: int = 5) -> list[explain.Prediction]:
    """:func:`cnn_demo.explain.predict` of a shared model on ``batch``, cached (``key`` is ``_loaded.key``)."""
    labels = models.class_names(_loaded.name)
    return explain.predict(_loaded.model, torch.from_numpy(batch), labels, top=top)


@st.cache_data(max_entries=32, show_spinner="Computing the feature maps…")
def cached_activation_maps(_loaded: LoadedModel, key: str, batch: np.ndarray, layer: str) -> np.ndarray:
    """:func:`cnn_demo.explain.activation_maps` of a shared model, cached (``key`` is ``_loaded.key``)."""
    return explain.activation_maps(_loaded.model, torch.from_numpy(batch), layer)


@st.cache_data(max_entries=32, show_spinner="Computing Grad-CAM…")
def cached_grad_cam(_loaded: LoadedModel, key: str, batch: np.ndarray, layer: str, class_index: int) -> np.ndarray:
    """:func:`cnn_demo.explain.grad_cam` of a shared model, cached (``key`` is ``_loaded.key``)."""
    return explain.grad_cam(_loaded.model, torch.from_numpy(batch), layer, class_index)
