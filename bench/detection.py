"""Benchmark of the detection pipeline (not a test): ``.venv/bin/python bench/detection.py [--skip-memory]``.

1. Overhead: ``detection.detect`` (candidates above the score threshold + ``batched_nms``) against the bare
   torchvision call (``weights.transforms()`` + the model with its own post-processing) on the same images,
   interleaved in one run; prints the ratio of the medians and of the minima (the goal is at most 1.05). On a
   shared, busy machine the medians swing with other processes' load; the minima are the stable figure.
2. Latency of every detector on this machine with 2 torch threads (pretrained weights when present, else the
   seeded random weights: the same arithmetic).
3. Memory of the real server (``python -m cnn_demo serve``) with 1 and then 10 browser sessions on the
   detection page (headless Chromium): the detector is held once per process, so ten users cost little more.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from cnn_demo import models  # noqa: E402
from cnn_demo.applications import detection  # noqa: E402
from cnn_demo.io.images import load_image  # noqa: E402
from cnn_demo.io.samples import load_sample  # noqa: E402
from cnn_demo.weights import weights_available  # noqa: E402


def bench_images(n: int) -> list[np.ndarray]:
    """Up to ``n`` real photos: the COCO val2017 sample when present, else scikit-image's colour samples."""
    folder = ROOT.parent / "shared" / "data" / "coco_sample" / "val2017" / "images"
    if folder.is_dir():
        return [np.asarray(load_image(p.read_bytes())) for p in sorted(folder.glob("*.jpg"))[:n]]
    return [np.asarray(load_sample(s)) for s in ("chelsea", "astronaut", "coffee", "rocket", "motorcycle")][:n]


def overhead(name: str, images: list[np.ndarray], repeats: int) -> None:
    """Median time of detect() and of the bare torchvision call, interleaved image by image."""
    info = detection.detector_info(name)
    pretrained = weights_available(info.weights_entry)
    ours = detection.build_detector(name, pretrained=pretrained)  # the detector detect() builds, built once
    bare = models.create(name, pretrained=pretrained).to(ours.model.parameters().__next__().device)
    transform = info.weights_entry.transforms()
    t_ours, t_bare = [], []
    for _ in range(repeats):
        for arr in images:
            t0 = time.perf_counter()
            detection.detect(arr, ours, score_threshold=info_score(info), pretrained=pretrained)
            t1 = time.perf_counter()
            with torch.inference_mode():
                out = bare([transform(detection.as_rgb_image(arr))])[0]
                _ = out["boxes"][out["scores"] > info_score(info)]
            t2 = time.perf_counter()
            t_ours.append(t1 - t0)
            t_bare.append(t2 - t1)
    mo, mb = statistics.median(t_ours), statistics.median(t_bare)
    lo, lb = min(t_ours), min(t_bare)
    print(f"overhead {name}: detect {mo * 1000:.1f} ms, bare torchvision {mb * 1000:.1f} ms (medians of "
          f"{len(t_ours)} calls), ratio of medians {mo / mb:.3f}, ratio of minima {lo / lb:.3f} (goal ≤ 1.05; "
          "the minimum is the least disturbed by other processes)")  # fmt: skip


def info_score(info: detection.DetectorInfo) -> float:
    """The score threshold used for the comparison (the page's default)."""
    return 0.5


def latency(images: list[np.ndarray], repeats: int) -> None:
    """Median latency of each detector (2 threads)."""
    for info in detection.DETECTORS:
        pretrained = weights_available(info.weights_entry)
        det = detection.build_detector(info.name, pretrained=pretrained)
        detection.run_detector(det, images[0])  # warm-up
        times = [detection.run_detector(det, arr).seconds for _ in range(repeats) for arr in images[:2]]
        label = "pretrained" if pretrained else "random weights"
        print(f"latency {info.name:40s} {statistics.median(times) * 1000:8.0f} ms  ({label})")
        del det


def tree_rss(pid: int) -> int:
    """Resident memory of a process and its children, in bytes."""
    import psutil

    proc = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)])


def memory(users: tuple[int, ...] = (1, 10)) -> None:
    """Server RSS with 1 and 10 browser sessions on the detection page."""
    from playwright.sync_api import sync_playwright

    from tests.conftest import CHROMIUM, CHROMIUM_ARGS, free_port, wait_http

    port = free_port()
    env = dict(os.environ, CNN_DEMO_STATE_DIR=str(ROOT / ".cnn_demo" / "bench-state"))
    server = subprocess.Popen(
        [sys.executable, "-m", "cnn_demo", "serve", "--no-worker", "--port", str(port), "--address", "127.0.0.1"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        wait_http(f"http://127.0.0.1:{port}/_stcore/health", timeout=90)
        print(f"memory: idle server {tree_rss(server.pid) / 2**20:.0f} MiB")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            pages = []
            for target in users:
                while len(pages) < target:
                    page = browser.new_context(viewport={"width": 1200, "height": 900}).new_page()
                    page.goto(f"http://127.0.0.1:{port}/detection")
                    page.get_by_text("objects", exact=False).first.wait_for(timeout=180_000)
                    pages.append(page)
                time.sleep(2)
                print(
                    f"memory: {target:2d} user(s) on the detection page: server {tree_rss(server.pid) / 2**20:.0f} MiB"
                )
            browser.close()
    finally:
        import signal

        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def main() -> None:
    """Run the three measurements."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(2)
    images = bench_images(args.images)
    print(f"{len(images)} images, torch threads {torch.get_num_threads()}")
    overhead(detection.DEFAULT_DETECTOR, images, args.repeats)
    overhead("ssdlite320_mobilenet_v3_large", images, args.repeats)
    if not args.skip_latency:
        latency(images, 1)
    if not args.skip_memory:
        memory()


if __name__ == "__main__":
    main()
