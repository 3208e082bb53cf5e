"""Paired segmentation data (images/ + masks/) for the U-Net: class-index masks read safely, pairs matched by name."""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image, ImageOps

from cnn_demo.data.datasets.checks import quote
from cnn_demo.data.datasets.readers import IMAGE_EXTENSIONS, FolderReader, ZipReader, load_error_reason
from cnn_demo.data.datasets.types import DEFAULT_LIMITS, MIN_DATASET_IMAGE_SIDE, DatasetLimits, SkippedFile, SkipReason
from cnn_demo.data.samples import voc_pairs_dir
from cnn_demo.data.voc import VOC_CLASSES
from cnn_demo.errors import InputError
from cnn_demo.io.archive import (
    MB,
    ArchiveFile,
)
from cnn_demo.io.images import load_image

IGNORE_INDEX = 255
IMAGE_DIR_NAMES = frozenset({"images", "imgs", "jpegimages"})
MASK_DIR_NAMES = frozenset({"masks", "labels", "segmentationclass", "annotations"})
_MASK_FORMATS = ("PNG", "BMP", "TIFF", "GIF")


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
        img: Image.Image = Image.open(io.BytesIO(data), formats=list(_MASK_FORMATS))
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


def _size_detail(img: Image.Image, mask: np.ndarray, img_bytes: bytes) -> str:
    """Why an image and its mask differ in size; names the EXIF orientation tag when that is the reason (a phone
    photo stored sideways with a tag that turns it upright, and a mask drawn on the stored pixels)."""
    detail = f"image {img.width}×{img.height}, mask {mask.shape[1]}×{mask.shape[0]}"
    try:
        orientation = Image.open(io.BytesIO(img_bytes)).getexif().get(0x0112)
    except Exception:  # unreadable metadata: the sizes say enough
        return detail
    if orientation in (5, 6, 7, 8) and (mask.shape[1], mask.shape[0]) == (img.height, img.width):
        detail += (
            f": the image's EXIF orientation tag turns it upright to {img.width}×{img.height}, and the mask matches "
            "its stored, unturned pixels. Turn the mask the same way, or save the image without the tag"
        )
    return detail


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
    reader: ZipReader | FolderReader,
    source: str,
    class_names: Sequence[str] | None,
    limits: DatasetLimits,
) -> SegmentationDataset:
    """Pair the images and masks of ``reader`` by name, decode each pair checked, and report what was used."""
    skipped = list(reader.skipped)
    images, masks, names_file = _find_pairs(reader.files, skipped)
    if len(images) > limits.max_images:
        raise InputError(f"The zip has {len(images):,} images; the limit is {limits.max_images:,}.")
    if class_names is None and names_file is not None:
        class_names = _read_class_names(reader, names_file)
    for stem in sorted(set(images) - set(masks)):
        skipped.append(SkippedFile(images[stem].path, SkipReason.NO_MASK))
    for stem in sorted(set(masks) - set(images)):
        skipped.append(SkippedFile(masks[stem].path, SkipReason.NO_IMAGE))
    out_images: list[np.ndarray] = []
    out_masks: list[np.ndarray] = []
    stems: list[str] = []
    for stem in sorted(set(images) & set(masks)):
        pair = _decode_pair(reader, images[stem], masks[stem], limits, skipped)
        if pair is not None:
            out_images.append(pair[0])
            out_masks.append(pair[1])
            stems.append(stem)
    class_names, report = _segmentation_report(source, out_masks, class_names, limits, skipped)
    return SegmentationDataset(tuple(out_images), tuple(out_masks), tuple(stems), tuple(class_names), report)


def _find_pairs(
    files: Sequence[ArchiveFile], skipped: list[SkippedFile]
) -> tuple[dict[str, ArchiveFile], dict[str, ArchiveFile], ArchiveFile | None]:
    """The image and the mask files by stem (below a wrapping folder, if any), and a ``class_names.txt``; files
    that are neither go to ``skipped``."""
    usable: list[ArchiveFile] = []
    names_file: ArchiveFile | None = None
    for f in files:
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
    return images, masks, names_file


def _read_class_names(reader: ZipReader | FolderReader, names_file: ArchiveFile) -> list[str] | None:
    """The class names of a ``class_names.txt`` (one a line; labelme's ``_background_`` read as "background")."""
    raw = reader.read(names_file)
    if not isinstance(raw, bytes):
        return None
    lines = [ln.strip() for ln in raw.decode("utf-8", errors="replace").splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("_")]  # labelme's "_background_"
    if lines and raw.decode("utf-8", errors="replace").lstrip().startswith("_background_"):
        lines = ["background", *lines]
    return lines or None


def _decode_pair(
    reader: ZipReader | FolderReader,
    image_file: ArchiveFile,
    mask_file: ArchiveFile,
    limits: DatasetLimits,
    skipped: list[SkippedFile],
) -> tuple[np.ndarray, np.ndarray] | None:
    """One pair as a read-only RGB image and class-index mask of the same size (downscaled together to the limit),
    or ``None`` with the reason in ``skipped``."""
    img_bytes = reader.read(image_file)
    mask_bytes = reader.read(mask_file)
    if isinstance(img_bytes, SkippedFile) or isinstance(mask_bytes, SkippedFile):
        skipped.extend(x for x in (img_bytes, mask_bytes) if isinstance(x, SkippedFile))
        return None
    try:
        mask = load_mask(mask_bytes, limits.max_pixels)
    except InputError as exc:
        skipped.append(SkippedFile(mask_file.path, SkipReason.BAD_MASK, str(exc)))
        return None
    try:
        img = load_image(img_bytes, max_pixels=limits.max_pixels, min_side=MIN_DATASET_IMAGE_SIDE)
    except InputError as exc:
        skipped.append(SkippedFile(image_file.path, load_error_reason(str(exc)), str(exc)))
        return None
    if img.size != (mask.shape[1], mask.shape[0]):
        skipped.append(SkippedFile(mask_file.path, SkipReason.SIZE_MISMATCH, _size_detail(img, mask, img_bytes)))
        return None
    if max(img.size) > limits.max_side:
        scale = limits.max_side / max(img.size)
        size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
        img = img.resize(size, Image.Resampling.LANCZOS)
        mask = np.asarray(Image.fromarray(mask).resize(size, Image.Resampling.NEAREST), dtype=np.uint8)
    arr = np.asarray(img, dtype=np.uint8).copy()
    arr.flags.writeable = False
    mask = mask.copy()
    mask.flags.writeable = False
    return arr, mask


def _segmentation_report(
    source: str,
    masks: Sequence[np.ndarray],
    class_names: Sequence[str] | None,
    limits: DatasetLimits,
    skipped: Sequence[SkippedFile],
) -> tuple[list[str], SegmentationReport]:
    """The class names (numbered when none are given) and the report: pixels per class, what blocks training."""
    counts: Counter[int] = Counter()
    total = 0
    for m in masks:
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
    if not masks:
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
        n_pairs=len(masks),
        class_pixels=tuple((v, counts[v]) for v in present),
        ignore_fraction=ignore / total if total else 0.0,
        skipped=tuple(skipped),
        warnings=tuple(warnings),
        errors=tuple(errors),
    )
    return list(class_names), report


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
    reader = ZipReader(data, limits)
    try:
        return _read_segmentation(reader, f"zip file {quote(name)}", class_names, limits)
    finally:
        reader.close()


def read_segmentation_folder(
    path: str | Path, class_names: Sequence[str] | None = None, limits: DatasetLimits = DEFAULT_LIMITS
) -> SegmentationDataset:
    """The same as :func:`read_segmentation_zip` for a folder on the server."""
    root = Path(path)
    return _read_segmentation(FolderReader(root, limits), f"folder {quote(str(root))}", class_names, limits)


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


def load_voc_sample(limits: DatasetLimits = DEFAULT_LIMITS) -> SegmentationDataset:
    """The 14 PASCAL VOC image/mask pairs that ship with the app (21 VOC classes, 255 = void border)."""
    root = voc_pairs_dir()
    reader = FolderReader(root, limits)
    return _read_segmentation(reader, "PASCAL VOC sample", VOC_CLASSES, limits)
