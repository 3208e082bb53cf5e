"""The "predictions after epoch" slider of the training pages (localization, U-Net)."""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from cnn_demo import jobs


def epoch_slider(label: str, epochs: Sequence[int], key: str, job: jobs.JobStatus) -> int:
    """A slider over the epochs that have predictions, returning the one chosen.

    It follows the training: while it stands on the newest epoch it moves on with each new one, it jumps to the
    last epoch when the job ends or another job is shown, and it stays where the user put it otherwise.
    """
    epochs = sorted(int(e) for e in epochs)
    last = epochs[-1]
    if len(epochs) == 1:
        return last
    seen_key = f"{key}_seen"
    seen = st.session_state.get(seen_key)  # (job id, newest epoch, active) at the last draw
    current = st.session_state.get(key)
    fresh = seen is None or seen[0] != job.job_id
    ended = seen is not None and seen[2] and not job.active
    following = seen is not None and current == seen[1]
    if fresh or ended or following or current not in epochs:
        st.session_state[key] = last
    st.session_state[seen_key] = (job.job_id, last, job.active)
    return int(st.select_slider(label, epochs, key=key))
