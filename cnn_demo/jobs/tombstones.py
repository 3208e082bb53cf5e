"""Marks of the jobs a teacher deleted, so that their students read that the teacher removed a job, not that there
is no job with that id. A mark names the job and the hashes of its owners (no identity), and is forgotten after
:data:`KEEP_DAYS`."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from cnn_demo.settings import Settings

REMOVED_BY_TEACHER = (
    "Your teacher removed this job, with everything it stored. Start it again if you still need it, or ask your "
    "teacher why."
)
KEEP_DAYS = 7.0


def _folder(settings: Settings) -> Path:
    return settings.state_dir / "removed-jobs"


def mark_removed(settings: Settings, job_id: str, owner_keys: list[str]) -> None:
    """Record that the teacher deleted ``job_id`` (a checked id) of the owners hashed as ``owner_keys``; marks
    older than :data:`KEEP_DAYS` go. A full disk costs the mark, never the deletion."""
    folder = _folder(settings)
    with contextlib.suppress(OSError):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / job_id).write_text("\n".join(owner_keys))
        cutoff = time.time() - KEEP_DAYS * 86400
        for path in folder.iterdir():
            with contextlib.suppress(OSError):
                if path.stat().st_mtime < cutoff:
                    path.unlink()


def removed_by_teacher(settings: Settings, job_id: str, owner_key: str) -> bool:
    """Whether the teacher deleted ``job_id`` of the owner hashed as ``owner_key``."""
    try:
        return owner_key in (_folder(settings) / job_id).read_text().split()
    except (OSError, ValueError):
        return False
