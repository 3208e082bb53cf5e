"""Datasets as ImageFolder zips: the example for students to copy, and a dataset handed to a job."""

from __future__ import annotations

import io
import zipfile
from pathlib import PurePosixPath

from cnn_demo.data.datasets.builtin import texture_patches
from cnn_demo.data.datasets.splits import split_dataset
from cnn_demo.data.datasets.types import Dataset, Split


def dataset_to_zip(dataset: Dataset, split: Split | None = None) -> bytes:
    """The dataset as an ImageFolder ``.zip`` of PNGs (``train/`` and ``val/`` when split), readable by
    :func:`read_zip_dataset` with the same images: how a page hands a dataset to a job worker without pickle."""
    from cnn_demo.io.images import to_png_bytes

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
    from cnn_demo.io.images import to_png_bytes

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
