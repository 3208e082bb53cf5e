"""``bench/class.py`` runs end to end at a small size: real worker, the page's packing, both parts, its figures."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
from PIL import Image

from tests.conftest import ROOT


def test_the_class_benchmark_runs_small(tmp_path):
    rng = np.random.default_rng(0)
    data = tmp_path / "tiny"
    for c, colour in enumerate(((200, 40, 40), (40, 40, 200))):
        (data / f"class{c}").mkdir(parents=True)
        for i in range(12):
            arr = np.clip(np.array(colour) + rng.normal(0, 30, (40, 40, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(arr).save(data / f"class{c}" / f"{i}.png")
    cmd = [sys.executable, "bench/class.py", "--students", "2", "--per-student", "12", "--data", str(data)]
    cmd += ["--backbone", "myconvnet", "--random-weights", "--image-size", "32", "--timeout", "240", "--json"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CNN_DEMO_")}
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=400)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    assert set(figures) == {"a", "b"}
    for row in figures.values():
        assert row["alone_seconds"] > 0 and row["class_seconds"] > 0 and row["ratio"] > 0
        assert 0 < row["busy_share"] <= 1
    assert "(a) 2 students, same data" in out.stdout and "(b) 2 students, own data (12 images each)" in out.stdout
