"""Streamlit glue of the fine-tuning page: cached models and results of finished jobs, model uploads."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import streamlit as st

from cnn_demo import finetune, jobs
from cnn_demo.errors import InputError
from cnn_demo.viz_finetune import confusion_cell, confusion_figure


@st.cache_resource(max_entries=4, show_spinner="Loading the trained model…")
def _model_from_file(path: str, mtime: float) -> finetune.FineTuned:
    return finetune.load_export(Path(path).read_bytes())


def job_model(job_id: str, owner: str) -> finetune.FineTuned | None:
    """The model a finished job exported (ownership checked before the shared cache is used)."""
    path = jobs.job_file(job_id, owner, "model.zip")
    if path is None:
        return None
    return _model_from_file(str(path), path.stat().st_mtime)


def job_model_bytes(job_id: str, owner: str) -> bytes | None:
    """The bytes of a finished job's ``model.zip`` for the download button."""
    path = jobs.job_file(job_id, owner, "model.zip")
    return path.read_bytes() if path else None


@st.cache_data(max_entries=8, show_spinner=False)
def _val_from_file(path: str, mtime: float) -> dict[str, np.ndarray]:
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def job_validation(job_id: str, owner: str) -> dict[str, np.ndarray] | None:
    """Validation thumbnails, labels and predicted probabilities of a finished job."""
    path = jobs.job_file(job_id, owner, "val.npz")
    if path is None:
        return None
    return _val_from_file(str(path), path.stat().st_mtime)


@st.cache_resource(max_entries=4, show_spinner="Reading the model zip…")
def _uploaded(digest: str, _data: bytes) -> finetune.FineTuned:
    return finetune.load_export(_data, backbones=finetune.backbone_choices())


def uploaded_model(data: bytes) -> finetune.FineTuned:
    """A model zip uploaded by the user (safetensors only, a backbone the page offers), cached by content."""
    if len(data) > finetune.MAX_EXPORT_BYTES:
        raise InputError("This model zip is too large.")
    return _uploaded(hashlib.sha256(data).hexdigest(), data)


@st.cache_data(max_entries=4, show_spinner="Exporting to ONNX…")
def onnx_zip(job_id: str, mtime: float, _model: finetune.FineTuned, val_accuracy: float) -> bytes:
    """The export zip with ``model.onnx`` added (built on demand: ONNX export takes a few seconds)."""
    return finetune.export_zip(_model, {"val_accuracy": val_accuracy}, onnx=True)


def _select_cell(chart_key: str, true_key: str, pred_key: str, classes: list[str]) -> None:
    """on_select callback of the confusion chart: the clicked cell becomes the two select boxes' values."""
    event = st.session_state.get(chart_key)
    points = event["selection"]["points"] if event and event.get("selection") else []
    cell = confusion_cell(points, len(classes))
    if cell is not None:
        st.session_state[true_key], st.session_state[pred_key] = classes[cell[0]], classes[cell[1]]


def confusion_chart(
    confusion: Sequence[Sequence[int]], classes: Sequence[str], *, key: str, true_key: str, pred_key: str
) -> None:
    """The confusion matrix; clicking a cell sets the select boxes ``true_key`` and ``pred_key`` (drawn later by
    the page, they stay the keyboard way to choose a cell), and the cell they hold is outlined."""
    names = [str(c) for c in classes]
    chosen = [st.session_state.get(k) for k in (true_key, pred_key)]
    selected = tuple(names.index(c) if c in names else 0 for c in chosen)
    st.plotly_chart(
        confusion_figure(confusion, names, selected),
        width="stretch",
        key=key,
        on_select=functools.partial(_select_cell, key, true_key, pred_key, names),
        selection_mode="points",
    )
