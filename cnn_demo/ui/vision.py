"""Shared detectors and segmenters for the Applications pages: one copy per server process, never mutated.

When a pretrained file is missing the model is built with seeded random weights instead and the note says
which file to place where; :func:`weights_badge` shows that to the student.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from cnn_demo import detection, segmentation, weights
from cnn_demo.tv_weights import WeightsMissing, find_weights_file
from cnn_demo.ui.models import shared_copy


@dataclass(frozen=True)
class WeightsState:
    """Whether a page's network is pretrained, and if not, why (the weights module's message)."""

    pretrained: bool
    note: str = ""
    command: str = ""


def _state(entry, name: str) -> WeightsState:
    try:
        find_weights_file(entry)
    except WeightsMissing as exc:
        return WeightsState(False, str(exc), weights.fetch_command(name))
    return WeightsState(True)


def detector_weights(name: str) -> WeightsState:
    """Whether the COCO weights of detector ``name`` are on this machine."""
    return _state(detection.detector_info(name).weights_entry, name)


def segmenter_weights(name: str) -> WeightsState:
    """Whether the weights of segmentation network ``name`` are on this machine."""
    return _state(segmentation.segmenter_info(name).weights_entry, name)


@st.cache_resource(max_entries=3, show_spinner="Loading the detector…")
def shared_detector(name: str, pretrained: bool) -> detection.Detector:
    """The process-wide detector ``name`` (eval mode; do not change it)."""
    det = detection.build_detector(name, pretrained=pretrained)
    shared_copy(det.model)
    return det


@st.cache_resource(max_entries=3, show_spinner="Loading the segmentation network…")
def shared_segmenter(name: str, pretrained: bool) -> segmentation.Segmenter:
    """The process-wide segmentation network ``name`` (eval mode; do not change it)."""
    seg = segmentation.build_segmenter(name, pretrained=pretrained)
    shared_copy(seg.model)
    return seg


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
    """:func:`cnn_demo.segmentation.kmeans_segment`, cached."""
    return segmentation.kmeans_segment(image, k, spatial_weight, seed)


@st.cache_data(max_entries=16, show_spinner="Computing superpixels…")
def slic_labels(image: np.ndarray, n_segments: int, compactness: float) -> np.ndarray:
    """:func:`cnn_demo.segmentation.slic_segment`, cached."""
    return segmentation.slic_segment(image, n_segments, compactness)


def weights_badge(title: str, state: WeightsState) -> None:
    """Say whether the network is pretrained; when it is not, label it UNTRAINED and say which file to place."""
    if state.pretrained:
        st.caption(f":material/check_circle: {title}: pretrained weights")
    else:
        st.warning(
            f"**Untrained network.** {title} runs with random weights here, so its outputs mean "
            f"nothing yet: they only show how the pipeline works. {state.note}",
            icon=":material/warning:",
        )
        if state.command:
            st.caption("To get the weights, run this on a machine that is online, then copy the file over:")
            st.code(state.command, language="bash")
