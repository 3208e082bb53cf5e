"""Benchmark: a class of students fine-tuning at once on one server, through the queue the pages use.

    /work/bin/cpu timeout 3600 .venv/bin/python bench/class.py [--students 30] [--per-student 100]

A real worker is started as ``python -m cnn_demo serve`` starts it (``python -m cnn_demo worker`` in a session of
its own, with this machine's default jobs at once and threads per job, or ``CNN_DEMO_MAX_JOBS`` /
``CNN_DEMO_JOB_THREADS`` when set) on a fresh state folder, and every job is submitted with ``jobs.submit`` exactly
as the fine-tuning page submits it: the dataset uploaded as a zip, read into the dataset store, split with the page's
defaults (the zip's train/ and val/, 15 % of each class held out for the test), packed by ``finetune.pack_dataset``,
the page's default settings (``TrainConfig()``), every student behind one address (a school's NAT). A job's time is
from its submission until its results are there (``jobs.status`` says done), as the student waits for them.

(a) The students all submit the default fine-tuning of hymenoptera (the same zip) at once. Printed: one job alone
    (the same job, on the idle worker, nothing cached), the time until the last student has results, and that over
    students × one job alone (target on 2 cores: ≤ 0.2).
(b) Each student has a dataset of their own: ``--per-student`` images of hymenoptera drawn for them (half ants,
    half bees; no two alike, so nothing is shared). The same ratio, with one job alone measured on the first
    student's dataset (target on 2 cores: ≤ 1.1), and the CPU busy-share of the machine while the class ran.

``--students 2 --data <small ImageFolder> --backbone myconvnet --random-weights --image-size 32`` runs it small
(``tests/test_bench_class.py``).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cnn_demo import finetune, jobs  # noqa: E402
from cnn_demo.data import datasets  # noqa: E402
from cnn_demo.settings import Settings  # noqa: E402

HYMENOPTERA = ROOT.parent / "shared" / "data" / "hymenoptera_data"
SCHOOL = jobs.client_key("203.0.113.7")  # every student behind one NAT


def zip_folder(files: list[tuple[str, Path]]) -> bytes:
    """A zip of ``(name inside the zip, file)`` pairs: what a student uploads."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, path in files:
            zf.write(path, name)
    return buf.getvalue()


def page_blob(upload: bytes, name: str, store: Path) -> bytes:
    """What the fine-tuning page hands a job for an uploaded zip, with its default split."""
    ds = datasets.read_zip_dataset(upload, name, store=store)
    ds.require_trainable()
    split = datasets.split_dataset(ds, 0.2, 0, use_given=True, test_fraction=0.15)
    return finetune.pack_dataset(ds, split)


def images_of(root: Path) -> dict[str, list[Path]]:
    """The image files of an ImageFolder (``class/`` or ``train|val/class/``), by class."""
    by_class: dict[str, list[Path]] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix.lower() in {".jpg", ".jpeg", ".png"}:
            by_class.setdefault(path.parent.name, []).append(path)
    return by_class


def own_datasets(root: Path, students: int, per_student: int, seed: int = 0) -> list[bytes]:
    """``students`` zips of ``per_student`` images each drawn from ``root`` (equal shares of its classes)."""
    import numpy as np

    by_class = images_of(root)
    rng = np.random.default_rng(seed)
    zips, seen = [], set()
    while len(zips) < students:
        picks = []
        for cls, paths in by_class.items():
            k = min(len(paths), per_student // len(by_class))
            picks += [
                (f"{cls}/{i:03d}{paths[j].suffix}", paths[j]) for i, j in enumerate(rng.choice(len(paths), k, False))
            ]
        key = tuple(sorted(str(p) for _, p in picks))
        if key not in seen:  # no two students alike
            seen.add(key)
            zips.append(zip_folder(picks))
    return zips


class Worker:
    """``python -m cnn_demo worker`` on the bench's state folder, started as ``serve`` starts it."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log.open("wb")
        cmd = [sys.executable, "-m", "cnn_demo", "worker"]
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.state = Path(env["CNN_DEMO_STATE_DIR"])

    def wait_ready(self, timeout: float = 120) -> None:
        """Until its job processes run (each worker announces its slots once they are forked)."""
        deadline = time.monotonic() + timeout
        while not list((self.state / "job-stats" / "workers").glob("*")):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the worker did not start; see {self.log.name}")
            time.sleep(0.2)

    def cpu_seconds(self) -> float:
        """CPU time of the worker and its job processes so far."""
        import psutil

        try:
            procs = [psutil.Process(self.proc.pid), *psutil.Process(self.proc.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0.0
        total = 0.0
        for p in procs:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.NoSuchProcess:
                continue
        return total

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU jiffies of the whole machine so far (``/proc/stat``)."""
    fields = [float(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)
    return sum(fields) - idle, sum(fields)


def run_class(settings: Settings, blobs: list[bytes], config: dict, timeout: float) -> dict:
    """Submit one job per blob (student ``i``) at once, as the page does; wait until every one has results."""
    t0 = time.perf_counter()
    submitted = []
    for i, blob in enumerate(blobs):
        params = {"config": config, "onnx": False, "dataset": f"student {i}"}
        job = jobs.submit(
            "finetune", params, f"student-{i}", files={"data.zip": blob}, settings=settings, client=SCHOOL
        )
        submitted.append((job, f"student-{i}", time.perf_counter()))
    first_place = jobs.queue_place(submitted[-1][0], settings)
    done: dict[str, float] = {}
    results = {}
    while len(done) < len(submitted):
        if time.perf_counter() - t0 > timeout:
            raise SystemExit(f"timed out with {len(done)} of {len(submitted)} jobs done")
        for job, owner, _ in submitted:
            if job in done:
                continue
            st = jobs.status(job, owner, settings)
            if st.state == "done":
                done[job] = time.perf_counter()
                results[job] = st.result
            elif not st.active:
                raise SystemExit(f"job of {owner} ended {st.state}: {st.error}")
        time.sleep(0.2)
    waits = [done[job] - at for job, _, at in submitted]
    accs = [results[job]["val_accuracy"] for job, _, _ in submitted]
    return {
        "seconds": max(done.values()) - t0,
        "submit_seconds": submitted[-1][2] - t0,
        "mean_wait": sum(waits) / len(waits),
        "val_accuracy_min": min(accs),
        "val_accuracy_max": max(accs),
        "feature_seconds_max": max(results[job]["feature_seconds"] for job, _, _ in submitted),
        "last_student_place": first_place.describe() if first_place else "",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--students", type=int, default=30)
    ap.add_argument("--per-student", type=int, default=100, help="images in each student's own dataset, (b)")
    ap.add_argument("--data", type=Path, default=HYMENOPTERA, help="ImageFolder to use (default: hymenoptera)")
    ap.add_argument("--backbone", default=None, help="default: the page's (TrainConfig())")
    ap.add_argument("--random-weights", action="store_true", help="no pretrained weights (small test runs)")
    ap.add_argument("--image-size", type=int, default=None)
    ap.add_argument("--only", choices=["a", "b"], default=None, help="run one part only")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds to wait for one part's jobs")
    ap.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    args = ap.parse_args()
    if not args.data.is_dir():
        raise SystemExit(f"no dataset at {args.data}")
    cfg = finetune.TrainConfig()
    if args.backbone or args.random_weights or args.image_size:
        from dataclasses import replace

        cfg = replace(
            cfg, backbone=args.backbone or cfg.backbone, pretrained=not args.random_weights, image_size=args.image_size
        )
    config = cfg.to_dict()
    figures: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="cnn-demo-class-") as tmp:
        state = Path(tmp) / "state"
        env = {**os.environ, "CNN_DEMO_STATE_DIR": str(state), "PYTHONUNBUFFERED": "1"}
        env.pop("CNN_DEMO_JOB_MODULES", None)
        settings = Settings.from_env(env)
        slots = settings.max_concurrent_jobs
        store = state / "datasets"
        t = time.perf_counter()
        upload = zip_folder(
            [(p.relative_to(args.data.parent).as_posix(), p) for p in sorted(args.data.rglob("*")) if p.is_file()]
        )
        shared_blob = page_blob(upload, f"{args.data.name}.zip", store) if args.only != "b" else b""
        own = (
            [
                page_blob(z, f"student{i}.zip", store)
                for i, z in enumerate(own_datasets(args.data, args.students, args.per_student))
            ]
            if args.only != "a"
            else []
        )
        print(
            f"{args.students} students, {cfg.backbone} ({'pretrained' if cfg.pretrained else 'random weights'}), "
            f"worker: {settings.max_concurrent_jobs} job(s) at once × {settings.torch_threads} torch thread(s), "
            f"{os.cpu_count()} CPUs; uploads packed as the page does in {time.perf_counter() - t:.1f} s "
            f"({len(shared_blob) / 1e6:.1f} MB shared zip)",
            flush=True,
        )
        warm = [page_blob(z, f"warm{i}.zip", store) for i, z in enumerate(own_datasets(args.data, slots, 10, seed=99))]
        worker = Worker(env, Path(tmp) / "worker.log")
        try:
            worker.wait_ready()
            # Every job process runs a small job first (loads the backbone's weights, sets up its kernels), as on a
            # server that has been up for a while: "one job alone" is then a student's job, not a cold start.
            run_class(settings, warm, config, args.timeout)
            parts = [] if args.only == "b" else [("a", [shared_blob] * args.students)]
            parts += [] if args.only == "a" else [("b", own)]
            for part, blobs in parts:
                import shutil

                shutil.rmtree(state / "feature-cache", ignore_errors=True)  # one job alone: nothing cached
                alone = run_class(settings, blobs[:1], config, args.timeout)
                shutil.rmtree(state / "feature-cache", ignore_errors=True)  # the class starts from nothing too
                cpu0, (busy0, total0) = worker.cpu_seconds(), machine_busy()
                whole = run_class(settings, blobs, config, args.timeout)
                busy1, total1 = machine_busy()
                cpu = worker.cpu_seconds() - cpu0
                ratio = whole["seconds"] / (len(blobs) * alone["seconds"])
                row = {
                    "alone_seconds": alone["seconds"],
                    "class_seconds": whole["seconds"],
                    "ratio": ratio,
                    "busy_share": (busy1 - busy0) / max(total1 - total0, 1.0),
                    "worker_cpu_share": cpu / (whole["seconds"] * (os.cpu_count() or 1)),
                    **{k: v for k, v in whole.items() if k != "seconds"},
                    "alone_val_accuracy": alone["val_accuracy_min"],
                }
                figures[part] = row
                title = f"same data ({args.data.name})" if part == "a" else f"own data ({args.per_student} images each)"
                print(
                    f"({part}) {len(blobs)} students, {title}: one job alone {alone['seconds']:.1f} s, the last "
                    f"results after {whole['seconds']:.1f} s (submitting took {whole['submit_seconds']:.1f} s); "
                    f"ratio {ratio:.3f} of {len(blobs)} × one job alone; CPU busy {row['busy_share']:.0%} "
                    f"(workers {row['worker_cpu_share']:.0%}); mean wait {whole['mean_wait']:.1f} s; "
                    f"val accuracy {whole['val_accuracy_min']:.3f}–{whole['val_accuracy_max']:.3f}; "
                    f"the last student was told: {whole['last_student_place']!r}",
                    flush=True,
                )
        finally:
            worker.stop()
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
