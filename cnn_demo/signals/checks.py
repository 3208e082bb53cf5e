"""Input checks, number parsing and formatting, and the ready-made signals every 1-D page uses."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np

from cnn_demo.errors import InputError

#: The longest sequence the functions accept (keeps a shared server responsive).
MAX_LENGTH = 10_000


#: Ready-made signals for the convolution walkthrough.
PRESETS: tuple[str, ...] = ("impulse", "step", "box", "ramp", "noisy sine", "random")


#: The lecture's example.
LECTURE_F: tuple[float, ...] = (1, 2, 3, 4)


LECTURE_G: tuple[float, ...] = (1, 1, 1)


# --------------------------------------------------------------------------------------------- input checking


def _label(name: str) -> str:
    """Sentence-start form of a name: "the signal" → "The signal", but a symbol such as "f" stays "f"."""
    return name if len(name) <= 2 else name[:1].upper() + name[1:]


def as_signal(values: Sequence[float] | np.ndarray, name: str = "the signal") -> np.ndarray:
    """Check a sequence of numbers and return it as a 1-D float array.

    Raises :class:`InputError` for an empty sequence, something that is not a list of numbers, NaN or infinity,
    or more than :data:`MAX_LENGTH` values.
    """
    if isinstance(values, str):
        return parse_numbers(values, name)
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"{_label(name)} must be a list of numbers.") from None
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise InputError(f"{_label(name)} must be a flat list of numbers, not a table of shape {arr.shape}.")
    if arr.size == 0:
        raise InputError(f"{_label(name)} is empty: give at least one number.")
    if arr.size > MAX_LENGTH:
        raise InputError(f"{_label(name)} has {arr.size:,} values; the limit is {MAX_LENGTH:,}.")
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{_label(name)} contains NaN or infinity; use ordinary numbers.")
    return arr


_SEPARATORS = re.compile(r"[\s,;]+")


_UNSAFE = re.compile(r"[^A-Za-z0-9.+\-−]")


def parse_numbers(text: str, name: str = "the signal") -> np.ndarray:
    """Parse typed numbers such as ``"1, 2, 3, 4"`` or ``"[1 2 3 4]"`` into a float array.

    Commas, semicolons, spaces and surrounding brackets are accepted; anything else raises :class:`InputError`
    naming the piece that is not a number.
    """
    if not isinstance(text, str):
        raise InputError(f"{_label(name)} must be typed as numbers separated by commas.")
    if len(text) > 20 * MAX_LENGTH:
        raise InputError(f"{_label(name)} is too long; the limit is {MAX_LENGTH:,} values.")
    body = text.strip().strip("[]()").strip()
    tokens = [t for t in _SEPARATORS.split(body) if t]
    if not tokens:
        raise InputError(f"{_label(name)} is empty: type numbers separated by commas, e.g. 1, 2, 3, 4.")
    if len(tokens) > MAX_LENGTH:
        raise InputError(f"{_label(name)} has {len(tokens):,} values; the limit is {MAX_LENGTH:,}.")
    values = []
    for i, token in enumerate(tokens, start=1):
        try:
            v = float(token.replace("−", "-"))
        except ValueError:
            # The message is shown as markdown: echo only plain characters of the student's text.
            shown = _UNSAFE.sub("?", token if len(token) <= 20 else token[:20]) + ("…" if len(token) > 20 else "")
            raise InputError(
                f"{_label(name)}: value {i}, “{shown}”, is not a number. Type numbers separated by commas, "
                "e.g. 1, 2, 3, 4."
            ) from None
        if not math.isfinite(v):
            raise InputError(f"{_label(name)}: value {i}, “{_UNSAFE.sub('?', token)}”, is not a finite number.")
        values.append(v)
    return np.asarray(values, dtype=float)


def format_number(x: float, digits: int = 4) -> str:
    """A number written the way the slides write it: ``3`` for whole numbers, else up to ``digits`` significant."""
    x = float(x)
    if abs(x - round(x)) < 1e-9 * max(1.0, abs(x)):
        r = round(x)
        return "0" if r == 0 else str(int(r))
    return f"{x:.{digits}g}"


def format_numbers(values: Sequence[float] | np.ndarray, digits: int = 4) -> str:
    """Numbers joined as ``"1, 2, 3, 4"`` (what :func:`parse_numbers` reads back)."""
    return ", ".join(format_number(v, digits) for v in np.asarray(values, dtype=float).ravel())


def format_factor(x: float) -> str:
    """A number as a factor of a written product: negative ones in brackets, as in ``2×(-1)``."""
    s = format_number(x)
    return f"({s})" if s.startswith("-") else s


def check_choice(mode: str, allowed: tuple[str, ...]) -> str:
    """Return ``mode`` if it is one of ``allowed``, else raise :class:`InputError` listing them."""
    if mode not in allowed:
        raise InputError(f"Unknown mode “{mode}”: choose one of {', '.join(allowed)}.")
    return mode


def check_positive(value: float, name: str) -> float:
    """``value`` as a float if it is a finite number greater than 0, else an :class:`InputError` naming ``name``."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number.") from None
    if not math.isfinite(v) or v <= 0:
        raise InputError(f"{name} must be a number greater than 0, not {format_number(v) if math.isfinite(v) else v}.")
    return v


# --------------------------------------------------------------------------------------------- presets


def preset_signal(name: str, length: int = 12, seed: int = 0) -> np.ndarray:
    """One of :data:`PRESETS` with ``length`` samples (``seed`` for the noisy and random ones).

    ``ramp`` as a kernel shows the flip: convolving an impulse with ``[1, 2, 3]`` gives ``[1, 2, 3]``, but the
    walkthrough draws it reversed under ``f``.
    """
    if name not in PRESETS:
        raise InputError(f"Unknown preset “{name}”: choose one of {', '.join(PRESETS)}.")
    if not 1 <= int(length) <= MAX_LENGTH:
        raise InputError(f"A preset needs between 1 and {MAX_LENGTH:,} samples, not {length}.")
    n = int(length)
    rng = np.random.default_rng(seed)
    if name == "impulse":
        x = np.zeros(n)
        x[n // 2] = 1.0
    elif name == "step":
        x = (np.arange(n) >= n // 2).astype(float)
    elif name == "box":
        x = np.zeros(n)
        lo, hi = (0, n) if n <= 3 else (n // 3, n - n // 3)
        x[lo:hi] = 1.0
    elif name == "ramp":
        x = np.arange(1, n + 1, dtype=float)
    elif name == "noisy sine":
        t = np.arange(n)
        x = np.round(np.sin(2 * np.pi * 2 * t / max(n, 2)) + 0.3 * rng.standard_normal(n), 2)
    else:  # random
        x = rng.integers(-3, 4, size=n).astype(float)
    return x
