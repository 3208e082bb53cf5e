"""Built-in offline datasets made from files scikit-image ships (textures, faces)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cnn_demo.data.datasets.checks import dataset_problems
from cnn_demo.data.datasets.types import DEFAULT_LIMITS, MIN_DATASET_IMAGE_SIDE, ClassCount, Dataset, DatasetReport
from cnn_demo.errors import InputError


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
    warnings, errors = dataset_problems(counts, (), (), limits, False)
    report = DatasetReport(source, "built-in", tuple(counts), warnings=tuple(warnings), errors=tuple(errors))
    return Dataset(name, tuple(class_names), tuple(images), label_arr, tuple(paths), report)


def texture_patches(patch: int = 64, stride: int | None = None) -> Dataset:
    """Patches of scikit-image's brick, grass and gravel photos, one class per photo."""
    from cnn_demo.io import samples

    if not MIN_DATASET_IMAGE_SIDE <= patch <= 256:
        raise InputError(f"The patch size must be between {MIN_DATASET_IMAGE_SIDE} and 256 pixels.")
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
    from cnn_demo.io import samples

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
