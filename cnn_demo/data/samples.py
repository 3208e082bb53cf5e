"""Sample data that ships with the app (``cnn_demo/data/bundled``), so a fresh offline install has it.

``bundled/SOURCES.md`` lists every file's source and licence; ``tools/make_samples.py`` made them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

#: The folder of the shipped sample data.
BUNDLED = Path(__file__).resolve().parent / "bundled"


def people_dir() -> Path:
    """128 COCO train2017 photos: ``images/``, person masks in ``masks/`` (0, 1 person, 255 crowd) and person boxes
    in ``annotations.json`` (COCO format)."""
    return BUNDLED / "people"


def people_photos(titles: Mapping[str, str]) -> dict[str, Path]:
    """Title → path of the named photos of the people sample (``titles``: title → file name) that this install has,
    for pages that offer some of them as samples."""
    folder = people_dir() / "images"
    return {title: folder / name for title, name in titles.items() if (folder / name).is_file()}


def voc_pairs_dir() -> Path:
    """14 PASCAL VOC image/mask pairs: ``images/N.jpg`` and ``masks/N.png`` (class indices 0–20, 255 = void)."""
    return BUNDLED / "voc_pairs"
