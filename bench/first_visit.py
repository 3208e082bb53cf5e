"""Benchmark: the first visit of a page after a server start, with and without the start-up warm-up.

    .venv/bin/python bench/first_visit.py                      # the issue's four pages, cold and warmed
    .venv/bin/python bench/first_visit.py --pages feature_maps --modes warm

For each page and mode a fresh ``python -m cnn_demo serve --no-worker`` is started (``CNN_DEMO_WARMUP=0`` for
``cold``; for ``warm`` the bench waits for the server's "warm-up done" line, as a class arrives after the teacher
started the server). A new browser then opens the page: seconds until its script finished and every chart is drawn
(``tests.browser_helpers.timed_interaction``), and the same again in a second browser context (a later visit).
Prints one row per page and mode. Not a test: it prints what it measured.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cnn_demo.ui.warmup import DONE  # noqa: E402
from tests.browser_helpers import RerunWatch, timed_interaction  # noqa: E402
from tests.conftest import CHROMIUM, CHROMIUM_ARGS, free_port, wait_http  # noqa: E402

ISSUE_PAGES = ("images_arithmetic", "detection", "segmentation", "feature_maps")


def visit(browser, url: str) -> float:
    """Seconds from opening ``url`` in a new browser context until it is drawn."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    page = ctx.new_page()
    watch = RerunWatch(page)
    try:
        return timed_interaction(page, watch, lambda: page.goto(url), timeout_s=180)
    finally:
        ctx.close()


def measure(page_path: str, warm: bool, browser) -> tuple[float, float, float]:
    """(first visit s, later visit s, warm-up s or nan) on a fresh server."""
    port = free_port()
    state = tempfile.mkdtemp(prefix="cnn-demo-first-")
    log_path = Path(state) / "server.log"
    env = dict(os.environ, CNN_DEMO_STATE_DIR=state, PYTHONUNBUFFERED="1", CNN_DEMO_WARMUP="1" if warm else "0")
    cmd = [sys.executable, "-m", "cnn_demo", "serve", "--no-worker", "--port", str(port), "--address", "127.0.0.1"]
    with log_path.open("w") as log:
        server = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    t0 = time.perf_counter()
    warmed = float("nan")
    try:
        wait_http(f"{base}/_stcore/health", timeout=180)
        if warm:
            deadline = time.monotonic() + 600
            while DONE not in log_path.read_text() and time.monotonic() < deadline:
                time.sleep(0.2)
            warmed = time.perf_counter() - t0
        first = visit(browser, f"{base}/{page_path}")
        later = visit(browser, f"{base}/{page_path}")
        return first, later, warmed
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", nargs="*", default=list(ISSUE_PAGES), help="url paths (default: the issue's four)")
    parser.add_argument("--modes", nargs="*", default=["cold", "warm"], choices=["cold", "warm"])
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    rows = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}", flush=True)
        for page_path in args.pages:
            for mode in args.modes:
                first, later, warmed = measure(page_path, mode == "warm", browser)
                rows.append((page_path, mode, first, later, warmed))
                print(f"  {page_path:20s} {mode:5s} first {first:6.2f} s, later {later:6.2f} s", flush=True)
        browser.close()
    print(f"\n{'page':20s} {'mode':5s} {'first visit':>12s} {'later visit':>12s} {'warm-up done at':>16s}")
    for page_path, mode, first, later, warmed in rows:
        done = "—" if warmed != warmed else f"{warmed:.1f} s"
        print(f"{page_path:20s} {mode:5s} {first:10.2f} s {later:10.2f} s {done:>16s}")


if __name__ == "__main__":
    main()
