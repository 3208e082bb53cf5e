"""Benchmark: cnn_demo.images.filters against scipy.ndimage on the same 1024×1024 image, in one run.

Run with ``.venv/bin/python bench/filters.py [--repeat N]``. Prints the best of N timings of each call (ours and
SciPy alternating) and the ratio ours / SciPy (above 1: ours is slower), after checking both give the same result.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cnn_demo.images import filters


def best_times(ours, ref, repeat: int) -> tuple[float, float]:
    """The fastest of ``repeat`` runs of each, in seconds, the two alternating so that load from other
    programs on a shared machine falls on both alike."""
    t_ours, t_ref = [], []
    for _ in range(repeat):
        for fn, times in ((ours, t_ours), (ref, t_ref)):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    return min(t_ours), min(t_ref)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15, help="runs of each call, alternating ours and SciPy")
    repeat = parser.parse_args().repeat
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 255, (1024, 1024))
    k3 = rng.normal(size=(3, 3))
    k7 = rng.normal(size=(7, 7))
    k15 = rng.normal(size=(15, 15))
    cases = [
        ("convolve2d 3×3 reflect", lambda: filters.convolve2d(image, k3), lambda: ndimage.convolve(image, k3)),
        (
            "convolve2d 7×7 wrap",
            lambda: filters.convolve2d(image, k7, "wrap"),
            lambda: ndimage.convolve(image, k7, mode="wrap"),
        ),
        (
            "convolve2d 15×15 constant",
            lambda: filters.convolve2d(image, k15, "constant"),
            lambda: ndimage.convolve(image, k15, mode="constant"),
        ),
        ("gaussian_blur σ=3", lambda: filters.gaussian_blur(image, 3.0), lambda: ndimage.gaussian_filter(image, 3.0)),
        (
            "gaussian_blur σ=10",
            lambda: filters.gaussian_blur(image, 10.0),
            lambda: ndimage.gaussian_filter(image, 10.0),
        ),
        ("sobel axis 0", lambda: filters.sobel(image, 0), lambda: ndimage.sobel(image, 0)),
        ("sobel axis 1", lambda: filters.sobel(image, 1), lambda: ndimage.sobel(image, 1)),
    ]
    print(f"1024×1024 float64 image, numpy {np.__version__}; best of {repeat} alternating runs each")
    print(f"{'call':28s} {'ours (ms)':>10s} {'scipy (ms)':>11s} {'ratio':>7s}")
    for name, ours, ref in cases:
        np.testing.assert_allclose(ours(), ref(), atol=1e-8)
        t_ours, t_ref = best_times(ours, ref, repeat)
        print(f"{name:28s} {t_ours * 1e3:10.1f} {t_ref * 1e3:11.1f} {t_ours / t_ref:7.2f}")


if __name__ == "__main__":
    main()
