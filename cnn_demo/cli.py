"""``python -m cnn_demo``: the command line. Each sub-command is a small function over the package."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _cmd_serve(args: argparse.Namespace) -> int:
    """Serve the web app (and the job worker, when the job queue exists) until interrupted."""
    env = dict(os.environ)
    workers: list[subprocess.Popen] = []
    if args.worker and (ROOT / "cnn_demo" / "jobs.py").exists():
        workers.append(subprocess.Popen([sys.executable, "-m", "cnn_demo", "worker"], cwd=ROOT, env=env))
    cmd = [sys.executable, "-m", "cnn_demo.ui.launch", "run", str(ROOT / "app.py"), "--server.port", str(args.port)]
    if args.address:
        cmd += ["--server.address", args.address]
    try:
        return subprocess.call(cmd, cwd=ROOT, env=env)
    except KeyboardInterrupt:
        return 0
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            try:
                w.wait(timeout=10)
            except subprocess.TimeoutExpired:
                w.kill()


def _cmd_samples(args: argparse.Namespace) -> int:
    """List the bundled sample images."""
    from cnn_demo import samples

    available = set(samples.sample_names())
    for s in samples.SAMPLES:
        mark = " " if s.name in available else "!"
        print(f"{mark} {s.name:12s} {s.title:20s} {s.description}")
    return 0


def _cmd_check_dataset(args: argparse.Namespace) -> int:
    """Read a dataset (.zip or folder) as the web page does and print its validation report as JSON."""
    import dataclasses
    import json

    from cnn_demo import datasets

    limits = datasets.DatasetLimits(max_side=args.max_side)
    if args.segmentation:
        seg = datasets.load_segmentation(args.path, limits=limits)
        report = dataclasses.asdict(seg.report)
        report["class_names"] = list(seg.class_names)
    else:
        ds = datasets.load_dataset(args.path, limits)
        report = dataclasses.asdict(ds.report)
        report["class_names"] = list(ds.class_names)
        report["memory_mb"] = round(ds.nbytes / 2**20, 1)
    report["ok"] = not report["errors"]
    print(json.dumps(report, ensure_ascii=False, indent=None if args.compact else 2))
    return 0 if report["ok"] else 1


def _cmd_weights(args: argparse.Namespace) -> int:
    """``weights list | fetch NAME... | verify``: prepare pretrained weights for an air-gapped server."""
    from cnn_demo import weights

    if args.action == "list":
        print(f"weights folder: {weights.weights_dir()}  (set {weights.WEIGHTS_ENV} to change)")
        for s in weights.status():
            where = str(s.path) if s.path else "MISSING"
            print(f"{'ok ' if s.path else '-- '} {s.model:38s} {s.filename:45s} {where}")
        return 0
    if args.action == "fetch":
        if not args.names:
            print("error: name the models to fetch, e.g. `weights fetch resnet18 cifar_resnet20`", file=sys.stderr)
            return 2
        for name in args.names:
            path = weights.resolve(name, download=True)
            print(f"ok  {name}: {path}")
        return 0
    bad = 0
    for s in weights.status():
        if s.path is None:
            continue
        try:
            checked = weights.verify(s.path)
            weights.load_file(s.path)
            print(f"ok  {s.model}: {s.path} ({'sha256 prefix matches' if checked else 'no hash in name; loads'})")
        except weights.WeightsCorrupt as exc:
            bad += 1
            print(f"BAD {s.model}: {exc}")
    return 1 if bad else 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command."""
    parser = argparse.ArgumentParser(prog="python -m cnn_demo", description="cnn-demo command line")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="serve the web app and a job worker")
    p.add_argument("--port", type=int, default=8501)
    p.add_argument("--address", default=None, help="address to bind (default: Streamlit's)")
    p.add_argument("--no-worker", dest="worker", action="store_false", help="do not start a job worker")
    p.set_defaults(func=_cmd_serve)

    p = sub.add_parser("samples", help="list the bundled sample images")
    p.set_defaults(func=_cmd_samples)

    p = sub.add_parser("check-dataset", help="validate a dataset (.zip or folder) and print its report as JSON")
    p.add_argument("path", help="a .zip in ImageFolder layout or a folder (or images/ + masks/ with --segmentation)")
    p.add_argument("--segmentation", action="store_true", help="read image/mask pairs instead of class folders")
    p.add_argument("--max-side", type=int, default=256, help="downscale images to this longer side (default 256)")
    p.add_argument("--compact", action="store_true", help="print the JSON on one line")
    p.set_defaults(func=_cmd_check_dataset)

    p = sub.add_parser("weights", help="list, fetch or verify pretrained weights (fetch needs internet)")
    p.add_argument("action", choices=["list", "fetch", "verify"])
    p.add_argument("names", nargs="*", help="model names for fetch (see `weights list`)")
    p.set_defaults(func=_cmd_weights)

    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m cnn_demo``."""
    from cnn_demo.errors import InputError

    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
