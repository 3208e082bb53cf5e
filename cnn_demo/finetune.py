"""Fine-tuning: a custom head on a backbone (the lecture's *Model zoos* slide), as a resumable job.

Three strategies, as in PyTorch's transfer-learning tutorial and Teachable Machine:

* ``frozen``: the backbone is a fixed feature extractor. Its features are computed **once** (for
  several augmented views when augmenting) and cached, so each epoch only trains the small head.
* ``partial``: the last ``unfreeze`` stages of the backbone train together with the head.
* ``full``: everything trains, the backbone at ``lr * backbone_lr_factor``.

:func:`train` is the one training routine: the web page (through the ``finetune`` job), the command
line and the benchmark all call it. Export is a zip with ``model.safetensors`` and ``config.json``
(plus optional ONNX and a reload snippet); :func:`load_export` restores such a zip and refuses
anything that is not safetensors.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import io
import json
import math
import numbers
import struct
import time
import zipfile
import zlib
from collections.abc import Callable, Collection, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from cnn_demo import datasets, jobs
from cnn_demo.datasets import Dataset, Split
from cnn_demo.device import get_device
from cnn_demo.errors import InputError
from cnn_demo.images import load_image, to_png_bytes

STRATEGIES: tuple[str, ...] = ("frozen", "partial", "full")
HEADS: tuple[str, ...] = ("linear", "mlp")
EXPORT_FORMAT = "cnn-demo-finetune/1"
THUMB = 96
#: The backbone offered first (page) and used when none is named (CLI): real ImageNet weights that set-up
#: installs (``requirements-weights.txt``), so fine-tuning works on a fresh offline machine. The CIFAR ResNets
#: are the tiny option.
DEFAULT_BACKBONE = "tf_efficientnet_lite0"
#: Largest side kept in memory per training image: enough for random crops at the backbone's size.
MAX_KEEP_FACTOR = 1.5


def _require_types(obj: Any, kinds: dict[str, tuple[type, ...]]) -> None:
    """Refuse fields of the wrong JSON type (``100.5`` hidden units, ``true`` epochs) before any range check.

    A settings object also comes from an uploaded config.json, so a value that merely compares well (a float where
    a layer width is meant) would otherwise pass here and crash later inside torch.
    """
    for name, allowed in kinds.items():
        value = getattr(obj, name)
        if value is None and type(None) in allowed:
            continue
        if isinstance(value, bool) and bool not in allowed:
            ok = False
        else:
            ok = isinstance(value, allowed)
        if ok and isinstance(value, float) and not math.isfinite(value):
            ok = False
        if not ok:
            wanted = {numbers.Integral: "a whole number", bool: "true or false", str: "text"}.get(
                allowed[0], "a number"
            )
            raise InputError(f"The setting “{name}” must be {wanted}, not {str(value)[:40]!r}.")


_INT = (numbers.Integral,)
_NUM = (numbers.Real,)
_BOOL = (bool,)
_STR = (str,)


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class HeadSpec:
    """The classifier put on top of the backbone's pooled features."""

    kind: str = "linear"
    hidden: int = 256
    dropout: float = 0.2

    def __post_init__(self) -> None:
        _require_types(self, {"kind": _STR, "hidden": _INT, "dropout": _NUM})
        if self.kind not in HEADS:
            raise InputError(f"The head must be one of {', '.join(HEADS)}.")
        if not 1 <= self.hidden <= 4096:
            raise InputError("The hidden width must be between 1 and 4096.")
        if not 0.0 <= self.dropout < 1.0:
            raise InputError("Dropout must be at least 0 and below 1.")


@dataclass(frozen=True)
class AugmentSpec:
    """Random training-time changes: horizontal flip, random resized crop, colour jitter."""

    flip: bool = False
    crop: bool = False
    crop_scale: float = 0.6
    jitter: float = 0.0

    @property
    def enabled(self) -> bool:
        """Whether any augmentation is on."""
        return self.flip or self.crop or self.jitter > 0

    def __post_init__(self) -> None:
        _require_types(self, {"flip": _BOOL, "crop": _BOOL, "crop_scale": _NUM, "jitter": _NUM})
        if not 0.05 <= self.crop_scale <= 1.0:
            raise InputError("The crop scale must be between 0.05 and 1.")
        if not 0.0 <= self.jitter <= 1.0:
            raise InputError("Colour jitter must be between 0 and 1.")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a fine-tuning run (JSON round-trip with :meth:`to_dict`/:meth:`from_dict`)."""

    backbone: str = DEFAULT_BACKBONE
    pretrained: bool = True
    strategy: str = "frozen"
    unfreeze: int = 1
    head: HeadSpec = field(default_factory=HeadSpec)
    augment: AugmentSpec = field(default_factory=AugmentSpec)
    views: int = 4
    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    backbone_lr_factor: float = 0.1
    weight_decay: float = 1e-4
    label_smoothing: float = 0.0
    patience: int = 0
    seed: int = 0
    image_size: int | None = None

    def __post_init__(self) -> None:
        _require_types(
            self,
            {
                "backbone": _STR,
                "pretrained": _BOOL,
                "strategy": _STR,
                "unfreeze": _INT,
                "views": _INT,
                "epochs": _INT,
                "batch_size": _INT,
                "lr": _NUM,
                "backbone_lr_factor": _NUM,
                "weight_decay": _NUM,
                "label_smoothing": _NUM,
                "patience": _INT,
                "seed": _INT,
                "image_size": (numbers.Integral, type(None)),
            },
        )
        if self.strategy not in STRATEGIES:
            raise InputError(f"The strategy must be one of {', '.join(STRATEGIES)}.")
        checks = [
            (1 <= self.epochs <= 500, "Epochs must be between 1 and 500."),
            (1 <= self.batch_size <= 1024, "The batch size must be between 1 and 1024."),
            (0 < self.lr <= 10, "The learning rate must be above 0 and at most 10."),
            (0 < self.backbone_lr_factor <= 1, "The backbone learning-rate factor must be in (0, 1]."),
            (0 <= self.weight_decay <= 1, "Weight decay must be between 0 and 1."),
            (0 <= self.label_smoothing < 1, "Label smoothing must be at least 0 and below 1."),
            (0 <= self.patience <= 500, "Early-stopping patience must be between 0 (off) and 500."),
            (1 <= self.views <= 32, "Cached augmented views must be between 1 and 32."),
            (1 <= self.unfreeze <= 10, "Unfrozen stages must be between 1 and 10."),
            (self.image_size is None or 16 <= self.image_size <= 512, "The image size must be 16 to 512 pixels."),
        ]
        for ok, message in checks:
            if not ok:
                raise InputError(message)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`InputError`."""
        if not isinstance(data, dict):
            raise InputError("The training settings must be a mapping of names to values.")
        data = dict(data)
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(data) - known
        if unknown:
            raise InputError(f"Unknown training settings: {', '.join(sorted(unknown))}.")
        for name, kind in (("head", HeadSpec), ("augment", AugmentSpec)):
            if isinstance(data.get(name), dict):
                data[name] = kind(**data[name])
            elif name in data and not isinstance(data[name], kind):
                raise InputError(f"The {name} settings must be a mapping of names to values.")
        return cls(**data)


def build_head(in_features: int, num_classes: int, spec: HeadSpec) -> nn.Module:
    """The head module: ``Linear`` or ``Linear → ReLU → Dropout → Linear``."""
    if spec.kind == "linear":
        return nn.Sequential(nn.Dropout(spec.dropout), nn.Linear(in_features, num_classes))
    return nn.Sequential(
        nn.Linear(in_features, spec.hidden),
        nn.ReLU(inplace=True),
        nn.Dropout(spec.dropout),
        nn.Linear(spec.hidden, num_classes),
    )


# --------------------------------------------------------------------------- backbone


@dataclass(frozen=True)
class Preprocess:
    """How images are turned into the backbone's input (taken from the backbone's own data config)."""

    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    crop_pct: float = 0.875
    interpolation: str = "bilinear"


@dataclass
class Backbone:
    """A feature extractor: ``features(x)`` gives pooled ``(N, num_features)`` features."""

    name: str
    features: nn.Module
    num_features: int
    stages: list[nn.Module]
    preprocess: Preprocess
    pretrained: bool


def _from_models(name: str, pretrained: bool) -> Backbone | None:
    from cnn_demo import models

    if name not in models.list_models():
        return None
    model = models.create(name, pretrained=pretrained)
    cfg = models.data_config(model)
    module, nfeat = models.feature_extractor(model)
    size = cfg.input_size[-1] if isinstance(cfg.input_size, Sequence) else int(cfg.input_size)
    pre = Preprocess(
        int(size), tuple(cfg.mean), tuple(cfg.std), float(cfg.crop_pct or 1.0), str(cfg.interpolation or "bilinear")
    )
    return Backbone(name, module, int(nfeat), list(models.stages(model)), pre, pretrained)


def _from_timm(name: str, pretrained: bool) -> Backbone:
    import timm

    if not timm.is_model(name):
        raise InputError(f"Unknown backbone {name!r}; choose one of {', '.join(backbone_choices())} or a timm name.")
    try:
        model = timm.create_model(name, pretrained=pretrained, num_classes=0)
    except Exception as exc:
        raise InputError(
            f"Pretrained weights for {name} are not available on this server; choose 'no pretrained weights' "
            "or another backbone."
        ) from exc
    cfg = model.pretrained_cfg
    pre = Preprocess(
        int(cfg.get("input_size", (3, 224, 224))[-1]),
        tuple(cfg.get("mean", (0.485, 0.456, 0.406))),
        tuple(cfg.get("std", (0.229, 0.224, 0.225))),
        float(cfg.get("crop_pct", 0.875)),
        str(cfg.get("interpolation", "bilinear")),
    )
    stages = [model.get_submodule(f["module"]) for f in getattr(model, "feature_info", [])]
    return Backbone(name, model, int(model.num_features), stages, pre, pretrained)


def load_backbone(name: str, pretrained: bool = True) -> Backbone:
    """The backbone ``name`` as a feature extractor: a ``cnn_demo.models`` name, or any other timm model name."""
    if not isinstance(name, str) or not name:
        raise InputError("Choose a backbone.")
    found = _from_models(name, pretrained)
    if found is not None:
        return found
    return _from_timm(name, pretrained)


def backbone_choices() -> list[str]:
    """Backbone names offered by the page: every model of ``cnn_demo.models``."""
    from cnn_demo import models

    return list(models.list_models())


@functools.cache
def backbone_num_features(name: str) -> int:
    """Width of ``name``'s pooled features, read from a weightless (meta-device) copy: no memory, no init time."""
    from cnn_demo import models

    with torch.device("meta"):
        model = models.create(name, pretrained=False)
    return int(models.num_features(model))


def head_module(backbone: str, num_classes: int, spec: HeadSpec) -> str:
    """The printed head module that training ``backbone`` with ``spec`` will create."""
    return str(build_head(backbone_num_features(backbone), num_classes, spec))


IMAGE_SIZES: tuple[int, ...] = (32, 48, 64, 96, 128, 160, 192, 224, 256, 288, 320)


def image_size_choices(default: int) -> list[int]:
    """Image sizes the page offers: the usual ones from 32 to 320 px, plus the backbone's own ``default``."""
    return sorted({*IMAGE_SIZES, int(default)})


def describe_backbone(name: str) -> dict[str, Any]:
    """What the page shows before training: description, preprocessing, and whether weights are on this server."""
    from cnn_demo import models, weights

    info = models.get_info(name)
    cfg = models.data_config(name)
    return {
        "description": info.description,
        "params": info.params,
        "heavy": info.heavy,
        "has_pretrained": info.has_pretrained,
        "weights_here": bool(info.has_pretrained and weights.find(name) is not None),
        "input_size": int(cfg.input_size[-1]),
        "mean": tuple(round(float(m), 4) for m in cfg.mean),
        "std": tuple(round(float(v), 4) for v in cfg.std),
        "crop_pct": float(cfg.crop_pct),
        "interpolation": cfg.interpolation,
        "source": cfg.source,
    }


# --------------------------------------------------------------------------- data


class PackedImages(Sequence[Image.Image]):
    """The images of a packed dataset (:func:`unpack_data`), each held in whichever form is smaller.

    An image is kept as its pixels when they are small (downscaled for a 32 px backbone), otherwise as its stored
    PNG inside the packed zip (a reference into the zip's bytes, or an offset into the zip file on disk), decoded
    again on access exactly as :func:`unpack_data` first did. 5,000 images of 256×256 for a 224 px backbone thus cost
    almost nothing, not 1 GB of pixels. Indexing gives a PIL image, slicing a list of them.
    """

    def __init__(
        self,
        items: list[Image.Image | tuple[int, int]],
        source: bytes | Path | None,
        sides: tuple[int, ...] = (),
        load_side: int | None = None,
    ) -> None:
        self._items = items
        self._source = memoryview(source) if isinstance(source, bytes) else source
        self._sides = sides
        self._load_side = load_side

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
            raw = bytes(self._source[offset : offset + size])
        return _decode_fitted(raw, self._sides, self._load_side)

    @property
    def encoded(self) -> int:
        """How many images are held encoded (decoded on access)."""
        return sum(not isinstance(item, Image.Image) for item in self._items)

    def shrunk(self, side: int) -> PackedImages:
        """The same images with shorter sides above ``side`` downscaled (as ``_shrink``), still held compactly."""
        items = [_shrink([it], side)[0] if isinstance(it, Image.Image) else it for it in self._items]
        return PackedImages(items, self._source, (*self._sides, side), self._load_side)


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

    def fingerprint(self) -> str:
        """A hash of the pixels and labels (the feature cache's key)."""
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
    """A validated :class:`cnn_demo.datasets.Dataset` split (``split``, or a stratified/given one) into ImageData."""
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
    """An RGB uint8 array (as held by ``cnn_demo.datasets.Dataset``) as a PIL image."""
    return Image.fromarray(np.asarray(array, dtype=np.uint8)).convert("RGB")


def read_data(path: str | Path, val_fraction: float = 0.2, seed: int = 0, test_fraction: float = 0.0) -> ImageData:
    """An ImageFolder folder or ``.zip`` on this machine (read safely by ``cnn_demo.datasets``) as ImageData,
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
    """Like :func:`pack_data` straight from a ``cnn_demo.datasets`` Dataset and split, without copying its images.

    ``on_progress(done, total)`` is called as images are packed (the page shows it while the job is handed over).
    A stored dataset (:class:`cnn_demo.datasets.DiskImages`: what a page uploads) is packed with its files as they
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
    images = ds.images
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
    size = cfg.image_size or int(pre.input_size[-1])
    return max(int(size * MAX_KEEP_FACTOR), math.floor(size / max(pre.crop_pct, 0.1) + 1e-6))


def unpack_data(blob: bytes | Path, max_side: int | None = None) -> ImageData:
    """Inverse of :func:`pack_data` (every image decoded through ``load_image``, downscaled to ``max_side``).

    ``blob`` is the zip's bytes or its path. Each image is checked and decoded once here, then kept as whichever is
    smaller, its pixels or its stored PNG (see :class:`PackedImages`): from a path, nothing of the zip stays in
    memory; from bytes, the images kept encoded are views into ``blob``.
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
                    items = [_unpack_one(zf, raw_file, name, sides, load_side) for name, _ in entries]
                    parts[split] = (PackedImages(items, source, sides, load_side), [int(y) for _, y in entries])
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError, struct.error) as exc:
        raise InputError("The dataset handed to the job is damaged.") from exc
    except OSError as exc:
        raise InputError("The dataset handed to the job could not be read.") from exc
    return ImageData([str(c) for c in manifest["class_names"]], *parts["train"], *parts["val"], *parts["test"])


def _unpack_one(
    zf: zipfile.ZipFile, raw_file: Any, name: str, sides: tuple[int, ...], load_side: int | None = None
) -> Image.Image | tuple[int, int]:
    """One packed image: its decoded pixels, or ``(offset, size)`` of its stored bytes when that is smaller."""
    info = zf.getinfo(name)
    raw = zf.read(info)  # checks the CRC
    image = _decode_fitted(raw, sides, load_side)
    if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1:
        return image
    pixels = image.width * image.height * len(image.getbands())
    if pixels <= len(raw):
        return image
    raw_file.seek(info.header_offset)
    header = raw_file.read(30)
    if header[:4] != b"PK\x03\x04":
        raise zipfile.BadZipFile(name)
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    return (info.header_offset + 30 + name_len + extra_len, len(raw))


# --------------------------------------------------------------------------- transforms


def make_transform(pre: Preprocess, augment: AugmentSpec | None = None, image_size: int | None = None) -> Callable:
    """PIL image → normalised tensor: resize + centre crop for evaluation, random augmentation for training."""
    from torchvision.transforms import v2

    size = image_size or pre.input_size
    try:
        interp = v2.InterpolationMode(pre.interpolation)
    except ValueError:
        interp = v2.InterpolationMode.BILINEAR
    tail = [v2.ToImage(), v2.ToDtype(torch.float32, scale=True), v2.Normalize(pre.mean, pre.std)]
    if augment is None or not augment.enabled:
        resize = max(size, math.floor(size / max(pre.crop_pct, 0.1) + 1e-6))
        return v2.Compose([v2.Resize(resize, interpolation=interp, antialias=True), v2.CenterCrop(size), *tail])
    ops: list = []
    if augment.crop:
        ops.append(v2.RandomResizedCrop(size, scale=(augment.crop_scale, 1.0), interpolation=interp, antialias=True))
    else:
        ops += [v2.Resize(size, interpolation=interp, antialias=True), v2.CenterCrop(size)]
    if augment.flip:
        ops.append(v2.RandomHorizontalFlip())
    if augment.jitter > 0:
        j = augment.jitter
        ops.append(v2.ColorJitter(brightness=j, contrast=j, saturation=j, hue=min(0.5, j / 4)))
    return v2.Compose([*ops, *tail])


def augment_preview(image: Image.Image, augment: AugmentSpec, n: int = 8, size: int = 128, seed: int = 0) -> np.ndarray:
    """``n`` augmented versions of ``image`` as uint8 ``(n, size, size, 3)`` arrays, for the page's preview."""
    pre = Preprocess(size, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), 1.0)
    tf = make_transform(pre, augment)
    torch.manual_seed(seed)
    out = [tf(image.convert("RGB")).permute(1, 2, 0).clamp(0, 1).mul(255).round().byte().numpy() for _ in range(n)]
    return np.stack(out)


def _batch(images: Sequence[Image.Image], tf: Callable) -> torch.Tensor:
    return torch.stack([tf(im) for im in images])


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


def _shrunk(images: Sequence[Image.Image], side: int) -> Sequence[Image.Image]:
    """``_shrink`` that keeps :class:`PackedImages` compact (downscaled on access) instead of decoding them all."""
    return images.shrunk(side) if isinstance(images, PackedImages) else _shrink(images, side)


def thumbnails(images: Sequence[Image.Image], side: int = THUMB) -> np.ndarray:
    """Square centre-cropped uint8 thumbnails ``(N, side, side, 3)`` for the results page."""
    out = np.zeros((len(images), side, side, 3), dtype=np.uint8)
    for i, im in enumerate(images):
        im = im.convert("RGB")
        s = min(im.size)
        left, top = (im.width - s) // 2, (im.height - s) // 2
        out[i] = np.asarray(im.crop((left, top, left + s, top + s)).resize((side, side), Image.Resampling.BILINEAR))
    return out


# --------------------------------------------------------------------------- training


@dataclass
class FineTuned:
    """A backbone with its trained head: predicts class probabilities for PIL images."""

    backbone: Backbone
    head: nn.Module
    class_names: list[str]
    config: TrainConfig

    @property
    def model(self) -> nn.Sequential:
        """Backbone features followed by the head, as one module."""
        return nn.Sequential(self.backbone.features, self.head)

    def transform(self) -> Callable:
        """The evaluation preprocessing."""
        return make_transform(self.backbone.preprocess, None, self.config.image_size)

    @torch.no_grad()
    def predict(self, images: Sequence[Image.Image], batch_size: int = 32) -> np.ndarray:
        """Class probabilities ``(N, classes)`` for RGB images."""
        model = self.model.eval()
        tf = self.transform()
        out = []
        for i in range(0, len(images), batch_size):
            x = _batch([im.convert("RGB") for im in images[i : i + batch_size]], tf).to(_device_of(model))
            out.append(F.softmax(model(x), dim=1).cpu())
        return torch.cat(out).numpy() if out else np.zeros((0, len(self.class_names)))


def _set_trainable(bb: Backbone, cfg: TrainConfig) -> list[nn.Parameter]:
    for p in bb.features.parameters():
        p.requires_grad_(False)
    if cfg.strategy == "frozen":
        return []
    if cfg.strategy == "full":
        modules = [bb.features]
    else:
        if not bb.stages:
            raise InputError(f"{bb.name} does not list its stages, so 'partial' is not available; use 'full'.")
        modules = bb.stages[-min(cfg.unfreeze, len(bb.stages)) :]
    params = []
    for m in modules:
        for p in m.parameters():
            p.requires_grad_(True)
            params.append(p)
    return params


def _train_mode(bb: Backbone, cfg: TrainConfig) -> None:
    """Frozen parts stay in eval mode (their BatchNorm statistics must not drift)."""
    bb.features.eval()
    if cfg.strategy == "full":
        bb.features.train()
    elif cfg.strategy == "partial":
        for m in bb.stages[-min(cfg.unfreeze, len(bb.stages)) :]:
            m.train()


def _device_of(module: nn.Module) -> torch.device:
    p = next(module.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def extract_features(
    features: nn.Module,
    images: Sequence[Image.Image],
    tf: Callable,
    batch_size: int = 8,
    on_batch: Callable[[int], None] | None = None,
) -> torch.Tensor:
    """Pooled features of ``images`` (backbone in eval mode, under ``inference_mode``: no autograd bookkeeping);
    ``on_batch(n)`` after each batch of n.

    Batches of 8 in channels-last layout: on 2 CPU cores EfficientNet-Lite0 at 224 px runs ~95 img/s that way
    against ~25 img/s for batches of 32 in the default layout (``bench/finetune.py --features``); the model itself
    is left as it is.
    """
    features.eval()
    dev = _device_of(features)
    out = []
    with torch.inference_mode():
        for i in range(0, len(images), batch_size):
            batch = images[i : i + batch_size]
            x = _batch(batch, tf).to(dev).contiguous(memory_format=torch.channels_last)
            out.append(features(x).cpu())
            if on_batch is not None:
                on_batch(len(batch))
    # Inference tensors cannot enter autograd; the head trains on these, so hand back ordinary tensors.
    return torch.cat(out).flatten(1).clone() if out else torch.zeros(0, 0)


def _feature_cache(
    cache_dir: Path | None, key: str, compute: Callable[[], dict[str, torch.Tensor]]
) -> dict[str, torch.Tensor]:
    if cache_dir is None:
        return compute()
    path = cache_dir / f"{key}.pt"
    if path.exists():
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception:
            path.unlink(missing_ok=True)
    feats = compute()
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{time.time_ns()}.tmp")
    torch.save(feats, tmp)
    tmp.replace(path)
    return feats


def evaluate(probs: np.ndarray, labels: Sequence[int], class_names: Sequence[str], n_mistakes: int = 12) -> dict:
    """Accuracy, per-class accuracy, confusion matrix (rows = true class) and the most confident mistakes."""
    y = np.asarray(labels, dtype=int)
    k = len(class_names)
    pred = probs.argmax(1)
    cm = np.zeros((k, k), dtype=int)
    np.add.at(cm, (y, pred), 1)
    per_class = {c: (float(cm[i, i] / cm[i].sum()) if cm[i].sum() else None) for i, c in enumerate(class_names)}
    wrong = np.flatnonzero(pred != y)
    order = wrong[np.argsort(-probs[wrong, pred[wrong]], kind="stable")][:n_mistakes]
    mistakes = [
        {"index": int(i), "true": int(y[i]), "pred": int(pred[i]), "confidence": float(probs[i, pred[i]])}
        for i in order
    ]
    return {
        "val_accuracy": float((pred == y).mean()) if len(y) else 0.0,
        "per_class_accuracy": per_class,
        "confusion": cm.tolist(),
        "mistakes": mistakes,
    }


def gradcam(model: FineTuned, image: Image.Image, class_index: int | None = None) -> tuple[np.ndarray, int]:
    """Grad-CAM of ``class_index`` (default: the predicted class) over the image the model actually sees.

    Returns the overlay (uint8 H×W×3, the resized and centre-cropped input) and the class used.
    """
    from cnn_demo import explain

    size = model.config.image_size or model.backbone.preprocess.input_size
    net = model.model.eval()
    x = model.transform()(image.convert("RGB"))[None]
    if class_index is None:
        with torch.no_grad():
            class_index = int(net(x.to(_device_of(net))).argmax(1))
    layer = explain.default_gradcam_layer(net, (3, size, size))
    cam = explain.grad_cam(net, x, layer, class_index)
    plain = replace(model.backbone.preprocess, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    view = make_transform(plain, None, size)(image.convert("RGB")).permute(1, 2, 0).clamp(0, 1).mul(255)
    return explain.overlay(view.round().byte().numpy(), cam), class_index


@dataclass
class TrainResult:
    """What :func:`train` returns: the model, the metric history and the final evaluation."""

    model: FineTuned
    history: list[dict[str, float]]
    evaluation: dict[str, Any]
    val_probs: np.ndarray
    best_epoch: int
    seconds: float
    feature_seconds: float
    test_probs: np.ndarray | None = None
    final_test_accuracy: float | None = None

    @property
    def final_val_accuracy(self) -> float:
        """Validation accuracy after the last epoch trained (not chosen by looking at the validation set)."""
        return float(self.history[-1]["val_accuracy"]) if self.history else 0.0

    @property
    def best_val_accuracy(self) -> float:
        """Validation accuracy of the best epoch (lowest validation loss): optimistic, the epoch was chosen on it."""
        return float(self.history[self.best_epoch - 1]["val_accuracy"]) if self.best_epoch else self.final_val_accuracy


def majority_baseline(labels: Sequence[int]) -> tuple[int, float]:
    """The most frequent class of ``labels`` and the accuracy of always guessing it there: the best any constant
    answer scores, so the floor an accuracy must beat to mean anything (ties go to the lower class index)."""
    y = np.asarray(labels, dtype=int)
    if not len(y):
        return 0, 0.0
    majority = int(np.argmax(np.bincount(y)))
    return majority, float((y == majority).mean())


def accuracy_report(result: TrainResult, data: ImageData) -> dict[str, Any]:
    """Accuracies told apart: the final and the best epoch on validation, the held-out test split (of the model
    kept, the best epoch, and of the final epoch), each beside the majority-class baseline."""
    majority, base_val = majority_baseline(data.val_labels)
    out: dict[str, Any] = {
        "final_epoch": len(result.history),
        "final_val_accuracy": result.final_val_accuracy,
        "best_val_accuracy": result.best_val_accuracy,
        "majority_class": data.class_names[majority],
        "baseline_val_accuracy": base_val,
        "n_train": len(data.train_labels),
        "n_val": len(data.val_labels),
        "n_test": len(data.test_labels),
    }
    if result.test_probs is not None and len(data.test_labels):
        y = np.asarray(data.test_labels)
        out["test_accuracy"] = float((result.test_probs.argmax(1) == y).mean())
        out["final_test_accuracy"] = result.final_test_accuracy
        test_majority, out["baseline_test_accuracy"] = majority_baseline(data.test_labels)
        out["test_majority_class"] = data.class_names[test_majority]
    return out


def train(
    data: ImageData,
    cfg: TrainConfig,
    *,
    backbone: Backbone | None = None,
    on_epoch: Callable[[int, int, dict[str, float]], None] | None = None,
    checkpoint: Callable[[dict[str, Any], int], None] | None = None,
    resume_from: tuple[dict[str, Any], int] | None = None,
    cache_dir: Path | None = None,
    device: torch.device | None = None,
    on_phase: Callable[[str, int, int], None] | None = None,
) -> TrainResult:
    """Fine-tune ``cfg.backbone`` on ``data``; seeded, so the same inputs give the same model.

    ``on_epoch(epoch, epochs, metrics)`` reports progress; ``on_phase(phase, done, total)`` reports the phases:
    ``"features"`` (images whose frozen features are extracted, of all) and ``"epochs"`` (once, before the first
    epoch runs). The model kept is the best epoch (lowest validation loss); the test images, if any, are only
    looked at after training. ``checkpoint(state, epoch)`` is called after
    every epoch with a state that ``resume_from=(state, epoch)`` continues from exactly (the state shares
    tensors with the training, so save or copy it during the call). Runs on ``device`` (default: the GPU when
    there is one).
    """
    t0 = time.perf_counter()
    torch.manual_seed(cfg.seed)
    bb = backbone or load_backbone(cfg.backbone, cfg.pretrained)
    k = len(data.class_names)
    head = build_head(bb.num_features, k, cfg.head)
    backbone_params = _set_trainable(bb, cfg)
    size = cfg.image_size or bb.preprocess.input_size
    keep = max(int(size * MAX_KEEP_FACTOR), math.floor(size / max(bb.preprocess.crop_pct, 0.1) + 1e-6))
    # Frozen: the images are only needed (downscaled) when the feature cache misses, so a cache hit skips them.
    frozen = cfg.strategy == "frozen"
    train_imgs, val_imgs = (
        (data.train_images, data.val_images)
        if frozen
        else (_shrunk(data.train_images, keep), _shrunk(data.val_images, keep))
    )
    eval_tf = make_transform(bb.preprocess, None, cfg.image_size)
    train_tf = make_transform(bb.preprocess, cfg.augment, cfg.image_size)
    dev = device or get_device()
    bb.features.to(dev)
    head.to(dev)
    y_train = torch.tensor(data.train_labels, device=dev)
    y_val = torch.tensor(data.val_labels)
    test_imgs = _shrunk(data.test_images, keep) if data.test_labels else None

    feat_t0 = time.perf_counter()
    cached: dict[str, torch.Tensor] | None = None
    if cfg.strategy == "frozen":
        views = cfg.views if cfg.augment.enabled else 1
        key = hashlib.sha256(
            json.dumps(
                [data.fingerprint(), cfg.backbone, cfg.pretrained, size, asdict(cfg.augment), views, cfg.seed]
            ).encode()
        ).hexdigest()[:32]
        n_feat = views * len(train_imgs) + len(val_imgs) + (len(test_imgs) if test_imgs is not None else 0)
        done = [0]

        def step(n: int) -> None:
            done[0] += n
            if on_phase is not None:
                on_phase("features", done[0], n_feat)

        def compute() -> dict[str, torch.Tensor]:
            torch.manual_seed(cfg.seed)
            if on_phase is not None:
                on_phase("features", 0, n_feat)
            tf = train_tf if cfg.augment.enabled else eval_tf
            tr, va = _shrunk(train_imgs, keep), _shrunk(val_imgs, keep)
            train_views = torch.stack([extract_features(bb.features, tr, tf, on_batch=step) for _ in range(views)])
            out = {"train": train_views, "val": extract_features(bb.features, va, eval_tf, on_batch=step)}
            if test_imgs is not None:
                out["test"] = extract_features(bb.features, test_imgs, eval_tf, on_batch=step)
            return out

        cached = _feature_cache(cache_dir, key, compute) if backbone is None else compute()
    if cached is not None:
        cached = {k: v.to(dev) for k, v in cached.items()}
    feature_seconds = time.perf_counter() - feat_t0
    torch.manual_seed(cfg.seed + 1)  # same training randomness whether the features came from the cache or not

    groups = [{"params": head.parameters(), "lr": cfg.lr}]
    if backbone_params:
        factor = cfg.backbone_lr_factor if cfg.strategy == "full" else max(cfg.backbone_lr_factor, 0.1)
        groups.append({"params": backbone_params, "lr": cfg.lr * factor})
    opt = torch.optim.AdamW(groups, weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(cfg.seed)
    history: list[dict[str, float]] = []
    best = (math.inf, 0, None)
    start_epoch = 0
    stale = 0
    if resume_from is not None:
        state, start_epoch = resume_from
        head.load_state_dict(state["head"])
        if backbone_params and "backbone" in state:
            bb.features.load_state_dict(state["backbone"])
        opt.load_state_dict(state["optimizer"])
        gen.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        history = [dict(h) for h in state["history"]]
        best = (float(state["best_loss"]), int(state["best_epoch"]), state.get("best"))
        stale = int(state["stale"])

    def trainable_state() -> dict[str, Any]:
        s = {"head": copy.deepcopy(head.state_dict())}
        if backbone_params:
            s["backbone"] = copy.deepcopy(bb.features.state_dict())
        return s

    n = len(train_imgs)
    if on_phase is not None:
        on_phase("epochs", start_epoch, cfg.epochs)
    for epoch in range(start_epoch, cfg.epochs):
        head.train()
        _train_mode(bb, cfg)
        perm = torch.randperm(n, generator=gen)
        tot_loss, correct = 0.0, 0
        for i in range(0, n, cfg.batch_size):
            idx = perm[i : i + cfg.batch_size]
            if cached is not None:
                view = int(torch.randint(cached["train"].shape[0], (1,), generator=gen))
                logits = head(cached["train"][view, idx])
            else:
                x = _batch([train_imgs[j] for j in idx.tolist()], train_tf).to(dev)
                logits = head(bb.features(x).flatten(1))
            loss = F.cross_entropy(logits, y_train[idx], label_smoothing=cfg.label_smoothing)
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot_loss += float(loss.detach()) * len(idx)
            correct += int((logits.argmax(1) == y_train[idx]).sum())
        probs = _val_probs(bb, head, cached, val_imgs, eval_tf)
        val_loss = float(F.nll_loss(torch.log(torch.from_numpy(probs).clamp_min(1e-12)), y_val))
        row = {
            "epoch": epoch + 1,
            "train_loss": tot_loss / n,
            "train_accuracy": correct / n,
            "val_loss": val_loss,
            "val_accuracy": float((probs.argmax(1) == y_val.numpy()).mean()),
        }
        history.append(row)
        if val_loss < best[0] - 1e-6:
            best, stale = (val_loss, epoch + 1, trainable_state()), 0
        else:
            stale += 1
        stop = cfg.patience > 0 and stale >= cfg.patience
        if checkpoint is not None:
            checkpoint(
                {
                    **trainable_state(),
                    "optimizer": opt.state_dict(),
                    "generator": gen.get_state(),
                    "torch_rng": torch.get_rng_state(),
                    "history": [dict(h) for h in history],
                    "best_loss": best[0],
                    "best_epoch": best[1],
                    "best": best[2],
                    "stale": stale,
                },
                epoch + 1,
            )
        if on_epoch is not None:
            on_epoch(epoch + 1, cfg.epochs, row)
        if stop:
            break

    for p in bb.features.parameters():
        p.requires_grad_(False)
    final_test = None
    if test_imgs is not None:
        final_test = _accuracy(_split_probs(bb, head, cached, "test", test_imgs, eval_tf), data.test_labels)
    if best[2] is not None:
        head.load_state_dict(best[2]["head"])
        if "backbone" in best[2]:
            bb.features.load_state_dict(best[2]["backbone"])
    head.eval()
    probs = _val_probs(bb, head, cached, val_imgs, eval_tf)
    evaluation = evaluate(probs, data.val_labels, data.class_names)
    test_probs = _split_probs(bb, head, cached, "test", test_imgs, eval_tf) if test_imgs is not None else None
    model = FineTuned(bb, head, list(data.class_names), cfg)
    return TrainResult(
        model,
        history,
        evaluation,
        probs,
        best[1],
        time.perf_counter() - t0,
        feature_seconds,
        test_probs=test_probs,
        final_test_accuracy=final_test,
    )


def _accuracy(probs: np.ndarray, labels: Sequence[int]) -> float:
    return float((probs.argmax(1) == np.asarray(labels)).mean()) if len(labels) else 0.0


@torch.no_grad()
def _split_probs(bb: Backbone, head: nn.Module, cached, part: str, imgs, tf) -> np.ndarray:
    """Class probabilities of one split: from the cached features (frozen) or through the backbone."""
    head.eval()
    feats = cached[part] if cached is not None and part in cached else extract_features(bb.features, imgs, tf)
    return F.softmax(head(feats.to(_device_of(head))), dim=1).cpu().numpy()


@torch.no_grad()
def _val_probs(bb: Backbone, head: nn.Module, cached, val_imgs, tf) -> np.ndarray:
    head.eval()
    feats = cached["val"] if cached is not None else extract_features(bb.features, val_imgs, tf)
    return F.softmax(head(feats.to(_device_of(head))), dim=1).cpu().numpy()


def predict_files(model: FineTuned, files: Sequence[tuple[str, bytes]]) -> list[tuple[str, Image.Image, np.ndarray]]:
    """Decode uploaded images (through ``load_image``) and predict: ``[(name, image, probabilities), ...]``."""
    images = []
    for name, data in files:
        try:
            images.append((name, load_image(data, max_side=512)))
        except InputError as exc:
            raise InputError(f"{name}: {exc}") from exc
    if not images:
        return []
    probs = model.predict([im for _, im in images])
    return [(name, im, p) for (name, im), p in zip(images, probs, strict=True)]


# --------------------------------------------------------------------------- export / import

RELOAD_SNIPPET = '''"""Reload this fine-tuned model with cnn-demo installed (predict_onnx.py needs no cnn-demo)."""
import sys

from PIL import Image

from cnn_demo.finetune import load_export

with open("{zip_name}", "rb") as f:
    model = load_export(f.read())  # FineTuned: .predict([PIL images]) -> class probabilities
for path in sys.argv[1:]:
    probs = model.predict([Image.open(path)])[0]
    print(path, model.class_names[int(probs.argmax())], f"{{probs.max():.1%}}")
'''

#: Standalone prediction with the exported ONNX model: needs only numpy, Pillow and onnxruntime (no torch, no
#: cnn_demo). Class names and preprocessing come from the model's own metadata.
ONNX_SCRIPT = '''"""Classify images with model.onnx; needs only numpy, Pillow and onnxruntime.

    pip install onnxruntime pillow numpy
    python predict_onnx.py model.onnx photo1.jpg photo2.jpg
"""

import json
import math
import sys

import numpy as np
import onnxruntime as ort
from PIL import Image


def preprocess(path, meta):
    """Resize the shorter side, centre-crop and normalise, as the model was trained (metadata of model.onnx)."""
    size = int(meta["input_size"])
    resize = max(size, math.floor(size / float(meta["crop_pct"]) + 1e-6))
    resample = {"bicubic": Image.Resampling.BICUBIC, "nearest": Image.Resampling.NEAREST}.get(
        meta["interpolation"], Image.Resampling.BILINEAR
    )
    image = Image.open(path).convert("RGB")
    scale = resize / min(image.size)
    image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), resample)
    left, top = (image.width - size) // 2, (image.height - size) // 2
    image = image.crop((left, top, left + size, top + size))
    x = np.asarray(image, dtype=np.float32) / 255.0
    x = (x - np.asarray(json.loads(meta["mean"]), np.float32)) / np.asarray(json.loads(meta["std"]), np.float32)
    return x.transpose(2, 0, 1)


def main(model_path, image_paths):
    session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    class_names = json.loads(meta["class_names"])
    batch = np.stack([preprocess(p, meta) for p in image_paths])  # any batch size
    logits = session.run(["logits"], {"image": batch})[0]
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    for path, p in zip(image_paths, probs):
        print(f"{path}\\t{class_names[int(p.argmax())]}\\t{p.max():.4f}")
    return probs


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit("usage: python predict_onnx.py model.onnx image [image ...]")
    main(sys.argv[1], sys.argv[2:])
'''


def export_zip(model: FineTuned, metrics: dict[str, Any] | None = None, onnx: bool = False) -> bytes:
    """The model as a zip: ``model.safetensors``, ``config.json``, ``reload.py``; with ``onnx`` also ``model.onnx``
    and the standalone ``predict_onnx.py``."""
    from safetensors.torch import save

    state = {k: v.detach().cpu().contiguous().clone() for k, v in model.model.state_dict().items()}
    config = {
        "format": EXPORT_FORMAT,
        "backbone": model.backbone.name,
        "pretrained": model.backbone.pretrained,
        "num_features": model.backbone.num_features,
        "class_names": list(model.class_names),
        "preprocessing": _preprocessing(model),
        "head": asdict(model.config.head),
        "training": model.config.to_dict(),
        "metrics": metrics or {},
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("model.safetensors", save(state))
        zf.writestr("config.json", json.dumps(config, indent=1))
        zf.writestr("reload.py", RELOAD_SNIPPET.format(zip_name="model.zip"))
        if onnx:
            zf.writestr("model.onnx", export_onnx(model))
            zf.writestr("predict_onnx.py", ONNX_SCRIPT)
    return buf.getvalue()


def _preprocessing(model: FineTuned) -> dict[str, Any]:
    pre = model.backbone.preprocess
    return {**asdict(pre), "input_size": model.config.image_size or pre.input_size}


def export_onnx(model: FineTuned) -> bytes:
    """The model (images in, logits out) as ONNX bytes, with a dynamic batch size and, in its metadata, the class
    names and the preprocessing (input size, crop, interpolation, mean, std), so it is usable on its own."""
    import onnx

    pre = _preprocessing(model)
    size = int(pre["input_size"])
    m = copy.deepcopy(model.model).cpu().eval()
    buf = io.BytesIO()
    try:
        torch.onnx.export(
            m,
            (torch.zeros(2, 3, size, size),),
            buf,
            input_names=["image"],
            output_names=["logits"],
            dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
            dynamo=False,
        )
    except Exception as exc:
        raise InputError(f"This model could not be exported to ONNX ({type(exc).__name__}).") from exc
    proto = onnx.load_from_string(buf.getvalue())
    meta = {
        "format": EXPORT_FORMAT,
        "backbone": model.backbone.name,
        "class_names": json.dumps(list(model.class_names)),
        "input_size": str(size),
        "crop_pct": str(pre["crop_pct"]),
        "interpolation": str(pre["interpolation"]),
        "mean": json.dumps(list(pre["mean"])),
        "std": json.dumps(list(pre["std"])),
        "input": "float32 (batch, 3, H, W), RGB scaled to 0..1, then (x - mean) / std",
        "output": "logits (batch, classes); softmax gives the class probabilities",
    }
    onnx.helper.set_model_props(proto, meta)
    return proto.SerializeToString()


_WEIGHT_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".bin", ".ckpt", ".th", ".tar", ".npy", ".npz", ".h5")
MAX_EXPORT_BYTES = 300_000_000
#: A member that unpacks to more than this many times its packed size (past 1 MB) is a compression bomb.
MAX_EXPORT_RATIO = 200
_CONFIG_TYPES = "config.json is missing fields or has values of the wrong type"


def _read_member(zf: zipfile.ZipFile, name: str) -> bytes:
    """One member of an uploaded zip, streamed: the real unpacked bytes (not the headers) are checked against the
    size limit and the compression ratio, so a bomb is stopped after about a megabyte of a runaway ratio."""
    info = zf.getinfo(name)
    packed = max(int(info.compress_size), 1)
    chunks: list[bytes] = []
    got = 0
    try:
        with zf.open(info) as fh:
            while chunk := fh.read(1 << 20):
                got += len(chunk)
                if got > MAX_EXPORT_BYTES:
                    raise InputError("This model zip is too large.")
                if got > (1 << 20) and got > MAX_EXPORT_RATIO * packed:
                    raise InputError(
                        f"{name} expands more than {MAX_EXPORT_RATIO} times when unpacked: this looks like a "
                        "compression bomb, so reading the zip was stopped."
                    )
                chunks.append(chunk)
    except InputError:
        raise
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, RuntimeError, NotImplementedError) as exc:
        raise InputError(f"{name} in this zip is damaged or encrypted; export the model again.") from exc
    return b"".join(chunks)


def _export_config(config: Any, backbones: Collection[str] | None) -> tuple[TrainConfig, list[str]]:
    """The training settings and class names of an export's config.json, checked field by field."""
    if not isinstance(config, dict) or config.get("format") != EXPORT_FORMAT:
        raise InputError("config.json is not a cnn-demo fine-tuning export.")
    training, class_names = config.get("training"), config.get("class_names")
    if not isinstance(training, dict) or not isinstance(class_names, list):
        raise InputError(f"{_CONFIG_TYPES} (training, class_names).")
    try:
        cfg = TrainConfig.from_dict(training)
    except InputError as exc:
        raise InputError(f"config.json of this model zip: {exc}") from exc
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InputError(f"{_CONFIG_TYPES} (training).") from exc
    if not isinstance(cfg.backbone, str) or (backbones is not None and cfg.backbone not in backbones):
        raise InputError(
            f"This model uses the backbone {str(cfg.backbone)[:60]!r}, which this app does not offer. "
            "Upload a model.zip exported by this page."
        )
    if not 2 <= len(class_names) <= 1000:
        raise InputError(f"config.json lists {len(class_names)} class name(s); a model needs 2 to 1000 classes.")
    return cfg, [str(c)[:100] for c in class_names]


def load_export(blob: bytes, backbones: Collection[str] | None = None) -> FineTuned:
    """Restore a model from an :func:`export_zip` zip. Only safetensors weights are read; pickles are refused unread.

    ``backbones``: the backbone names accepted (uploads pass the page's choices, so a zip cannot make the server
    build an arbitrary timm model); ``None`` accepts any name :func:`load_backbone` knows. Every problem of the
    file (not a zip, bombs, bad names, broken or mistyped config.json, NaN or mismatched weights) raises
    :class:`InputError`.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load

    if not blob:
        raise InputError("The file is empty.")
    try:
        zf = zipfile.ZipFile(io.BytesIO(blob))
        names = zf.namelist()
    except UnicodeDecodeError as exc:
        raise InputError(
            "The file names in this zip are marked as UTF-8 but are not valid UTF-8. "
            "Upload the model.zip exported by this app."
        ) from exc
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
        raise InputError("This is not a zip file. Upload the model.zip exported by this app.") from exc
    with zf:
        if any(n.lower().endswith(_WEIGHT_SUFFIXES) for n in names) and "model.safetensors" not in names:
            raise InputError(
                "This zip holds pickled PyTorch weights, which can run code when loaded, so they are refused. "
                "Only model.safetensors exported by this app is accepted."
            )
        if "model.safetensors" not in names or "config.json" not in names:
            raise InputError("The zip must contain model.safetensors and config.json (as exported by this app).")
        if len(names) > 100 or sum(i.file_size for i in zf.infolist()) > MAX_EXPORT_BYTES:
            raise InputError("This model zip is too large.")
        raw_config = _read_member(zf, "config.json")
        raw_weights = _read_member(zf, "model.safetensors")
        try:
            config = json.loads(raw_config)
        except RecursionError as exc:
            raise InputError("config.json in this zip is damaged (nested far too deeply).") from exc
        except ValueError as exc:
            raise InputError("config.json in this zip is damaged (not valid JSON text).") from exc
        cfg, class_names = _export_config(config, backbones)
        try:
            weights = load(raw_weights)
        except (ValueError, TypeError, SafetensorError) as exc:
            raise InputError("model.safetensors in this zip is damaged.") from exc
    if any(not torch.isfinite(t).all() for t in weights.values() if t.is_floating_point()):
        raise InputError("The weights contain NaN or infinite values.")
    bb = load_backbone(cfg.backbone, pretrained=False)
    head = build_head(bb.num_features, len(class_names), cfg.head)
    model = FineTuned(bb, head, class_names, replace(cfg, pretrained=False))
    expected = model.model.state_dict()
    for name, tensor in weights.items():
        want = expected.get(name)
        if want is not None and tensor.dtype != want.dtype:
            # load_state_dict would copy int8 or float16 values into float32 parameters without a word: a quantised
            # or half-precision export would then predict with weights it was never trained with.
            raise InputError(
                f"The weights are stored as {str(tensor.dtype).removeprefix('torch.')} but this model needs "
                f"{str(want.dtype).removeprefix('torch.')} (tensor {name[:60]!r}). Upload the model.zip exported by "
                "this app, without quantising or converting it."
            )
    try:
        model.model.load_state_dict(weights, strict=True)
    except RuntimeError as exc:
        raise InputError("These weights do not match the backbone and head described in config.json.") from exc
    model.model.eval()
    return model


# --------------------------------------------------------------------------- the job


@jobs.register("finetune")
def finetune_job(params: dict[str, Any], ctx: jobs.JobContext) -> dict[str, Any]:
    """Job: train on ``inputs/data.zip`` with ``params['config']``; writes ``model.zip`` and ``val.npz``."""
    cfg = TrainConfig.from_dict(params["config"])
    data = unpack_data(ctx.inputs / "data.zip", max_side=keep_side(cfg))  # images stay in the file until used
    ctx.log(
        f"{len(data.train_images)} training / {len(data.val_images)} validation / {len(data.test_images)} test "
        f"images, {cfg.strategy} {cfg.backbone}"
    )
    resume = ctx.load_checkpoint()
    if resume is not None:
        ctx.log(f"resuming after epoch {resume[1]}")
    ctx.progress(resume[1] if resume else 0, cfg.epochs, phase="epochs")
    result = train(
        data,
        cfg,
        on_epoch=lambda e, n, m: ctx.progress(e, n, m, phase="epochs"),
        on_phase=lambda phase, done, total: ctx.progress(done, total, phase=phase),
        checkpoint=ctx.save_checkpoint,
        resume_from=resume,
        cache_dir=ctx.settings.state_dir / "feature-cache",
    )
    np.savez_compressed(
        ctx.folder / "val.npz",
        thumbs=thumbnails(data.val_images),
        labels=np.asarray(data.val_labels),
        probs=result.val_probs,
    )
    if result.test_probs is not None:
        np.savez_compressed(
            ctx.folder / "test.npz",
            thumbs=thumbnails(data.test_images),
            labels=np.asarray(data.test_labels),
            probs=result.test_probs,
        )
    summary = {
        **result.evaluation,
        **accuracy_report(result, data),
        "class_names": data.class_names,
        "epochs": len(result.history),
        "best_epoch": result.best_epoch,
        "seconds": round(result.seconds, 3),
        "feature_seconds": round(result.feature_seconds, 3),
        "history": result.history,
        "config": cfg.to_dict(),
        "head_module": str(result.model.head),
    }
    (ctx.folder / "model.zip").write_bytes(
        export_zip(result.model, {"val_accuracy": summary["val_accuracy"]}, onnx=bool(params.get("onnx")))
    )
    return summary
