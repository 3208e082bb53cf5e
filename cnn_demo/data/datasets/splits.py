"""Training, validation and held-out test splits of a dataset, and dropping classes too small to train on."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace

import numpy as np

from cnn_demo.data.datasets.checks import dataset_problems, quote
from cnn_demo.data.datasets.types import DEFAULT_LIMITS, ClassCount, Dataset, DatasetLimits, Split
from cnn_demo.errors import InputError


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
    warnings, errors = dataset_problems(counts, report.duplicates, report.skipped, limits, report.has_given_split)
    dropped = ", ".join(f"{quote(c.name)} ({c.total} image(s))" for c in report.classes if c.name in drop)
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
