"""Layer tables: output shapes, parameters and multiply-accumulates of every layer, from a real forward pass."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from cnn_demo.errors import InputError


@dataclass(frozen=True)
class LayerRow:
    """One call of one layer during the forward pass.

    ``params`` are the parameters the module owns directly (counted at its first call only, so the rows add
    up to the model's total); ``macs`` the multiply-accumulates of that call (conv and linear layers).
    """

    name: str
    type: str
    output_shape: tuple[int, ...]
    params: int
    macs: int


@dataclass(frozen=True)
class ModelSummary:
    """The layer table of a model for one input size, with totals."""

    rows: tuple[LayerRow, ...]
    input_size: tuple[int, ...]
    output_shape: tuple[int, ...]
    total_params: int
    trainable_params: int
    total_macs: int

    def records(self) -> list[dict]:
        """The rows as dicts (for a DataFrame); shapes as text like ``1×64×55×55``."""
        return [
            {
                "name": r.name,
                "type": r.type,
                "output_shape": "×".join(map(str, r.output_shape)),
                "params": r.params,
                "macs": r.macs,
            }
            for r in self.rows
        ]


def _shape(out: object) -> tuple[int, ...]:
    if isinstance(out, torch.Tensor):
        return tuple(out.shape)
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        return tuple(out[0].shape)
    return ()


def _macs(module: nn.Module, args: tuple, out: object) -> int:
    if not isinstance(out, torch.Tensor):
        return 0
    if isinstance(module, nn.modules.conv._ConvTransposeNd):
        kernel = 1
        for k in module.kernel_size:
            kernel *= k
        return int(args[0].numel() * (module.out_channels // module.groups) * kernel)
    if isinstance(module, nn.modules.conv._ConvNd):
        per_output = module.in_channels // module.groups
        for k in module.kernel_size:
            per_output *= k
        return int(out.numel() * per_output)
    if isinstance(module, nn.Linear):
        return int(out.numel() * module.in_features)
    return 0


def _hw(shape: tuple[int, ...]) -> str:
    return "×".join(map(str, shape[-2:])) if len(shape) >= 4 else "×".join(map(str, shape[1:]))


def _failure_message(input_size: tuple[int, ...], exc: Exception, entered: list, rows: list[LayerRow]) -> str:
    """A student's explanation of a failed forward pass: the layer where it failed and the sizes on the way there."""
    size = "×".join(map(str, input_size))
    detail = (str(exc).splitlines() or [type(exc).__name__])[0]
    if not entered:
        return f"The model cannot take an input of size {size}: {detail}"
    name, module, shape = entered[-1]
    kind = type(module).__name__
    kernel = getattr(module, "kernel_size", None)
    if isinstance(kernel, int):
        kernel = (kernel, kernel)
    if kernel is not None and len(shape) == 4 and "too small" in detail:
        pad = getattr(module, "padding", 0)
        pad = pad if isinstance(pad, (int, str)) else max(pad)
        what = (
            f"its {shape[2]}×{shape[3]} feature map ({shape[1]} channels) is smaller than the "
            f"{kernel[0]}×{kernel[1]} window of `{name}` ({kind}"
            + (f", padding {pad}" if pad else "")
            + "), so that layer's output would be empty"
        )
    elif isinstance(module, nn.modules.conv._ConvNd) and len(shape) > 1 and shape[1] != module.in_channels:
        what = f"`{name}` ({kind}) expects {module.in_channels} input channels but gets {shape[1]}"
    elif isinstance(module, nn.Linear) and shape:
        what = (
            f"`{name}` (Linear) expects {module.in_features} numbers per image but gets "
            f"{shape[-1]}: this model's flattened feature map only fits its training input size"
        )
    else:
        what = f"`{name}` ({kind}) fails on its input of shape {'×'.join(map(str, shape))}: {detail}"
    way = [f"{_hw((1, *input_size))} (input)"]
    last = _hw((1, *input_size))
    for r in rows:
        if len(r.output_shape) == 4 and _hw(r.output_shape) != last:
            last = _hw(r.output_shape)
            way.append(f"{last} after `{r.name}`")
    return f"The model cannot take a {size} input: {what}. Its size on the way: " + " → ".join(way) + "."


def summarize(model: nn.Module, input_size: tuple[int, ...], batch_size: int = 1) -> ModelSummary:
    """Run one forward pass of zeros of shape (batch_size, *input_size) and record every layer's output.

    Works on a model built on the ``meta`` device too (shapes only, no compute), which is how the app summarises
    large models instantly. Layers are recorded through forward hooks on every module that is a leaf or owns
    parameters; the model's training mode is restored afterwards.
    """
    if len(input_size) != 3 or any(not isinstance(s, int) or s < 1 for s in input_size):
        raise InputError(
            f"The input size must be (channels, height, width) of positive whole numbers, not {input_size}."
        )
    rows: list[LayerRow] = []
    seen: set[int] = set()
    handles = []
    entered: list[tuple[str, nn.Module, tuple[int, ...]]] = []  # the leaf layers as they start, to name a failure

    def pre_hook(name: str):
        def record(module: nn.Module, args: tuple) -> None:
            entered.append((name, module, _shape(args[0]) if args else ()))

        return record

    def hook(name: str):
        def record(module: nn.Module, args: tuple, out: object) -> None:
            own = 0
            if id(module) not in seen:
                seen.add(id(module))
                own = sum(p.numel() for p in module.parameters(recurse=False))
            rows.append(LayerRow(name, type(module).__name__, _shape(out), own, _macs(module, args, out)))

        return record

    for name, module in model.named_modules():
        is_leaf = next(iter(module.children()), None) is None
        if name and (is_leaf or any(True for _ in module.parameters(recurse=False))):
            handles.append(module.register_forward_hook(hook(name)))
        if name and is_leaf:
            handles.append(module.register_forward_pre_hook(pre_hook(name)))
    try:
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        x = torch.zeros((batch_size, *input_size), device=device)
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                out = model(x)
        except (RuntimeError, ValueError, AssertionError) as exc:
            raise InputError(_failure_message(input_size, exc, entered, rows)) from exc
        finally:
            model.train(was_training)
    finally:
        for h in handles:
            h.remove()
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return ModelSummary(tuple(rows), tuple(input_size), _shape(out), total, trainable, sum(r.macs for r in rows))
