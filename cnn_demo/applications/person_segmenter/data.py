"""The photos a segmenter trains on: the people sample that ships with the app, or a student's image/mask pairs.

Masks become two classes, background (0) and the one class the segmenter learns (1); 255 stays "ignore". Which
mask value is that class (:func:`foreground_rule`): the class named "person" when the masks come with class names;
value 1 in 0/1 masks; value 15 (person) in PASCAL VOC masks (21 classes, values up to 20); otherwise every labelled
class merged into one "object".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnn_demo.errors import InputError

IGNORE = 255
#: PASCAL VOC's class number of "person" (0 background, 20 classes, 255 void).
VOC_PERSON = 15
VOC_MAX = 20
#: Fewest pairs to train on: some to learn from, at least one to check on.
MIN_PAIRS = 4
#: Longest side the photos are kept at (the network sees 384×384).
MAX_SIDE = 640


@dataclass(frozen=True)
class ForegroundRule:
    """Which mask value is the class to learn (``None``: every value 1–254) and how the page says it."""

    value: int | None
    name: str
    why: str

    def apply(self, mask: np.ndarray) -> np.ndarray:
        """The mask as 0 background / 1 foreground / 255 ignore."""
        m = np.asarray(mask)
        fg = (m != 0) & (m != IGNORE) if self.value is None else m == self.value
        out = fg.astype(np.uint8)
        out[m == IGNORE] = IGNORE
        return out


def foreground_rule(values: set[int], class_names: Sequence[str] | None = None) -> ForegroundRule:
    """What to learn from masks holding ``values`` (255 excluded), named by ``class_names`` when known."""
    names = [n.strip().lower() for n in class_names or ()]
    if "person" in names[1:]:
        k = names.index("person", 1)
        return ForegroundRule(k, "person", f"class {k} of the masks is named person")
    top = max(values - {IGNORE}, default=0)
    if top <= 1:
        given = names[1] if len(names) > 1 and not names[1].startswith("class ") else "person"
        return ForegroundRule(1, given, "mask value 1 is the class to learn, 0 the background")
    if top <= VOC_MAX and VOC_PERSON in values:
        return ForegroundRule(VOC_PERSON, "person", "PASCAL VOC masks: class 15 (person) against everything else")
    return ForegroundRule(None, "object", "every labelled class (1 and up) merged into one 'object' class")


@dataclass(frozen=True)
class PairData:
    """Photos (RGB uint8) and their masks as 0 background / 1 foreground / 255 ignore."""

    images: tuple[np.ndarray, ...]
    masks: tuple[np.ndarray, ...]
    stems: tuple[str, ...]
    classes: tuple[str, str]
    source: str
    rule: str

    def __len__(self) -> int:
        return len(self.images)


def mask_values(masks: Sequence[np.ndarray]) -> set[int]:
    """Every value found in ``masks``."""
    return {int(v) for m in masks for v in np.unique(m)}


def from_pairs(ds, source: str) -> PairData:
    """:class:`PairData` from a :class:`~cnn_demo.data.datasets.SegmentationDataset`; :class:`InputError` when a
    segmenter cannot learn from it (too few pairs, no pixel of the class, nothing but that class)."""
    if len(ds) < MIN_PAIRS:
        raise InputError(
            f"Only {len(ds)} image/mask pair(s) could be used; at least {MIN_PAIRS} are needed (most to learn "
            "from, at least one to check on)."
        )
    names = None if all(n.startswith("class ") for n in ds.class_names) else ds.class_names
    rule = foreground_rule(mask_values(ds.masks), names)
    masks = tuple(rule.apply(m) for m in ds.masks)
    counts = np.bincount(np.concatenate([m[m != IGNORE].ravel() for m in masks]), minlength=2)
    if counts[1] == 0:
        raise InputError(f"No mask marks any pixel as {rule.name} ({rule.why}): there is nothing to learn.")
    if counts[0] == 0:
        raise InputError(f"Every mask pixel is {rule.name}: the masks need background (0) too.")
    return PairData(tuple(ds.images), masks, tuple(ds.stems), ("background", rule.name), source, rule.why)


def _limits():
    import dataclasses

    from cnn_demo.data.datasets import DEFAULT_LIMITS

    return dataclasses.replace(DEFAULT_LIMITS, max_side=MAX_SIDE)


def load_people() -> PairData:
    """The people sample that ships with the app: 128 COCO photos, person masks (0, 1 person, 255 crowd)."""
    from cnn_demo.data import datasets
    from cnn_demo.data.samples import people_dir

    ds = datasets.read_segmentation_folder(people_dir(), ("background", "person"), _limits())
    return from_pairs(ds, "the people sample (128 COCO photos)")


def check_pairs_zip(data: bytes, name: str = "pairs.zip") -> PairData:
    """The pairs of an uploaded zip (``images/`` + ``masks/``), read safely, or an :class:`InputError` saying what
    blocks training and which files were skipped and why."""
    from cnn_demo.applications.unet import skipped_summary
    from cnn_demo.data import datasets

    ds = datasets.read_segmentation_zip(data, name, limits=_limits())
    skipped = f" Skipped: {skipped_summary(ds.report.skipped)}." if ds.report.skipped else ""
    # The reader's "fewer than 2 classes" is for the U-Net; here from_pairs says what the two classes lack.
    problems = [e for e in ds.report.errors if "fewer than 2 classes" not in e]
    if len(ds) < MIN_PAIRS and not problems:
        problems = [f"Only {len(ds)} image/mask pair(s) could be used; at least {MIN_PAIRS} are needed."]
    if problems:
        raise InputError(" ".join(problems) + skipped)
    try:
        return from_pairs(ds, f"your {len(ds)} image/mask pairs")
    except InputError as exc:
        raise InputError(str(exc) + skipped) from exc


def load_source(source: str, data: bytes | None = None, name: str = "pairs.zip") -> PairData:
    """``source`` ``people`` (the shipped sample) or ``upload`` (``data``, the bytes of a zip)."""
    if source == "people":
        return load_people()
    if source == "upload":
        if not data:
            raise InputError("The uploaded zip of images/ and masks/ is missing.")
        return check_pairs_zip(data, name)
    raise InputError(f"Unknown training data {source!r}: use people or upload.")


def load_path(path: str | Path) -> PairData:
    """Image/mask pairs from a ``.zip`` file or a folder with ``images/`` and ``masks/`` (the command line's)."""
    from cnn_demo.data import datasets

    p = Path(path)
    if p.is_dir():
        return from_pairs(datasets.read_segmentation_folder(p, limits=_limits()), f"the pairs in {p}")
    if not p.is_file():
        raise InputError(f"{p} does not exist.")
    if p.stat().st_size > _limits().max_zip_bytes:
        raise InputError(f"{p.name} is larger than the {_limits().max_zip_bytes // 2**20} MB limit.")
    return check_pairs_zip(p.read_bytes(), p.name)


def split(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the training and validation photos: a seeded shuffle, at least one of each."""
    order = np.random.default_rng(seed).permutation(n)
    n_val = min(n - 1, max(1, round(n * val_fraction)))
    return np.sort(order[n_val:]), np.sort(order[:n_val])
