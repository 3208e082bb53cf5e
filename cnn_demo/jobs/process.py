"""Process control for workers: CPU priority, and processes that stop when the one that started them is gone."""

from __future__ import annotations

import functools
import os
import signal
import threading
from pathlib import Path

from cnn_demo.jobs.records import log

AUTOGROUP_SWITCH = Path("/proc/sys/kernel/sched_autogroup_enabled")

AUTOGROUP_SELF = Path("/proc/self/autogroup")


def autogroup_enabled() -> bool:
    """Whether Linux groups this machine's sessions for CPU sharing (autogroup), so niceness stops at a session."""
    try:
        return AUTOGROUP_SWITCH.read_text().strip() == "1" and AUTOGROUP_SELF.exists()
    except OSError:
        return False


def lower_priority(nice: int) -> str:
    """Lower this process's CPU priority by ``nice`` steps (its job processes inherit it); returns what was done.

    Plain niceness only ranks processes within one scheduling group. Where Linux's autogroup is on (most
    desktops, and this project's VMs), every session is such a group and the groups share the CPU equally
    whatever their niceness: a worker in a session of its own would get as much CPU as the whole web server.
    So a worker that leads its own session (``serve`` starts it that way) lowers its group as well.
    """
    if nice <= 0 or not hasattr(os, "nice"):
        return "normal CPU priority"
    os.nice(nice)
    if not autogroup_enabled():
        return f"nice {nice}"
    if os.getsid(0) != os.getpid():
        return (
            f"nice {nice}, inside the scheduling group of the session that started it; start the worker in a "
            "session of its own (setsid, a service manager, or `serve`) so it yields to the web server too"
        )
    try:
        AUTOGROUP_SELF.write_text(str(nice))
    except OSError as exc:
        return f"nice {nice}; its session's scheduling group could not be lowered: {exc}"
    return f"nice {nice}, and its session's scheduling group at nice {nice}"


@functools.cache
def die_with_parent() -> bool:
    """Have the kernel kill this process when its parent dies (Linux); True when arranged.

    A worker runs jobs in child processes; if the worker itself is killed outright (``kill -9``, the OOM killer)
    those would go on training with nobody to report to, outliving ``serve``. Called once per job process.
    """
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        parent = os.getppid()
        if libc.prctl(1, signal.SIGKILL, 0, 0, 0) != 0:  # PR_SET_PDEATHSIG
            return False
    except (OSError, AttributeError):
        return False
    if os.getppid() != parent:  # the parent died before the request took effect
        os.kill(os.getpid(), signal.SIGKILL)
    return True


def _exit_with_parent(parent_pid: int, stop: threading.Event) -> None:
    while not stop.wait(1.0):
        if os.getppid() != parent_pid:
            log.info("the process that started this one (pid %d) is gone; stopping", parent_pid)
            os.kill(os.getpid(), signal.SIGTERM)
            return


def stop_with_parent(parent_pid: int, stop: threading.Event | None = None) -> threading.Thread:
    """SIGTERM this process (a clean stop: jobs are interrupted, to resume later) once ``parent_pid`` is gone.

    ``serve`` passes its pid to the worker and the web server it starts, so that neither outlives it, even when
    it is killed outright and cannot clean up. Polls once a second until ``stop`` is set.
    """
    thread = threading.Thread(
        target=_exit_with_parent, args=(parent_pid, stop or threading.Event()), daemon=True, name="cnn-demo-parent"
    )
    thread.start()
    return thread
