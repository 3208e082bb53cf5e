"""The class gallery: a student shares a finished fine-tuning run read-only, without handing over the job.

Publishing copies the *public* parts of a run into ``<state>/gallery/<job id>/``, and nothing else::

    entry.json     display name, dataset summary, accuracies with their baselines, curves, confusion matrix,
                   mistakes (classes and confidence), backbone and settings, when it was published
    mistakes.npz   thumbnails of the most confident validation mistakes (plain arrays, read without pickle)
    model.zip      the exported model, only when the student chose to share it
    publisher      an HMAC of the publisher's identity under the server key (who may unpublish; never shown)
    hidden         present when the teacher hid the entry

The job folder stays the owner's: its recovery codes, owner list and inputs are never read into the gallery, so
another student sees the run and can download the model but cannot open, resume, delete or re-share the job. The
snapshot is taken at publishing time: deleting the job later leaves the entry until its owner unpublishes it (or
the teacher hides it). Entries that cannot be read (damaged, half written, hostile) are skipped, never shown.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import io
import math
import os
import re
import secrets
import shutil
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cnn_demo.errors import InputError
from cnn_demo.jobs import api
from cnn_demo.jobs.keys import server_key
from cnn_demo.jobs.records import DAMAGED, JOB_ID_RE, load_json, write_json
from cnn_demo.settings import Settings, get_settings

MAX_NAME = 40
MAX_MISTAKES = 12
#: The largest model a gallery entry keeps a copy of.
MAX_MODEL_BYTES = 200 << 20
NOT_PUBLISHED = "This run is not in the class gallery (any more)."
NOT_PUBLISHER = "Only the student who published this run can take it out of the gallery."
ONLY_FINISHED = "Only a finished fine-tuning run can be published to the class gallery."

_ACCURACIES = (
    "best_val_accuracy",
    "final_val_accuracy",
    "baseline_val_accuracy",
    "test_accuracy",
    "final_test_accuracy",
    "baseline_test_accuracy",
)


@dataclass(frozen=True)
class Entry:
    """One published run as everyone may see it (no owner, no codes, no paths)."""

    job_id: str
    name: str
    published: float
    dataset: str
    class_names: tuple[str, ...]
    counts: dict[str, int]
    accuracies: dict[str, float | None]
    history: list[dict[str, float]]
    confusion: list[list[int]]
    mistakes: list[dict[str, Any]]
    config: dict[str, Any]
    has_model: bool
    hidden: bool = False

    @property
    def test_accuracy(self) -> float | None:
        """The held-out test accuracy, the leaderboard's order."""
        return self.accuracies.get("test_accuracy")

    def to_dict(self) -> dict[str, Any]:
        """The entry as JSON-ready data (what ``gallery list --json`` prints)."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _root(s: Settings) -> Path:
    return s.state_dir / "gallery"


def _folder(s: Settings, job_id: str) -> Path:
    if not isinstance(job_id, str) or not JOB_ID_RE.match(job_id):
        raise InputError(NOT_PUBLISHED)
    return _root(s) / job_id


def clean_name(name: str) -> str:
    """A display name as shown to the class: printable characters only, spaces collapsed, at most
    :data:`MAX_NAME` characters; an empty one is refused."""
    text = "".join(c if unicodedata.category(c)[0] not in "CZ" else " " for c in str(name or ""))
    text = re.sub(r"\s+", " ", text).strip()[:MAX_NAME].strip()
    if not text:
        raise InputError("Give a display name for the gallery (your first name, or a nickname).")
    return text


def _publisher_mac(s: Settings, owner: str) -> str:
    return hmac.new(server_key(s), f"gallery-publisher\0{owner}".encode(), hashlib.sha256).hexdigest()


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _snapshot(job_id: str, name: str, status: Any, has_model: bool) -> dict[str, Any]:
    """The public fields of a finished run, picked one by one (never the whole result or params)."""
    res = status.result
    classes = [str(c) for c in res.get("class_names", [])]
    history = [
        {k: float(v) for k, v in row.items() if isinstance(k, str) and _number(v) is not None}
        for row in res.get("history", [])
        if isinstance(row, dict)
    ]
    config = res.get("config") if isinstance(res.get("config"), dict) else status.params.get("config", {})
    mistakes = [
        {"true": int(m["true"]), "pred": int(m["pred"]), "confidence": float(m["confidence"])}
        for m in res.get("mistakes", [])[:MAX_MISTAKES]
    ]
    return {
        "job_id": job_id,
        "name": name,
        "published": time.time(),
        "dataset": str(status.params.get("dataset", "") or "")[:100],
        "class_names": classes,
        "counts": {k: int(res.get(f"n_{k}", 0) or 0) for k in ("train", "val", "test")},
        "accuracies": {k: _number(res.get(k)) for k in _ACCURACIES},
        "history": history,
        "confusion": [[int(v) for v in row] for row in res.get("confusion", [])],
        "mistakes": mistakes,
        "config": {
            k: config.get(k)
            for k in ("backbone", "strategy", "epochs", "image_size", "pretrained")
            if isinstance(config.get(k), str | int | float | bool)
        },
        "has_model": has_model,
    }


def publish(
    job_id: str, owner: str, display_name: str, *, include_model: bool = False, settings: Settings | None = None
) -> Entry:
    """Put a snapshot of ``owner``'s finished fine-tuning run ``job_id`` into the class gallery under
    ``display_name`` (publishing again replaces it). ``include_model``: others may download its model.zip."""
    s = settings or get_settings()
    name = clean_name(display_name)
    status = api.status(job_id, owner, s)  # raises for a job that is not owner's
    if status.kind != "finetune" or status.state != "done" or not isinstance(status.result, dict):
        raise InputError(ONLY_FINISHED)
    folder = _folder(s, job_id)
    tmp = _root(s) / f".tmp-{job_id}-{secrets.token_hex(4)}"
    tmp.mkdir(parents=True)
    try:
        model = api.job_file(job_id, owner, "model.zip", s) if include_model else None
        has_model = model is not None and model.stat().st_size <= MAX_MODEL_BYTES
        if has_model and model is not None:
            shutil.copyfile(model, tmp / "model.zip")
        entry = _snapshot(job_id, name, status, has_model)
        _mistake_thumbs(api.job_file(job_id, owner, "val.npz", s), status.result, tmp / "mistakes.npz")
        write_json(tmp / "entry.json", entry)
        (tmp / "publisher").write_text(_publisher_mac(s, owner))
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    found = _read(folder)
    if found is None:  # pragma: no cover - written just now
        raise InputError(NOT_PUBLISHED)
    return found


def _mistake_thumbs(val: Path | None, result: dict[str, Any], out: Path) -> None:
    """Copy the thumbnails of the run's most confident mistakes (and nothing else of its validation images)."""
    if val is None:
        return
    with contextlib.suppress(OSError, ValueError, KeyError), np.load(val, allow_pickle=False) as z:
        thumbs = z["thumbs"]
        index = [int(m["index"]) for m in result.get("mistakes", [])[:MAX_MISTAKES]]
        if index and max(index) < len(thumbs) and min(index) >= 0:
            np.savez_compressed(out, thumbs=thumbs[index])


def is_publisher(job_id: str, owner: str, settings: Settings | None = None) -> bool:
    """Whether ``owner`` published ``job_id`` (or owns the job now: a recovery code made them an owner)."""
    s = settings or get_settings()
    try:
        folder = _folder(s, job_id)
        mac = (folder / "publisher").read_text()[:200]
    except (InputError, OSError, UnicodeDecodeError):
        return False
    if owner and hmac.compare_digest(mac, _publisher_mac(s, owner)):
        return True
    try:
        api.status(job_id, owner, s)
    except InputError:
        return False
    return True


def published_by(owner: str, settings: Settings | None = None) -> list[str]:
    """Ids of the entries ``owner`` published themselves (not those of jobs they opened with a recovery code)."""
    s = settings or get_settings()
    root = _root(s)
    if not owner or not root.is_dir():
        return []
    mac = _publisher_mac(s, owner)
    out = []
    for folder in sorted(root.iterdir()):
        with contextlib.suppress(OSError, UnicodeDecodeError):
            if JOB_ID_RE.match(folder.name) and hmac.compare_digest((folder / "publisher").read_text()[:200], mac):
                out.append(folder.name)
    return out


def unpublish(job_id: str, owner: str, settings: Settings | None = None) -> None:
    """Take ``job_id`` out of the gallery; only its publisher (or the job's owner) may."""
    s = settings or get_settings()
    folder = _folder(s, job_id)
    if not folder.is_dir():
        raise InputError(NOT_PUBLISHED)
    if not is_publisher(job_id, owner, s):
        raise InputError(NOT_PUBLISHER)
    shutil.rmtree(folder, ignore_errors=True)


def hide(job_id: str, hidden: bool = True, settings: Settings | None = None) -> None:
    """The teacher's switch: hide an entry from the gallery (or show it again with ``hidden=False``)."""
    s = settings or get_settings()
    folder = _folder(s, job_id)
    if not folder.is_dir():
        raise InputError(NOT_PUBLISHED)
    marker = folder / "hidden"
    if hidden:
        marker.touch()
    else:
        marker.unlink(missing_ok=True)


def _read(folder: Path) -> Entry | None:
    """The entry in ``folder``, or ``None`` when it is missing, damaged or not what an entry must be."""
    raw = load_json(folder / "entry.json")
    if raw is None or raw is DAMAGED or not isinstance(raw, dict) or raw.get("job_id") != folder.name:
        return None
    try:
        classes = tuple(str(c) for c in raw["class_names"])
        entry = Entry(
            job_id=folder.name,
            name=clean_name(raw["name"]),
            published=float(raw["published"]),
            dataset=str(raw.get("dataset", ""))[:100],
            class_names=classes,
            counts={k: int(v) for k, v in dict(raw["counts"]).items()},
            accuracies={k: _number(dict(raw["accuracies"]).get(k)) for k in _ACCURACIES},
            history=[{str(k): float(v) for k, v in dict(row).items()} for row in raw["history"]],
            confusion=[[int(v) for v in row] for row in raw["confusion"]],
            mistakes=[dict(m) for m in raw["mistakes"]],
            config=dict(raw.get("config", {})),
            has_model=bool(raw.get("has_model")) and (folder / "model.zip").is_file(),
            hidden=(folder / "hidden").exists(),
        )
    except (KeyError, TypeError, ValueError, InputError):
        return None
    n = len(classes)
    if len(entry.confusion) != n or any(len(row) != n for row in entry.confusion):
        return None
    if any(not (0 <= m.get("true", -1) < n and 0 <= m.get("pred", -1) < n) for m in entry.mistakes):
        return None
    return entry


def _order(entry: Entry) -> tuple[float, float, float]:
    test = entry.test_accuracy
    best = entry.accuracies.get("best_val_accuracy")
    return (-(test if test is not None else -1.0), -(best if best is not None else -1.0), entry.published)


def published(*, include_hidden: bool = False, settings: Settings | None = None) -> list[Entry]:
    """The gallery as a leaderboard: highest held-out test accuracy first (runs without a test split last, then
    by best validation accuracy, then the earlier published). Hidden entries only with ``include_hidden``."""
    s = settings or get_settings()
    root = _root(s)
    entries = []
    for folder in root.iterdir() if root.is_dir() else ():
        if not JOB_ID_RE.match(folder.name) or folder.is_symlink() or not folder.is_dir():
            continue
        entry = _read(folder)
        if entry is not None and (include_hidden or not entry.hidden):
            entries.append(entry)
    return sorted(entries, key=_order)


def entry(job_id: str, settings: Settings | None = None) -> Entry | None:
    """One visible entry, or ``None``."""
    s = settings or get_settings()
    try:
        found = _read(_folder(s, job_id))
    except InputError:
        return None
    return None if found is None or found.hidden else found


def mistake_thumbnails(job_id: str, settings: Settings | None = None) -> np.ndarray | None:
    """The thumbnails of a visible entry's mistakes (uint8, N×H×W×3), or ``None``."""
    s = settings or get_settings()
    if entry(job_id, s) is None:
        return None
    try:
        data = (_folder(s, job_id) / "mistakes.npz").read_bytes()
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            thumbs = z["thumbs"]
    except (OSError, ValueError, KeyError, InputError):
        return None
    return thumbs if thumbs.dtype == np.uint8 and thumbs.ndim == 4 else None


def model_bytes(job_id: str, settings: Settings | None = None) -> bytes | None:
    """The model.zip a visible entry shares, or ``None``."""
    s = settings or get_settings()
    found = entry(job_id, s)
    if found is None or not found.has_model:
        return None
    try:
        return (_folder(s, job_id) / "model.zip").read_bytes()
    except OSError:
        return None
