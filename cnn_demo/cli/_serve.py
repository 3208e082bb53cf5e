"""The ``serve`` and ``worker`` commands: the web app beside a supervised job worker, and a worker alone.

Private to :mod:`cnn_demo.cli` (a module without ``add_commands``): the parser lives in ``cli/__init__.py``.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def stop_processes(procs: list[subprocess.Popen], timeout: float = 15) -> None:
    """SIGTERM each process, wait for them all, SIGKILL what is still running."""
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


class Restarts:
    """When a crashed worker may be started again: at once the first time, then backing off to a minute, so a
    worker that dies at start-up (a broken queue URL) does not spin."""

    def __init__(self) -> None:
        self.delay = 0.0
        self.last = 0.0

    def due(self) -> bool:
        import time

        now = time.monotonic()
        if now - self.last < self.delay:
            return False
        # A worker that ran for a while before dying starts again at once; quick deaths back off.
        self.delay = 0.0 if now - self.last > 300 else min(60.0, max(1.0, self.delay * 2))
        self.last = now
        return True


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the web app (and the job worker, when the job queue exists) until interrupted or terminated.

    The worker runs in a session of its own, so that on Linux it can lower the CPU priority of its whole
    scheduling group (``jobs.lower_priority``). Both it and the web server stop when this process ends, however
    it ends (``jobs.stop_with_parent``). A worker that dies is started again; on start-up it re-queues the jobs
    that were cut off.
    """
    from cnn_demo.settings import get_settings
    from cnn_demo.ui.hostcheck import settings_warnings, shared_host_warning

    settings = get_settings()  # a bad setting stops here, with its message
    for warning in [*settings_warnings(settings), shared_host_warning(args.port, args.address)]:
        if warning:
            print(f"serve: {warning}", file=sys.stderr, flush=True)
    env = dict(os.environ)
    workers: list[subprocess.Popen] = []
    worker = [sys.executable, "-m", "cnn_demo", "worker", "--parent", str(os.getpid())]
    supervise = args.worker
    if supervise:
        workers.append(subprocess.Popen(worker, cwd=ROOT, env=env, start_new_session=True))
    cmd = [sys.executable, "-m", "cnn_demo.ui.launch", "--parent", str(os.getpid())]
    cmd += ["run", str(ROOT / "app.py"), "--server.port", str(args.port)]
    if args.address:
        cmd += ["--server.address", args.address]
    try:
        app = subprocess.Popen(cmd, cwd=ROOT, env=env)
        # SIGTERM (a service manager, `docker stop`) is passed on to the app; the worker is stopped below.
        signal.signal(signal.SIGTERM, lambda signum, frame: app.terminate())
        restarts = Restarts()
        while True:
            try:
                return app.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                pass
            except KeyboardInterrupt:  # Ctrl-C reaches the app as well; this covers a SIGINT sent to serve alone
                app.terminate()
                continue
            if supervise and workers[-1].poll() is not None and restarts.due():
                # A dead worker would leave every job waiting: start another, which re-queues the jobs the
                # dead one was running (without using up their automatic resumes) and any the queue lost.
                print(
                    f"serve: the job worker stopped (exit code {workers[-1].returncode}); starting a new one",
                    file=sys.stderr,
                    flush=True,
                )
                workers[-1] = subprocess.Popen(worker, cwd=ROOT, env=env, start_new_session=True)
    finally:
        stop_processes(workers)


def cmd_worker(args: argparse.Namespace) -> int:
    """Run a job worker (Huey consumer) until interrupted."""
    from cnn_demo import jobs

    jobs.run_worker(parent_pid=args.parent)
    return 0
