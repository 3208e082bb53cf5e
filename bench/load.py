"""Load benchmark: many browser sessions on the real app at once, against a bare Streamlit app in the same run.

    .venv/bin/python bench/load.py --sessions 30 --client-nice 5    # README's figures; also without --client-nice
    .venv/bin/python bench/load.py --sessions 30 --upload-images 5000 --no-bare   # memory of dataset uploads

Starts the app (web + worker) and a one-line Streamlit app, drives N Playwright contexts on the system Chromium
through the image pages and the detection page while two fine-tuning jobs train (during both phases), and
prints: health-check p95, time to first content p95 for the app and for the bare app (and their ratio), errors,
the server's memory growth per added session, and the CPU time the web servers, the browsers and the training
jobs used. Not a test: it prints what it measured.

The worker runs with ``CNN_DEMO_MAX_JOBS=2`` so both jobs train at once.

Scheduling on this machine: Linux's autogroup is on, so each session is a scheduling group and the groups share
the CPU equally, whatever the niceness of the processes inside them. Playwright starts Chromium in a session of its
own, so all 30 browsers form one group, the app server (with its worker, which lowers its own group) another, the
bare app a third. ``--client-nice N`` lowers the browsers' group by N (as stand-ins for the students' own
computers, which would not share the server's cores); plain ``nice`` on the browsers would change nothing outside
their group. By default the browsers' group has the server's priority. The bare app gets the same clients.

``--upload-images N``: after the pages, every session opens the fine-tuning page and uploads a zip of N small PNGs
(flat colours, 256×256: about 1 MB zipped, 1 GB of pixels decoded), each session its own zip (one pixel differs, so
nothing is shared between sessions; ``--same-upload``: one zip for all, decoded once), and waits for "Ready to
train". The server's memory is measured with every
upload done (``memory_per_session_mb``) and again 130 s after the sessions closed (``web_rss_after_close_mb``; Streamlit
keeps a disconnected session 120 s). Python rarely gives freed memory back to the system, so that reading cannot
tell freed from leaked: ``--second-wave`` then runs the same sessions and uploads again and measures the server with
them all connected (``web_rss_second_wave_mb``): close to the first wave's reading, the closed sessions' memory was
freed and reused; about twice the growth, it leaked.

``--hold-s S --revisit-s T``: a class at work for S seconds after the first visits: every session reopens one of
its pages every ~T seconds (the benchmark to run ``bench/interactions.py --url`` beside, docs/LATENCY.md;
``kill -USR1`` ends the hold early).

The health probe runs in a session of its own, like a load balancer's check from elsewhere: inside the bench's
session it would queue for the CPU behind the bench's own driver.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import CHROMIUM, CHROMIUM_ARGS, free_port, wait_http  # noqa: E402

BARE_APP = 'import streamlit as st\n\nst.title("Hello")\n'
FIRST_CONTENT = "h1"


def mark(event: str) -> None:
    """A timestamped line on stderr, to line up with the health log's timestamps."""
    print(f"{time.time():.3f} {event}", file=sys.stderr, flush=True)


def p95(values: list[float]) -> float:
    """95th percentile (nearest rank)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]


def web_process(pid: int) -> psutil.Process | None:
    """The Streamlit web process: ``pid`` itself or its child running app.py."""
    try:
        proc = psutil.Process(pid)
        for child in proc.children(recursive=True):
            if "app.py" in " ".join(child.cmdline()):
                return child
        return proc
    except psutil.NoSuchProcess:
        return None


def cpu_seconds(proc: psutil.Process | None) -> float:
    """User + system CPU time of ``proc`` so far."""
    if proc is None:
        return 0.0
    try:
        t = proc.cpu_times()
    except psutil.NoSuchProcess:
        return 0.0
    return t.user + t.system


def chromium_cpu() -> float:
    """CPU time of every Chromium process alive now."""
    total = 0.0
    for p in psutil.process_iter(["name"]):
        if "chrom" in (p.info["name"] or ""):
            total += cpu_seconds(p)
    return total


def worker_cpu(pid: int) -> float:
    """CPU time of the job worker started by the server ``pid`` and of its job processes."""
    total = 0.0
    try:
        for child in psutil.Process(pid).children(recursive=True):
            if "worker" in child.cmdline():
                total += cpu_seconds(child)
    except psutil.NoSuchProcess:
        pass
    return total


def web_rss(pid: int) -> int:
    """Resident memory of the Streamlit web process alone (the worker is excluded)."""
    try:
        proc = web_process(pid)
        return proc.memory_info().rss if proc else 0
    except psutil.NoSuchProcess:
        return 0


class Server:
    """A Streamlit server in its own process group."""

    def __init__(self, cmd: list[str], port: int, env: dict[str, str]) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        wait_http(f"{self.url}/_stcore/health", timeout=120)

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=20)
        except Exception:
            os.killpg(self.proc.pid, signal.SIGKILL)


PROBE = """
import sys, time, urllib.request
url, out = sys.argv[1], sys.argv[2]
with open(out, "w") as f:
    while True:
        t0 = time.perf_counter()
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                r.read()
            f.write(f"{time.time():.3f} {time.perf_counter() - t0}\\n")
        except Exception:
            f.write(f"{time.time():.3f} fail\\n")
        f.flush()
        time.sleep(0.2)
"""


class HealthProbe:
    """Polls /_stcore/health every 200 ms from a process in its own session (not slowed by the browser driving)."""

    def __init__(self, url: str, folder: Path, name: str = "health") -> None:
        self.log = folder / f"{name}.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-c", PROBE, f"{url}/_stcore/health", str(self.log)], start_new_session=True
        )
        self.latencies: list[float] = []
        self.failures = 0

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        for line in (self.log.read_text() if self.log.exists() else "").splitlines():
            line = line.split()[-1]
            if line == "fail":
                self.failures += 1
            else:
                self.latencies.append(float(line))


def upload_zip(path: Path, n_images: int, variant: int) -> Path:
    """A zip of ``n_images`` flat-colour 256×256 PNGs in 5 classes; ``variant`` changes one pixel of the first."""
    import io
    import zipfile

    from PIL import Image

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(n_images):
            img = Image.new("RGB", (256, 256), (i % 256, i // 256 % 256, 128))  # every image different
            if i == 0:
                img.putpixel((0, 0), (variant % 256, variant // 256 % 256, 7))
            buf = io.BytesIO()
            img.save(buf, "PNG")
            zf.writestr(f"data/class{i % 5}/{i:05d}.png", buf.getvalue())
    return path


async def choose_file(page, upload: Path, results: dict) -> None:
    """Give the dataset uploader its file, as a student dropping it would, and check that it took it.

    Under load the fine-tuning page's first run can still be drawing when the heading appears; a file set on the
    uploader's input in that moment was lost twice in 60 uploads (the uploader showed no file, nothing reached the
    server: test-artifacts/load-error-*.png). A person sees the empty uploader and drops the file again; so does
    this, and ``upload_retries`` counts how often.
    """
    dropzone = page.locator('[data-testid="stFileUploaderDropzoneInput"]').first
    for attempt in range(3):
        await dropzone.set_input_files(str(upload), timeout=900_000)
        try:
            uploader = page.locator('[data-testid="stFileUploader"]').first
            await uploader.get_by_text(upload.name, exact=True).first.wait_for(timeout=120_000)
            return
        except Exception:
            if attempt == 2:
                raise
            results["upload_retries"] = results.get("upload_retries", 0) + 1


async def drive(
    browser,
    base: str,
    paths: list[str],
    results: dict,
    hold: asyncio.Event,
    upload: Path | None = None,
    revisit_s: float = 0.0,
) -> None:
    """One user: open the first page (time to first content), visit the rest, optionally upload a dataset zip on the
    fine-tuning page, then stay connected until told; with ``revisit_s``, reopen a page every ``revisit_s`` seconds
    (± half, at random) meanwhile."""
    ctx = await browser.new_context(viewport={"width": 1200, "height": 900})
    page = await ctx.new_page()
    try:
        t0 = time.perf_counter()
        await page.goto(f"{base}/{paths[0]}", timeout=180_000)
        await page.wait_for_selector(FIRST_CONTENT, timeout=180_000)
        results["first_content"].append(time.perf_counter() - t0)
        for path in paths[1:]:
            await page.goto(f"{base}/{path}", timeout=180_000)
            await page.wait_for_selector(FIRST_CONTENT, timeout=180_000)
        if await page.locator('[data-testid="stException"]').count():
            results["errors"].append(f"exception box on {page.url}")
        if upload is not None:
            await page.goto(f"{base}/finetune", timeout=180_000)
            await page.wait_for_selector(FIRST_CONTENT, timeout=180_000)
            t1 = time.perf_counter()
            await choose_file(page, upload, results)
            await page.get_by_text(re.compile("Ready to train|Fix the problems above")).first.wait_for(
                timeout=1_800_000
            )
            if await page.get_by_text("Ready to train").count():
                results["uploaded"].append(time.perf_counter() - t1)
            else:
                results["errors"].append("the uploaded dataset was refused")
            if await page.locator('[data-testid="stException"]').count():
                results["errors"].append(f"exception box after the upload on {page.url}")
        if revisit_s > 0:  # a class at work: every student reopens one of the pages now and then
            rng = random.Random(id(page))
            k = 0
            while not hold.is_set():
                try:
                    await asyncio.wait_for(hold.wait(), timeout=rng.uniform(0.5, 1.5) * revisit_s)
                except TimeoutError:
                    t1 = time.perf_counter()
                    await page.goto(f"{base}/{paths[k % len(paths)]}", timeout=180_000)
                    await page.wait_for_selector(FIRST_CONTENT, timeout=180_000)
                    results.setdefault("revisits", []).append(time.perf_counter() - t1)
                    k += 1
        await hold.wait()
    except Exception as exc:
        results["errors"].append(f"{type(exc).__name__}: {exc}".splitlines()[0])
        try:  # what the student would have seen
            shot = ROOT / "test-artifacts" / f"load-error-{len(results['errors'])}-{id(page)}.png"
            shot.parent.mkdir(exist_ok=True)
            await page.screenshot(path=str(shot), full_page=True)
            alerts = await page.locator('[data-testid="stAlert"], [data-testid="stFileUploader"]').all_inner_texts()
            on_screen = " | ".join(a.strip()[:200] for a in alerts)
            results.setdefault("error_screens", []).append(f"{shot.name}: {on_screen}")
        except Exception:
            pass
    finally:
        await ctx.close()


def niced_chromium(nice: int, folder: Path) -> str:
    """A launcher that runs the system Chromium with its scheduling group ``nice`` steps lower (itself when 0).

    Playwright starts the browser as the leader of a new session, so the launcher owns the browsers' autogroup
    and sets its niceness before Chromium replaces it. Without autogroup it lowers the processes instead.
    """
    if nice <= 0:
        return CHROMIUM
    launcher = folder / "chromium-niced"
    launcher.write_text(
        "#!/bin/sh\n"
        f"if [ -w /proc/self/autogroup ]; then echo {int(nice)} > /proc/self/autogroup; "
        f'else exec nice -n {int(nice)} {CHROMIUM} "$@"; fi\n'
        f'exec {CHROMIUM} "$@"\n'
    )
    launcher.chmod(0o755)
    return str(launcher)


async def run_sessions(
    base: str,
    paths: list[str],
    n: int,
    pid: int,
    chromium: str = CHROMIUM,
    uploads: list[Path] | None = None,
    second_wave: bool = False,
    hold_s: float = 0.0,
    revisit_s: float = 0.0,
) -> dict:
    """Drive ``n`` concurrent sessions; measure memory of the server with all of them connected (and their uploads
    done), then after they closed."""
    from playwright.async_api import async_playwright

    results: dict = {"first_content": [], "errors": [], "uploaded": []}
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        # One warm-up session so both servers have imported their modules before measuring.
        warm = asyncio.Event()
        warm.set()
        mark(f"warm-up {base}")
        await drive(browser, base, paths, {"first_content": [], "errors": []}, warm)
        await asyncio.sleep(1)
        mark(f"{n} sessions start")
        rss_before = web_rss(pid)
        web = web_process(pid)
        cpu0, ccpu0, wall0 = cpu_seconds(web), chromium_cpu(), time.perf_counter()
        hold = asyncio.Event()
        tasks = [
            asyncio.create_task(drive(browser, base, paths, results, hold, uploads[i] if uploads else None, revisit_s))
            for i in range(n)
        ]
        while len(results["first_content"]) + len(results["errors"]) < n:
            await asyncio.sleep(0.5)
        mark("all first content")
        results["first_content_cpu_s"] = {"server": cpu_seconds(web) - cpu0, "browsers": chromium_cpu() - ccpu0}
        while uploads and len(results["uploaded"]) + len(results["errors"]) < n:
            await asyncio.sleep(1)
        if uploads:
            mark("all uploads checked")
        await asyncio.sleep(2)
        if hold_s > 0:
            mark(
                f"holding {n} sessions for {hold_s:.0f} s"
                + (f", each reopening a page every ~{revisit_s:g} s" if revisit_s else "")
            )
            ended = asyncio.Event()  # SIGUSR1 ends the hold early (bench/interactions.py beside it has finished)
            asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, ended.set)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ended.wait(), hold_s)
            mark("hold over" + (" (SIGUSR1)" if ended.is_set() else ""))
        results["rss_before"] = rss_before
        results["rss_loaded"] = web_rss(pid)
        hold.set()
        await asyncio.gather(*tasks)
        if uploads:
            # Streamlit keeps a closed tab's session for server.disconnectedSessionTTL (120 s) in case it reconnects.
            await asyncio.sleep(130)
            results["rss_after_close"] = web_rss(pid)
        if second_wave:
            mark(f"second wave: {n} sessions")
            again: dict = {"first_content": [], "errors": [], "uploaded": []}
            hold = asyncio.Event()
            tasks = [
                asyncio.create_task(drive(browser, base, paths, again, hold, uploads[i] if uploads else None))
                for i in range(n)
            ]
            while len(again["first_content"]) + len(again["errors"]) < n or (
                uploads and len(again["uploaded"]) + len(again["errors"]) < n
            ):
                await asyncio.sleep(1)
            await asyncio.sleep(2)
            results["rss_second_wave"] = web_rss(pid)
            results["second_wave_errors"] = again["errors"]
            hold.set()
            await asyncio.gather(*tasks)
        results["server_cpu_s"] = cpu_seconds(web) - cpu0
        results["seconds"] = time.perf_counter() - wall0
        await browser.close()
    return results


def submit_background_jobs(n: int = 2) -> list[str]:
    """``n`` full fine-tuning jobs on the built-in texture dataset, run by the app's worker during the load."""
    from cnn_demo import finetune, jobs
    from cnn_demo.data import datasets

    ds = datasets.load_builtin("textures")
    data = finetune.pack_dataset(ds, datasets.split_dataset(ds, 0.25, seed=0))
    ids = []
    for i in range(n):
        cfg = finetune.TrainConfig(backbone="cifar_resnet20", pretrained=False, strategy="full", epochs=200, seed=i)
        ids.append(
            jobs.submit("finetune", {"config": cfg.to_dict()}, owner=f"load-bench-{i}", files={"data.zip": data})
        )
    return ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=30)
    parser.add_argument(
        "--pages", default="pixels,images_filtering,detection", help="comma-separated url paths each session visits"
    )
    parser.add_argument(
        "--client-nice", type=int, default=0, help="CPU niceness of the browsers (stand-ins for remote clients)"
    )
    parser.add_argument(
        "--upload-images", type=int, default=0, help="each session uploads a zip of this many PNGs (0: no upload)"
    )
    parser.add_argument(
        "--same-upload", action="store_true", help="every session uploads the same zip (a class sharing one dataset)"
    )
    parser.add_argument("--no-bare", action="store_true", help="skip the bare-app comparison")
    parser.add_argument("--no-jobs", action="store_true", help="no background training during the run")
    parser.add_argument(
        "--second-wave", action="store_true", help="after the sessions closed, run them again (freed or leaked?)"
    )
    parser.add_argument(
        "--hold-s", type=float, default=0.0, help="keep the sessions connected this long after all first content"
    )
    parser.add_argument(
        "--revisit-s",
        type=float,
        default=0.0,
        help="during the hold, each session reopens one of its pages every ~this many seconds (a class at work)",
    )
    args = parser.parse_args()

    from cnn_demo.ui.catalog import PAGES

    known = {p.url_path for p in PAGES}
    paths = [p for p in args.pages.split(",") if p in known] or ["pixels"]
    state = Path(tempfile.mkdtemp(prefix="cnn-demo-load-"))
    env = dict(os.environ, CNN_DEMO_STATE_DIR=str(state), PYTHONUNBUFFERED="1", CNN_DEMO_MAX_JOBS="2")
    chromium = niced_chromium(args.client_nice, state)
    bare_file = state / "bare_app.py"
    bare_file.write_text(BARE_APP)
    uploads = None
    if args.upload_images:
        n_zips = 1 if args.same_upload else args.sessions
        zips = [upload_zip(state / f"upload{i}.zip", args.upload_images, i) for i in range(n_zips)]
        uploads = [zips[i % n_zips] for i in range(args.sessions)]

    port = free_port()
    app = Server([sys.executable, "-m", "cnn_demo", "serve", "--port", str(port), "--address", "127.0.0.1"], port, env)
    bare_port = free_port()
    bare = Server(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(bare_file),
            "--server.port",
            str(bare_port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
        ],
        bare_port,
        env,
    )
    try:
        os.environ["CNN_DEMO_STATE_DIR"] = str(state)
        jobs = [] if args.no_jobs else submit_background_jobs(2)
        probe = HealthProbe(app.url, state)
        t0 = time.perf_counter()
        jobs_cpu = [worker_cpu(app.proc.pid)]
        app_res = asyncio.run(
            run_sessions(
                app.url,
                paths,
                args.sessions,
                app.proc.pid,
                chromium,
                uploads,
                args.second_wave,
                args.hold_s,
                args.revisit_s,
            )
        )
        jobs_cpu.append(worker_cpu(app.proc.pid))
        app_seconds = time.perf_counter() - t0
        probe.stop()
        from cnn_demo import jobs as jobs_mod

        statuses = [jobs_mod.status(j, f"load-bench-{i}") for i, j in enumerate(jobs)]
        job_states = [f"{st.state} {st.done}/{st.total} epochs" for st in statuses]
        bare_probe = HealthProbe(bare.url, state, "bare-health")
        empty = {"first_content": [], "errors": [], "server_cpu_s": 0.0, "first_content_cpu_s": {}}
        if args.no_bare:
            bare_res = empty
            time.sleep(1)  # the probe's first line
        else:
            bare_res = asyncio.run(run_sessions(bare.url, [""], args.sessions, bare.proc.pid, chromium))
        jobs_cpu.append(worker_cpu(app.proc.pid))
        bare_probe.stop()
        # The jobs must still be training while the bare app is measured too, or the ratio flatters the bare app.
        bare_job_states = [f"{jobs_mod.status(j, f'load-bench-{i}').state}" for i, j in enumerate(jobs)]
        for i, j in enumerate(jobs):
            jobs_mod.cancel(j, f"load-bench-{i}")
    finally:
        app.stop()
        bare.stop()

    app_p95 = p95(app_res["first_content"])
    bare_p95 = p95(bare_res["first_content"]) if bare_res["first_content"] else 0.0
    per_session_mb = (app_res["rss_loaded"] - app_res["rss_before"]) / max(1, args.sessions) / 2**20
    report = {
        "sessions": args.sessions,
        "client_nice": args.client_nice,
        "pages": paths,
        "background_jobs_after_app_phase": job_states,
        "background_jobs_after_bare_phase": bare_job_states,
        "background_jobs_cpu_s": {
            "app_phase": round(jobs_cpu[1] - jobs_cpu[0], 1),
            "bare_phase": round(jobs_cpu[2] - jobs_cpu[1], 1),
        },
        "health_p95_ms": round(p95(probe.latencies) * 1000, 1),
        "health_failures": probe.failures,
        "bare_health_p95_ms": round(p95(bare_probe.latencies) * 1000, 1),
        "bare_health_failures": bare_probe.failures,
        "first_content_p95_s": round(app_p95, 2),
        "bare_first_content_p95_s": round(bare_p95, 2),
        "first_content_ratio": round(app_p95 / bare_p95, 2) if bare_p95 else None,
        "first_content_median_s": round(statistics.median(app_res["first_content"]), 2)
        if app_res["first_content"]
        else None,
        "errors": app_res["errors"] + bare_res["errors"],
        "error_screens": app_res.get("error_screens", []),
        "memory_per_session_mb": round(per_session_mb, 1),
        "web_rss_before_mb": round(app_res["rss_before"] / 2**20),
        "web_rss_loaded_mb": round(app_res["rss_loaded"] / 2**20),
        "upload_images": args.upload_images,
        "uploads_done": len(app_res["uploaded"]),
        "upload_p95_s": round(p95(app_res["uploaded"]), 1) if app_res["uploaded"] else None,
        "web_rss_after_close_mb": round(app_res["rss_after_close"] / 2**20) if "rss_after_close" in app_res else None,
        "web_rss_second_wave_mb": round(app_res["rss_second_wave"] / 2**20) if "rss_second_wave" in app_res else None,
        "second_wave_errors": app_res.get("second_wave_errors", []),
        "upload_retries": app_res.get("upload_retries", 0),
        "revisits": len(app_res.get("revisits", [])),
        "revisit_p50_s": round(statistics.median(app_res["revisits"]), 2) if app_res.get("revisits") else None,
        "revisit_p95_s": round(p95(app_res["revisits"]), 2) if app_res.get("revisits") else None,
        "app_phase_seconds": round(app_seconds, 1),
        "server_cpu_s": {"app": round(app_res["server_cpu_s"], 1), "bare": round(bare_res["server_cpu_s"], 1)},
        "cpu_until_all_first_content_s": {
            "app": {k: round(v, 1) for k, v in app_res["first_content_cpu_s"].items()},
            "bare": {k: round(v, 1) for k, v in bare_res["first_content_cpu_s"].items()},
        },
    }
    print(json.dumps(report, indent=2))
    print(
        f"\n{args.sessions} sessions: health p95 {report['health_p95_ms']} ms, first content p95 "
        f"{report['first_content_p95_s']} s vs bare {report['bare_first_content_p95_s']} s "
        f"(ratio {report['first_content_ratio']}), {len(report['errors'])} errors, "
        f"{report['memory_per_session_mb']} MB per added session"
    )


if __name__ == "__main__":
    main()
