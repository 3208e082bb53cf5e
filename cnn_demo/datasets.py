"""Image datasets from students: safe zip reading, ImageFolder layouts, validation reports and splits.

A dataset arrives as a ``.zip`` upload, as classes built in the page, from a folder on the server
(command line, benchmarks) or as a built-in offline set. Whatever the source, every file goes
through the same pipeline: archive members are read in memory (nothing is ever extracted, so no
path can escape a folder), links are never followed, decompression is streamed and stopped on
compression bombs, every image is decoded by :func:`cnn_demo.images.load_image` and downscaled, and
a :class:`DatasetReport` says what was used, what was skipped and why, and what blocks training.

Paired segmentation data (``images/`` + ``masks/``) for the U-Net goes through the same reader.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import os
import secrets
import shutil
import stat
import time
import zipfile
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image, ImageOps

from cnn_demo.errors import InputError
from cnn_demo.images import UPLOAD_EXTENSIONS, load_image

MB = 1024 * 1024
#: Dataset images smaller than this on a side are skipped (single uploads may be smaller: images.MIN_SIDE).
MIN_SIDE = 8


@dataclass(frozen=True)
class DatasetLimits:
    """Limits that keep one student's dataset from overloading a shared class server."""

    max_zip_bytes: int = 100 * MB
    max_uncompressed_bytes: int = 300 * MB
    max_file_bytes: int = 40 * MB
    max_images: int = 5_000
    max_entries: int = 20_000
    min_classes: int = 2
    max_classes: int = 100
    min_images_per_class: int = 2
    max_pixels: int = 40_000_000
    #: Images are downscaled at load so that their longer side is at most this (memory: ~200 kB each).
    max_side: int = 256
    #: Uncompressed/compressed ratio above which a member is treated as a compression bomb ...
    max_ratio: float = 200.0
    #: ... once this many bytes of it have been decompressed (small files may compress well).
    ratio_grace_bytes: int = 1 * MB
    #: Warn when the largest class has this many times the images of the smallest.
    imbalance_ratio: float = 3.0
    max_class_name_length: int = 64

    def __post_init__(self) -> None:
        if self.min_classes < 1 or self.max_classes < self.min_classes:
            raise ValueError("DatasetLimits: need 1 <= min_classes <= max_classes")
        if self.max_side < MIN_SIDE:
            raise ValueError(f"DatasetLimits: max_side must be at least {MIN_SIDE}")


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
        if isinstance(self.images, DiskImages):
            return self.images.nbytes
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


# ----------------------------------------------------------------------------------------------
# Paths and safe reading
# ----------------------------------------------------------------------------------------------

IMAGE_EXTENSIONS: frozenset[str] = frozenset(f".{e}" for e in UPLOAD_EXTENSIONS)
ARCHIVE_EXTENSIONS: frozenset[str] = frozenset(
    {".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar", ".zst", ".jar"}
)
_ARCHIVE_MAGIC: tuple[bytes, ...] = (b"PK\x03\x04", b"\x1f\x8b", b"7z\xbc\xaf", b"Rar!", b"BZh", b"\xfd7zXZ")
TRAIN_NAMES = frozenset({"train", "training"})
VAL_NAMES = frozenset({"val", "valid", "validation"})
TEST_NAMES = frozenset({"test", "testing"})
_CHUNK = 64 * 1024


def _fix_zip_name(info: zipfile.ZipInfo) -> str:
    """The member name as the author meant it: UTF-8 written without the UTF-8 flag is recovered."""
    name = info.filename
    if not info.flag_bits & 0x800:
        try:
            raw = name.encode("cp437")
        except UnicodeEncodeError:
            return name
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return name  # an unknown legacy code page: the cp437 reading is at least printable
    return name


def _unsafe_or_hidden(name: str) -> tuple[str, SkipReason | None]:
    """Normalise a member path and say whether it must be skipped for its path alone."""
    clean = name.replace("\\", "/")
    if "\x00" in clean:
        return clean.replace("\x00", "?"), SkipReason.UNSAFE_PATH
    if clean.startswith("/") or (len(clean) > 1 and clean[1] == ":"):
        return clean, SkipReason.UNSAFE_PATH
    parts = [p for p in clean.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        return clean, SkipReason.UNSAFE_PATH
    norm = "/".join(parts)
    if any(p == "__MACOSX" for p in parts):
        return norm, SkipReason.MACOS
    if any(p.startswith(".") or p in ("Thumbs.db", "desktop.ini") for p in parts):
        return norm, SkipReason.HIDDEN
    return norm, None


@dataclass(frozen=True)
class ArchiveFile:
    """A regular file of an archive or folder, not read yet."""

    path: str
    size: int
    #: Index into the reader's own list (zip member or file path).
    ref: int = field(repr=False)


class _Budget:
    """Total bytes read so far, checked against the uncompressed limit while streaming."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def take(self, n: int) -> None:
        self.used += n
        if self.used > self.limit:
            raise InputError(
                f"The dataset unpacks to more than {self.limit // MB} MB, the limit on this server. "
                "Please use fewer or smaller images."
            )


class SafeZip:
    """A zip archive read in memory: nothing is extracted, links are not followed, bombs are stopped.

    ``files`` lists the regular files worth reading; ``skipped`` the entries refused for their path
    or type (links, absolute or ``..`` paths, hidden files, ``__MACOSX``, nested archives, encrypted).
    :meth:`read` streams one member, counting the real decompressed bytes (headers are not trusted)
    against the per-file limit, the compression-ratio limit and the total uncompressed limit.
    """

    def __init__(self, data: bytes, limits: DatasetLimits = DEFAULT_LIMITS) -> None:
        if isinstance(data, (bytearray, memoryview)):
            data = bytes(data)
        if not isinstance(data, bytes) or not data:
            raise InputError("The uploaded file is empty.")
        if len(data) > limits.max_zip_bytes:
            raise InputError(
                f"The zip file is {len(data) / MB:.0f} MB; the limit is {limits.max_zip_bytes // MB} MB. "
                "Please upload fewer or smaller images."
            )
        self.limits = limits
        self._budget = _Budget(limits.max_uncompressed_bytes)
        try:
            self._zip = zipfile.ZipFile(io.BytesIO(data))
            infos = self._zip.infolist()
        except UnicodeDecodeError as exc:
            raise InputError(
                "The file names in this zip are marked as UTF-8 but are not valid UTF-8. "
                "Please create the zip again with your system's 'Compress' command."
            ) from exc
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
            raise InputError("This file is not a valid .zip archive. Please upload a .zip of image folders.") from exc
        if len(infos) > limits.max_entries:
            raise InputError(
                f"The zip holds {len(infos):,} entries; the limit is {limits.max_entries:,}. Please upload fewer files."
            )
        self._infos: list[zipfile.ZipInfo] = []
        files: list[ArchiveFile] = []
        skipped: list[SkippedFile] = []
        dirs: list[str] = []
        seen: set[str] = set()
        for info in infos:
            path, reason = _unsafe_or_hidden(_fix_zip_name(info))
            mode = info.external_attr >> 16
            if reason is None and info.create_system == 3 and stat.S_ISLNK(mode):
                reason = SkipReason.SYMLINK
            if reason is None and info.is_dir():
                if path:
                    dirs.append(path)
                continue
            if reason is None and info.create_system == 3 and stat.S_IFMT(mode) not in (0, stat.S_IFREG):
                reason = SkipReason.BAD_ENTRY  # device, fifo or socket entries
            if reason is None and info.flag_bits & 0x1:
                reason = SkipReason.ENCRYPTED
            if reason is None and PurePosixPath(path).suffix.lower() in ARCHIVE_EXTENSIONS:
                reason = SkipReason.NESTED_ARCHIVE
            if reason is None and path in seen:
                reason = SkipReason.BAD_ENTRY  # the same name twice: keep the first
            if reason is not None:
                if reason not in (SkipReason.HIDDEN, SkipReason.MACOS) or not info.is_dir():
                    skipped.append(SkippedFile(path or info.filename, reason))
                continue
            seen.add(path)
            files.append(ArchiveFile(path, info.file_size, len(self._infos)))
            self._infos.append(info)
        # Folders named by directory entries or implied by file paths (for empty class folders).
        for f in files:
            parents = f.path.split("/")[:-1]
            dirs.extend("/".join(parents[: i + 1]) for i in range(len(parents)))
        self.dirs: tuple[str, ...] = tuple(dict.fromkeys(dirs))
        self.files: tuple[ArchiveFile, ...] = tuple(files)
        self.skipped: tuple[SkippedFile, ...] = tuple(skipped)

    def read(self, member: ArchiveFile) -> bytes | SkippedFile:
        """The member's bytes, or a :class:`SkippedFile`; raises :class:`InputError` on a compression bomb."""
        info = self._infos[member.ref]
        limits = self.limits
        chunks: list[bytes] = []
        got = 0
        compressed = max(int(info.compress_size), 1)
        try:
            with self._zip.open(info) as fh:
                while True:
                    chunk = fh.read(_CHUNK)
                    if not chunk:
                        break
                    got += len(chunk)
                    self._budget.take(len(chunk))
                    if got > limits.ratio_grace_bytes and got > limits.max_ratio * compressed:
                        raise InputError(
                            f"“{member.path}” expands more than {limits.max_ratio:.0f} times when unpacked: this "
                            "looks like a compression bomb, so reading the zip was stopped."
                        )
                    if got > limits.max_file_bytes:
                        return SkippedFile(member.path, SkipReason.TOO_LARGE, f"over {limits.max_file_bytes // MB} MB")
                    chunks.append(chunk)
        except InputError:
            raise
        except NotImplementedError:
            return SkippedFile(member.path, SkipReason.BAD_ENTRY, "compressed with a method this server cannot read")
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, RuntimeError) as exc:
            return SkippedFile(member.path, SkipReason.BAD_ENTRY, str(exc)[:120] or type(exc).__name__)
        return b"".join(chunks)

    def close(self) -> None:
        """Release the archive."""
        self._zip.close()


class _FolderReader:
    """The same interface as :class:`SafeZip` over a folder on the server; links are not followed."""

    def __init__(self, root: Path, limits: DatasetLimits) -> None:
        if not root.is_dir():
            raise InputError(f"{root} is not a folder.")
        self.limits = limits
        self._budget = _Budget(limits.max_uncompressed_bytes)
        self._paths: list[Path] = []
        files: list[ArchiveFile] = []
        skipped: list[SkippedFile] = []
        dirs: list[str] = []
        count = 0
        for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
            dirnames.sort()
            for d in list(dirnames):  # hidden folders (.git, __MACOSX) are reported once, not walked
                rel, reason = _unsafe_or_hidden((Path(dirpath) / d).relative_to(root).as_posix())
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
                rel, reason = _unsafe_or_hidden(rel)
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
        path = self._paths[member.ref]
        size = path.stat().st_size
        if size > self.limits.max_file_bytes:
            return SkippedFile(member.path, SkipReason.TOO_LARGE, f"over {self.limits.max_file_bytes // MB} MB")
        self._budget.take(size)
        return path.read_bytes()

    def close(self) -> None:
        pass


# ----------------------------------------------------------------------------------------------
# Decoding
# ----------------------------------------------------------------------------------------------


def _classify_load_error(message: str) -> SkipReason:
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
        img = load_image(data, max_pixels=limits.max_pixels, max_side=limits.max_side, min_side=MIN_SIDE)
    except InputError as exc:
        return SkippedFile(path, _classify_load_error(str(exc)), str(exc))
    if min(img.size) < MIN_SIDE:
        return SkippedFile(
            path, SkipReason.TOO_SMALL, f"extreme aspect ratio: only {img.width}×{img.height} pixels after shrinking"
        )
    arr = np.asarray(img.convert("RGB"), dtype=np.uint8).copy()
    arr.flags.writeable = False
    return arr


# ----------------------------------------------------------------------------------------------
# Layout and assembly
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Candidate:
    file: ArchiveFile
    cls: str
    split: str | None


def _strip_wrappers(paths: list[tuple[str, ...]]) -> tuple[int, str]:
    """How many leading folders all paths share (a wrapping folder), keeping class/file below them."""
    depth = 0
    names: list[str] = []
    while paths and all(len(p) > depth + 2 for p in paths) and len({p[depth] for p in paths}) == 1:
        names.append(paths[0][depth])
        depth += 1
    return depth, "/".join(names)


def _layout(
    files: Sequence[ArchiveFile], dirs: Sequence[str] = ()
) -> tuple[list[_Candidate], list[SkippedFile], str, bool, set[str]]:
    """Find the class of every image file: class folders, a wrapping folder, or train/ and val/ splits."""
    skipped: list[SkippedFile] = []
    images: list[ArchiveFile] = []
    for f in files:
        if PurePosixPath(f.path).suffix.lower() in IMAGE_EXTENSIONS:
            images.append(f)
        else:
            skipped.append(SkippedFile(f.path, SkipReason.NOT_IMAGE, "file type is not an image"))
    parts = [tuple(f.path.split("/")) for f in images]
    depth, wrapper = _strip_wrappers(parts)
    inner = [p[depth:] for p in parts]
    tops = {p[0].lower() for p in inner if len(p) > 1}
    split_mode = bool(tops & TRAIN_NAMES) and bool(tops & VAL_NAMES) and tops <= TRAIN_NAMES | VAL_NAMES | TEST_NAMES
    candidates: list[_Candidate] = []
    for f, p in zip(images, inner, strict=True):
        if split_mode:
            top = p[0].lower()
            if top in TEST_NAMES:
                skipped.append(SkippedFile(f.path, SkipReason.UNUSED_SPLIT, "only train/ and val/ are used"))
            elif len(p) < 3:
                skipped.append(SkippedFile(f.path, SkipReason.OUTSIDE_CLASS))
            else:
                candidates.append(_Candidate(f, p[1], "val" if top in VAL_NAMES else "train"))
        elif len(p) < 2:
            skipped.append(SkippedFile(f.path, SkipReason.OUTSIDE_CLASS))
        else:
            candidates.append(_Candidate(f, p[0], None))
    # Class folders that hold no image at all still count as classes (and are reported as empty).
    prefix = tuple(wrapper.split("/")) if wrapper else ()
    empty: set[str] = set()
    for d in dirs:
        dp = tuple(d.split("/"))
        if dp[: len(prefix)] != prefix:
            continue
        rest = dp[len(prefix) :]
        if split_mode and len(rest) == 2 and rest[0].lower() in TRAIN_NAMES | VAL_NAMES:
            empty.add(rest[1])
        elif not split_mode and len(rest) == 1 and (images or rest[0].lower() not in TRAIN_NAMES | VAL_NAMES):
            empty.add(rest[0])
    where = f" inside “{wrapper}/”" if wrapper else ""
    layout = f"train/ and val/ folders{where}" if split_mode else f"one folder per class{where}"
    return candidates, skipped, layout, split_mode, empty


def _assemble(
    reader: SafeZip | _FolderReader,
    name: str,
    source: str,
    limits: DatasetLimits,
    sink: _StoreWriter | None = None,
) -> Dataset:
    candidates, skipped, layout, split_mode, empty = _layout(reader.files, reader.dirs)
    skipped = list(reader.skipped) + skipped
    if len(candidates) > limits.max_images:
        raise InputError(
            f"The dataset has {len(candidates):,} images; the limit on this server is {limits.max_images:,}. "
            "Please use fewer images per class."
        )
    class_order = sorted({c.cls for c in candidates} | empty)
    if len(class_order) > limits.max_classes:
        raise InputError(
            f"The dataset has {len(class_order)} class folders; the limit is {limits.max_classes}. "
            "Check that the zip has one folder per class."
        )
    candidates.sort(key=lambda c: (c.split == "val", c.cls, c.file.path))
    return _decode_all(
        [(c.cls, c.split, c.file.path, lambda f=c.file: reader.read(f)) for c in candidates],
        class_order,
        name=name,
        source=source,
        layout=layout,
        limits=limits,
        skipped=skipped,
        split_mode=split_mode,
        sink=sink,
    )


def _decode_all(
    items: Sequence[tuple[str, str | None, str, Callable[[], bytes | SkippedFile]]],
    class_order: Sequence[str],
    *,
    name: str,
    source: str,
    layout: str,
    limits: DatasetLimits,
    skipped: list[SkippedFile],
    split_mode: bool,
    sink: _StoreWriter | None = None,
) -> Dataset:
    index = {c: i for i, c in enumerate(class_order)}
    images: list[np.ndarray] = []
    labels: list[int] = []
    paths: list[str] = []
    splits: list[str] = []
    by_hash: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for cls, split, path, read in items:
        data = read()
        if isinstance(data, SkippedFile):
            skipped.append(data)
            continue
        digest = hashlib.sha256(data).hexdigest()
        by_hash[digest].append((path, cls))
        if len(by_hash[digest]) > 1:
            continue
        arr = decode_image(path, data, limits)
        if isinstance(arr, SkippedFile):
            skipped.append(arr)
            by_hash.pop(digest)
            continue
        if sink is not None:
            sink.add(arr, data)  # straight to disk: no session holds the decoded pixels
        else:
            images.append(arr)
        del data, arr
        labels.append(index[cls])
        paths.append(path)
        splits.append(split or "train")
    duplicates = tuple(
        DuplicateGroup(
            digest,
            group[0][0],
            tuple(p for p, _ in group[1:]),
            tuple(dict.fromkeys(c for _, c in group)),
        )
        for digest, group in by_hash.items()
        if len(group) > 1
    )
    label_arr = np.asarray(labels, dtype=np.int64)
    label_arr.flags.writeable = False
    counts = []
    for i, cls in enumerate(class_order):
        mask = label_arr == i
        n_val = sum(1 for m, s in zip(mask, splits, strict=True) if m and s == "val")
        counts.append(ClassCount(cls, int(mask.sum()) - n_val, n_val))
    warnings, errors = _check(counts, duplicates, skipped, limits, split_mode)
    report = DatasetReport(
        source=source,
        layout=layout,
        classes=tuple(counts),
        skipped=tuple(skipped),
        duplicates=duplicates,
        warnings=tuple(warnings),
        errors=tuple(errors),
        has_given_split=split_mode,
    )
    dataset = Dataset(
        name=name,
        class_names=tuple(class_order),
        images=tuple(images) if sink is None else sink.images(),
        labels=label_arr,
        paths=tuple(paths),
        report=report,
        given_split=tuple(splits) if split_mode else None,
    )
    return dataset if sink is None else sink.finish(dataset)


def _q(name: str) -> str:
    return f"“{name}”"


def _check(
    counts: Sequence[ClassCount],
    duplicates: Sequence[DuplicateGroup],
    skipped: Sequence[SkippedFile],
    limits: DatasetLimits,
    split_mode: bool,
) -> tuple[list[str], list[str]]:
    """Warnings (training works but may mislead) and errors (training is blocked)."""
    warnings: list[str] = []
    errors: list[str] = []
    folded: dict[str, list[str]] = defaultdict(list)
    for c in counts:  # folder names from a zip follow the rules of names typed in the page
        try:
            folded[validate_class_name(c.name, limits).casefold()].append(c.name)
        except InputError as exc:
            errors.append(f"Class folder {_q(c.name[:40] + ('…' if len(c.name) > 40 else ''))}: {exc}")
    for names in folded.values():
        if len(names) > 1:
            errors.append(
                "The class folders " + ", ".join(_q(n) for n in names) + " differ only in upper/lower case; "
                "they would be one class to a person but separate classes to the model. Merge them into one folder."
            )
    total = sum(c.total for c in counts)
    if total == 0:
        errors.append("No usable image was found. Put your images in one folder per class (e.g. cats/, dogs/).")
    if len(counts) < limits.min_classes:
        found = ", ".join(_q(c.name) for c in counts) or "none"
        errors.append(
            f"A classifier needs at least {limits.min_classes} classes; this dataset has {len(counts)} ({found}). "
            "Add a folder per class."
        )
    for c in counts:
        if c.total < limits.min_images_per_class:
            errors.append(
                f"Class {_q(c.name)} has {c.total} usable image(s); each class needs at least "
                f"{limits.min_images_per_class}."
            )
        elif split_mode and c.train == 0:
            errors.append(f"Class {_q(c.name)} has no images in train/, so the model cannot learn it.")
        elif split_mode and c.val == 0:
            warnings.append(f"Class {_q(c.name)} has no images in val/, so its accuracy cannot be measured.")
    usable = [c for c in counts if c.total > 0]
    if len(usable) >= 2:
        big = max(usable, key=lambda c: c.total)
        small = min(usable, key=lambda c: c.total)
        if big.total >= limits.imbalance_ratio * small.total:
            warnings.append(
                f"The classes are unbalanced: {_q(big.name)} has {big.total} images but {_q(small.name)} only "
                f"{small.total} ({big.total / small.total:.1f}×). A model can look accurate by mostly guessing "
                f"{_q(big.name)}; check the per-class accuracy, or add images to the small classes."
            )
    few = [c for c in counts if limits.min_images_per_class <= c.total < 10]
    if few:
        warnings.append(
            "Very few images in " + ", ".join(_q(c.name) for c in few) + ": results will be noisy; aim for 20 or more."
        )
    cross = [d for d in duplicates if len(d.classes) > 1]
    if duplicates:
        n = sum(len(d.dropped) for d in duplicates)
        warnings.append(f"{n} duplicate file(s) were dropped (identical content); only the first copy is used.")
    for d in cross:
        warnings.append(
            f"The same image is in classes {', '.join(_q(c) for c in d.classes)} ({d.kept}): its label is ambiguous."
        )
    if skipped:
        warnings.append(f"{len(skipped)} file(s) were skipped; the table lists each one with its reason.")
    return warnings, errors


def strategy_hint(report: DatasetReport) -> str:
    """The lecture's Model-zoos advice applied to this dataset's size (a rule of thumb, not a law)."""
    usable = [c.total for c in report.classes if c.total > 0]
    if not usable:
        return ""
    per_class = sum(usable) / len(usable)
    if per_class < 100:
        advice = (
            "small: use a pretrained backbone as it is (frozen) and train only a new head; fine-tuning the whole "
            "network on so few images mostly memorises them"
        )
    elif per_class < 1000:
        advice = (
            "medium: train a new head, then try unfreezing the last stage(s) of the backbone with a low learning rate"
        )
    else:
        advice = (
            "large enough to fine-tune the whole model (backbone and head), with a lower learning rate for the backbone"
        )
    return f"About {per_class:.0f} images per class is {advice}."


# ----------------------------------------------------------------------------------------------
# Public readers
# ----------------------------------------------------------------------------------------------


def read_zip_dataset(
    data: bytes, name: str = "upload.zip", limits: DatasetLimits = DEFAULT_LIMITS, store: Path | None = None
) -> Dataset:
    """A classification dataset from the bytes of a ``.zip`` in ImageFolder layout.

    Understood layouts: ``class/img``, a single wrapping folder ``data/class/img``, and
    ``train/class/img`` + ``val/class/img`` (kept as the given split). The result always carries a
    report; ``dataset.report.errors`` lists what blocks training. Raises :class:`InputError` when the
    file is not a zip, exceeds a size limit, or holds a compression bomb.

    With ``store`` (a folder, see :class:`DiskImages`) the images are decoded once into a folder named by the zip's
    content, shared by everyone who uploads the same zip, and mapped from disk instead of held in memory.
    """
    if store is None:
        reader = SafeZip(data, limits)
        try:
            return _assemble(reader, name, f"zip file {_q(name)}", limits)
        finally:
            reader.close()
    key = _store_key(b"zip", name.encode(), repr(limits).encode(), data)
    with _store_lock(Path(store), key):  # a class uploading the same zip at once decodes it once
        found = open_stored_dataset(Path(store) / key)
        if found is not None:
            return found
        reader = SafeZip(data, limits)
        try:
            with _StoreWriter(Path(store), key, limits) as sink:
                return _assemble(reader, name, f"zip file {_q(name)}", limits, sink)
        finally:
            reader.close()


def read_folder_dataset(path: str | Path, limits: DatasetLimits = DEFAULT_LIMITS) -> Dataset:
    """The same as :func:`read_zip_dataset` for a folder on the server (command line, benchmarks)."""
    root = Path(path)
    return _assemble(_FolderReader(root, limits), root.name, f"folder {_q(str(root))}", limits)


def load_dataset(path: str | Path, limits: DatasetLimits = DEFAULT_LIMITS) -> Dataset:
    """A dataset from a ``.zip`` file or an ImageFolder folder given by its path."""
    p = Path(path)
    if p.is_dir():
        return read_folder_dataset(p, limits)
    if not p.is_file():
        raise InputError(f"{p} does not exist.")
    if p.stat().st_size > limits.max_zip_bytes:
        raise InputError(f"{p.name} is larger than the {limits.max_zip_bytes // MB} MB limit.")
    return read_zip_dataset(p.read_bytes(), p.name, limits)


#: Unicode characters that reorder the text around them (right-to-left override and friends): a name holding one
#: shows differently from what it is.
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def validate_class_name(name: str, limits: DatasetLimits = DEFAULT_LIMITS) -> str:
    """A class name, trimmed; raises :class:`InputError` when it is empty, too long or has control characters."""
    if not isinstance(name, str):
        raise InputError("A class name must be text.")
    clean = " ".join(name.split())
    if not clean:
        raise InputError("Every class needs a name.")
    if len(clean) > limits.max_class_name_length:
        raise InputError(f"The class name {_q(clean[:20] + '…')} is too long; at most {limits.max_class_name_length}.")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise InputError("A class name cannot contain control characters.")
    if any(ch in _BIDI_CONTROLS for ch in name):
        raise InputError(
            "A class name cannot contain invisible text-direction characters (they make a name read backwards)."
        )
    if "/" in clean or "\\" in clean:
        raise InputError(f"The class name {_q(clean)} cannot contain / or \\.")
    if clean.startswith(".") or clean == "__MACOSX":
        raise InputError(f"The class name {_q(clean)} cannot start with a dot (such folders are hidden).")
    return clean


def build_dataset(
    classes: Sequence[tuple[str, Sequence[tuple[str, bytes]]]],
    name: str = "built in the page",
    limits: DatasetLimits = DEFAULT_LIMITS,
    store: Path | None = None,
) -> Dataset:
    """A dataset from classes built in the page: ``[(class name, [(file name, bytes), ...]), ...]``.

    Class names are validated (:func:`validate_class_name`, unique ignoring case); every file goes
    through the same checks and decoder as a zip member. ``store``: as for :func:`read_zip_dataset`.
    """
    names: list[str] = []
    seen: dict[str, str] = {}
    for cls, _ in classes:
        clean = validate_class_name(cls, limits)
        if clean.casefold() in seen:
            raise InputError(f"Two classes are called {_q(clean)}; class names must differ.")
        seen[clean.casefold()] = clean
        names.append(clean)
    if len(names) > limits.max_classes:
        raise InputError(f"At most {limits.max_classes} classes are allowed.")
    n_files = sum(len(files) for _, files in classes)
    if n_files > limits.max_images:
        raise InputError(f"{n_files:,} images were added; the limit is {limits.max_images:,}.")
    budget = _Budget(limits.max_uncompressed_bytes)
    skipped: list[SkippedFile] = []
    items: list[tuple[str, str | None, str, Callable[[], bytes | SkippedFile]]] = []
    for clean, (_, files) in zip(names, classes, strict=True):
        for filename, data in files:
            path = f"{clean}/{filename}"
            _, reason = _unsafe_or_hidden(PurePosixPath(str(filename).replace("\\", "/")).name)
            if reason in (SkipReason.HIDDEN, SkipReason.MACOS):
                skipped.append(SkippedFile(path, reason))
                continue
            if len(data) > limits.max_file_bytes:
                skipped.append(SkippedFile(path, SkipReason.TOO_LARGE, f"over {limits.max_file_bytes // MB} MB"))
                continue
            budget.take(len(data))
            items.append((clean, None, path, lambda d=data: d))
    decode = functools.partial(
        _decode_all,
        items,
        names,
        name=name,
        source="classes built in the page",
        layout="classes built in the page",
        limits=limits,
        skipped=skipped,
        split_mode=False,
    )
    if store is None:
        return decode()
    parts = [b"built", name.encode(), repr(limits).encode(), json.dumps(names).encode()]  # empty classes count too
    parts.append(json.dumps([[f.path, str(f.reason)] for f in skipped]).encode())
    for cls, _, path, read in items:
        parts += [cls.encode(), path.encode(), hashlib.sha256(read()).digest()]
    key = _store_key(*parts)
    with _store_lock(Path(store), key):
        found = open_stored_dataset(Path(store) / key)
        if found is not None:
            return found
        with _StoreWriter(Path(store), key, limits) as sink:
            return decode(sink=sink)


# ----------------------------------------------------------------------------------------------
# Decoded datasets on disk, shared
# ----------------------------------------------------------------------------------------------

#: Files of a stored dataset: the decoded pixels, the uploaded files as they came, their index, the rest.
_PIXELS, _ORIGINALS, _INDEX, _META = "pixels.bin", "originals.bin", "index.npy", "meta.json"


class DiskImages(Sequence[np.ndarray]):
    """The images of a stored dataset, on disk: the files as uploaded, and decoded pixels where they are smaller.

    A page keeps only this small handle (and the report) per user, so a 5,000-image upload costs a session almost
    nothing, not 1 GB of pixels. Each image is kept as uploaded (:meth:`original`: a job gets the compressed
    originals) and, when its decoded pixels take less room than that file (a large JPEG shrunk to 256 px), as pixels
    too, mapped read-only from one file: the pages read sit in the operating system's page cache, shared by every
    session and given back under memory pressure. The others (small PNGs that compress well) are decoded again on
    access, exactly as the first time. Indexing gives a read-only RGB uint8 array, slicing a list of them.
    """

    def __init__(self, folder: Path, index: np.ndarray, limits: DatasetLimits = DEFAULT_LIMITS) -> None:
        self.folder = folder
        self.limits = limits
        self._index = index  # rows: pixel offset (-1: decode the original), height, width, original offset, size
        has_pixels = len(index) and (index[:, 0] >= 0).any() and (folder / _PIXELS).stat().st_size
        self._map = np.memmap(folder / _PIXELS, dtype=np.uint8, mode="r") if has_pixels else None

    def __len__(self) -> int:
        return len(self._index)

    def __getitem__(self, index):  # an array for an index, a list of them for a slice
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        offset, h, w, _, _ = (int(v) for v in self._index[index])
        if offset >= 0 and self._map is not None:
            return self._map[offset : offset + h * w * 3].reshape(h, w, 3)
        arr = decode_image(str(index), self.original(index), self.limits)
        if isinstance(arr, SkippedFile):  # the file changed on disk since it was checked
            raise InputError("A stored image of this dataset cannot be read any more; please upload it again.")
        return arr

    @property
    def nbytes(self) -> int:
        """Bytes the decoded images take when all are decoded (most are not held at once)."""
        return int((self._index[:, 1] * self._index[:, 2] * 3).sum()) if len(self) else 0

    @property
    def disk_bytes(self) -> int:
        """Bytes the stored files take on disk."""
        return sum((self.folder / name).stat().st_size for name in (_PIXELS, _ORIGINALS, _INDEX, _META))

    def shape(self, index: int) -> tuple[int, int, int]:
        """The decoded image's shape, without decoding it."""
        return int(self._index[index, 1]), int(self._index[index, 2]), 3

    def original(self, index: int) -> bytes:
        """The image file as it was uploaded (deduplicated, not re-encoded)."""
        _, _, _, offset, size = (int(v) for v in self._index[index])
        with open(self.folder / _ORIGINALS, "rb") as f:
            f.seek(offset)
            return f.read(size)


def release_freed_memory() -> bool:
    """Give the memory freed after a large decode back to the operating system (glibc's ``malloc_trim``).

    Decoding thousands of images in a web server's script thread leaves its allocator arena holding tens of megabytes
    of freed blocks, which would count against the server for as long as it runs. Returns False where unavailable.
    """
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.malloc_trim(0))
    except (OSError, AttributeError):
        return False


@contextlib.contextmanager
def _store_lock(store: Path, key: str) -> Iterator[None]:
    """Hold ``key``'s lock in ``store`` (across threads and processes): whoever comes second waits for the first
    decode of the same content and then opens its result instead of decoding it again."""
    import fcntl

    try:
        store.mkdir(parents=True, exist_ok=True)
        fd = os.open(store / f".lock-{key}", os.O_CREAT | os.O_RDWR, 0o600)
    except OSError as exc:
        raise InputError("The server has no room to prepare this dataset right now; try again later.") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _store_key(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return h.hexdigest()[:40]


class _StoreWriter:
    """Writes one dataset into ``<store>/<key>`` through a private temporary folder renamed into place at the end,
    so a half-written dataset is never seen and two sessions decoding the same zip at once do not collide."""

    def __init__(self, store: Path, key: str, limits: DatasetLimits) -> None:
        self.store, self.key, self.limits = store, key, limits
        self.tmp = store / f".tmp-{key}-{os.getpid()}-{secrets.token_hex(4)}"
        self._rows: list[tuple[int, int, int, int, int]] = []
        self._pix_at = self._orig_at = 0
        self._files: list = []

    def __enter__(self) -> _StoreWriter:
        try:
            self.tmp.mkdir(parents=True)
            self._pixels = open(self.tmp / _PIXELS, "wb")
            self._originals = open(self.tmp / _ORIGINALS, "wb")
        except OSError as exc:
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise InputError("The server has no room to prepare this dataset right now; try again later.") from exc
        self._files = [self._pixels, self._originals]
        return self

    def add(self, arr: np.ndarray, original: bytes) -> None:
        h, w = arr.shape[:2]
        at = -1
        if h * w * 3 <= len(original):  # pixels are the smaller form: keep them, no decode on access
            self._pixels.write(np.ascontiguousarray(arr, dtype=np.uint8).tobytes())
            at = self._pix_at
            self._pix_at += h * w * 3
        self._originals.write(original)
        self._rows.append((at, h, w, self._orig_at, len(original)))
        self._orig_at += len(original)

    def images(self) -> DiskImages:
        for f in self._files:
            f.close()
        index = np.asarray(self._rows, dtype=np.int64).reshape(-1, 5)
        np.save(self.tmp / _INDEX, index, allow_pickle=False)
        return DiskImages(self.tmp, index, self.limits)

    def finish(self, dataset: Dataset) -> Dataset:
        (self.tmp / _META).write_text(json.dumps(_dataset_meta(dataset, self.limits)))
        final = self.store / self.key
        try:
            os.rename(self.tmp, final)
        except OSError:  # someone else stored the same dataset first: use theirs
            shutil.rmtree(self.tmp, ignore_errors=True)
        found = open_stored_dataset(final)
        if found is None:
            raise InputError("The server could not keep this dataset; please upload it again.")
        release_freed_memory()
        return found

    def __exit__(self, *exc) -> None:
        for f in self._files:
            f.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def _dataset_meta(ds: Dataset, limits: DatasetLimits) -> dict:
    r = ds.report
    return {
        "limits": {"max_pixels": limits.max_pixels, "max_side": limits.max_side},
        "name": ds.name,
        "class_names": list(ds.class_names),
        "labels": [int(v) for v in ds.labels],
        "paths": list(ds.paths),
        "given_split": list(ds.given_split) if ds.given_split is not None else None,
        "report": {
            "source": r.source,
            "layout": r.layout,
            "classes": [[c.name, c.train, c.val] for c in r.classes],
            "skipped": [[f.path, str(f.reason), f.detail] for f in r.skipped],
            "duplicates": [[d.sha256, d.kept, list(d.dropped), list(d.classes)] for d in r.duplicates],
            "warnings": list(r.warnings),
            "errors": list(r.errors),
            "has_given_split": r.has_given_split,
        },
    }


def open_stored_dataset(folder: Path) -> Dataset | None:
    """A dataset stored by :func:`read_zip_dataset` or :func:`build_dataset` with ``store``; ``None`` if absent.

    Opening marks it as used (its age for :func:`cleanup_store` starts again).
    """
    folder = Path(folder)
    try:
        meta = json.loads((folder / _META).read_text())
        index = np.load(folder / _INDEX, allow_pickle=False)
        images = DiskImages(folder, index, DatasetLimits(**meta["limits"]))
        os.utime(folder)
    except (OSError, ValueError):
        return None
    r = meta["report"]
    report = DatasetReport(
        source=r["source"],
        layout=r["layout"],
        classes=tuple(ClassCount(n, t, v) for n, t, v in r["classes"]),
        skipped=tuple(SkippedFile(p, SkipReason(reason), d) for p, reason, d in r["skipped"]),
        duplicates=tuple(DuplicateGroup(h, k, tuple(dr), tuple(c)) for h, k, dr, c in r["duplicates"]),
        warnings=tuple(r["warnings"]),
        errors=tuple(r["errors"]),
        has_given_split=bool(r["has_given_split"]),
    )
    labels = np.asarray(meta["labels"], dtype=np.int64)
    labels.flags.writeable = False
    split = meta["given_split"]
    return Dataset(
        name=meta["name"],
        class_names=tuple(meta["class_names"]),
        images=images,
        labels=labels,
        paths=tuple(meta["paths"]),
        report=report,
        given_split=tuple(split) if split is not None else None,
    )


def cleanup_store(store: Path, max_age_s: float) -> list[str]:
    """Delete stored datasets not opened for ``max_age_s`` seconds (and abandoned temporary folders)."""
    removed = []
    limit = time.time() - max_age_s
    root = Path(store)
    for folder in root.iterdir() if root.is_dir() else ():
        try:
            if folder.stat().st_mtime >= limit:
                continue
            if folder.is_dir():
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder.name)
            elif folder.name.startswith(".lock-"):
                folder.unlink()
        except OSError:
            continue
    return removed


# ----------------------------------------------------------------------------------------------
# Built-in offline datasets
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BuiltinDataset:
    """A dataset made from files scikit-image ships, so it works without a network."""

    name: str
    title: str
    description: str


BUILTIN_DATASETS: tuple[BuiltinDataset, ...] = (
    BuiltinDataset(
        "textures",
        "Textures: brick, grass, gravel",
        "64×64 patches cut from scikit-image's brick, grass and gravel photos (64 per class, 192 in all).",
    ),
    BuiltinDataset(
        "faces",
        "Faces / non-faces",
        "scikit-image's LFW subset: 100 face and 100 background crops, 25×25 grayscale.",
    ),
)


def builtin_names() -> list[str]:
    """Names of the built-in datasets."""
    return [b.name for b in BUILTIN_DATASETS]


def _from_arrays(name: str, source: str, class_names: Sequence[str], arrays: Sequence[tuple[int, str, np.ndarray]]):
    limits = DEFAULT_LIMITS
    images, labels, paths = [], [], []
    for label, path, arr in arrays:
        rgb = np.repeat(arr[..., None], 3, axis=2) if arr.ndim == 2 else arr
        rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
        rgb.flags.writeable = False
        images.append(rgb)
        labels.append(label)
        paths.append(path)
    label_arr = np.asarray(labels, dtype=np.int64)
    label_arr.flags.writeable = False
    counts = [ClassCount(c, int((label_arr == i).sum())) for i, c in enumerate(class_names)]
    warnings, errors = _check(counts, (), (), limits, False)
    report = DatasetReport(source, "built-in", tuple(counts), warnings=tuple(warnings), errors=tuple(errors))
    return Dataset(name, tuple(class_names), tuple(images), label_arr, tuple(paths), report)


def texture_patches(patch: int = 64, stride: int | None = None) -> Dataset:
    """Patches of scikit-image's brick, grass and gravel photos, one class per photo."""
    from cnn_demo import samples

    if not MIN_SIDE <= patch <= 256:
        raise InputError(f"The patch size must be between {MIN_SIDE} and 256 pixels.")
    stride = stride or patch
    arrays = []
    classes = ("brick", "grass", "gravel")
    for label, cls in enumerate(classes):
        img = np.asarray(samples.load_sample(cls, grayscale=True), dtype=np.uint8)
        h, w = img.shape
        for top in range(0, h - patch + 1, stride):
            for left in range(0, w - patch + 1, stride):
                arrays.append((label, f"{cls}/{cls}_{top}_{left}.png", img[top : top + patch, left : left + patch]))
    return _from_arrays("textures", "built-in: scikit-image textures", classes, arrays)


def lfw_faces() -> Dataset:
    """scikit-image's LFW subset: 100 faces then 100 non-faces, 25×25 grayscale (read from its data folder)."""
    from cnn_demo import samples

    path = samples.data_dir() / "lfw_subset.npy"
    if not path.is_file():
        raise InputError("scikit-image's lfw_subset.npy is missing from its data folder.")
    raw = np.load(path, allow_pickle=False)
    if raw.ndim != 3 or raw.shape[1:] != (25, 25):
        raise InputError("scikit-image's lfw_subset.npy does not have the expected shape.")
    data = np.clip(np.rint(raw * 255.0), 0, 255).astype(np.uint8) if raw.dtype.kind == "f" else raw.astype(np.uint8)
    half = len(data) // 2
    classes = ("face", "not a face")
    arrays = [(0 if i < half else 1, f"{classes[0 if i < half else 1]}/{i:03d}.png", a) for i, a in enumerate(data)]
    return _from_arrays("faces", "built-in: scikit-image LFW subset", classes, arrays)


def load_builtin(name: str) -> Dataset:
    """A built-in dataset by name (see :data:`BUILTIN_DATASETS`)."""
    if name == "textures":
        return texture_patches()
    if name == "faces":
        return lfw_faces()
    raise InputError(f"There is no built-in dataset called {name!r}. Choose one of: {', '.join(builtin_names())}.")


# ----------------------------------------------------------------------------------------------
# Splits
# ----------------------------------------------------------------------------------------------


def too_small_classes(dataset: Dataset, limits: DatasetLimits = DEFAULT_LIMITS) -> list[ClassCount]:
    """The classes that block training by their size: fewer than ``limits.min_images_per_class`` images, or none
    in ``train/`` when the dataset brings its own split."""
    return [
        c
        for c in dataset.report.classes
        if c.total < limits.min_images_per_class or (dataset.report.has_given_split and c.train == 0)
    ]


def drop_classes(dataset: Dataset, names: Collection[str], limits: DatasetLimits = DEFAULT_LIMITS) -> Dataset:
    """``dataset`` without the classes ``names`` (their images dropped, the other labels renumbered), with its
    report checked again, so an empty or tiny class need not block training."""
    drop = set(names)
    keep = [c for c in dataset.class_names if c not in drop]
    old_to_new = {dataset.class_names.index(c): i for i, c in enumerate(keep)}
    rows = [i for i, y in enumerate(dataset.labels) if int(y) in old_to_new]
    labels = np.asarray([old_to_new[int(dataset.labels[i])] for i in rows], dtype=np.int64)
    labels.flags.writeable = False
    report = dataset.report
    counts = [c for c in report.classes if c.name not in drop]
    warnings, errors = _check(counts, report.duplicates, report.skipped, limits, report.has_given_split)
    dropped = ", ".join(f"{_q(c.name)} ({c.total} image(s))" for c in report.classes if c.name in drop)
    warnings.insert(0, f"Dropped for training: {dropped}.")
    return Dataset(
        name=dataset.name,
        class_names=tuple(keep),
        images=tuple(dataset.images[i] for i in rows),
        labels=labels,
        paths=tuple(dataset.paths[i] for i in rows),
        report=replace(report, classes=tuple(counts), warnings=tuple(warnings), errors=tuple(errors)),
        given_split=tuple(dataset.given_split[i] for i in rows) if dataset.given_split is not None else None,
    )


def split_dataset(
    dataset: Dataset, val_fraction: float = 0.2, seed: int = 0, use_given: bool = True, test_fraction: float = 0.0
) -> Split:
    """Training and validation indices: the dataset's own train/val folders, or a stratified random split.

    The stratified split keeps each class's share in both parts: every class with at least 2 images
    gets at least one validation and one training image. The same seed gives the same split.
    ``test_fraction`` > 0 also holds out that share of each class (taken from the training part, stratified, at
    least one image of every class with 3 or more training images) as a test split no model selection sees.
    """
    if not 0.0 <= test_fraction < 0.5:
        raise InputError("The test share must be at least 0 and below 0.5 (for example 0.15).")
    if use_given and dataset.given_split is not None:
        given = np.asarray(dataset.given_split)
        split = Split(np.flatnonzero(given == "train"), np.flatnonzero(given == "val"), True)
        return _hold_out_test(dataset, split, test_fraction, seed)
    if not 0.0 < val_fraction < 1.0:
        raise InputError("The validation share must be between 0 and 1 (for example 0.2).")
    rng = np.random.default_rng(seed)
    train: list[np.ndarray] = []
    val: list[np.ndarray] = []
    for label in range(dataset.num_classes):
        idx = dataset.indices_of(label)
        idx = idx[rng.permutation(len(idx))]
        n = len(idx)
        n_val = round(n * val_fraction)
        if n >= 2:
            n_val = min(max(n_val, 1), n - 1)
        else:
            n_val = 0
        val.append(idx[:n_val])
        train.append(idx[n_val:])
    tr = np.sort(np.concatenate(train)) if train else np.zeros(0, dtype=np.int64)
    va = np.sort(np.concatenate(val)) if val else np.zeros(0, dtype=np.int64)
    split = Split(tr.astype(np.int64), va.astype(np.int64), False, seed, val_fraction)
    return _hold_out_test(dataset, split, test_fraction, seed)


def _hold_out_test(dataset: Dataset, split: Split, test_fraction: float, seed: int) -> Split:
    """``split`` with ``test_fraction`` of every class's images moved from its training part into a test part."""
    if test_fraction <= 0:
        return split
    rng = np.random.default_rng([seed, 7])
    train = np.asarray(split.train, dtype=np.int64)
    labels = dataset.labels[train]
    test: list[np.ndarray] = []
    for label in range(dataset.num_classes):
        idx = train[labels == label]
        total = len(dataset.indices_of(label))
        n_test = min(max(round(total * test_fraction), 1), len(idx) - 2) if len(idx) >= 3 else 0
        test.append(np.sort(rng.permutation(idx)[:n_test]))
    held = np.sort(np.concatenate(test)) if test else np.zeros(0, dtype=np.int64)
    keep = np.setdiff1d(train, held)
    return replace(split, train=keep.astype(np.int64), test=held.astype(np.int64))


# ----------------------------------------------------------------------------------------------
# Paired segmentation data (U-Net)
# ----------------------------------------------------------------------------------------------

IGNORE_INDEX = 255
IMAGE_DIR_NAMES = frozenset({"images", "imgs", "jpegimages"})
MASK_DIR_NAMES = frozenset({"masks", "labels", "segmentationclass", "annotations"})
_MASK_FORMATS = ("PNG", "BMP", "TIFF", "GIF")
VOC_CLASSES: tuple[str, ...] = (
    "background",
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "dining table",
    "dog",
    "horse",
    "motorbike",
    "person",
    "potted plant",
    "sheep",
    "sofa",
    "train",
    "tv/monitor",
)


@dataclass(frozen=True)
class SegmentationReport:
    """What was paired, the pixels per class, what was skipped and what blocks training."""

    source: str
    n_pairs: int
    #: (class index, pixel count) for every index present, 255 (ignore) excluded.
    class_pixels: tuple[tuple[int, int], ...]
    ignore_fraction: float
    skipped: tuple[SkippedFile, ...] = ()
    warnings: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when nothing blocks training."""
        return not self.errors


@dataclass(frozen=True, eq=False)
class SegmentationDataset:
    """Image/mask pairs: RGB uint8 images and H×W uint8 class-index masks (255 = ignore), same size per pair."""

    images: tuple[np.ndarray, ...]
    masks: tuple[np.ndarray, ...]
    stems: tuple[str, ...]
    class_names: tuple[str, ...]
    report: SegmentationReport

    def __len__(self) -> int:
        return len(self.images)

    @property
    def num_classes(self) -> int:
        """Number of classes (the ignore index not counted)."""
        return len(self.class_names)

    def require_trainable(self) -> None:
        """Raise :class:`InputError` listing what blocks training, if anything does."""
        if self.report.errors:
            raise InputError("These image/mask pairs cannot be used for training yet: " + " ".join(self.report.errors))


def load_mask(data: bytes, max_pixels: int = DEFAULT_LIMITS.max_pixels) -> np.ndarray:
    """A class-index mask (palette or grayscale PNG/BMP/TIFF) as an H×W uint8 array, 255 meaning ignore.

    Masks cannot go through :func:`load_image`, which turns palette images into colours; this loader
    applies the same safety (allowed formats, pixel count checked before decoding) and keeps the indices.
    """
    if not data:
        raise InputError("The mask file is empty.")
    try:
        img = Image.open(io.BytesIO(data), formats=list(_MASK_FORMATS))
    except Image.DecompressionBombError as exc:
        raise InputError("This mask declares far too many pixels to be opened safely.") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError("This mask is not an image the app can read; save it as a PNG.") from exc
    w, h = img.size
    if w * h > max_pixels:
        raise InputError(f"This mask is {w}×{h} pixels; the limit is {max_pixels:,}.")
    try:
        img.load()
        # A mask saved with an EXIF orientation is meant upright, as its image is read (load_image applies it too).
        img = ImageOps.exif_transpose(img) or img
        if img.mode in ("P", "L") or img.mode == "1":
            arr = np.asarray(img, dtype=np.uint8)
        elif img.mode in ("I", "I;16", "I;16B", "I;16L"):
            wide = np.asarray(img, dtype=np.int64)
            if wide.min() < 0 or wide.max() > 255:
                raise InputError("This mask holds values above 255; class indices must be 0–254 (255 = ignore).")
            arr = wide.astype(np.uint8)
        elif img.mode in ("RGB", "RGBA"):
            rgb = np.asarray(img.convert("RGB"), dtype=np.uint8)
            if not (np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2])):
                raise InputError(
                    "This mask is a colour picture. Masks must hold one class number per pixel "
                    "(a palette or grayscale PNG, 255 = ignore)."
                )
            arr = rgb[..., 0].copy()
        else:
            raise InputError(f"Masks in mode {img.mode} are not supported; save it as a palette or grayscale PNG.")
    except InputError:
        raise
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InputError("This mask file is truncated or corrupt.") from exc
    return np.ascontiguousarray(arr)


def _seg_role(parts: tuple[str, ...]) -> tuple[str, str] | None:
    """('image'|'mask', stem) for a path whose first folder is an image or mask folder."""
    if len(parts) < 2:
        return None
    top = parts[0].lower()
    stem = "/".join((*parts[1:-1], PurePosixPath(parts[-1]).stem))
    if top in IMAGE_DIR_NAMES:
        return "image", stem
    if top in MASK_DIR_NAMES:
        return "mask", stem
    return None


def _read_segmentation(
    reader: SafeZip | _FolderReader,
    source: str,
    class_names: Sequence[str] | None,
    limits: DatasetLimits,
) -> SegmentationDataset:
    skipped = list(reader.skipped)
    usable: list[ArchiveFile] = []
    names_file: ArchiveFile | None = None
    for f in reader.files:
        suffix = PurePosixPath(f.path).suffix.lower()
        if PurePosixPath(f.path).name.lower() == "class_names.txt":
            names_file = f
        elif suffix in IMAGE_EXTENSIONS:
            usable.append(f)
        else:
            skipped.append(SkippedFile(f.path, SkipReason.NOT_IMAGE, "file type is not an image"))
    parts = [tuple(f.path.split("/")) for f in usable]
    depth = 0
    while parts and all(len(p) > depth + 2 for p in parts) and len({p[depth] for p in parts}) == 1:
        depth += 1
    images: dict[str, ArchiveFile] = {}
    masks: dict[str, ArchiveFile] = {}
    for f, p in zip(usable, parts, strict=True):
        role = _seg_role(p[depth:])
        if role is None:
            skipped.append(SkippedFile(f.path, SkipReason.OUTSIDE_PAIRS))
            continue
        kind, stem = role
        table = images if kind == "image" else masks
        if stem in table:
            skipped.append(SkippedFile(f.path, SkipReason.BAD_ENTRY, f"a second file for {stem}"))
            continue
        table[stem] = f
    if len(images) > limits.max_images:
        raise InputError(f"The zip has {len(images):,} images; the limit is {limits.max_images:,}.")
    if class_names is None and names_file is not None:
        raw = reader.read(names_file)
        if isinstance(raw, bytes):
            lines = [ln.strip() for ln in raw.decode("utf-8", errors="replace").splitlines()]
            lines = [ln for ln in lines if ln and not ln.startswith("_")]  # labelme's "_background_"
            if lines and raw.decode("utf-8", errors="replace").lstrip().startswith("_background_"):
                lines = ["background", *lines]
            class_names = lines or None
    for stem in sorted(set(images) - set(masks)):
        skipped.append(SkippedFile(images[stem].path, SkipReason.NO_MASK))
    for stem in sorted(set(masks) - set(images)):
        skipped.append(SkippedFile(masks[stem].path, SkipReason.NO_IMAGE))
    out_images: list[np.ndarray] = []
    out_masks: list[np.ndarray] = []
    stems: list[str] = []
    for stem in sorted(set(images) & set(masks)):
        img_bytes = reader.read(images[stem])
        mask_bytes = reader.read(masks[stem])
        if isinstance(img_bytes, SkippedFile) or isinstance(mask_bytes, SkippedFile):
            skipped.extend(x for x in (img_bytes, mask_bytes) if isinstance(x, SkippedFile))
            continue
        try:
            mask = load_mask(mask_bytes, limits.max_pixels)
        except InputError as exc:
            skipped.append(SkippedFile(masks[stem].path, SkipReason.BAD_MASK, str(exc)))
            continue
        try:
            img = load_image(img_bytes, max_pixels=limits.max_pixels, min_side=MIN_SIDE)
        except InputError as exc:
            skipped.append(SkippedFile(images[stem].path, _classify_load_error(str(exc)), str(exc)))
            continue
        if img.size != (mask.shape[1], mask.shape[0]):
            skipped.append(
                SkippedFile(
                    masks[stem].path,
                    SkipReason.SIZE_MISMATCH,
                    f"image {img.width}×{img.height}, mask {mask.shape[1]}×{mask.shape[0]}",
                )
            )
            continue
        if max(img.size) > limits.max_side:
            scale = limits.max_side / max(img.size)
            size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
            img = img.resize(size, Image.Resampling.LANCZOS)
            mask = np.asarray(Image.fromarray(mask).resize(size, Image.Resampling.NEAREST), dtype=np.uint8)
        arr = np.asarray(img, dtype=np.uint8).copy()
        arr.flags.writeable = False
        mask = mask.copy()
        mask.flags.writeable = False
        out_images.append(arr)
        out_masks.append(mask)
        stems.append(stem)
    counts: Counter[int] = Counter()
    total = 0
    for m in out_masks:
        values, n = np.unique(m, return_counts=True)
        counts.update(dict(zip(values.tolist(), n.tolist(), strict=True)))
        total += m.size
    ignore = counts.pop(IGNORE_INDEX, 0)
    present = sorted(counts)
    warnings: list[str] = []
    errors: list[str] = []
    if class_names is None:
        n_classes = (max(present) + 1) if present else 0
        class_names = [f"class {i}" for i in range(n_classes)]
    else:
        class_names = list(class_names)
        too_high = [v for v in present if v >= len(class_names)]
        if too_high:
            errors.append(
                f"The masks use class numbers up to {max(too_high)} but only {len(class_names)} class names are given."
            )
    if not out_images:
        errors.append(
            "No image/mask pair could be used. Put images in images/ and masks with the same names in masks/."
        )
    elif len(present) < 2:
        errors.append("The masks hold fewer than 2 classes; segmentation needs at least background and one object.")
    if len(class_names) > limits.max_classes:
        errors.append(f"The masks use {len(class_names)} classes; the limit is {limits.max_classes}.")
    if skipped:
        warnings.append(f"{len(skipped)} file(s) were skipped; the table lists each one with its reason.")
    if total and ignore / total > 0.5:
        warnings.append(f"{ignore / total:.0%} of the mask pixels are 255 (ignored), so little is left to learn from.")
    report = SegmentationReport(
        source=source,
        n_pairs=len(out_images),
        class_pixels=tuple((v, counts[v]) for v in present),
        ignore_fraction=ignore / total if total else 0.0,
        skipped=tuple(skipped),
        warnings=tuple(warnings),
        errors=tuple(errors),
    )
    return SegmentationDataset(tuple(out_images), tuple(out_masks), tuple(stems), tuple(class_names), report)


def read_segmentation_zip(
    data: bytes,
    name: str = "upload.zip",
    class_names: Sequence[str] | None = None,
    limits: DatasetLimits = DEFAULT_LIMITS,
) -> SegmentationDataset:
    """Image/mask pairs from a ``.zip`` with ``images/`` and ``masks/`` (matching file stems), read safely.

    Masks are palette or grayscale PNGs of class numbers (255 = ignore). Class names come from
    ``class_names``, a ``class_names.txt`` in the zip, or default to "class 0", "class 1", ...
    """
    reader = SafeZip(data, limits)
    try:
        return _read_segmentation(reader, f"zip file {_q(name)}", class_names, limits)
    finally:
        reader.close()


def read_segmentation_folder(
    path: str | Path, class_names: Sequence[str] | None = None, limits: DatasetLimits = DEFAULT_LIMITS
) -> SegmentationDataset:
    """The same as :func:`read_segmentation_zip` for a folder on the server."""
    root = Path(path)
    return _read_segmentation(_FolderReader(root, limits), f"folder {_q(str(root))}", class_names, limits)


def load_segmentation(
    path: str | Path, class_names: Sequence[str] | None = None, limits: DatasetLimits = DEFAULT_LIMITS
) -> SegmentationDataset:
    """Image/mask pairs from a ``.zip`` file or a folder given by its path."""
    p = Path(path)
    if p.is_dir():
        return read_segmentation_folder(p, class_names, limits)
    if not p.is_file():
        raise InputError(f"{p} does not exist.")
    if p.stat().st_size > limits.max_zip_bytes:
        raise InputError(f"{p.name} is larger than the {limits.max_zip_bytes // MB} MB limit.")
    return read_segmentation_zip(p.read_bytes(), p.name, class_names, limits)


def shared_data_dir() -> Path:
    """The shared data folder: ``$CNN_DEMO_SHARED_DATA``, else ``../shared/data`` beside the repository."""
    env = os.environ.get("CNN_DEMO_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def load_voc_sample(limits: DatasetLimits = DEFAULT_LIMITS) -> SegmentationDataset:
    """The 14 PASCAL VOC image/mask pairs of ``seg_sample/voc_vainf`` (21 VOC classes, 255 = void border)."""
    root = shared_data_dir() / "seg_sample" / "voc_vainf"
    if not (root / "images").is_dir() or not (root / "masks").is_dir():
        raise InputError(f"The VOC sample is missing: {root} should hold images/ and masks/.")
    reader = _FolderReader(root, limits)
    # Only images/ and masks/ are read; targets_color/ holds the same masks drawn in colour.
    reader.files = tuple(f for f in reader.files if f.path.split("/")[0] in ("images", "masks"))
    return _read_segmentation(reader, "PASCAL VOC sample (seg_sample/voc_vainf)", VOC_CLASSES, limits)


def dataset_to_zip(dataset: Dataset, split: Split | None = None) -> bytes:
    """The dataset as an ImageFolder ``.zip`` of PNGs (``train/`` and ``val/`` when split), readable by
    :func:`read_zip_dataset` with the same images: how a page hands a dataset to a job worker without pickle."""
    from cnn_demo.images import to_png_bytes

    part = ["" for _ in range(len(dataset))]
    if split is None and dataset.given_split is not None:
        split = split_dataset(dataset)
    if split is not None:
        for i in split.train:
            part[int(i)] = "train/"
        for i in split.val:
            part[int(i)] = "val/"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for i, (img, label, path) in enumerate(zip(dataset.images, dataset.labels, dataset.paths, strict=True)):
            stem = PurePosixPath(path).stem.lstrip(".") or "image"
            zf.writestr(f"{part[i]}{dataset.class_names[int(label)]}/{i:05d}_{stem}.png", to_png_bytes(img))
    return buf.getvalue()


def example_zip(per_class: int = 12) -> bytes:
    """A small zip in ImageFolder layout (texture patches, train/ and val/ folders) for students to copy."""
    from cnn_demo.images import to_png_bytes

    ds = texture_patches()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for label, cls in enumerate(ds.class_names):
            idx = ds.indices_of(label)[:per_class]
            n_val = max(1, len(idx) // 4)
            for j, i in enumerate(idx):
                split = "val" if j < n_val else "train"
                zf.writestr(
                    f"textures/{split}/{cls}/{PurePosixPath(ds.paths[i]).name}", to_png_bytes(ds.images[i][..., 0])
                )
    return buf.getvalue()
