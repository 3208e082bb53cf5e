"""ImageFolder datasets: each file's class from its folders (``class/``, ``wrapper/class/``, ``train/`` and ``val/``),
decoded into a :class:`Dataset` with its report; from a zip, a folder or classes built in the page.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from cnn_demo.data.datasets.checks import dataset_problems, quote, validate_class_name
from cnn_demo.data.datasets.readers import (
    IMAGE_EXTENSIONS,
    TEST_NAMES,
    TRAIN_NAMES,
    VAL_NAMES,
    FolderReader,
    ZipReader,
    check_path,
    decode_image,
)
from cnn_demo.data.datasets.store import StoreWriter, open_stored_dataset, store_key, store_lock
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
from cnn_demo.io.archive import (
    MB,
    ArchiveFile,
    ByteBudget,
)

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
    reader: ZipReader | FolderReader,
    name: str,
    source: str,
    limits: DatasetLimits,
    sink: StoreWriter | None = None,
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
        [(c.cls, c.split, c.file.path, functools.partial(reader.read, c.file)) for c in candidates],
        class_order,
        name=name,
        source=source,
        layout=layout,
        limits=limits,
        skipped=skipped,
        split_mode=split_mode,
        sink=sink,
    )


#: One file to decode: its class, its given split (``None``: none given), its path and how to read its bytes.
_Item = tuple[str, str | None, str, Callable[[], bytes | SkippedFile]]


@dataclass
class _Decoded:
    """The images kept by :func:`_decode_items`, in order, and every file's content digest (duplicates found)."""

    images: list[np.ndarray] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    splits: list[str] = field(default_factory=list)
    by_hash: defaultdict[str, list[tuple[str, str]]] = field(default_factory=lambda: defaultdict(list))


def _decode_all(
    items: Sequence[_Item],
    class_order: Sequence[str],
    *,
    name: str,
    source: str,
    layout: str,
    limits: DatasetLimits,
    skipped: list[SkippedFile],
    split_mode: bool,
    sink: StoreWriter | None = None,
) -> Dataset:
    """Decode ``items`` (each file once: later copies of the same content are duplicates) into a dataset checked
    and reported; with ``sink`` the pixels go to disk as they are decoded."""
    got = _decode_items(items, {c: i for i, c in enumerate(class_order)}, limits, skipped, sink)
    duplicates = _duplicate_groups(got.by_hash)
    label_arr = np.asarray(got.labels, dtype=np.int64)
    label_arr.flags.writeable = False
    counts = _class_counts(label_arr, got.splits, class_order)
    warnings, errors = dataset_problems(counts, duplicates, skipped, limits, split_mode)
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
        images=tuple(got.images) if sink is None else sink.images(),
        labels=label_arr,
        paths=tuple(got.paths),
        report=report,
        given_split=tuple(got.splits) if split_mode else None,
    )
    return dataset if sink is None else sink.finish(dataset)


def _decode_items(
    items: Sequence[_Item],
    index: dict[str, int],
    limits: DatasetLimits,
    skipped: list[SkippedFile],
    sink: StoreWriter | None,
) -> _Decoded:
    """Read and decode each item in order, appending what cannot be used to ``skipped``; a file whose content came
    before is not decoded again, only counted in ``by_hash``."""
    got = _Decoded()
    for cls, split, path, read in items:
        data = read()
        if isinstance(data, SkippedFile):
            skipped.append(data)
            continue
        digest = hashlib.sha256(data).hexdigest()
        got.by_hash[digest].append((path, cls))
        if len(got.by_hash[digest]) > 1:
            continue
        arr = decode_image(path, data, limits)
        if isinstance(arr, SkippedFile):
            skipped.append(arr)
            got.by_hash.pop(digest)
            continue
        if sink is not None:
            sink.add(arr, data)  # straight to disk: no session holds the decoded pixels
        else:
            got.images.append(arr)
        del data, arr
        got.labels.append(index[cls])
        got.paths.append(path)
        got.splits.append(split or "train")
    return got


def _duplicate_groups(by_hash: dict[str, list[tuple[str, str]]]) -> tuple[DuplicateGroup, ...]:
    """Files of the same content: the first kept, the others dropped, and the classes they were in."""
    return tuple(
        DuplicateGroup(
            digest,
            group[0][0],
            tuple(p for p, _ in group[1:]),
            tuple(dict.fromkeys(c for _, c in group)),
        )
        for digest, group in by_hash.items()
        if len(group) > 1
    )


def _class_counts(labels: np.ndarray, splits: Sequence[str], class_order: Sequence[str]) -> list[ClassCount]:
    """Images per class, in training and in validation."""
    counts = []
    for i, cls in enumerate(class_order):
        mask = labels == i
        n_val = sum(1 for m, s in zip(mask, splits, strict=True) if m and s == "val")
        counts.append(ClassCount(cls, int(mask.sum()) - n_val, n_val))
    return counts


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
        reader = ZipReader(data, limits)
        try:
            return _assemble(reader, name, f"zip file {quote(name)}", limits)
        finally:
            reader.close()
    key = store_key(b"zip", name.encode(), repr(limits).encode(), data)
    with store_lock(Path(store), key):  # a class uploading the same zip at once decodes it once
        found = open_stored_dataset(Path(store) / key)
        if found is not None:
            return found
        reader = ZipReader(data, limits)
        try:
            with StoreWriter(Path(store), key, limits) as sink:
                return _assemble(reader, name, f"zip file {quote(name)}", limits, sink)
        finally:
            reader.close()


def read_folder_dataset(path: str | Path, limits: DatasetLimits = DEFAULT_LIMITS) -> Dataset:
    """The same as :func:`read_zip_dataset` for a folder on the server (command line, benchmarks)."""
    root = Path(path)
    return _assemble(FolderReader(root, limits), root.name, f"folder {quote(str(root))}", limits)


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


def _given(data: bytes) -> Callable[[], bytes]:
    """A reader of bytes already in memory (files built in the page)."""
    return lambda: data


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
    names = _built_class_names([cls for cls, _ in classes], limits)
    n_files = sum(len(files) for _, files in classes)
    if n_files > limits.max_images:
        raise InputError(f"{n_files:,} images were added; the limit is {limits.max_images:,}.")
    skipped: list[SkippedFile] = []
    items, kept = _built_items(names, [files for _, files in classes], limits, skipped)
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
    for (cls, _, path, _), data in zip(items, kept, strict=True):
        parts += [cls.encode(), path.encode(), hashlib.sha256(data).digest()]
    key = store_key(*parts)
    with store_lock(Path(store), key):
        found = open_stored_dataset(Path(store) / key)
        if found is not None:
            return found
        with StoreWriter(Path(store), key, limits) as sink:
            return decode(sink=sink)


def _built_class_names(classes: Sequence[str], limits: DatasetLimits) -> list[str]:
    """The class names typed in the page, validated, trimmed and unique ignoring case."""
    names: list[str] = []
    seen: dict[str, str] = {}
    for cls in classes:
        clean = validate_class_name(cls, limits)
        if clean.casefold() in seen:
            raise InputError(f"Two classes are called {quote(clean)}; class names must differ.")
        seen[clean.casefold()] = clean
        names.append(clean)
    if len(names) > limits.max_classes:
        raise InputError(f"At most {limits.max_classes} classes are allowed.")
    return names


def _built_items(
    names: Sequence[str],
    files: Sequence[Sequence[tuple[str, bytes]]],
    limits: DatasetLimits,
    skipped: list[SkippedFile],
) -> tuple[list[_Item], list[bytes]]:
    """The files added to each class as items to decode, and their bytes (for the store key); hidden files and files
    over the size limit go to ``skipped``, and the bytes kept count against the dataset's budget."""
    budget = ByteBudget(limits.max_uncompressed_bytes, "The dataset")
    items: list[_Item] = []
    kept: list[bytes] = []
    for clean, class_files in zip(names, files, strict=True):
        for filename, data in class_files:
            path = f"{clean}/{filename}"
            _, reason = check_path(PurePosixPath(str(filename).replace("\\", "/")).name)
            if reason in (SkipReason.HIDDEN, SkipReason.MACOS):
                skipped.append(SkippedFile(path, reason))
                continue
            if len(data) > limits.max_file_bytes:
                skipped.append(SkippedFile(path, SkipReason.TOO_LARGE, f"over {limits.max_file_bytes // MB} MB"))
                continue
            budget.take(len(data))
            items.append((clean, None, path, _given(data)))
            kept.append(data)
    return items, kept
