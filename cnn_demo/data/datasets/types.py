"""What a dataset is: its limits, the report a student sees (counts, skipped files, duplicates) and its split."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from cnn_demo.errors import InputError
from cnn_demo.io.archive import (
    MB,
    ZipLimits,
)
from cnn_demo.settings import DatasetSettings

#: Dataset images smaller than this on a side are skipped (a single upload may be smaller: io.images.MIN_SIDE).
MIN_DATASET_IMAGE_SIDE = 8

#: The defaults of :class:`DatasetLimits`: ``CNN_DEMO_DATASET_*`` variables, read once when this module is imported.
_OPERATOR = DatasetSettings.from_env()


@dataclass(frozen=True)
class DatasetLimits:
    """Limits that keep one student's dataset from overloading a shared class server."""

    max_zip_bytes: int = int(_OPERATOR.dataset_max_zip_mb * MB)
    max_uncompressed_bytes: int = int(_OPERATOR.dataset_max_uncompressed_mb * MB)
    max_file_bytes: int = int(_OPERATOR.dataset_max_file_mb * MB)
    max_images: int = _OPERATOR.dataset_max_images
    max_entries: int = _OPERATOR.dataset_max_entries
    min_classes: int = _OPERATOR.dataset_min_classes
    max_classes: int = _OPERATOR.dataset_max_classes
    min_images_per_class: int = _OPERATOR.dataset_min_images_per_class
    max_pixels: int = _OPERATOR.dataset_max_pixels
    #: Images are downscaled at load so that their longer side is at most this (memory: ~200 kB each).
    max_side: int = _OPERATOR.dataset_max_side
    #: Uncompressed/compressed ratio above which a member is treated as a compression bomb ...
    max_ratio: float = _OPERATOR.dataset_max_ratio
    #: ... once this many bytes of it have been decompressed (small files may compress well).
    ratio_grace_bytes: int = int(_OPERATOR.dataset_ratio_grace_mb * MB)
    #: Warn when the largest class has this many times the images of the smallest.
    imbalance_ratio: float = _OPERATOR.dataset_imbalance_ratio
    max_class_name_length: int = _OPERATOR.dataset_max_class_name_length

    @property
    def zip_limits(self) -> ZipLimits:
        """The limits of one uploaded zip that these dataset limits imply."""
        return ZipLimits(
            max_zip_bytes=self.max_zip_bytes,
            max_uncompressed_bytes=self.max_uncompressed_bytes,
            max_file_bytes=self.max_file_bytes,
            max_entries=self.max_entries,
            max_ratio=self.max_ratio,
            ratio_grace_bytes=self.ratio_grace_bytes,
        )

    def __post_init__(self) -> None:
        if self.min_classes < 1 or self.max_classes < self.min_classes:
            raise ValueError("DatasetLimits: need 1 <= min_classes <= max_classes")
        if self.max_side < MIN_DATASET_IMAGE_SIDE:
            raise ValueError(f"DatasetLimits: max_side must be at least {MIN_DATASET_IMAGE_SIDE}")


DEFAULT_LIMITS = DatasetLimits()


class SkipReason(StrEnum):
    """Why a file of a dataset was not used (the value is shown to the student)."""

    NOT_IMAGE = "not an image"
    CORRUPT = "corrupt or truncated image"
    TOO_LARGE = "too large"
    TOO_SMALL = "too small"
    HIDDEN = "hidden file"
    MACOS = "macOS metadata (__MACOSX)"
    SYMLINK = "symbolic link (not followed)"
    UNSAFE_PATH = "unsafe path (absolute or with ..)"
    NESTED_ARCHIVE = "archive inside the archive (not opened)"
    ENCRYPTED = "encrypted"
    BAD_ENTRY = "damaged zip entry"
    OUTSIDE_CLASS = "not inside a class folder"
    UNUSED_SPLIT = "in a split that is not used"
    OUTSIDE_PAIRS = "not inside images/ or masks/"
    NO_MASK = "image without a mask"
    NO_IMAGE = "mask without an image"
    BAD_MASK = "mask is not a class-index image"
    SIZE_MISMATCH = "mask size differs from its image"


@dataclass(frozen=True)
class SkippedFile:
    """One file that was left out, with the reason and, where useful, the loader's message."""

    path: str
    reason: SkipReason
    detail: str = ""


@dataclass(frozen=True)
class DuplicateGroup:
    """Files with identical content: the first is kept, the others are dropped."""

    sha256: str
    kept: str
    dropped: tuple[str, ...]
    classes: tuple[str, ...]


@dataclass(frozen=True)
class ClassCount:
    """How many usable images a class has, per split (``val`` stays 0 without a given split)."""

    name: str
    train: int
    val: int = 0

    @property
    def total(self) -> int:
        """Images of this class in both splits."""
        return self.train + self.val


@dataclass(frozen=True)
class DatasetReport:
    """What a student sees before training: counts, skipped files, duplicates, warnings, blocking errors."""

    source: str
    layout: str
    classes: tuple[ClassCount, ...]
    skipped: tuple[SkippedFile, ...] = ()
    duplicates: tuple[DuplicateGroup, ...] = ()
    warnings: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    has_given_split: bool = False

    @property
    def ok(self) -> bool:
        """True when nothing blocks training."""
        return not self.errors

    @property
    def n_images(self) -> int:
        """Usable images over all classes and splits."""
        return sum(c.total for c in self.classes)


@dataclass(frozen=True, eq=False)
class Dataset:
    """Decoded images (RGB uint8 arrays, longer side at most ``max_side``), labels and class names.

    ``given_split`` holds ``"train"``/``"val"`` per image when the data came with ``train/`` and ``val/``
    folders, else ``None``. Arrays are read-only so a cached dataset can be shared safely.
    """

    name: str
    class_names: tuple[str, ...]
    #: A tuple of arrays, or :class:`DiskImages` (a dataset decoded into a store folder, mapped from disk).
    images: Sequence[np.ndarray]
    labels: np.ndarray
    paths: tuple[str, ...]
    report: DatasetReport
    given_split: tuple[str, ...] | None = None

    def __len__(self) -> int:
        return len(self.images)

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.class_names)

    @property
    def nbytes(self) -> int:
        """Bytes of the decoded images (in memory, or on disk for :class:`DiskImages`)."""
        on_disk = getattr(self.images, "nbytes", None)  # DiskImages knows it without decoding
        if isinstance(on_disk, int):
            return on_disk
        return sum(int(a.nbytes) for a in self.images)

    def require_trainable(self) -> None:
        """Raise :class:`InputError` listing what blocks training, if anything does."""
        if self.report.errors:
            raise InputError("This dataset cannot be used for training yet: " + " ".join(self.report.errors))

    def indices_of(self, label: int) -> np.ndarray:
        """Indices of the images of one class."""
        return np.flatnonzero(self.labels == label)


@dataclass(frozen=True)
class Split:
    """Indices of the training, validation and (optional) held-out test images of a :class:`Dataset`.

    Model selection (the best epoch, early stopping) looks at the validation images; the test images are never
    seen before the end, so their accuracy is an honest estimate.
    """

    train: np.ndarray
    val: np.ndarray
    given: bool
    seed: int | None = None
    val_fraction: float | None = None
    test: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
