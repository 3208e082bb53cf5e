"""Typed inputs and outputs of the applications' background jobs.

A job's parameters and its result are stored as JSON in its folder (``params.json``, ``result.json``, see
:mod:`cnn_demo.jobs`). Each job kind declares two frozen dataclasses instead of reading ``params.get(...)`` and
``result["..."]`` wherever they are needed: a :class:`JobParams` (read from the params dict in one place, defaults
written once, a bad value an :class:`~cnn_demo.errors.InputError` a student understands) and a :class:`JobResult`
(what the job returns and the pages read as attributes). ``to_dict``/``from_dict`` keep the stored JSON as it was,
so the results of jobs that finished before a field was added still open.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from cnn_demo.errors import InputError

P = TypeVar("P", bound="JobParams")
R = TypeVar("R", bound="JobResult")

_WHAT = {int: "a whole number", float: "a number", str: "a text", bool: "yes or no"}


def _field_types(cls: type) -> dict[str, Any]:
    """Field name -> type of the dataclass ``cls`` (annotations resolved)."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _convert(value: Any, kind: Any, label: str) -> Any:
    """``value`` as ``kind`` (int, float, str or bool) as the pages send it: a number may come as text."""
    options = [k for k in typing.get_args(kind) if k is not type(None)]
    if len(options) == 1:  # an optional field: ``int | None``
        kind = options[0]
    if kind not in _WHAT:
        return value
    if kind is bool:
        return bool(value)
    if kind is str:
        return str(value)
    try:
        return kind(value)
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"The setting {label!r} must be {_WHAT[kind]}, not {str(value)[:40]!r}.") from None


def typed_values(cls: type, params: Mapping[str, Any], names: Collection[str] | None = None) -> dict[str, Any]:
    """The values of ``params`` for the fields of the dataclass ``cls`` (only ``names`` when given), each converted
    to its field's type; absent or ``None`` values left out, so the fields keep their defaults."""
    if not isinstance(params, Mapping):
        raise InputError("The job's settings must be a mapping of names to values.")
    return {
        name: _convert(params[name], kind, name)
        for name, kind in _field_types(cls).items()
        if params.get(name) is not None and (names is None or name in names)
    }


class JobParams:
    """Base of a job kind's parameters (a frozen dataclass): :meth:`from_params` reads the params dict a page
    submitted, each value converted to its field's type; absent keys keep the field's default. Range checks go in
    the subclass's ``__post_init__``."""

    @classmethod
    def from_params(cls: type[P], params: Mapping[str, Any] | None) -> P:
        """The parameters of ``params``; keys that are no field are ignored (a page may send more)."""
        if params is None:
            params = {}
        return cls(**typed_values(cls, params))

    def to_dict(self) -> dict[str, Any]:
        """The params dict a page submits for these parameters (JSON-ready)."""
        return dataclasses.asdict(self)  # type: ignore[call-overload]


class JobResult:
    """Base of a job kind's result (a frozen dataclass): what the job returns as :meth:`to_dict` (the stored
    ``result.json``) and the pages read back with :meth:`from_dict`. ``KEYS`` names fields stored under another
    key (``"iou>=0.5"`` is no attribute name)."""

    KEYS: ClassVar[dict[str, str]] = {}

    def to_dict(self) -> dict[str, Any]:
        """The stored JSON of this result."""
        out = dataclasses.asdict(self)  # type: ignore[call-overload]
        return {self.KEYS.get(k, k): v for k, v in out.items()}

    @classmethod
    def from_dict(cls: type[R], data: Mapping[str, Any]) -> R:
        """The result stored as ``data``; fields missing from an older job's result keep their defaults."""
        keys = {name: cls.KEYS.get(name, name) for name in _field_types(cls)}
        return cls(**{name: data[key] for name, key in keys.items() if key in data})


@dataclass(frozen=True)
class UNetParams(JobParams):
    """What a ``unet_train`` job trains on and how (its params dict, :meth:`~.JobParams.from_params`)."""

    data: str = "shapes"  # shapes | voc_sample | voc_objects | upload (inputs/pairs.zip)
    size: int = 64
    seed: int = 0
    n_train: int = 160  # generated shapes only; a photo sample keeps a fifth of its pairs to check
    n_val: int = 16
    epochs: int = 15
    base: int = 8
    depth: int = 3
    lr: float = 0.003
    batch_size: int = 8

    def __post_init__(self) -> None:
        if not 1 <= self.epochs <= 100:
            raise InputError("Train for 1 to 100 epochs.")


@dataclass(frozen=True)
class UNetResult(JobResult):
    """What a finished ``unet_train`` job reports: the last epoch's IoU and Dice of the foreground classes."""

    iou: float = 0.0
    dice: float = 0.0
    epochs: int = 0
    classes: list[str] = field(default_factory=list)
    parameters: int = 0


@dataclass(frozen=True)
class LocalizationParams(JobParams):
    """What a ``localization_train`` job generates and how it trains (its params dict)."""

    size: int = 64
    n_train: int = 1200
    n_val: int = 200
    epochs: int = 10
    width: int = 16
    lr: float = 0.002
    batch_size: int = 32
    seed: int = 0

    def __post_init__(self) -> None:
        if self.size % 16:
            raise InputError("The image size must be a multiple of 16.")
        if not 1 <= self.epochs <= 100:
            raise InputError("Train for 1 to 100 epochs.")


@dataclass(frozen=True)
class LocalizationResult(JobResult):
    """What a finished ``localization_train`` job reports: the last epoch's mean IoU on the validation images and
    the share of their boxes found (IoU ≥ 0.5, stored as ``"iou>=0.5"``)."""

    KEYS: ClassVar[dict[str, str]] = {"hit_rate": "iou>=0.5"}

    iou: float = 0.0
    hit_rate: float = 0.0
    epochs: int = 0
    size: int = 64
    seed: int = 0
    n_train: int = 0
