"""Decoded datasets on disk, shared by every session that uploads the same content, and their clean-up."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from cnn_demo.data.datasets.readers import decode_image
from cnn_demo.data.datasets.types import (
    DEFAULT_LIMITS,
    ClassCount,
    Dataset,
    DatasetLimits,
    DatasetReport,
    DuplicateGroup,
    SkippedFile,
    SkipReason,
)
from cnn_demo.errors import InputError
from cnn_demo.jobs.storage import HOST_TAG, abandoned_temporary

#: Files of a stored dataset: the decoded pixels, the uploaded files as they came, their index, the rest.
_PIXELS, _ORIGINALS, _INDEX, _META = "pixels.bin", "originals.bin", "index.npy", "meta.json"

NO_ROOM = (
    "The server has no room to prepare this dataset right now (its disk is full). Nothing of it was kept; try again "
    "later, and tell your teacher if it keeps happening."
)


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
def store_lock(store: Path, key: str) -> Iterator[None]:
    """Hold ``key``'s lock in ``store`` (across threads and processes): whoever comes second waits for the first
    decode of the same content and then opens its result instead of decoding it again."""
    import fcntl

    try:
        store.mkdir(parents=True, exist_ok=True)
        fd = os.open(store / f".lock-{key}", os.O_CREAT | os.O_RDWR, 0o600)
    except OSError as exc:
        raise InputError(NO_ROOM) from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def store_key(*parts: bytes) -> str:
    """The folder name of a stored dataset: a digest of ``parts`` (each length-prefixed, so no two lists collide)."""
    h = hashlib.sha256()
    for part in parts:
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return h.hexdigest()[:40]


class StoreWriter:
    """Writes one dataset into ``<store>/<key>`` through a private temporary folder renamed into place at the end,
    so a half-written dataset is never seen and two sessions decoding the same zip at once do not collide."""

    def __init__(self, store: Path, key: str, limits: DatasetLimits) -> None:
        self.store, self.key, self.limits = store, key, limits
        # Named by machine and process, so a folder whose process died (a server restart mid-decode) is recognised.
        self.tmp = store / f".tmp-{key}-{HOST_TAG}-{os.getpid()}-{secrets.token_hex(4)}"
        self._rows: list[tuple[int, int, int, int, int]] = []
        self._pix_at = self._orig_at = 0
        self._files: list = []

    def __enter__(self) -> StoreWriter:
        try:
            self.tmp.mkdir(parents=True)
            self._pixels = open(self.tmp / _PIXELS, "wb")
            self._originals = open(self.tmp / _ORIGINALS, "wb")
        except OSError as exc:
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise InputError(NO_ROOM) from exc
        self._files = [self._pixels, self._originals]
        return self

    def add(self, arr: np.ndarray, original: bytes) -> None:
        """Append one decoded image and its file as uploaded (its pixels too where they are the smaller form)."""
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
        """The images written so far, read back from the temporary folder (writing ends)."""
        for f in self._files:
            f.close()
        index = np.asarray(self._rows, dtype=np.int64).reshape(-1, 5)
        np.save(self.tmp / _INDEX, index, allow_pickle=False)
        return DiskImages(self.tmp, index, self.limits)

    def finish(self, dataset: Dataset) -> Dataset:
        """Store ``dataset``'s description beside its images, move the folder into place and open it from there."""
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

    def __exit__(self, exc_type, exc, tb) -> None:
        for f in self._files:
            with contextlib.suppress(OSError):  # closing flushes: on a full disk that fails too
                f.close()
        shutil.rmtree(self.tmp, ignore_errors=True)
        if isinstance(exc, OSError):  # a full disk (or a store gone read-only): a message, nothing left behind
            raise InputError(NO_ROOM) from exc


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
    """Delete stored datasets not opened for ``max_age_s`` seconds, and temporary folders of decodes that were cut
    off (:func:`abandoned_temporary`)."""
    removed = []
    limit = time.time() - max_age_s
    root = Path(store)
    for folder in root.iterdir() if root.is_dir() else ():
        try:
            if abandoned_temporary(folder):
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder.name)
                continue
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
