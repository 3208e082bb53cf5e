"""A small job kind for the job-system tests: counts steps, sleeping a little, checkpointing after each one."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from cnn_demo import jobs


@jobs.register("test_count")
def count_job(params: dict, ctx: jobs.JobContext) -> dict:
    """Count to ``params['steps']``; ``fail_at`` raises there; the result says where the run (re)started."""
    start = 0
    resumed = ctx.load_checkpoint()
    if resumed is not None:
        start = resumed[1]
    pids = [*(resumed[0]["pids"] if resumed else []), os.getpid()]
    total = int(params["steps"])
    for step in range(start + 1, total + 1):
        time.sleep(float(params.get("sleep", 0.0)))
        if step == params.get("fail_at"):
            raise RuntimeError("boom")
        ctx.save_checkpoint({"pids": pids}, step)
        ctx.progress(step, total, {"loss": 1.0 / step})
    return {"counted": total, "started_at": start, "pids": pids}


def job_env(tmp_path: Path, monkeypatch: Any, **overrides: str) -> dict[str, str]:
    """Environment for a job test and the workers it starts: a private state folder and the test job kind.

    Set in this process (through ``monkeypatch``) and returned whole for worker subprocesses. ``overrides`` add
    or replace variables (``CNN_DEMO_HEARTBEAT_TIMEOUT="20"``).
    """
    values = {
        "CNN_DEMO_STATE_DIR": str(tmp_path / "state"),
        "CNN_DEMO_JOB_MODULES": "tests.jobs_fixture",
        "CNN_DEMO_HEARTBEAT_TIMEOUT": "3",
        "CNN_DEMO_AUTO_RESUME": "0",
        **overrides,
    }
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    return {**os.environ, **values, "PYTHONUNBUFFERED": "1"}
