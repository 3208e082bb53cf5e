"""The R-CNN page's shared pieces: the classifier (one per server process), cached proposals, class
probabilities and erase tests, and R-CNN's slow pass in chunks so the page can show its progress."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import streamlit as st

from cnn_demo.applications import rcnn
from cnn_demo.data.samples import people_photos
from cnn_demo.ui.models import LoadedModel, load_model

MODEL = "tf_efficientnet_lite0"
MAX_PROPOSALS = 300  # the page's slider goes up to this
CHUNK = 16  # proposals per cached R-CNN step: the progress bar moves once per chunk
#: Photos of the bundled people sample (COCO train2017) with an animal ImageNet knows, offered as samples: three
#: the best box finds, and a herd, where it takes the whole herd (erasing one zebra leaves the others).
ANIMAL_PHOTOS = {
    "Bear (COCO)": "000000000502.jpg",
    "Dog (COCO)": "000000000394.jpg",
    "Zebra (COCO)": "000000000034.jpg",
    "Zebras: a herd, the erase test's hard case (COCO)": "000000000154.jpg",
}


def animal_photos() -> dict[str, Path]:
    """Title → file of the animal photos the picker offers (those present in this install)."""
    return people_photos(ANIMAL_PHOTOS)


def classifier() -> tuple[LoadedModel, rcnn.Classifier]:
    """The shared EfficientNet-Lite0 (see :func:`cnn_demo.ui.models.load_model`) cut into trunk and head."""
    loaded = load_model(MODEL)
    return loaded, _split(loaded.key, loaded)


@st.cache_resource(max_entries=4, show_spinner=False)
def _split(key: str, _loaded: LoadedModel) -> rcnn.Classifier:
    return rcnn.split_classifier(_loaded.model)


@st.cache_data(max_entries=16, show_spinner="Selective search: grouping regions…")
def _proposals(image: np.ndarray, cfg: rcnn.ProposalConfig) -> rcnn.Proposals:
    return rcnn.selective_search(image, cfg)


def proposals(image: np.ndarray, cfg: rcnn.ProposalConfig) -> rcnn.Proposals:
    """Selective search's proposals for ``image`` (cached for every session). The ranking does not depend on the
    cap, so the search runs once with the page's largest cap and a smaller one keeps the first boxes."""
    ranked = _proposals(image, dataclasses.replace(cfg, max_proposals=MAX_PROPOSALS))
    return dataclasses.replace(ranked, boxes=ranked.boxes[: cfg.max_proposals])


@st.cache_data(max_entries=512, show_spinner=False)
def _rcnn_chunk(
    key: str, _clf: rcnn.Classifier, image: np.ndarray, boxes: np.ndarray, cfg: rcnn.DetectConfig
) -> tuple[np.ndarray, tuple[tuple[str, float], ...]]:
    return rcnn.rcnn_probabilities(image, boxes, _clf, cfg)


def scoring(cfg: rcnn.DetectConfig) -> rcnn.DetectConfig:
    """Only what changes the class probabilities and erase tests (context, pyramid, candidates): moving the
    thresholds must not run a network."""
    return rcnn.DetectConfig(
        context=cfg.context,
        pyramid=cfg.pyramid,
        candidates=cfg.candidates,
        keep_fraction=cfg.keep_fraction,
        vote_iou=cfg.vote_iou,
    )


def rcnn_result(
    key: str, clf: rcnn.Classifier, image: np.ndarray, props: rcnn.Proposals, cfg: rcnn.DetectConfig
) -> rcnn.MethodResult:
    """R-CNN on every proposal, a cached chunk at a time, with a progress bar while chunks are computed.

    The seconds are those measured when each chunk was computed (perhaps for another session)."""
    chunks = range(0, len(props), CHUNK)
    bar = st.progress(0.0, text=f"R-CNN: running the whole CNN on each of {len(props)} warped proposals…")
    parts = []
    for k, start in enumerate(chunks):
        parts.append(_rcnn_chunk(key, clf, image, props.boxes[start : start + CHUNK], scoring(cfg)))
        done = min(start + CHUNK, len(props))
        bar.progress((k + 1) / len(chunks), text=f"R-CNN: {done} of {len(props)} proposals classified")
    bar.empty()
    probs = np.concatenate([p for p, _ in parts])
    stages = tuple((name, sum(dict(s)[name] for _, s in parts)) for name, _ in parts[0][1])
    return _ranked("R-CNN", key, clf, image, props, probs, stages, cfg)


@st.cache_data(max_entries=32, show_spinner="Erase test: the photo again with each candidate box erased…")
def _rank(
    key: str,
    _clf: rcnn.Classifier,
    method: str,
    image: np.ndarray,
    boxes: np.ndarray,
    probs: np.ndarray,
    cfg: rcnn.DetectConfig,
) -> rcnn.Ranking:
    return rcnn.rank(method, image, boxes, probs, _clf, cfg)


def _ranked(
    method: str,
    key: str,
    clf: rcnn.Classifier,
    image: np.ndarray,
    props: rcnn.Proposals,
    probs: np.ndarray,
    stages: tuple[tuple[str, float], ...],
    cfg: rcnn.DetectConfig,
) -> rcnn.MethodResult:
    """The method's detections with its best box (from the cached erase test) first."""
    ranking = _rank(key, clf, method, image, props.boxes, probs, scoring(cfg))
    stages = (*stages, (rcnn.RANK_STAGE, ranking.seconds))
    dets = rcnn.detections_from(probs, props.boxes, cfg, clf.classes, ranking.chosen, ranking.box)
    return rcnn.MethodResult(method, probs, dets, stages, ranking)


@st.cache_data(max_entries=32, show_spinner="Fast R-CNN: one feature map, RoIAlign…")
def _fast(
    key: str, _clf: rcnn.Classifier, image: np.ndarray, boxes: np.ndarray, cfg: rcnn.DetectConfig
) -> tuple[np.ndarray, tuple[tuple[str, float], ...]]:
    return rcnn.fast_rcnn_probabilities(image, boxes, _clf, cfg)


def fast_result(
    key: str, clf: rcnn.Classifier, image: np.ndarray, props: rcnn.Proposals, cfg: rcnn.DetectConfig
) -> rcnn.MethodResult:
    """Fast R-CNN on the same proposals (cached)."""
    probs, stages = _fast(key, clf, image, props.boxes, scoring(cfg))
    return _ranked("Fast R-CNN", key, clf, image, props, probs, stages, cfg)


@st.cache_data(max_entries=16, show_spinner="Computing the shared feature map…")
def feature_energy(
    key: str, _clf: rcnn.Classifier, image: np.ndarray, factor: float, cfg: rcnn.DetectConfig
) -> tuple[np.ndarray, np.ndarray, tuple[float, float], int]:
    """The photo at one pyramid scale in its mean-colour border, its feature map as each cell's activation strength
    (root mean square over channels), the (x, y) scale from the photo to it and the border's width."""
    framed, sx, sy, margin = rcnn.pyramid_image(image, factor, _clf, cfg)
    features = rcnn.feature_map(framed, _clf)[0]
    return framed, features.pow(2).mean(0).sqrt().numpy(), (sx, sy), margin


@st.cache_data(max_entries=64, show_spinner=False)
def head_inputs(
    key: str, _clf: rcnn.Classifier, image: np.ndarray, box: np.ndarray, cfg: rcnn.DetectConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For one proposal: R-CNN's warped crop, the 7×7 feature grid the trunk makes of it, and the 7×7 grid
    RoIAlign pools from the shared map of its pyramid scale (both as activation strength)."""
    import torch

    padded = rcnn.with_context(box[None], cfg.context, _clf.input_size[1])
    crop = rcnn.warp(image, padded[0], _clf)
    level = rcnn.pyramid_levels(padded, _clf, cfg)[0]
    framed, sx, sy, margin = rcnn.pyramid_image(image, cfg.pyramid[level], _clf, cfg)
    with torch.inference_mode():
        own = _clf.trunk(rcnn.normalise(crop[None], _clf))[0]
        pooled = rcnn.roi_features(rcnn.feature_map(framed, _clf), padded * [sx, sy, sx, sy] + margin, _clf)[0]
    return crop, own.pow(2).mean(0).sqrt().numpy(), pooled.pow(2).mean(0).sqrt().numpy()
