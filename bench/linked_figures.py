"""Linked-view figures: time to build each figure (first visit) versus a rerun served by ``ui.figcache``.

Run: ``.venv/bin/python bench/linked_figures.py``. Prints, per figure, the median of 5 runs of the full build
(builder + to_json, what a page pays without the cache) and of the cached path (dict → go.Figure without
validation → to_dict → to_json, what st.plotly_chart pays on a rerun), and their ratio. Ratios are measured in
one run, so they hold on a busy machine where absolute times do not.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cnn_demo.blocks.layers import conv_example
from cnn_demo.images import arithmetic as ar
from cnn_demo.images.figures import products_figure, transposed_grid_figure
from cnn_demo.signals.figures import correlation_walkthrough_figure


def _median_ms(fn, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    ex = conv_example(3, 3, 1, 1, 1, 1, True, (32, 32))
    ts = ar.transposed_steps(6, 3, 2, 1, 1, 1)
    cases = {
        "conv layer products": lambda: products_figure(ex.windows, 3, 3, in_range=(0.0, 9.0), in_scale="Blues"),
        "transposed 6×6 (36 frames)": lambda: transposed_grid_figure(ts),
        "correlation 4 × 3": lambda: correlation_walkthrough_figure(np.array([1.0, 2, 3, 4]), np.array([0, 1, 0.5]), 0),
    }
    print(f"{'figure':30s} {'build ms':>9s} {'cached ms':>10s} {'ratio':>6s}")
    for name, build in cases.items():
        built = _median_ms(lambda build=build: pio.to_json(build(), validate=False))
        d = build().to_dict()
        hit = _median_ms(lambda d=d: pio.to_json(go.Figure(d, _validate=False).to_dict(), validate=False))
        print(f"{name:30s} {built:9.0f} {hit:10.0f} {built / hit:6.1f}×")


if __name__ == "__main__":
    main()
