"""Dataset reader benchmark: time and peak memory to validate and decode real and generated zips.

Run: ``.venv/bin/python bench/datasets.py [--images 5000]``. Prints one line per case:
images, zip size, seconds, images per second, memory held by the decoded dataset and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cnn_demo.data import datasets as D  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def hymenoptera_zip() -> bytes | None:
    root = Path(os.environ.get("CNN_DEMO_SHARED_DATA", ROOT.parent / "shared" / "data")) / "hymenoptera_data"
    if not root.is_dir():
        return None
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for path in sorted(root.rglob("*")):
            zf.write(path, "hymenoptera_data/" + path.relative_to(root).as_posix())
    return buf.getvalue()


def generated_zip(n: int, classes: int = 10, size: tuple[int, int] = (480, 360)) -> bytes:
    """n photo-sized JPEGs (smooth random fields, so they compress like photos) in class folders."""
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for i in range(n):
            small = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
            img = Image.fromarray(small).resize(size, Image.Resampling.BILINEAR)
            out = io.BytesIO()
            img.save(out, format="JPEG", quality=80)
            zf.writestr(f"data/class{i % classes:02d}/{i:05d}.jpg", out.getvalue())
    return buf.getvalue()


def run(name: str, data: bytes) -> None:
    t = time.perf_counter()
    ds = D.read_zip_dataset(data, name)
    dt = time.perf_counter() - t
    print(
        f"{name:28s} images={len(ds):5d} zip={len(data) / 2**20:6.1f} MB time={dt:6.2f} s "
        f"rate={len(ds) / dt:6.0f} img/s dataset={ds.nbytes / 2**20:6.1f} MB peak_rss={peak_rss_mb():6.0f} MB "
        f"ok={ds.report.ok}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=5000, help="images in the generated zip (default 5000)")
    args = parser.parse_args()
    print(f"start peak_rss={peak_rss_mb():.0f} MB")
    data = hymenoptera_zip()
    if data is not None:
        run("hymenoptera (398 real)", data)
    t = time.perf_counter()
    data = generated_zip(args.images)
    print(f"generated {args.images} JPEGs 480x360 in {time.perf_counter() - t:.1f} s")
    run(f"generated ({args.images} jpg)", data)


if __name__ == "__main__":
    main()
