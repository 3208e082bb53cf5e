"""Fine-tuning settings as frozen dataclasses (head, augmentation, training run) and the head module they describe."""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass, field
from typing import Any

from torch import nn

from cnn_demo.errors import InputError
from cnn_demo.models.data import Augment

STRATEGIES: tuple[str, ...] = ("frozen", "partial", "full")
HEADS: tuple[str, ...] = ("linear", "mlp")
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
class AugmentSpec(Augment):
    """Random training-time changes (horizontal flip, random resized crop, colour jitter), all off by default.

    The augmentation of ``cnn_demo.models.transform`` (:class:`~cnn_demo.models.data.Augment`), with the types of
    its fields checked: it also comes from a page's widgets and an uploaded config.json.
    """

    flip: bool = False
    crop: bool = False
    crop_scale: float = 0.6
    jitter: float = 0.0

    def __post_init__(self) -> None:
        _require_types(self, {"flip": _BOOL, "crop": _BOOL, "crop_scale": _NUM, "jitter": _NUM})
        super().__post_init__()


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
