"""Benchmark: uploading a photo on the Applications pages, in a real browser, split into server and browser CPU.

    .venv/bin/python bench/uploads.py                               # detection, rcnn, segmentation
    .venv/bin/python bench/uploads.py --pages segmentation --size 4032 3024 --repeat 3

Starts ``python -m cnn_demo serve --no-worker`` on a free port, opens each page in headless Chromium, switches its
image picker to *Upload* and uploads a phone-sized JPEG (a bundled COCO photo of people scaled up, a different one
each time so no cache hides the work), and times until the rerun has finished and the page is drawn
(``tests.browser_helpers.timed_interaction``). Prints per upload the seconds, and the CPU seconds of the server and
of the browser, then each page's medians. Not a test: it prints what it measured.
"""

from __future__ import annotations

import argparse
import io
import os
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cnn_demo.data.samples import people_dir  # noqa: E402
from tests.browser_helpers import RerunWatch, timed_interaction, wait_idle, widget  # noqa: E402
from tests.conftest import CHROMIUM, CHROMIUM_ARGS, free_port, wait_http  # noqa: E402

PAGES = ("detection", "rcnn", "segmentation")


def phone_photo(n: int, size: tuple[int, int]) -> bytes:
    """The ``n``-th bundled people photo scaled to ``size`` as a JPEG (quality 90, as a phone writes it)."""
    from PIL import Image

    photos = sorted((people_dir() / "images").glob("*.jpg"))
    img = Image.open(photos[n % len(photos)]).convert("RGB").resize(size, Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def tree_cpu(proc: psutil.Process) -> float:
    """CPU seconds of a process and all its children."""
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", nargs="*", default=list(PAGES))
    parser.add_argument("--size", nargs=2, type=int, default=[4032, 3024], metavar=("W", "H"))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    port = free_port()
    state = tempfile.mkdtemp(prefix="cnn-demo-uploads-")
    env = dict(os.environ, CNN_DEMO_STATE_DIR=state, PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "cnn_demo", "serve", "--no-worker", "--port", str(port), "--address", "127.0.0.1"]
    server = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}"
    me = psutil.Process()
    rows = []
    n = 0
    try:
        wait_http(f"{base}/_stcore/health", timeout=180)
        srv = psutil.Process(server.pid)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            watch = RerunWatch(page)
            print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; {args.size[0]}×{args.size[1]} JPEG")
            for path in args.pages:
                for _ in range(args.repeat):
                    page.goto(f"{base}/{path}")  # a fresh uploader each time (one file at a time)
                    wait_idle(page)
                    radio = widget(page, "stRadio", "Image").locator('label:has(input[type="radio"])')
                    radio.filter(has_text="Upload").click()
                    wait_idle(page)
                    uploader = page.locator('[data-testid="stFileUploaderDropzoneInput"]').first
                    n += 1
                    data = phone_photo(n, tuple(args.size))
                    files = {"name": f"phone{n}.jpg", "mimeType": "image/jpeg", "buffer": data}
                    s0, a0 = tree_cpu(srv), tree_cpu(me)
                    act = lambda f=files, u=uploader: u.set_input_files(f)  # noqa: E731
                    wall = timed_interaction(page, watch, act, timeout_s=180)
                    s1, a1 = tree_cpu(srv), tree_cpu(me)
                    rows.append((path, wall, s1 - s0, (a1 - a0) - (s1 - s0)))
                    page.get_by_text(f"Uploaded phone{n}.jpg").first.wait_for(timeout=30_000)  # it was this photo
                    srv_s, web_s = s1 - s0, rows[-1][3]
                    print(f"  {path:14s} {wall:6.2f} s  server {srv_s:5.2f} CPU s  browser {web_s:5.2f}", flush=True)
                    wait_idle(page)
            browser.close()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
    print()
    for path in args.pages:
        mine = [r for r in rows if r[0] == path]
        if mine:
            med = [statistics.median(r[i] for r in mine) for i in (1, 2, 3)]
            print(f"{path:14s} median {med[0]:.2f} s; server {med[1]:.2f} CPU s; browser {med[2]:.2f} CPU s")


if __name__ == "__main__":
    main()
