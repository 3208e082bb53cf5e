"""Streamlit glue of the fine-tuning page: cached models and results of finished jobs, model uploads."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import streamlit as st
from PIL import Image

from cnn_demo import finetune, jobs
from cnn_demo.errors import InputError
from cnn_demo.finetune.figures import confusion_cell, confusion_figure
from cnn_demo.finetune.job import FinetuneResult
from cnn_demo.ui.common import escape_markdown


@st.cache_resource(max_entries=4, show_spinner="Loading the trained model…")
def _model_from_file(path: str, mtime: float) -> finetune.FineTuned:
    return finetune.load_export(Path(path).read_bytes())


def job_model_with_key(job_id: str, owner: str) -> tuple[finetune.FineTuned, str] | None:
    """The model a finished job exported (ownership checked before the shared cache is used) and a key that names
    it (its file and when it was written) for :func:`predictions`."""
    path = jobs.job_file(job_id, owner, "model.zip")
    if path is None:
        return None
    stat = path.stat()
    return _model_from_file(str(path), stat.st_mtime), f"job:{path}:{stat.st_mtime_ns}:{stat.st_size}"


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


def uploaded_model_with_key(data: bytes) -> tuple[finetune.FineTuned, str]:
    """A model zip uploaded by the user (safetensors only, a backbone the page offers), cached by content, and a
    key that names it (the hash of the zip) for :func:`predictions`."""
    if len(data) > finetune.MAX_EXPORT_BYTES:
        raise InputError("This model zip is too large.")
    digest = hashlib.sha256(data).hexdigest()
    return _uploaded(digest, data), f"upload:{digest}"


@st.cache_data(max_entries=8, show_spinner="Classifying…")
def _predictions(
    model_key: str, _model: finetune.FineTuned, files: tuple[tuple[str, bytes], ...]
) -> list[tuple[str, Image.Image, np.ndarray]]:
    return finetune.predict_files(_model, files)


def predictions(
    model_key: str, model: finetune.FineTuned, files: Sequence[tuple[str, bytes]]
) -> list[tuple[str, Image.Image, np.ndarray]]:
    """``finetune.predict_files`` computed once per model (``model_key``, from ``*_with_key``) and image bytes: a
    rerun of the page (any widget) shows the stored result instead of running the network again."""
    return _predictions(model_key, model, tuple((str(name), bytes(data)) for name, data in files))


@st.cache_data(max_entries=32, show_spinner="Computing Grad-CAM…")
def _gradcam(model_key: str, _model: finetune.FineTuned, data: bytes, _image: Image.Image) -> tuple[np.ndarray, int]:
    return finetune.gradcam(_model, _image)


def gradcam(model_key: str, model: finetune.FineTuned, data: bytes, image: Image.Image) -> tuple[np.ndarray, int]:
    """``finetune.gradcam`` of ``image`` (decoded from the uploaded ``data``, which keys the cache with
    ``model_key``), computed once per model and image."""
    return _gradcam(model_key, model, bytes(data), image)


@st.cache_data(max_entries=4, show_spinner="Exporting to ONNX…")
def onnx_zip(job_id: str, mtime: float, _model: finetune.FineTuned, result: dict) -> bytes:
    """The export zip with ``model.onnx`` added (built on demand: ONNX export takes a few seconds); it carries the
    job's honest figures (``finetune.export_metrics`` of its ``result``) as the job's own model.zip does."""
    return finetune.export_zip(_model, finetune.export_metrics(result), onnx=True)


def _vs(acc: float | None, baseline: float | None) -> str | None:
    """The gap to the baseline in percentage points (94.8 % against 54.2 % is +40.6 pp, not +40.6 %)."""
    return None if acc is None or baseline is None else f"{100 * (acc - baseline):+.1f} pp vs. baseline"


def _tone(acc: float | None, baseline: float | None) -> Literal["off", "normal"]:
    """Green or red only when the accuracy really differs from the baseline (no green arrow for +0.0 %)."""
    return "off" if acc is None or baseline is None or abs(acc - baseline) < 0.0005 else "normal"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def accuracy_metrics(result: FinetuneResult | Mapping[str, Any]) -> None:
    """The accuracies of a finished fine-tuning job told apart: final and best epoch on the validation images,
    the held-out test images, each with the majority-class baseline beside it."""
    res = result if isinstance(result, FinetuneResult) else FinetuneResult.from_dict(result)
    final_epoch, best_epoch = res.final_epoch, res.best_epoch
    final, best = res.final_val_accuracy, res.best_val_accuracy
    base, majority = res.baseline_val_accuracy, res.majority_class
    m1, m2, m3, m4 = st.columns(4)
    m1.metric(
        f"Validation, final epoch ({final_epoch})",
        _pct(final),
        delta=_vs(final, base),
        delta_color=_tone(final, base),
        help="Accuracy on the validation images after the last epoch trained.",
    )
    m2.metric(
        f"Validation, best epoch ({best_epoch}), kept",
        _pct(best),
        delta=_vs(best, base),
        delta_color=_tone(best, base),
        help="The epoch with the lowest validation loss: the model exported and used below. It was chosen by "
        "looking at the validation images, so this figure flatters it.",
    )
    m3.metric(
        "Majority-class baseline",
        _pct(base),
        help=f"Always answering the most common class of the validation images ({majority}).",
    )
    if res.test_accuracy is not None:
        m4.metric(
            f"Test, held out ({res.n_test} images)",
            _pct(res.test_accuracy),
            delta=_vs(res.test_accuracy, res.baseline_test_accuracy),
            delta_color=_tone(res.test_accuracy, res.baseline_test_accuracy),
            help="Images no epoch choice ever looked at: the honest estimate. Always answering "
            f"{res.test_majority_class or majority} would score {_pct(res.baseline_test_accuracy)}.",
        )
    else:
        m4.metric("Test, held out", "none", help="Set a held-out test share under 1. Data to get an honest figure.")
    text = (
        f"The model kept is the **best epoch ({best_epoch} of {final_epoch})**, chosen on the validation images. "
        f"Always answering *{escape_markdown(str(majority))}* scores **{_pct(base)}** on them: an accuracy near "
        "that means the model learnt little. The arrows give each accuracy's gap to that baseline in "
        "**percentage points** (pp): 94.8 % against 54.2 % is +40.6 pp."
    )
    if res.test_accuracy is not None:
        text += (
            f" On the **{res.n_test} held-out test images** it scores **{_pct(res.test_accuracy)}** "
            f"(the final epoch {_pct(res.final_test_accuracy)}; the baseline "
            f"{_pct(res.baseline_test_accuracy)})."
        )
    st.markdown(text)


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
    true_i, pred_i = (names.index(c) if c in names else 0 for c in chosen)
    selected = (true_i, pred_i)
    st.plotly_chart(
        confusion_figure(confusion, names, selected),
        width="stretch",
        key=key,
        on_select=functools.partial(_select_cell, key, true_key, pred_key, names),
        selection_mode="points",
    )


def unfamiliar_threshold(model: finetune.FineTuned, val: dict[str, np.ndarray] | None) -> tuple[float, str]:
    """The top probability under which a photo "may show none of the classes" (``finetune.confidence``), and
    why that figure, in words for the student: from the job's validation images, or halfway from chance."""
    n = len(model.class_names)
    if val is not None and "probs" in val and "labels" in val:
        threshold = finetune.confidence_threshold(val["probs"], val["labels"])
        if threshold != finetune.fallback_threshold(n):
            return threshold, (
                f"{1 - finetune.FALSE_ALARM:.0%} of the validation photos it classified correctly got at least that"
            )
    return finetune.fallback_threshold(n), f"halfway between guessing (1 in {n}) and certainty"


def closed_set_note(class_names: Sequence[str]) -> str:
    """Why a classifier names a class for any photo: it can only answer one of the classes it was trained on."""
    names = ", ".join(escape_markdown(str(c)) for c in class_names[:8]) + (", …" if len(class_names) > 8 else "")
    return (
        f":material/info: This model knows only its {len(class_names)} classes ({names}). Like every closed-set "
        "classifier it must call any photo one of them: its probabilities always add up to 100 %, even for a photo "
        "of something else. A low top probability is the hint that a photo looks like none of them."
    )


#: A finished training job's accuracies for tables, never alone: which epoch, and the majority-class baseline.
ACCURACY_COLUMNS = {
    "best_val_accuracy": "val, best epoch (kept)",
    "final_val_accuracy": "val, final epoch",
    "baseline_val_accuracy": "val, majority baseline",
    "test_accuracy": "test (held out)",
    "baseline_test_accuracy": "test, majority baseline",
}


def accuracy_columns(result: dict) -> dict[str, float | None]:
    """A finished fine-tuning job's accuracies as table columns (:data:`ACCURACY_COLUMNS`): the best and the
    final epoch, the held-out test split, each with its majority-class baseline; nothing for other job kinds."""
    if "val_accuracy" not in result:
        return {}
    row = {label: result.get(k) for k, label in ACCURACY_COLUMNS.items()}
    if row[ACCURACY_COLUMNS["best_val_accuracy"]] is None:  # a job finished before the honest figures existed
        row[ACCURACY_COLUMNS["best_val_accuracy"]] = result["val_accuracy"]
    return row


def accuracy_column_config() -> dict[str, Any]:
    """``column_config`` of :data:`ACCURACY_COLUMNS` for ``st.dataframe``: accuracies as percentages."""
    return {label: st.column_config.NumberColumn(label, format="percent") for label in ACCURACY_COLUMNS.values()}
