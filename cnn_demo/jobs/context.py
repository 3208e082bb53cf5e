"""What a job function is and gets: the kind registry, its folder, progress reporting, its log and checkpoints."""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnn_demo.jobs.records import JOB_MODULES, JobCancelled, read_jsonl, write_json
from cnn_demo.settings import Settings, get_settings

JobFunction = Callable[[dict[str, Any], "JobContext"], dict[str, Any]]

_REGISTRY: dict[str, JobFunction] = {}


def register(kind: str) -> Callable[[JobFunction], JobFunction]:
    """Decorator registering ``fn(params, ctx) -> dict`` as the job function for ``kind``."""
    if not re.match(r"^[a-z][a-z0-9_]{0,40}$", kind):
        raise ValueError(f"job kind {kind!r} must be lower_snake_case")

    def deco(fn: JobFunction) -> JobFunction:
        _REGISTRY[kind] = fn
        return fn

    return deco


def load_job_modules(settings: Settings | None = None) -> dict[str, JobFunction]:
    """Import :data:`JOB_MODULES` and ``settings.extra_job_modules`` (they register kinds); return the registry."""
    s = settings or get_settings()
    for name in (*JOB_MODULES, *s.extra_job_modules):
        importlib.import_module(name)
    return dict(_REGISTRY)


# --------------------------------------------------------------------------- context


@dataclass
class JobContext:
    """What a job function gets besides its parameters: its folder, progress reporting, checkpoints."""

    job_id: str
    folder: Path
    settings: Settings
    _status: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def inputs(self) -> Path:
        """The folder with the files handed over at submission."""
        return self.folder / "inputs"

    def cancelled(self) -> bool:
        """Whether the user asked to cancel this job (check it between steps)."""
        return (self.folder / "cancel").exists()

    def progress(self, done: int, total: int, metrics: dict[str, Any] | None = None, phase: str = "") -> None:
        """Report ``done`` of ``total`` steps, optionally with metrics (appended to the history).

        ``phase`` names what the steps are when a job has several kinds of them (the fine-tuning job reports
        ``"features"``, images whose features are extracted, then ``"epochs"``); the time left is estimated from
        the rate measured in the current phase only, so a slow first phase does not inflate the next one's ETA.
        Raises :class:`JobCancelled` when the user asked to cancel, so a loop that reports progress
        is cancellable without extra code.
        """
        now = time.time()
        if metrics is not None:
            row = {"step": int(done), "time": now, **metrics}
            with open(self.folder / "metrics.jsonl", "a") as f:
                f.write(json.dumps(row, default=float) + "\n")
        if phase != self._status.get("phase", ""):
            self._status.update(phase=phase, phase_started=now, phase_start_done=int(done))
            self._status.pop("rate_started", None)
        elif "rate_started" not in self._status and int(done) > int(self._status.get("phase_start_done", 0)):
            # The first step of a phase carries its warm-up (first batch, caches): rates are measured after it.
            self._status.update(rate_started=now, rate_start_done=int(done))
        self._status.update(done=int(done), total=int(total), updated=now)
        write_json(self.folder / "status.json", self._status)
        if self.cancelled():
            raise JobCancelled()

    def log(self, message: str) -> None:
        """Append a line to the job's log (shown on the page); a full disk loses the line, never the job."""
        with contextlib.suppress(OSError), open(self.folder / "log.txt", "a") as f:
            f.write(f"{time.strftime('%H:%M:%S')} {message}\n")

    def metrics(self) -> list[dict[str, Any]]:
        """The metric history so far (after a resume: the rows written before the interruption)."""
        return read_jsonl(self.folder / "metrics.jsonl")

    def save_checkpoint(self, state: dict[str, Any], step: int) -> None:
        """Save a resumable state (tensors, numbers, strings, lists, dicts) reached after ``step`` steps."""
        import torch

        tmp = self.folder / ".checkpoint.pt.tmp"
        try:
            torch.save({"step": int(step), "state": state}, tmp)
            os.replace(tmp, self.folder / "checkpoint.pt")
        except BaseException:
            with contextlib.suppress(OSError):  # a full disk: the last whole checkpoint stays, no half of a new one
                tmp.unlink()
            raise

    def load_checkpoint(self) -> tuple[dict[str, Any], int] | None:
        """The last saved ``(state, step)``, or ``None`` on a fresh start.

        Metric rows written after that checkpoint (the epoch the worker died in) are dropped so the
        history continues cleanly.
        """
        import torch

        path = self.folder / "checkpoint.pt"
        if not path.exists():
            return None
        try:
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:  # a checkpoint cut short by the crash: start again
            self.log("The last checkpoint could not be read; starting from the beginning.")
            return None
        step = int(ckpt["step"])
        rows = [r for r in self.metrics() if int(r.get("step", 0)) <= step]
        tmp = self.folder / ".metrics.jsonl.tmp"
        tmp.write_text("".join(json.dumps(r, default=float) + "\n" for r in rows))
        os.replace(tmp, self.folder / "metrics.jsonl")
        return ckpt["state"], step
