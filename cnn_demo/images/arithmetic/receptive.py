"""Receptive fields and sizes through a stack of layers."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from cnn_demo.errors import InputError
from cnn_demo.images.arithmetic.sizes import conv_output_size

# --------------------------------------------------------------------------------------- receptive field


@dataclass(frozen=True)
class Layer:
    """One layer of a stack, for the receptive-field table (square kernels, one value per setting)."""

    name: str
    kernel: int
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    kind: str = "conv"  # "conv" or "pool": only the output-size rules differ


@dataclass(frozen=True)
class ReceptiveField:
    """After a layer: how many input pixels one output unit sees (``size``), how far apart neighbouring units'
    centres are in input pixels (``jump``), and the input coordinate where the first unit's window is centred
    (``start``; pixel 0 is at 0, padding shifts it)."""

    name: str
    size: int
    jump: int
    start: float


def receptive_field(layers: Sequence[Layer | dict | tuple]) -> list[ReceptiveField]:
    """Receptive field after each layer of a stack, by the recurrence r ← r + (d(k−1))·j, j ← j·s.

    ``layers`` are :class:`Layer` objects, dicts with the same keys, or (kernel, stride[, padding[, dilation]])
    tuples. The receptive field grows by (effective kernel − 1) times the product of the earlier strides, so
    strides early in a network make later layers see much more of the image.
    """
    if not layers:
        raise InputError("Add at least one layer to the table.")
    rows: list[ReceptiveField] = []
    size, jump, start = 1, 1, 0.0
    for i, raw in enumerate(layers, start=1):
        layer = _as_layer(raw, i)
        effective = layer.dilation * (layer.kernel - 1) + 1
        size += (effective - 1) * jump
        start += ((effective - 1) / 2 - layer.padding) * jump
        jump *= layer.stride
        rows.append(ReceptiveField(layer.name, size, jump, start))
    return rows


def _as_layer(raw: Layer | dict | tuple, index: int) -> Layer:
    if isinstance(raw, Layer):
        layer = raw
    elif isinstance(raw, dict):
        known = {"name", "kernel", "stride", "padding", "dilation", "kind"}
        values = {k: v for k, v in raw.items() if k in known and v is not None and v == v}  # drop NaN cells
        values.setdefault("name", f"layer {index}")
        if "kernel" not in values:
            raise InputError(f"Layer {index} has no kernel size.")
        try:
            fields = {k: (str(v) if k in ("name", "kind") else _whole(v, k, index)) for k, v in values.items()}
            layer = Layer(**fields)  # type: ignore[arg-type]  # each field got its type just above
        except TypeError as exc:
            raise InputError(f"Layer {index} is incomplete.") from exc
    elif isinstance(raw, (tuple, list)) and 1 <= len(raw) <= 4:
        layer = Layer(f"layer {index}", *(_whole(v, "setting", index) for v in raw))  # type: ignore[arg-type]
    else:
        raise InputError(f"Layer {index} must give a kernel size, stride, padding and dilation.")
    if layer.kind not in ("conv", "pool"):
        raise InputError(f"Layer {index} ({layer.name}): kind must be 'conv' or 'pool', not {layer.kind!r}.")
    for name, minimum in (("kernel", 1), ("stride", 1), ("padding", 0), ("dilation", 1)):
        v = getattr(layer, name)
        if not isinstance(v, int) or isinstance(v, bool) or v < minimum:
            raise InputError(f"Layer {index} ({layer.name}): {name} must be a whole number ≥ {minimum}, not {v!r}.")
    return layer


def _whole(value: object, name: str, index: int) -> int:
    try:
        f = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise InputError(f"Layer {index}: {name} must be a whole number, not {value!r}.") from exc
    if not math.isfinite(f) or f != int(f):
        raise InputError(f"Layer {index}: {name} must be a whole number, not {value!r}.")
    return int(f)


def stack_sizes(size: int, layers: Sequence[Layer | dict | tuple]) -> list[int]:
    """The (square) feature-map size after each layer of a stack for a ``size``×``size`` input.

    Raises :class:`InputError` naming the first layer PyTorch would refuse (e.g. the map became too small).
    """
    sizes = []
    current = size
    for i, raw in enumerate(layers, start=1):
        layer = _as_layer(raw, i)
        try:
            out = conv_output_size(current, layer.kernel, layer.stride, layer.padding, layer.dilation, layer=layer.kind)
            assert isinstance(out, int)  # int arguments give an int
            current = out
        except InputError as exc:
            raise InputError(f"Layer {i} ({layer.name}) on a {current}×{current} input: {exc}") from exc
        sizes.append(current)
    return sizes
