"""Reading a dataset's files safely, from an uploaded zip (through :mod:`cnn_demo.io.archive`) or a folder on the
server, and decoding each image.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from cnn_demo.data.datasets.types import DEFAULT_LIMITS, MIN_DATASET_IMAGE_SIDE, DatasetLimits, SkippedFile, SkipReason
from cnn_demo.errors import InputError
from cnn_demo.io.archive import (
    ARCHIVE_EXTENSIONS,
    MB,
    ArchiveFile,
    ByteBudget,
    SafeZip,
    SkippedEntry,
    check_member_path,
)
from cnn_demo.io.images import UPLOAD_EXTENSIONS, load_image

IMAGE_EXTENSIONS: frozenset[str] = frozenset(f".{e}" for e in UPLOAD_EXTENSIONS)
_ARCHIVE_MAGIC: tuple[bytes, ...] = (b"PK\x03\x04", b"\x1f\x8b", b"7z\xbc\xaf", b"Rar!", b"BZh", b"\xfd7zXZ")
TRAIN_NAMES = frozenset({"train", "training"})
VAL_NAMES = frozenset({"val", "valid", "validation"})
TEST_NAMES = frozenset({"test", "testing"})


def _skipped(entry: SkippedEntry) -> SkippedFile:
    return SkippedFile(entry.path, SkipReason(entry.reason), entry.detail)


def check_path(name: str) -> tuple[str, SkipReason | None]:
    """Normalise a member path and say whether it must be skipped for its path alone (unsafe, hidden, macOS
    metadata): :func:`cnn_demo.io.archive.check_member_path` with the reason as a :class:`SkipReason`."""
    path, reason = check_member_path(name)
    return path, None if reason is None else SkipReason(reason)


class ZipReader:
    """A :class:`SafeZip` as the dataset readers see it: skipped entries as :class:`SkippedFile`."""

    def __init__(self, data: bytes, limits: DatasetLimits) -> None:
        self._zip = SafeZip(
            data,
            limits.zip_limits,
            expected="a .zip of image folders",
            budget=ByteBudget(limits.max_uncompressed_bytes, "The dataset"),
        )
        self.dirs = self._zip.dirs
        self.files = self._zip.files
        self.skipped = tuple(_skipped(e) for e in self._zip.skipped)

    def read(self, member: ArchiveFile) -> bytes | SkippedFile:
        """The member's bytes, or why it was skipped; raises :class:`InputError` on a compression bomb."""
        got = self._zip.read_or_skip(member)
        return got if isinstance(got, bytes) else _skipped(got)

    def close(self) -> None:
        """Release the zip."""
        self._zip.close()


class FolderReader:
    """The same interface as :class:`ZipReader` over a folder on the server; links are not followed."""

    def __init__(self, root: Path, limits: DatasetLimits) -> None:
        if not root.is_dir():
            raise InputError(f"{root} is not a folder.")
        self.limits = limits
        self._budget = ByteBudget(limits.max_uncompressed_bytes, "The dataset")
        self._paths: list[Path] = []
        files: list[ArchiveFile] = []
        skipped: list[SkippedFile] = []
        dirs: list[str] = []
        count = 0
        for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
            dirnames.sort()
            for d in list(dirnames):  # hidden folders (.git, __MACOSX) are reported once, not walked
                rel, reason = check_path((Path(dirpath) / d).relative_to(root).as_posix())
                if reason is not None:
                    skipped.append(SkippedFile(rel + "/", reason))
                    dirnames.remove(d)
            rel_dir = Path(dirpath).relative_to(root).as_posix()
            if rel_dir != ".":
                dirs.append(rel_dir)
            for name in sorted(filenames) + [d for d in dirnames if (Path(dirpath) / d).is_symlink()]:
                count += 1
                if count > limits.max_entries:
                    raise InputError(f"The folder holds more than {limits.max_entries:,} files; the limit.")
                full = Path(dirpath) / name
                rel = full.relative_to(root).as_posix()
                rel, reason = check_path(rel)
                if reason is None and full.is_symlink():
                    reason = SkipReason.SYMLINK
                if reason is None and not full.is_file():
                    reason = SkipReason.BAD_ENTRY
                if reason is None and full.suffix.lower() in ARCHIVE_EXTENSIONS:
                    reason = SkipReason.NESTED_ARCHIVE
                if reason is not None:
                    skipped.append(SkippedFile(rel, reason))
                    continue
                files.append(ArchiveFile(rel, full.stat().st_size, len(self._paths)))
                self._paths.append(full)
        self.dirs = tuple(dirs)
        self.files = tuple(files)
        self.skipped = tuple(skipped)

    def read(self, member: ArchiveFile) -> bytes | SkippedFile:
        """The file's bytes, or why it was skipped (larger than the limit); counts them against the dataset's
        budget, raising :class:`InputError` when that is spent."""
        path = self._paths[member.ref]
        size = path.stat().st_size
        if size > self.limits.max_file_bytes:
            return SkippedFile(member.path, SkipReason.TOO_LARGE, f"over {self.limits.max_file_bytes // MB} MB")
        self._budget.take(size)
        return path.read_bytes()

    def close(self) -> None:
        """Nothing to release (the interface of :class:`ZipReader`)."""


# ----------------------------------------------------------------------------------------------
# Decoding
# ----------------------------------------------------------------------------------------------


def load_error_reason(message: str) -> SkipReason:
    """Why :func:`load_image` refused a dataset image, from its message: too large, too small, corrupt or no image."""
    text = message.lower()
    if "pixels; the limit" in text or "far too many pixels" in text or "too large" in text or "of memory" in text:
        return SkipReason.TOO_LARGE
    if "at least" in text and "pixels on each side" in text:
        return SkipReason.TOO_SMALL
    if "truncated or corrupt" in text:
        return SkipReason.CORRUPT
    return SkipReason.NOT_IMAGE


def decode_image(path: str, data: bytes, limits: DatasetLimits = DEFAULT_LIMITS) -> np.ndarray | SkippedFile:
    """One dataset image as a read-only RGB uint8 array (via :func:`load_image`), or why it was skipped."""
    if any(data.startswith(magic) for magic in _ARCHIVE_MAGIC):
        return SkippedFile(path, SkipReason.NESTED_ARCHIVE)
    try:
        img = load_image(data, max_pixels=limits.max_pixels, max_side=limits.max_side, min_side=MIN_DATASET_IMAGE_SIDE)
    except InputError as exc:
        return SkippedFile(path, load_error_reason(str(exc)), str(exc))
    if min(img.size) < MIN_DATASET_IMAGE_SIDE:
        return SkippedFile(
            path, SkipReason.TOO_SMALL, f"extreme aspect ratio: only {img.width}×{img.height} pixels after shrinking"
        )
    arr = np.asarray(img.convert("RGB"), dtype=np.uint8).copy()
    arr.flags.writeable = False
    return arr
