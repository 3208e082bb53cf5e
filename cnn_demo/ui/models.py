"""Shared networks for the pages (classifiers, detectors, segmenters): one copy per server process, in eval mode,
never mutated, and results computed with them cached.

Every network's weights are reported the same way (:class:`WeightsState`, :func:`weights_badge`): when a pretrained
file is missing the network runs with random weights and the badge says so, and which file to place where.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import streamlit as st
import torch
from torch import nn

from cnn_demo import models, weights
from cnn_demo.applications import detection, segmentation
from cnn_demo.device import get_device
from cnn_demo.models import explain
from cnn_demo.weights import WeightsMissing


@dataclass(frozen=True)
class WeightsState:
    """Whether a network is pretrained, and if not, why (the weights module's message) and how to get them."""

    pretrained: bool
    note: str = ""
    command: str = ""


def weights_state(name: str) -> WeightsState:
    """Whether the pretrained weights of network ``name`` (classifier, detector or segmenter) are on this machine."""
    if not weights.has_pretrained(name):
        return WeightsState(False, f"{name} has no published weights, so it runs with random weights.")
    if weights.find(name) is None:
        return WeightsState(False, weights.missing_message(name), weights.fetch_command(name))
    return WeightsState(True)


def weights_badge(title: str, state: WeightsState) -> None:
    """Say whether the network is pretrained; when it is not, label it UNTRAINED and say which file to place."""
    if state.pretrained:
        st.caption(f":material/check_circle: {title} (pretrained)")
    else:
        st.warning(
            f"**Untrained network.** {title} runs with random weights here, so its outputs mean "
            f"nothing yet: they only show how the pipeline works. {state.note}",
            icon=":material/warning:",
        )
        if state.command:
            st.caption("To get the weights, run this on a machine that is online, then copy the file over:")
            st.code(state.command, language="bash")


@dataclass(frozen=True)
class LoadedModel:
    """A shared classifier and how it was loaded. ``pretrained`` is False when it has random (untrained) weights."""

    name: str
    model: nn.Module
    pretrained: bool
    note: str
    weights_file: str = ""  # which file the weights came from: with the name, identifies the weights
    command: str = ""

    @property
    def key(self) -> str:
        """Identifies the model and its weights, for caching results computed with it."""
        # Random weights differ from one load to the next, so an untrained model is identified by the object.
        return f"{self.name}|{self.weights_file}" if self.pretrained else f"{self.name}|random|{id(self.model)}"

    @property
    def label(self) -> str:
        """The model name with "(pretrained)" or "(untrained: random weights)"."""
        return f"{self.name} ({'pretrained' if self.pretrained else 'untrained: random weights'})"

    @property
    def state(self) -> WeightsState:
        return WeightsState(self.pretrained, self.note, self.command)


def shared_copy(model: nn.Module) -> nn.Module:
    """Prepare a network that every session will share: eval mode, no gradients kept for its weights."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def _classifier(name: str, pretrained: bool, weights_key: str) -> LoadedModel:
    state = weights_state(name) if pretrained else WeightsState(False)
    model = None
    if state.pretrained:
        try:
            model = models.create(name, pretrained=True)
        except WeightsMissing as exc:  # removed or damaged since weights_state looked
            state = WeightsState(False, str(exc), weights.fetch_command(name))
    if model is None:
        model = models.create(name, pretrained=False)
    model = shared_copy(model.to(get_device()))
    return LoadedModel(
        name, model, state.pretrained, state.note, weights_key if state.pretrained else "", state.command
    )


def _detector(name: str, pretrained: bool, weights_key: str) -> detection.Detector:
    det = detection.build_detector(name, pretrained=pretrained)
    shared_copy(det.model)
    return det


def _segmenter(name: str, pretrained: bool, weights_key: str) -> segmentation.Segmenter:
    seg = segmentation.build_segmenter(name, pretrained=pretrained)
    shared_copy(seg.model)
    return seg


_BUILDERS: dict[str, Callable[[str, bool, str], Any]] = {
    "classifier": _classifier,
    "detector": _detector,
    "segmenter": _segmenter,
}


@st.cache_resource(max_entries=12, show_spinner="Loading the network…")
def _shared(kind: str, name: str, pretrained: bool, weights_key: str) -> Any:
    return _BUILDERS[kind](name, pretrained, weights_key)


def _weights_key(name: str, pretrained: bool) -> str:
    # The file found is part of the cache key: weights placed while the server runs are picked up.
    found = weights.find(name) if pretrained and weights.has_pretrained(name) else None
    return f"{weights.weights_dir()}|{found}"


def load_model(name: str, pretrained: bool = True) -> LoadedModel:
    """The shared classifier ``name`` (eval mode, gradients off; do not change it), falling back to random weights.

    When the pretrained weights are missing the returned model is untrained and ``note`` says which file to
    place where; pages should show :func:`model_badge`.
    """
    return _shared("classifier", name, bool(pretrained), _weights_key(name, pretrained))


def shared_detector(name: str, pretrained: bool) -> detection.Detector:
    """The process-wide detector ``name`` (eval mode; do not change it)."""
    return _shared("detector", name, bool(pretrained), _weights_key(name, pretrained))


def shared_segmenter(name: str, pretrained: bool) -> segmentation.Segmenter:
    """The process-wide segmentation network ``name`` (eval mode; do not change it)."""
    return _shared("segmenter", name, bool(pretrained), _weights_key(name, pretrained))


def model_badge(loaded: LoadedModel) -> None:
    """Say clearly whether the classifier is pretrained; when it is not, say why (and how to fix it)."""
    weights_badge(loaded.name, loaded.state)


@st.cache_data(max_entries=32, show_spinner=False)
def cached_model_report(name: str, input_size: tuple[int, int, int]):
    """:func:`cnn_demo.models.inspector.model_report`, cached per model and input size."""
    from cnn_demo.models.inspector import model_report

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
    """:func:`cnn_demo.models.explain.predict` of a shared model on ``batch``, cached (``key`` is ``_loaded.key``)."""
    labels = models.class_names(_loaded.name)
    return explain.predict(_loaded.model, torch.from_numpy(batch), labels, top=top)


@st.cache_data(max_entries=32, show_spinner="Computing the feature maps…")
def cached_activation_maps(_loaded: LoadedModel, key: str, batch: np.ndarray, layer: str) -> np.ndarray:
    """:func:`cnn_demo.models.explain.activation_maps` of a shared model, cached (``key`` is ``_loaded.key``)."""
    return explain.activation_maps(_loaded.model, torch.from_numpy(batch), layer)


@st.cache_data(max_entries=32, show_spinner="Computing Grad-CAM…")
def cached_grad_cam(_loaded: LoadedModel, key: str, batch: np.ndarray, layer: str, class_index: int) -> np.ndarray:
    """:func:`cnn_demo.models.explain.grad_cam` of a shared model, cached (``key`` is ``_loaded.key``)."""
    return explain.grad_cam(_loaded.model, torch.from_numpy(batch), layer, class_index)


# Applications pages: raw outputs cached so threshold sliders never re-run a network.


@st.cache_data(max_entries=8, show_spinner="Detecting…")
def raw_detections(name: str, pretrained: bool, image: np.ndarray) -> detection.RawDetections:
    """The network's raw candidates on ``image``, cached so threshold sliders never re-run it."""
    return detection.run_detector(shared_detector(name, pretrained), image)


@st.cache_data(max_entries=8, show_spinner="Looking inside Faster R-CNN…")
def rcnn_internals(name: str, pretrained: bool, image: np.ndarray) -> detection.RCNNInternals:
    """Anchors and region proposals of a two-stage detector on ``image``."""
    return detection.faster_rcnn_internals(shared_detector(name, pretrained), image)


@st.cache_data(max_entries=16, show_spinner="Segmenting…")
def semantic_labels(name: str, pretrained: bool, image: np.ndarray) -> segmentation.Segmentation:
    """The label map of ``image`` from network ``name``."""
    return segmentation.run_segmenter(shared_segmenter(name, pretrained), image)


@st.cache_data(max_entries=16, show_spinner="Clustering pixels…")
def kmeans_labels(image: np.ndarray, k: int, spatial_weight: float, seed: int) -> np.ndarray:
    """:func:`cnn_demo.applications.segmentation.kmeans_segment`, cached."""
    return segmentation.kmeans_segment(image, k, spatial_weight, seed)


@st.cache_data(max_entries=16, show_spinner="Computing superpixels…")
def slic_labels(image: np.ndarray, n_segments: int, compactness: float) -> np.ndarray:
    """:func:`cnn_demo.applications.segmentation.slic_segment`, cached."""
    return segmentation.slic_segment(image, n_segments, compactness)
