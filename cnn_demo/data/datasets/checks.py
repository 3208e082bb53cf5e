"""What blocks training or may mislead it (class names, sizes, balance, duplicates), and the lecture's advice for
a dataset's size.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from cnn_demo.data.datasets.types import (
    DEFAULT_LIMITS,
    ClassCount,
    DatasetLimits,
    DatasetReport,
    DuplicateGroup,
    SkippedFile,
)
from cnn_demo.errors import InputError


def quote(name: str) -> str:
    """A name (of a class, a file, a zip) in typographic quotes, for a message to the student."""
    return f"“{name}”"


def dataset_problems(
    counts: Sequence[ClassCount],
    duplicates: Sequence[DuplicateGroup],
    skipped: Sequence[SkippedFile],
    limits: DatasetLimits,
    split_mode: bool,
) -> tuple[list[str], list[str]]:
    """Warnings (training works but may mislead) and errors (training is blocked) of a dataset's classes, its
    duplicate files and the files it skipped: what its :class:`DatasetReport` tells the student."""
    errors = _name_errors(counts, limits)
    warnings, size_errors = _size_problems(counts, limits, split_mode)
    errors += size_errors
    warnings += _balance_warnings(counts, limits)
    warnings += _file_warnings(duplicates, skipped)
    return warnings, errors


def _name_errors(counts: Sequence[ClassCount], limits: DatasetLimits) -> list[str]:
    """Class folder names that break the rules of names typed in the page, or that differ only in case."""
    errors: list[str] = []
    folded: dict[str, list[str]] = defaultdict(list)
    for c in counts:  # folder names from a zip follow the rules of names typed in the page
        try:
            folded[validate_class_name(c.name, limits).casefold()].append(c.name)
        except InputError as exc:
            errors.append(f"Class folder {quote(c.name[:40] + ('…' if len(c.name) > 40 else ''))}: {exc}")
    for names in folded.values():
        if len(names) > 1:
            errors.append(
                "The class folders " + ", ".join(quote(n) for n in names) + " differ only in upper/lower case; "
                "they would be one class to a person but separate classes to the model. Merge them into one folder."
            )
    return errors


def _size_problems(
    counts: Sequence[ClassCount], limits: DatasetLimits, split_mode: bool
) -> tuple[list[str], list[str]]:
    """Too few images or classes to train at all, and classes missing from the given train/ or val/ split."""
    warnings: list[str] = []
    errors: list[str] = []
    total = sum(c.total for c in counts)
    if total == 0:
        errors.append("No usable image was found. Put your images in one folder per class (e.g. cats/, dogs/).")
    if len(counts) < limits.min_classes:
        found = ", ".join(quote(c.name) for c in counts) or "none"
        errors.append(
            f"A classifier needs at least {limits.min_classes} classes; this dataset has {len(counts)} ({found}). "
            "Add a folder per class."
        )
    for c in counts:
        if c.total < limits.min_images_per_class:
            errors.append(
                f"Class {quote(c.name)} has {c.total} usable image(s); each class needs at least "
                f"{limits.min_images_per_class}."
            )
        elif split_mode and c.train == 0:
            errors.append(f"Class {quote(c.name)} has no images in train/, so the model cannot learn it.")
        elif split_mode and c.val == 0:
            warnings.append(f"Class {quote(c.name)} has no images in val/, so its accuracy cannot be measured.")
    return warnings, errors


def _balance_warnings(counts: Sequence[ClassCount], limits: DatasetLimits) -> list[str]:
    """Classes so unequal that accuracy misleads, and classes so small that results are noise."""
    warnings: list[str] = []
    usable = [c for c in counts if c.total > 0]
    if len(usable) >= 2:
        big = max(usable, key=lambda c: c.total)
        small = min(usable, key=lambda c: c.total)
        if big.total >= limits.imbalance_ratio * small.total:
            warnings.append(
                f"The classes are unbalanced: {quote(big.name)} has {big.total} images but {quote(small.name)} only "
                f"{small.total} ({big.total / small.total:.1f}×). A model can look accurate by mostly guessing "
                f"{quote(big.name)}; check the per-class accuracy, or add images to the small classes."
            )
    few = [c for c in counts if limits.min_images_per_class <= c.total < 10]
    if few:
        warnings.append(
            "Very few images in "
            + ", ".join(quote(c.name) for c in few)
            + ": results will be noisy; aim for 20 or more."
        )
    return warnings


def _file_warnings(duplicates: Sequence[DuplicateGroup], skipped: Sequence[SkippedFile]) -> list[str]:
    """Duplicate files dropped (and ambiguous labels where a copy sits in two classes), and files skipped."""
    warnings: list[str] = []
    cross = [d for d in duplicates if len(d.classes) > 1]
    if duplicates:
        n = sum(len(d.dropped) for d in duplicates)
        warnings.append(f"{n} duplicate file(s) were dropped (identical content); only the first copy is used.")
    for d in cross:
        warnings.append(
            f"The same image is in classes {', '.join(quote(c) for c in d.classes)} ({d.kept}): its label is ambiguous."
        )
    if skipped:
        warnings.append(f"{len(skipped)} file(s) were skipped; the table lists each one with its reason.")
    return warnings


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


#: Unicode characters that reorder the text around them (right-to-left override and friends): a name holding one
#: shows differently from what it is.
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def validate_label(name: object, limits: DatasetLimits = DEFAULT_LIMITS) -> str:
    """A class name as a label (in a model, a chart, a table), trimmed; raises :class:`InputError` when it is not
    text, empty, too long, or has control or text-direction characters."""
    if not isinstance(name, str):
        raise InputError("A class name must be text.")
    clean = " ".join(name.split())
    if not clean:
        raise InputError("Every class needs a name.")
    if len(clean) > limits.max_class_name_length:
        raise InputError(
            f"The class name {quote(clean[:20] + '…')} is too long; at most {limits.max_class_name_length}."
        )
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise InputError("A class name cannot contain control characters.")
    if any(ch in _BIDI_CONTROLS for ch in name):
        raise InputError(
            "A class name cannot contain invisible text-direction characters (they make a name read backwards)."
        )
    return clean


def validate_labels(names: Sequence[object], limits: DatasetLimits = DEFAULT_LIMITS) -> list[str]:
    """Class names of one model or dataset: each a :func:`validate_label`, no two the same up to upper/lower case."""
    clean: list[str] = []
    seen: dict[str, str] = {}
    for i, name in enumerate(names, 1):
        try:
            label = validate_label(name, limits)
        except InputError as exc:
            raise InputError(f"Class {i}: {exc}") from exc
        if label.casefold() in seen:
            raise InputError(
                f"The class names {quote(seen[label.casefold()])} and {quote(label)} differ only in upper/lower case "
                "(or not at all); a model cannot have two classes of one name."
            )
        seen[label.casefold()] = label
        clean.append(label)
    return clean


def validate_class_name(name: str, limits: DatasetLimits = DEFAULT_LIMITS) -> str:
    """A class name, trimmed; raises :class:`InputError` when it is empty, too long or has control characters."""
    clean = validate_label(name, limits)
    if "/" in clean or "\\" in clean:
        raise InputError(f"The class name {quote(clean)} cannot contain / or \\.")
    if clean.startswith(".") or clean == "__MACOSX":
        raise InputError(f"The class name {quote(clean)} cannot start with a dot (such folders are hidden).")
    return clean
