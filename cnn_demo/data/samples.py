"""Sample data that ships with the app (``cnn_demo/data/bundled``), so a fresh offline install has it.

``bundled/SOURCES.md`` lists every file's source and licence; ``tools/make_samples.py`` made them.
"""

from __future__ import annotations

from pathlib import Path

#: The folder of the shipped sample data.
BUNDLED = Path(__file__).resolve().parent / "bundled"


def people_dir() -> Path:
    """128 COCO train2017 photos: ``images/``, person masks in ``masks/`` (0, 1 person, 255 crowd) and person boxes
    in ``annotations.json`` (COCO format)."""
    return BUNDLED / "people"


def voc_pairs_dir() -> Path:
    """14 PASCAL VOC image/mask pairs: ``images/N.jpg`` and ``masks/N.png`` (class indices 0–20, 255 = void)."""
    return BUNDLED / "voc_pairs"
