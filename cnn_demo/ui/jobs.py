"""The reusable job panel: who the user is, the job id in the URL, live progress, curves, cancel and resume.

Any page that runs a job (fine-tuning, U-Net, localisation) uses it::

    owner = current_owner()
    job_id = url_job()                       # ?job=... survives refreshes and closed tabs
    if st.button("Train"):
        job_id = jobs.submit("finetune", params, owner, files)
        set_url_job(job_id)
    status = job_panel(job_id, owner, key="finetune_job")   # refreshes itself while the job runs
"""

from __future__ import annotations

import hashlib
import secrets
import time

import streamlit as st

from cnn_demo import jobs
from cnn_demo.errors import InputError
from cnn_demo.ui.common import user_errors
from cnn_demo.viz_finetune import curves_figure

XSRF_COOKIE = "_streamlit_xsrf"
STATE_LABELS = {
    "queued": ":material/schedule: Waiting in the queue",
    "running": ":material/model_training: Running",
    "done": ":material/check_circle: Finished",
    "failed": ":material/error: Failed",
    "cancelled": ":material/cancel: Cancelled",
    "interrupted": ":material/warning: Interrupted",
}


def _browser_token() -> bytes | None:
    """The secret of Streamlit's XSRF cookie: the same for every tab of this browser, unknown to others."""
    try:
        raw = st.context.cookies.get(XSRF_COOKIE)
    except Exception:
        return None
    if not raw:
        return None
    value = raw.strip("\"'")
    parts = value.split("|")
    try:
        if len(parts) == 4 and parts[0] == "2":
            mask, masked = bytes.fromhex(parts[1]), bytes.fromhex(parts[2])
            return bytes(b ^ mask[i % len(mask)] for i, b in enumerate(masked))
    except ValueError:
        return None
    return value.encode() if len(value) >= 16 else None


def current_owner() -> str:
    """An id for the person using this browser, so they find their jobs again after closing the tab.

    It is derived from the browser's XSRF cookie (secret, per browser); without it (tests, cookies
    off) it falls back to an id kept for this session only.
    """
    token = _browser_token()
    if token:
        return hashlib.sha256(b"cnn-demo-owner:" + token).hexdigest()[:32]
    if "jobs_owner" not in st.session_state:
        st.session_state["jobs_owner"] = "session-" + secrets.token_hex(16)
    return st.session_state["jobs_owner"]


def url_job(param: str = "job") -> str | None:
    """The job id in the page URL (``?job=...``), or ``None``."""
    value = st.query_params.get(param)
    return value or None


def set_url_job(job_id: str | None, param: str = "job") -> None:
    """Put ``job_id`` into the page URL (or remove it), so a refresh or a bookmark reopens the job."""
    if job_id:
        st.query_params[param] = job_id
    elif param in st.query_params:
        del st.query_params[param]


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return "estimating time left…"
    if seconds < 60:
        return f"about {seconds:.0f} s left"
    return f"about {seconds / 60:.0f} min left"


def _render(status: jobs.JobStatus, owner: str, key: str) -> None:
    st.markdown(f"**{STATE_LABELS.get(status.state, status.state)}** · job `{status.job_id}`")
    if status.state == "queued":
        ahead = (status.queue_position or 1) - 1
        st.caption(
            "Next in line." if ahead == 0 else f"{ahead} job(s) ahead of yours. You may close this tab and come back."
        )
    if status.total:
        text = f"step {status.done} of {status.total}"
        if status.state == "running":
            text += f" · {_eta(status.eta_s)}"
        st.progress(status.fraction, text=text)
    if status.error and status.state in ("failed", "interrupted"):
        st.error(status.error, icon=":material/error:")
    if status.metrics:
        st.plotly_chart(curves_figure(status.metrics), width="stretch", key=f"{key}_curves")
    cols = st.columns(4)
    if status.active and cols[0].button("Cancel", key=f"{key}_cancel", icon=":material/stop_circle:"):
        with user_errors():
            jobs.cancel(status.job_id, owner)
            st.rerun()
    if status.resumable and cols[0].button("Resume", key=f"{key}_resume", icon=":material/play_circle:"):
        with user_errors():
            jobs.resume(status.job_id, owner)
            st.rerun()
    if status.log_tail:
        with st.expander("Job log"):
            st.code("\n".join(status.log_tail), language=None)


def job_panel(job_id: str | None, owner: str, key: str, refresh_s: float = 1.0) -> jobs.JobStatus | None:
    """Show one job: state, queue position, progress with ETA, live curves, cancel/resume buttons.

    While the job is queued or running the panel refreshes itself every ``refresh_s`` seconds without
    rerunning the page, and reruns the whole page once when the job ends (so results appear).
    Returns the job's status (``None`` when there is no job or it is not the user's).
    """
    if not job_id:
        return None
    try:
        first = jobs.status(job_id, owner)
    except InputError as exc:
        st.error(str(exc), icon=":material/error:")
        return None

    def body() -> None:
        try:
            now = jobs.status(job_id, owner)
        except InputError as exc:
            st.error(str(exc), icon=":material/error:")
            return
        _render(now, owner, key)
        seen = st.session_state.get(f"{key}_seen_state")
        st.session_state[f"{key}_seen_state"] = now.state
        if seen in jobs.ACTIVE_STATES and not now.active:
            st.rerun(scope="app")

    st.session_state.setdefault(f"{key}_seen_state", first.state)
    if first.active:
        st.session_state[f"{key}_seen_state"] = first.state
        st.fragment(body, run_every=refresh_s)()
    else:
        st.session_state[f"{key}_seen_state"] = first.state
        _render(first, owner, key)
    return first


def jobs_table(owner: str, kind: str | None = None) -> list[jobs.JobStatus]:
    """The user's jobs (optionally of one kind), newest first, as a small table; returns them."""
    mine = [j for j in jobs.list_jobs(owner) if kind is None or j.kind == kind]
    if mine:
        rows = [
            {
                "job": j.job_id,
                "state": j.state,
                "progress": f"{j.done}/{j.total}" if j.total else "",
                "started": time.strftime("%H:%M", time.localtime(j.created)),
                "accuracy": (j.result or {}).get("val_accuracy"),
            }
            for j in mine
        ]
        st.dataframe(rows, hide_index=True, width="stretch")
    return mine
