"""The Teacher page's parts: every job of the class, acting on them, a student's reference, storage, limits, reset.

Only :func:`teacher_view` draws anything of the class, and the page calls it only after
:func:`cnn_demo.ui.teacher.teacher_gate` said yes. Student text (display names, errors) is escaped or shown in
tables, never as markdown.
"""

from __future__ import annotations

import time

import streamlit as st

from cnn_demo.errors import InputError
from cnn_demo.jobs import admin
from cnn_demo.settings import Settings, env_name, get_settings
from cnn_demo.ui.common import escape_markdown, user_errors
from cnn_demo.ui.jobs import STATE_LABELS

#: The page each job kind is started on (what the teacher calls it).
KIND_PAGES = {
    "finetune": "Fine-tune on your images",
    "unet_train": "U-Net",
    "localization_train": "Object localization",
    "person_segmenter": "Segmentation",
    "detector_train": "Train a person detector",
}
RESET_WORD = "RESET"


def _when(t: float | None) -> str:
    return time.strftime("%a %H:%M", time.localtime(t)) if t else ""


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def _percent(value: float | None) -> str:
    """A share as the table shows it: ``94.1 %``, or a dash for a job with none yet (not the word None)."""
    return "—" if value is None else f"{100 * value:.1f} %"


def _student(row: admin.JobRow) -> str:
    return row.student or (f"anonymous ({row.owner_tag})" if row.owner_tag else "unknown")


def _label(row: admin.JobRow) -> str:
    return f"{_student(row)} · {KIND_PAGES.get(row.kind, row.kind or '?')} · {row.state} · {row.job_id}"


def _choice(row: admin.JobRow) -> str:
    # No state: a chosen job's chip keeps the words it was chosen with, so a state in them would go stale.
    return f"{_student(row)} · {KIND_PAGES.get(row.kind, row.kind or '?')} · {row.job_id}"


def jobs_overview(rows: list[admin.JobRow]) -> None:
    """Counts by state and the table of every job."""
    counts = {state: sum(r.state == state for r in rows) for state in ("queued", "running", "done", "failed")}
    cols = st.columns(len(counts) + 1)
    cols[0].metric("Jobs", len(rows))
    for col, (state, n) in zip(cols[1:], counts.items(), strict=True):
        col.metric(state.capitalize(), n)
    if not rows:
        st.info("No jobs yet. Students' jobs appear here as soon as they press Train.", icon=":material/info:")
        return
    table = [
        {
            "student": _student(r),
            "page": KIND_PAGES.get(r.kind, r.kind),
            "state": STATE_LABELS.get(r.state, r.state).split(" ", 1)[-1],
            "queue": r.queue_wait or (f"{r.queue_position}." if r.queue_position else ""),
            "started": _when(r.created),
            "ran": _duration(r.run_seconds),
            "accuracy": _percent(r.accuracy),
            "majority baseline": _percent(r.baseline),
            "result": r.score,
            "disk MB": round(r.disk_bytes / 1e6, 1),
            "reference": r.reference or "",
            "job": r.job_id,
        }
        for r in rows
    ]
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        key="teacher_jobs_table",
    )


def job_actions(rows: list[admin.JobRow]) -> None:
    """Cancel or delete any of the jobs chosen."""
    by_id = {r.job_id: r for r in rows}
    # A new key after a deletion: the browser would otherwise keep showing the deleted jobs as chosen.
    generation = int(st.session_state.get("teacher_chosen_generation", 0))
    chosen = st.multiselect(
        "Jobs to cancel or delete",
        list(by_id),
        format_func=lambda job_id: _choice(by_id[job_id]) if job_id in by_id else job_id,
        key="teacher_chosen" + (f"_{generation}" if generation else ""),
        placeholder="Choose jobs",
    )
    a, b = st.columns(2)
    if a.button("Cancel chosen jobs", key="teacher_cancel", icon=":material/stop_circle:", disabled=not chosen):
        for job_id in chosen:
            with user_errors():
                admin.cancel_any(job_id)
        st.toast(f"Asked {len(chosen)} job(s) to stop.")
        st.rerun()
    if b.button("Delete chosen jobs", key="teacher_delete", icon=":material/delete:", disabled=not chosen):
        deleted, active = 0, 0
        for job_id in chosen:
            try:
                admin.delete_any(job_id, by_teacher=True)
                deleted += 1
            except InputError:
                active += 1
        st.session_state["teacher_notice"] = f"Deleted {deleted} job(s)." + (
            f" {active} still queued or running: cancel them first." if active else ""
        )
        st.session_state["teacher_chosen_generation"] = generation + 1
        st.rerun()


def find_reference() -> None:
    """A student's reference (from a crash message, or a job id) to the job, its log and the error's details."""
    ref = st.text_input(
        "A student's reference",
        key="teacher_ref",
        max_chars=80,
        placeholder="e.g. 1a2b3c4d, or a job id",
        help="A job that stops with an error tells its student a reference; the job id is on every job panel.",
    )
    if not ref.strip():
        return
    found = admin.find_by_reference(ref)
    if not found:
        st.warning(
            "No job matches this reference (finished jobs are deleted after a while).", icon=":material/search_off:"
        )
        return
    for row in found:
        with user_errors():
            d = admin.job_details(row.job_id)
            st.markdown(f"**{escape_markdown(_label(row))}**")
            st.caption(f"Started {_when(row.created)} · {_duration(row.run_seconds)} · {row.score}".strip(" ·"))
            if d["error"]:
                st.error(escape_markdown(d["error"]), icon=":material/error:")
            if d["log"]:
                st.code("\n".join(d["log"]), language=None)
            if d["crash"]:
                with st.expander("What went wrong (for whoever runs the server)"):
                    st.code(d["crash"], language=None)


def storage_and_limits(s: Settings) -> None:
    """The disk the class's work takes, and the limits in force (environment variables change them)."""
    use = admin.storage_use(s)
    cols = st.columns(4)
    cols[0].metric("Job folders", f"{use['jobs'] / 1e6:.0f} MB")
    cols[1].metric("Stored uploads", f"{use['uploads'] / 1e6:.0f} MB")
    cols[2].metric("Cached features", f"{use['feature_cache'] / 1e6:.0f} MB")
    cols[3].metric("Disk free", f"{use['disk_free'] / 1e9:.1f} GB")
    limits = {
        "Jobs running at once (per worker)": "max_concurrent_jobs",
        "CPU threads per job": "torch_threads",
        "Jobs queued or running, all together": "queue_capacity",
        "Jobs queued or running per student": "jobs_per_user",
        "Jobs queued or running per network address": "jobs_per_address",
        "Disk per student (MB)": "disk_per_user_mb",
        "Disk per network address (MB)": "disk_per_address_mb",
        "Uploads held per session (MB)": "upload_session_mb",
        "Jobs and uploads kept for (hours)": "artifact_hours",
    }
    with st.expander("Limits in force"):
        st.dataframe(
            [
                {"limit": name, "value": _shown(getattr(s, field)), "setting": env_name(field)}
                for name, field in limits.items()
            ],
            hide_index=True,
            width="stretch",
        )


def _shown(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def class_reset() -> None:
    """Delete every job (running ones are stopped) and every stored upload, after typing the confirmation."""
    with st.form("teacher_reset"):
        st.markdown(
            "**Reset the class**: deletes every student's jobs (running ones are stopped), their stored uploads, "
            "the class gallery and the cached features. Nothing of it can be brought back."
        )
        typed = st.text_input(f"Type {RESET_WORD} to confirm", key="teacher_reset_word", max_chars=20)
        if not st.form_submit_button("Reset the class", icon=":material/restart_alt:", type="primary"):
            return
    if typed.strip() != RESET_WORD:
        st.error(f"Type {RESET_WORD} in the box to reset the class.", icon=":material/error:")
        return
    report = admin.purge(get_settings(), everything=True)
    st.session_state["teacher_notice"] = (
        f"Class reset: {len(report.jobs)} job(s) and {report.uploads} stored upload(s) deleted, "
        f"{report.bytes_freed / 1e6:.0f} MB freed."
    )
    st.rerun()


def teacher_view() -> None:
    """The whole Teacher page for the teacher."""
    s = get_settings()
    notice = st.session_state.pop("teacher_notice", None)
    if notice:
        st.success(notice, icon=":material/check_circle:")
    st.button("Refresh", key="teacher_refresh", icon=":material/refresh:")
    rows = admin.list_all(s)
    st.subheader("Every job")
    jobs_overview(rows)
    if rows:
        job_actions(rows)
    st.subheader("Find a job by its reference")
    find_reference()
    st.subheader("Storage and limits")
    storage_and_limits(s)
    st.subheader("Between classes")
    class_reset()
