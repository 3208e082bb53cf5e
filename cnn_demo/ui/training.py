"""Training from a page: submit a job for this browser session, follow its progress, cancel or resume it.

The page never trains in its own script thread; a worker (``python -m cnn_demo worker``, started by
``python -m cnn_demo serve``) runs the job and the page reads its status and files.
"""

from __future__ import annotations

import time
from pathlib import Path

import streamlit as st

from cnn_demo import jobs
from cnn_demo.errors import InputError
from cnn_demo.settings import get_settings
from cnn_demo.ui.jobs import current_owner


def owner_id() -> str:
    """The owner of this browser's jobs: the same identity the fine-tuning page uses, so only it sees them."""
    return current_owner()


def submit(kind: str, params: dict, key: str, files: dict[str, bytes] | None = None) -> str:
    """Queue a job and remember its id under ``key`` in the session."""
    job_id = jobs.submit(kind, params, owner_id(), files=files)
    st.session_state[key] = job_id
    return job_id


def current(key: str) -> jobs.JobStatus | None:
    """The status of the job remembered under ``key``, or None."""
    job_id = st.session_state.get(key)
    if not job_id:
        return None
    try:
        return jobs.status(job_id, owner_id())
    except InputError:
        st.session_state.pop(key, None)
        return None


def job_folder(status: jobs.JobStatus) -> Path:
    """The folder the job writes its files into (the owner was checked by :func:`current`)."""
    return get_settings().jobs_dir / status.job_id


def status_box(status: jobs.JobStatus, key: str) -> None:
    """State, progress bar, time left, error, and Cancel / Resume buttons for one job."""
    text = {
        "queued": f"Waiting in the queue (position {status.queue_position})",
        "running": f"Training: epoch {status.done} of {status.total}",
        "done": f"Finished: {status.total} epochs",
        "failed": "Failed",
        "cancelled": "Cancelled",
        "interrupted": "Interrupted",
    }.get(status.state, status.state)
    if status.eta_s is not None and status.state == "running":
        text += f", about {status.eta_s:.0f} s left"
    st.progress(status.fraction, text=text)
    if status.state == "queued":
        st.caption("A worker process runs training jobs one after another (`python -m cnn_demo serve` starts one).")
    if status.error:
        st.error(status.error, icon=":material/error:")
    c1, c2 = st.columns(2)
    if status.active and c1.button("Cancel", key=f"{key}_cancel"):
        jobs.cancel(status.job_id, owner_id())
        st.rerun()
    if status.resumable and c2.button("Resume from the last epoch", key=f"{key}_resume"):
        try:
            jobs.resume(status.job_id, owner_id())
        except InputError as exc:
            st.error(str(exc))
        st.rerun()


def refresh_every(status: jobs.JobStatus | None) -> float | None:
    """Seconds between automatic refreshes of a job's fragment: while it is active, else never."""
    return 2.0 if status is not None and status.active else None


def elapsed(status: jobs.JobStatus) -> str:
    """How long the job has run (or ran)."""
    if not status.started:
        return "not started"
    end = status.finished or time.time()
    return f"{end - status.started:.0f} s"


def loss_and_quality_curves(job: jobs.JobStatus, quality: list[str], title: str, key: str) -> None:
    """Two plots side by side: the training loss, and the validation metrics ``quality`` over the epochs."""
    from cnn_demo.viz_applications import curves_figure

    a, b = st.columns(2)
    a.plotly_chart(curves_figure(job.metrics, ["loss"], "Training loss"), width="stretch", key=f"{key}_loss")
    b.plotly_chart(curves_figure(job.metrics, quality, title), width="stretch", key=f"{key}_iou")
