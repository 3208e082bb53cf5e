"""A small job kind for the job-system tests: counts steps, sleeping a little, checkpointing after each one."""

from __future__ import annotations

import os
import time

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
