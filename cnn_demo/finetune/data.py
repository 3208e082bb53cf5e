"""Training images for fine-tuning: ImageData, packing a dataset for a job and unpacking it compactly."""

from __future__ import annotations

import hashlib
import io
import json
import math
import struct
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from cnn_demo.data import datasets
from cnn_demo.data.datasets import Dataset, Split
from cnn_demo.errors import InputError
from cnn_demo.finetune.config import MAX_KEEP_FACTOR, TrainConfig
from cnn_demo.io.images import load_image, to_png_bytes
from cnn_demo.models.data import resize_side

THUMB = 96


class PackedImages(Sequence[Image.Image]):
    """The images of a packed dataset (:func:`unpack_data`), each held in whichever form is smaller.

    An image is kept as its pixels when they are small (downscaled for a 32 px backbone), otherwise as its stored
    PNG inside the packed zip (a reference into the zip's bytes, or an offset into the zip file on disk), decoded
    again on access exactly as :func:`unpack_data` first did. 5,000 images of 256×256 for a 224 px backbone thus cost
    almost nothing, not 1 GB of pixels. Indexing gives a PIL image, slicing a list of them. ``digest`` identifies
    the images by their stored files and how they are decoded (:meth:`ImageData.content_key`), without decoding.
    """

    def __init__(
        self,
        items: list[Image.Image | tuple[int, int]],
        source: bytes | memoryview | Path | None,
        sides: tuple[int, ...] = (),
        load_side: int | None = None,
        digest: str | None = None,
    ) -> None:
        self._items = items
        self._source = memoryview(source) if isinstance(source, bytes) else source
        self._sides = sides
        self._load_side = load_side
        self.digest = digest

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index: int | slice) -> Any:  # an Image for an index, a list of them for a slice
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self._items)))]
        item = self._items[index]
        if isinstance(item, Image.Image):
            return item
        offset, size = item
        if isinstance(self._source, Path):
            with self._source.open("rb") as f:
                f.seek(offset)
                raw = f.read(size)
        else:
            assert self._source is not None  # encoded items always come with their source
            raw = bytes(self._source[offset : offset + size])
        return _decode_fitted(raw, self._sides, self._load_side)

    @property
    def encoded(self) -> int:
        """How many images are held encoded (decoded on access)."""
        return sum(not isinstance(item, Image.Image) for item in self._items)

    def shrunk(self, side: int) -> PackedImages:
        """The same images with shorter sides above ``side`` downscaled (as ``_shrink``), still held compactly."""
        items = [_shrink([it], side)[0] if isinstance(it, Image.Image) else it for it in self._items]
        digest = hashlib.sha256(f"{self.digest}|shrunk {side}".encode()).hexdigest() if self.digest else None
        return PackedImages(items, self._source, (*self._sides, side), self._load_side, digest)


def _decode_fitted(raw: bytes, sides: Sequence[int], load_side: int | None = None) -> Image.Image:
    image = load_image(raw, max_side=load_side)
    for side in sides:
        image = _fit(image, side)
    return image


@dataclass
class ImageData:
    """Training and validation images (RGB PIL) with integer labels and class names.

    The image sequences are lists, or :class:`PackedImages` (from :func:`unpack_data`) that decode on access.
    """

    class_names: list[str]
    train_images: Sequence[Image.Image]
    train_labels: list[int]
    val_images: Sequence[Image.Image]
    val_labels: list[int]
    test_images: Sequence[Image.Image] = ()
    test_labels: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        k = len(self.class_names)
        if k < 2:
            raise InputError("Fine-tuning needs at least two classes.")
        if (
            len(self.train_images) != len(self.train_labels)
            or len(self.val_images) != len(self.val_labels)
            or len(self.test_images) != len(self.test_labels)
        ):
            raise InputError("Every image needs exactly one label.")
        if not self.train_images or not self.val_images:
            raise InputError("Both the training and the validation split need images.")
        labels = list(self.train_labels) + list(self.val_labels) + list(self.test_labels)
        if min(labels) < 0 or max(labels) >= k:
            raise InputError("A label does not match any class.")

    def content_key(self) -> str:
        """A digest of the images alone, split by split: what their features depend on (labels and class names do
        not). Packed images (:func:`unpack_data`) give their files' digests, so nothing is decoded; others their
        pixels."""
        h = hashlib.sha256(b"cnn-demo-images/1")
        for imgs in (self.train_images, self.val_images, self.test_images):
            h.update(f"|{len(imgs)}:".encode())
            digest = imgs.digest if isinstance(imgs, PackedImages) else None
            if digest:
                h.update(digest.encode())
                continue
            for im in imgs:
                h.update(f"{im.mode}{im.size};".encode())
                h.update(im.tobytes())
        return h.hexdigest()

    def fingerprint(self) -> str:
        """A hash of the pixels and labels."""
        h = hashlib.sha256(json.dumps(self.class_names).encode())
        parts = [(self.train_images, self.train_labels), (self.val_images, self.val_labels)]
        if self.test_labels:
            parts.append((self.test_images, self.test_labels))
        for imgs, labels in parts:
            h.update(np.asarray(labels, dtype=np.int64).tobytes())
            for im in imgs:
                h.update(str(im.size).encode())
                h.update(im.tobytes())
        return h.hexdigest()


def from_dataset(
    ds: Dataset, val_fraction: float = 0.2, seed: int = 0, use_given: bool = True, split: Split | None = None
) -> ImageData:
    """A validated :class:`~cnn_demo.data.datasets.Dataset`, split into ImageData."""
    ds.require_trainable()
    if split is None:
        split = datasets.split_dataset(ds, val_fraction=val_fraction, seed=seed, use_given=use_given)
    images = [as_image(a) for a in ds.images]
    labels = [int(y) for y in ds.labels]
    return ImageData(
        list(ds.class_names),
        [images[i] for i in split.train],
        [labels[i] for i in split.train],
        [images[i] for i in split.val],
        [labels[i] for i in split.val],
        [images[i] for i in split.test],
        [labels[i] for i in split.test],
    )


def as_image(array: np.ndarray) -> Image.Image:
    """An RGB uint8 array (as held by ``cnn_demo.data.datasets.Dataset``) as a PIL image."""
    return Image.fromarray(np.asarray(array, dtype=np.uint8)).convert("RGB")


def read_data(path: str | Path, val_fraction: float = 0.2, seed: int = 0, test_fraction: float = 0.0) -> ImageData:
    """An ImageFolder folder or ``.zip`` on this machine (read safely by ``cnn_demo.data.datasets``) as ImageData,
    with ``test_fraction`` of each class held out as a test split (see ``datasets.split_dataset``)."""
    ds = datasets.load_dataset(path)
    split = datasets.split_dataset(ds, val_fraction=val_fraction, seed=seed, test_fraction=test_fraction)
    return from_dataset(ds, split=split)


def pack_dataset(
    ds: Dataset,
    split: Split,
    max_side: int = 320,
    on_progress: Callable[[int, int], None] | None = None,
) -> bytes:
    """Like :func:`pack_data` straight from a ``cnn_demo.data.datasets`` Dataset and split, without copying its images.

    ``on_progress(done, total)`` is called as images are packed (the page shows it while the job is handed over).
    A stored dataset (:class:`cnn_demo.data.datasets.DiskImages`: what a page uploads) is packed with its files as they
    were uploaded, not re-encoded: 8 MB of JPEGs stay 8 MB in the job's folder instead of 60 MB of PNGs. The job
    decodes them exactly as the page did (same loader, same size limit), so it trains on the same pixels. Only a
    file larger than its decoded pixels (a big photo the dataset shrank) is packed as the PNG of those pixels.
    """
    ds.require_trainable()
    if isinstance(ds.images, datasets.DiskImages):
        return _pack_originals(ds, split, on_progress)
    parts = {
        name: ((ds.images[int(i)] for i in idx), [int(ds.labels[int(i)]) for i in idx])
        for name, idx in (("train", split.train), ("val", split.val), ("test", split.test))
    }
    if not parts["train"][1] or not parts["val"][1]:
        raise InputError("Both the training and the validation split need images.")
    return _pack(list(ds.class_names), parts, max_side, on_progress)


def pack_data(data: ImageData, max_side: int = 320) -> bytes:
    """Serialise :class:`ImageData` as a zip (``manifest.json`` + PNGs) to hand it to a job."""
    parts = {
        "train": (iter(data.train_images), data.train_labels),
        "val": (iter(data.val_images), data.val_labels),
        "test": (iter(data.test_images), data.test_labels),
    }
    return _pack(data.class_names, parts, max_side)


def _pack(
    class_names: list[str],
    parts: dict[str, tuple],
    max_side: int,
    on_progress: Callable[[int, int], None] | None = None,
) -> bytes:
    buf = io.BytesIO()
    manifest: dict[str, Any] = {"class_names": class_names, "train": [], "val": [], "test": []}
    total, done = sum(len(labels) for _, labels in parts.values()), 0
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for split, (imgs, labels) in parts.items():
            for i, (im, y) in enumerate(zip(imgs, labels, strict=True)):
                im = as_image(im) if isinstance(im, np.ndarray) else im.convert("RGB")
                if max(im.size) > max_side:
                    im = im.copy()
                    im.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
                name = f"{split}/{i:05d}.png"
                b = io.BytesIO()
                im.save(b, format="PNG", compress_level=1)
                zf.writestr(name, b.getvalue())
                manifest[split].append([name, int(y)])
                done += 1
                if on_progress is not None and (done % 16 == 0 or done == total):
                    on_progress(done, total)
        zf.writestr("manifest.json", json.dumps(manifest))
    return buf.getvalue()


#: Formats whose files are packed as uploaded; others (BMP, TIFF: often uncompressed) are packed as PNG.
_COMPRESSED = ((b"\xff\xd8", ".jpg"), (b"\x89PNG", ".png"), (b"GIF8", ".gif"), (b"RIFF", ".webp"))


def _pack_originals(ds: Dataset, split: Split, on_progress: Callable[[int, int], None] | None = None) -> bytes:
    images: Any = ds.images  # a stored dataset's DiskImages: originals, limits and shapes
    buf = io.BytesIO()
    manifest: dict[str, Any] = {"class_names": list(ds.class_names), "train": [], "val": [], "test": []}
    manifest["max_side"] = images.limits.max_side
    parts = (("train", split.train), ("val", split.val), ("test", split.test))
    total, done = sum(len(indices) for _, indices in parts), 0
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for part, indices in parts:
            if part != "test" and not len(indices):
                raise InputError("Both the training and the validation split need images.")
            for n, i in enumerate(int(i) for i in indices):
                raw = images.original(i)
                ext = next((e for magic, e in _COMPRESSED if raw.startswith(magic)), None)
                if ext is None or math.prod(images.shape(i)) < len(raw):
                    # A big photo shrunk to the dataset's size: its pixels, even as PNG, are smaller than the file.
                    raw, ext = to_png_bytes(np.asarray(images[i]), compress_level=1), ".png"
                name = f"{part}/{n:05d}{ext}"
                zf.writestr(name, raw)
                manifest[part].append([name, int(ds.labels[i])])
                done += 1
                if on_progress is not None and (done % 16 == 0 or done == total):
                    on_progress(done, total)
        zf.writestr("manifest.json", json.dumps(manifest))
    return buf.getvalue()


def _fit(image: Image.Image, short_side: int | None) -> Image.Image:
    return _shrink([image], short_side)[0] if short_side else image


def keep_side(cfg: TrainConfig) -> int | None:
    """Shorter side worth keeping in memory for ``cfg`` (the backbone's resize, or more for random crops)."""
    from cnn_demo import models

    if cfg.image_size is None and cfg.backbone not in models.list_models():
        return None
    pre = models.data_config(cfg.backbone)
    return keep_for(cfg.image_size or int(pre.input_size[-1]), pre.crop_pct)


def keep_for(size: int, crop_pct: float) -> int:
    """Shorter side worth keeping to train at ``size``: the evaluation resize, or more for random crops."""
    return max(int(size * MAX_KEEP_FACTOR), resize_side(size, crop_pct))


def unpack_data(blob: bytes | Path, max_side: int | None = None, *, lazy: bool = False) -> ImageData:
    """Inverse of :func:`pack_data` (every image decoded through ``load_image``, downscaled to ``max_side``).

    ``blob`` is the zip's bytes or its path. Each image is checked and decoded once here, then kept as whichever is
    smaller, its pixels or its stored PNG (see :class:`PackedImages`): from a path, nothing of the zip stays in
    memory; from bytes, the images kept encoded are views into ``blob``. ``lazy``: decode nothing here (the files
    are read and CRC-checked only), every image on access; for a run that may need none of them (frozen features
    found in the cache), where a file that does not decode fails the job when it is reached.
    """
    sides = (max_side,) if max_side else ()
    source: bytes | Path = Path(blob) if isinstance(blob, str) else blob
    try:
        with zipfile.ZipFile(source if isinstance(source, Path) else io.BytesIO(source)) as zf:
            manifest = json.loads(zf.read("manifest.json"))
            load_side = manifest.get("max_side")
            if load_side is not None and (not isinstance(load_side, int) or not 8 <= load_side <= 4096):
                raise ValueError("max_side")
            parts = {}
            with source.open("rb") if isinstance(source, Path) else io.BytesIO(source) as raw_file:
                for split in ("train", "val", "test"):
                    entries = manifest.get(split, [])
                    h = hashlib.sha256(f"{sides}|{load_side}|{Image.__version__}".encode())
                    items = [_unpack_one(zf, raw_file, name, sides, load_side, h, lazy) for name, _ in entries]
                    images = PackedImages(items, source, sides, load_side, h.hexdigest())
                    parts[split] = (images, [int(y) for _, y in entries])
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError, struct.error) as exc:
        raise InputError("The dataset handed to the job is damaged.") from exc
    except OSError as exc:
        raise InputError("The dataset handed to the job could not be read.") from exc
    return ImageData([str(c) for c in manifest["class_names"]], *parts["train"], *parts["val"], *parts["test"])


def _unpack_one(
    zf: zipfile.ZipFile,
    raw_file: Any,
    name: str,
    sides: tuple[int, ...],
    load_side: int | None,
    digest: Any,
    lazy: bool = False,
) -> Image.Image | tuple[int, int]:
    """One packed image: its decoded pixels, or ``(offset, size)`` of its stored bytes when that is smaller (or
    ``lazy``); its bytes go into the ``digest`` hash."""
    info = zf.getinfo(name)
    raw = zf.read(info)  # checks the CRC
    digest.update(len(raw).to_bytes(8, "little"))
    digest.update(raw)
    stored = info.compress_type == zipfile.ZIP_STORED and not info.flag_bits & 0x1
    image = None if lazy and stored else _decode_fitted(raw, sides, load_side)
    if not stored:
        assert image is not None
        return image
    if image is not None and image.width * image.height * len(image.getbands()) <= len(raw):
        return image
    raw_file.seek(info.header_offset)
    header = raw_file.read(30)
    if header[:4] != b"PK\x03\x04":
        raise zipfile.BadZipFile(name)
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    return (info.header_offset + 30 + name_len + extra_len, len(raw))


def _shrink(images: Sequence[Image.Image], side: int) -> list[Image.Image]:
    out = []
    for im in images:
        if im.mode != "RGB":
            im = im.convert("RGB")
        if min(im.size) > side:
            scale = side / min(im.size)
            im = im.resize(
                (max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.Resampling.BILINEAR
            )
        out.append(im)
    return out


def downscaled(images: Sequence[Image.Image], side: int) -> Sequence[Image.Image]:
    """``images`` as RGB with shorter sides above ``side`` downscaled to it (``_shrink``); :class:`PackedImages`
    stay compact (downscaled on access) instead of being decoded all at once."""
    return images.shrunk(side) if isinstance(images, PackedImages) else _shrink(images, side)


def thumbnails(images: Sequence[Image.Image], side: int = THUMB) -> np.ndarray:
    """Square centre-cropped uint8 thumbnails ``(N, side, side, 3)`` for the results page."""
    out = np.zeros((len(images), side, side, 3), dtype=np.uint8)
    for i, im in enumerate(images):
        out[i] = thumbnail(im, side)
    return out


def thumbnail(image: Image.Image, side: int = THUMB) -> np.ndarray:
    """One of :func:`thumbnails`: the centre square of ``image`` at ``side`` px, uint8 ``(side, side, 3)``."""
    im = image.convert("RGB")
    s = min(im.size)
    left, top = (im.width - s) // 2, (im.height - s) // 2
    return np.asarray(im.crop((left, top, left + s, top + s)).resize((side, side), Image.Resampling.BILINEAR))
