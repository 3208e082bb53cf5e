"""The job panel every training page uses: who the user is, the job id in the URL, progress, cancel and resume.

A page that runs a job (fine-tuning, U-Net, localisation)::

    owner = current_owner()
    if st.button("Train"):
        submit_job("unet_train", params, owner, key="unet_job")   # remembered in the session and in ?job=
    job_panel(page_job("unet_job"), owner, key="unet_job", kind="unet_train", live=show_curves_and_predictions)

The panel refreshes itself while the job is queued or running (``st.fragment(run_every=...)``) and reruns the
whole page once when the job ends, so results shown below it appear.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import streamlit as st

from cnn_demo import jobs
from cnn_demo.errors import InputError
from cnn_demo.finetune.figures import HISTORY_LAYOUT, history_curves
from cnn_demo.jobs.admin import delete_owner_data
from cnn_demo.jobs.names import MAX_DISPLAY_NAME, clean_display_name
from cnn_demo.settings import get_settings
from cnn_demo.ui.common import escape_markdown, user_errors
from cnn_demo.ui.finetune import accuracy_column_config, accuracy_columns
from cnn_demo.ui.identity import auth_configured, client_address, current_identity, login_provider
from cnn_demo.ui.signin import SIGNIN_FAILED, SIGNIN_UNAVAILABLE, provider_reachable
from cnn_demo.viz import curves_figure, metric_curves

if TYPE_CHECKING:
    from streamlit.delta_generator import DeltaGenerator

STATE_LABELS = {
    "queued": ":material/schedule: Waiting in the queue",
    "running": ":material/model_training: Running",
    "done": ":material/check_circle: Finished",
    "failed": ":material/error: Failed",
    "cancelled": ":material/cancel: Cancelled",
    "interrupted": ":material/warning: Interrupted",
    "damaged": ":material/broken_image: Damaged",
}
OTHER_PAGE = "This job was started on another page of the app: open it there."
#: ``jobs.NOT_YOURS`` where jobs belong to the tab (no browser cookie, e.g. plain ``streamlit run``): there the job
#: may well be from this browser, in another tab or before a reload, and "another browser" would not be what happened.
NOT_YOURS_TAB = (
    "This job was not started in this tab, so it is not shown here: without the app's browser cookie "
    "(`python -m cnn_demo serve` sets it) jobs belong to the tab that started them, and a job from another tab, "
    "from before this page was reloaded, or from someone else looks the same. If it is yours, enter the recovery "
    "code you were given when you started it."
)

JobHook = Callable[[jobs.JobStatus], None]


def current_owner() -> str:
    """An id for the person using the app, so they find their jobs again (``cnn_demo.ui.identity``).

    Signed in (``st.login`` or an authenticating proxy): the same on every browser and device. Otherwise this
    browser's HttpOnly identity cookie, which no script in the page can read; jobs open elsewhere with their
    recovery code.
    """
    return current_identity().owner


IDENTITY_NOTES = {
    "user": "Signed in as **{name}**: your jobs follow you to any browser or device where you sign in.",
    "proxy": "Signed in as **{name}**: your jobs follow you to any browser or device where you sign in.",
    "browser": "Your jobs are kept for **this browser**. To open one in another browser or device, use its "
    "link and its recovery code.",
    "tab": "Your jobs are kept for **this tab only** (the browser keeps no cookie for this app). "
    "Note each job's recovery code to open it again.",
}


#: The display name the student gave (checked), kept for the visit; its text box has the key ``NAME_KEY + "_input"``.
NAME_KEY = "jobs_display_name"


def display_name() -> str:
    """The name stored with this student's new jobs: what they typed, else the name they signed in with."""
    typed = st.session_state.get(NAME_KEY)
    if typed is not None:
        return str(typed)
    who = current_identity()
    try:
        return clean_display_name((who.name or "")[:MAX_DISPLAY_NAME]) if who.kind in ("user", "proxy") else ""
    except InputError:
        return ""


def your_data() -> None:
    """The student's name for the teacher, what the server keeps, and *Delete my data*."""
    if not st.toggle("Your name and your data", key="jobs_your_data"):
        return
    widget = NAME_KEY + "_input"
    if widget not in st.session_state:  # widgets forget their value on pages without them: the checked one stays
        st.session_state[widget] = display_name()
    with st.container(border=True):
        typed = st.text_input(
            "Your name for the teacher (optional)",
            key=widget,
            max_chars=MAX_DISPLAY_NAME,
            help="Stored with the jobs you start from now on; only the teacher's page shows it.",
        )
        try:
            st.session_state[NAME_KEY] = clean_display_name(typed)
        except InputError as exc:
            st.error(escape_markdown(str(exc)), icon=":material/error:")
        hours = get_settings().artifact_hours
        st.caption(
            f"The server keeps your jobs for {hours:g} hours after they end, and uploaded datasets for {hours:g} hours "
            "after a page last used them; then they are deleted. Your teacher can see and stop your jobs."
        )
        sure = st.checkbox("Yes, delete all my jobs and uploads", key="jobs_delete_mine_sure")
        if st.button("Delete my data", key="jobs_delete_mine", icon=":material/delete_forever:", disabled=not sure):
            deleted, uploads = delete_owner_data(current_owner())
            st.session_state.pop("jobs_delete_mine_sure", None)
            st.success(f"Deleted {deleted} job(s) and {uploads} stored upload(s).", icon=":material/check_circle:")


def identity_note() -> None:
    """Say whom jobs are kept for, with Sign in / Sign out where ``st.login`` is configured."""
    who = current_identity()
    st.caption(IDENTITY_NOTES[who.kind].format(name=escape_markdown(who.name or "")))
    your_data()
    if not auth_configured():
        return
    if who.kind == "user":
        if st.button("Sign out", key="jobs_sign_out", icon=":material/logout:"):
            st.logout()
    elif who.kind != "proxy" and st.button(
        "Sign in to keep your jobs across devices", key="jobs_sign_in", icon=":material/login:"
    ):
        if not provider_reachable():
            st.error(SIGNIN_UNAVAILABLE, icon=":material/person_off:")
            return
        try:
            st.login(login_provider())
        except Exception:  # a configuration that validates but still fails: a sentence, not an error box
            st.error(SIGNIN_FAILED, icon=":material/person_off:")


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


def page_job(key: str) -> str | None:
    """The job a page shows: ``?job=`` in the URL, else the one this session last showed under ``key``.

    The remembered one is put back into the URL, so coming back to the page from another one keeps the link.
    """
    job_id = url_job()
    if job_id:
        return job_id
    job_id = st.session_state.get(key)
    if job_id:
        set_url_job(job_id)
    return job_id or None


def link_slot(key: str) -> DeltaGenerator | None:
    """At the top of a job page: a box for the job's panel when the page was opened with a ``?job=`` link.

    A link (a bookmark, a link a student was sent, "Open" in the list of jobs) names a job this session has not
    shown under ``key`` yet: its panel then goes at the top of the page instead of under the page's forms, and
    stays there while that job is shown. A job submitted on the page keeps its panel under the Train button.
    Pass the box to :func:`job_panel` as ``place``; ``None`` when the panel belongs in its usual spot.
    """
    job_id, linked = url_job(), f"{key}_linked"
    if not job_id or (st.session_state.get(key) == job_id and st.session_state.get(linked) != job_id):
        return None
    st.session_state[linked] = job_id
    box = st.container(border=True, key=f"{key}_top")
    box.subheader("Your job", anchor="job")
    return box


def submit_job(kind: str, params: dict, owner: str, key: str, files: dict[str, bytes] | None = None) -> str:
    """Queue a job for ``owner`` and open it: remembered under ``key`` in the session and put into ``?job=``.

    Its recovery code is made now and shown in the job panel of this session only (the server keeps its hash).
    """
    client = jobs.client_key(client_address())
    job_id = jobs.submit(kind, params, owner, files=files, client=client, display_name=display_name())
    st.session_state[key] = job_id
    st.session_state[f"{key}_recovery"] = (job_id, jobs.new_recovery_code(job_id, owner))
    set_url_job(job_id)
    return job_id


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return "estimating time left…"
    if seconds < 60:
        return f"about {max(1, round(seconds))} s left"
    return f"about {round(seconds / 60)} min left"


def progress_text(status: jobs.JobStatus) -> str:
    """The text on the progress bar: place in the queue, epochs done (and time left while running)."""
    if status.state == "queued":
        return f"Waiting in the queue: position {status.queue_position or 1}"
    if not status.total:
        return "Starting…" if status.state == "running" else ""
    if status.phase == "features":
        text = f"Extracting features: {status.done:,} of {status.total:,} images"
        if status.state == "running":
            text += f" · {_eta(status.eta_s)} for this step, then the epochs"
        return text
    text = f"Epoch {status.done} of {status.total}"
    if status.state == "running":
        text += f" · {_eta(status.eta_s)}"
    return text


def _render(status: jobs.JobStatus, owner: str, key: str) -> None:
    """State, progress, queue note, error, Cancel/Resume and the log of one job."""
    st.markdown(f"**{STATE_LABELS.get(status.state, status.state)}** · job `{status.job_id}`")
    st.progress(status.fraction, text=progress_text(status))
    if status.state == "queued":
        ahead = (status.queue_position or 1) - 1
        st.caption(
            ("Next in line. " if ahead == 0 else f"{ahead} job(s) ahead of yours. ")
            + "A worker process runs the jobs one after another; you may close this tab and come back with its link."
        )
    if status.error and status.state in ("failed", "interrupted", "damaged"):
        st.error(escape_markdown(status.error), icon=":material/error:")
    if status.active and st.button("Cancel", key=f"{key}_cancel", icon=":material/stop_circle:"):
        with user_errors():
            jobs.cancel(status.job_id, owner)
            st.rerun()
    if status.resumable and st.button("Resume from the last epoch", key=f"{key}_resume", icon=":material/play_circle:"):
        with user_errors():
            jobs.resume(status.job_id, owner)
            st.rerun()
    if status.log_tail:
        with st.expander("Job log"):
            st.code("\n".join(status.log_tail), language=None)


def _recovery_box(status: jobs.JobStatus, owner: str, key: str) -> None:
    """The job's recovery code (shown to this session only) and Delete for a finished job."""
    remembered = st.session_state.get(f"{key}_recovery")
    if remembered and remembered[0] == status.job_id:
        st.info(
            f"Recovery code of this job: **`{remembered[1]}`**. Note it with the page's link: in another browser "
            "or on another device, open the link and enter the code to see this job there. It is shown in this "
            "tab only; the server keeps no readable copy.",
            icon=":material/key:",
        )
    elif st.button(
        "New recovery code",
        key=f"{key}_new_code",
        icon=":material/key:",
        help="The old code stops working, and browsers that opened this job with it no longer see it.",
    ):
        with user_errors():
            st.session_state[f"{key}_recovery"] = (status.job_id, jobs.new_recovery_code(status.job_id, owner))
            st.rerun(scope="fragment")
    if not status.active and st.button("Delete this job", key=f"{key}_delete", icon=":material/delete:"):
        with user_errors():
            jobs.delete(status.job_id, owner)
            st.session_state.pop(key, None)
            set_url_job(None)
            st.rerun(scope="app")


def _claim_form(job_id: str, owner: str, key: str) -> None:
    """For a job of another browser or sign-in: open it here with its recovery code."""
    with st.form(f"{key}_claim"):
        code = st.text_input("Recovery code", placeholder="XXXX-XXXX-XXXX-XXXX", max_chars=40)
        if st.form_submit_button("Open this job here", icon=":material/key:"):
            with user_errors():
                jobs.claim(job_id, code, owner, client=jobs.client_key(client_address()))
                st.rerun()


def job_curves(status: jobs.JobStatus, key: str) -> None:
    """Loss and accuracy curves of every ``*loss`` / ``*accuracy`` metric the job reported so far."""
    if status.metrics:
        fig = curves_figure(history_curves(status.metrics), **HISTORY_LAYOUT)
        st.plotly_chart(fig, width="stretch", key=f"{key}_curves")


def loss_and_quality_curves(status: jobs.JobStatus, quality: Sequence[str], title: str, key: str) -> None:
    """Two plots side by side: the training loss, and the validation metrics ``quality`` over the epochs."""
    a, b = st.columns(2)
    loss = curves_figure(metric_curves(status.metrics, ["loss"]), title="Training loss")
    a.plotly_chart(loss, width="stretch", key=f"{key}_loss")
    quality_fig = curves_figure(metric_curves(status.metrics, quality), title=title)
    b.plotly_chart(quality_fig, width="stretch", key=f"{key}_iou")


def job_panel(
    job_id: str | None,
    owner: str,
    key: str,
    *,
    kind: str | None = None,
    live: JobHook | None = None,
    empty: str | None = None,
    refresh_s: float = 1.0,
    place: DeltaGenerator | None = None,
) -> jobs.JobStatus | None:
    """Show one job: state, queue position, progress with ETA, error, Cancel / Resume, log, live content.

    ``live(status)`` draws the page's own content of the job (curves, predictions per epoch) inside the panel,
    so it refreshes with it; without it the panel draws the ``*loss`` / ``*accuracy`` curves. While the job is
    queued or running the panel reruns itself every ``refresh_s`` seconds, and the whole page once when the job
    ends. A job of another owner, or of another ``kind`` than the page runs, is not shown (an error is).
    ``empty`` is shown as a note when there is no job. ``place`` (from :func:`link_slot`): draw the panel there,
    at the top of the page, and only a pointer to it here. Returns the job's status, or ``None``.
    """
    if place is not None:
        st.caption(":material/arrow_upward: [This job's panel is at the top of the page.](#job)")
        with place:
            return job_panel(job_id, owner, key, kind=kind, live=live, empty=empty, refresh_s=refresh_s)
    identity_note()
    if not job_id:
        if empty:
            st.info(empty, icon=":material/info:")
        return None
    first = _first_status(job_id, owner, key, kind)
    if first is None:
        return None
    st.session_state[key] = job_id
    st.session_state[f"{key}_seen_state"] = first.state

    def body() -> None:
        _panel_body(job_id, owner, key, live)

    st.fragment(body, run_every=refresh_s if first.active else None)()
    return first


def _first_status(job_id: str, owner: str, key: str, kind: str | None) -> jobs.JobStatus | None:
    """The job's status if this session may see it on this page; else ``None``, with why shown (and, for a job of
    another browser or sign-in, the form to open it here with its recovery code)."""
    try:
        first = jobs.status(job_id, owner)
        if kind is not None and first.kind != kind and first.state != "damaged":
            raise InputError(OTHER_PAGE)
        return first
    except jobs.NotYourJob as exc:
        st.warning(NOT_YOURS_TAB if current_identity().kind == "tab" else str(exc), icon=":material/lock:")
        _claim_form(job_id, owner, key)
    except InputError as exc:
        if st.session_state.get(key) == job_id:  # remembered, but gone (expired): forget it here and in the URL
            del st.session_state[key]
            set_url_job(None)
        st.error(str(exc), icon=":material/error:")
    return None


def _panel_body(job_id: str, owner: str, key: str, live: JobHook | None) -> None:
    """One refresh of the panel's fragment; the whole page reruns once when the job has just ended."""
    try:
        now = jobs.status(job_id, owner)
    except InputError as exc:
        st.error(str(exc), icon=":material/error:")
        return
    _render(now, owner, key)
    _recovery_box(now, owner, key)
    if now.state == "damaged":
        return  # nothing of it can be drawn
    with user_errors():
        if live is None:
            job_curves(now, key)
        else:
            live(now)
    seen = st.session_state.get(f"{key}_seen_state")
    st.session_state[f"{key}_seen_state"] = now.state
    if seen in jobs.ACTIVE_STATES and not now.active:
        st.rerun(scope="app")


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
                **accuracy_columns(j.result or {}),
            }
            for j in mine
        ]
        st.dataframe(rows, hide_index=True, width="stretch", column_config=accuracy_column_config())
    return mine
