"""Benchmarks of the Applications pages against their floors (not tests), with 1 torch thread.

    .venv/bin/python bench/applications.py [faces] [rcnn] [segmenter] [detector] [-- PART OPTIONS]

No part named runs them all. Each part is ``bench/applications_<part>.py`` (runnable alone too), whose
``main(argv)`` prints its figures, measured in this one run, on ``../shared/data/coco_sample`` (val2017 for
evaluation, never trained on). The results are in docs/APPLICATIONS.md.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PARTS = ("faces", "rcnn", "segmenter", "detector")


def load_part(part: str):
    """The module ``bench/applications_<part>.py``."""
    path = HERE / f"applications_{part}.py"
    spec = importlib.util.spec_from_file_location(f"bench_applications_{part}", path)
    assert spec and spec.loader, path
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str]) -> None:
    rest = argv[argv.index("--") + 1 :] if "--" in argv else []
    named = [a for a in (argv[: argv.index("--")] if "--" in argv else argv) if a in PARTS]
    for part in named or PARTS:
        if not (HERE / f"applications_{part}.py").exists():
            print(f"== {part}: not written yet")
            continue
        print(f"== {part}", flush=True)
        load_part(part).main(rest)


if __name__ == "__main__":
    import torch

    torch.set_num_threads(1)
    main(sys.argv[1:])
