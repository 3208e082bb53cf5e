"""Convolution in statistics: the density of a sum, dice, kernel density estimates."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cnn_demo.errors import InputError
from cnn_demo.signals.checks import MAX_LENGTH, as_signal, check_positive

# --------------------------------------------------------------------------------------------- statistics


def density_of_sum(pdf_x: Sequence[float] | np.ndarray, pdf_y: Sequence[float] | np.ndarray, dx: float) -> np.ndarray:
    """Density of X + Y for independent X, Y: ``p_{X+Y}(z) = ∫ p_X(τ) p_Y(z − τ) dτ ≈ Σ p_X p_Y dx``.

    Both densities are sampled with the same spacing ``dx``; if they start at ``x0`` and ``y0`` the result is on
    ``x0 + y0 + dx·k`` for ``k = 0 … L+M−2`` (see :func:`sum_grid`). For probability mass functions use dx = 1.
    """
    dx = check_positive(dx, "The grid spacing dx")
    px = as_signal(pdf_x, "the density of X")
    py = as_signal(pdf_y, "the density of Y")
    if np.any(px < 0) or np.any(py < 0):
        raise InputError("A density cannot be negative.")
    return np.convolve(px, py) * dx


def sum_grid(x0: float, y0: float, dx: float, n_x: int, n_y: int) -> np.ndarray:
    """The grid of :func:`density_of_sum`'s output: ``x0 + y0 + dx·k``."""
    return x0 + y0 + dx * np.arange(n_x + n_y - 1)


@dataclass(frozen=True)
class Uniform:
    """The uniform distribution on [low, high]."""

    low: float = 0.0
    high: float = 1.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.low) and math.isfinite(self.high)) or self.high <= self.low:
            raise InputError("A uniform distribution needs low < high.")

    def pdf(self, x: np.ndarray) -> np.ndarray:
        """Density at x."""
        x = np.asarray(x, float)
        return np.where((x >= self.low) & (x <= self.high), 1.0 / (self.high - self.low), 0.0)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """n independent draws."""
        return rng.uniform(self.low, self.high, n)

    def support(self) -> tuple[float, float]:
        """An interval holding (practically) all the probability."""
        return self.low, self.high


@dataclass(frozen=True)
class Normal:
    """The normal distribution N(mean, std²)."""

    mean: float = 0.0
    std: float = 1.0

    def __post_init__(self) -> None:
        if not math.isfinite(self.mean):
            raise InputError("The mean must be a number.")
        check_positive(self.std, "The standard deviation")

    def pdf(self, x: np.ndarray) -> np.ndarray:
        """Density at x."""
        z = (np.asarray(x, float) - self.mean) / self.std
        return np.exp(-0.5 * z**2) / (self.std * math.sqrt(2 * math.pi))

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """n independent draws."""
        return rng.normal(self.mean, self.std, n)

    def support(self) -> tuple[float, float]:
        """mean ± 6 std."""
        return self.mean - 6 * self.std, self.mean + 6 * self.std


def sampled_density(dist: Uniform | Normal, dx: float) -> tuple[np.ndarray, np.ndarray]:
    """``(grid, pdf)`` of a distribution on its support with spacing dx, for :func:`density_of_sum`.

    The grid's first point is a multiple of dx so grids of different distributions line up.
    """
    dx = check_positive(dx, "The grid spacing dx")
    lo, hi = dist.support()
    n = round((hi - lo) / dx) + 1
    if n > MAX_LENGTH:
        raise InputError(f"The grid would have {n:,} points; use a larger dx.")
    grid = lo + dx * np.arange(n)
    pdf = dist.pdf(grid)
    if isinstance(dist, Uniform):
        # The end points of a uniform sit on the grid: give them half weight (trapezoid rule) so it integrates to 1.
        pdf[0] *= 0.5
        pdf[-1] *= 0.5
    return grid, pdf


def sum_density(dist_x: Uniform | Normal, dist_y: Uniform | Normal, dx: float) -> tuple[np.ndarray, np.ndarray]:
    """``(grid, density)`` of X + Y by numerically convolving the sampled densities."""
    gx, px = sampled_density(dist_x, dx)
    gy, py = sampled_density(dist_y, dx)
    return sum_grid(gx[0], gy[0], dx, gx.size, gy.size), density_of_sum(px, py, dx)


def uniform_sum_pdf(x: Uniform, y: Uniform, z: np.ndarray) -> np.ndarray:
    """Exact density of X + Y for independent uniforms: the length of [x.low, x.high] ∩ [z − y.high, z − y.low]
    divided by both widths (a triangle for equal widths, a trapezoid otherwise)."""
    z = np.asarray(z, float)
    overlap = np.minimum(x.high, z - y.low) - np.maximum(x.low, z - y.high)
    return np.clip(overlap, 0.0, None) / ((x.high - x.low) * (y.high - y.low))


def normal_sum(x: Normal, y: Normal) -> Normal:
    """X + Y for independent normals: N(μx + μy, σx² + σy²)."""
    return Normal(x.mean + y.mean, math.hypot(x.std, y.std))


def monte_carlo_sum(dist_x: Uniform | Normal, dist_y: Uniform | Normal, n: int, seed: int = 0) -> np.ndarray:
    """n simulated values of X + Y (X, Y independent)."""
    if not 1 <= int(n) <= 1_000_000:
        raise InputError("The number of simulated values must be between 1 and 1,000,000.")
    rng = np.random.default_rng(seed)
    return dist_x.sample(rng, int(n)) + dist_y.sample(rng, int(n))


def dice_sum_pmf(n_dice: int, sides: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """``(totals, probabilities)`` of the sum of ``n_dice`` fair dice: the die's pmf convolved with itself."""
    if not 1 <= int(n_dice) <= 100:
        raise InputError("Choose between 1 and 100 dice.")
    if not 2 <= int(sides) <= 100:
        raise InputError("A die needs between 2 and 100 sides.")
    die = np.full(int(sides), 1.0 / int(sides))
    pmf = die
    for _ in range(int(n_dice) - 1):
        pmf = density_of_sum(pmf, die, 1.0)
    return np.arange(int(n_dice), int(n_dice) * int(sides) + 1), pmf


def most_likely(values: Sequence[float] | np.ndarray, pmf: Sequence[float] | np.ndarray) -> list[int]:
    """Every value whose probability ties for the largest (three dice: 10 and 11), not just the first."""
    p = np.asarray(pmf, dtype=np.float64)
    return [int(v) for v in np.asarray(values)[np.isclose(p, p.max(), rtol=1e-12, atol=0)]]


def roll_dice(n_dice: int, rolls: int, sides: int = 6, seed: int = 0) -> np.ndarray:
    """Totals of ``rolls`` simulated throws of ``n_dice`` dice."""
    if not 1 <= int(rolls) <= 1_000_000:
        raise InputError("The number of rolls must be between 1 and 1,000,000.")
    rng = np.random.default_rng(seed)
    return rng.integers(1, int(sides) + 1, size=(int(rolls), int(n_dice))).sum(axis=1)


def kde(data: Sequence[float] | np.ndarray, grid: Sequence[float] | np.ndarray, bandwidth: float) -> np.ndarray:
    """Gaussian kernel density estimate ``(1/nh) Σ_i φ((x − x_i)/h)`` on grid: the data smoothed by a Gaussian."""
    h = check_positive(bandwidth, "The bandwidth")
    d = as_signal(data, "the data")
    x = np.asarray(grid, float)
    z = (x[:, None] - d[None, :]) / h
    return np.exp(-0.5 * z**2).sum(axis=1) / (d.size * h * math.sqrt(2 * math.pi))


def kde_by_convolution(
    data: Sequence[float] | np.ndarray, grid: Sequence[float] | np.ndarray, bandwidth: float
) -> np.ndarray:
    """The same estimate as :func:`kde`, computed as a convolution on an evenly spaced grid.

    Each data point becomes a spike of area 1/n in its grid cell (a very fine histogram); convolving the spikes with
    the Gaussian density of standard deviation h spreads each into a bump. Accurate to about half a grid cell.
    """
    h = check_positive(bandwidth, "The bandwidth")
    d = as_signal(data, "the data")
    x = np.asarray(grid, float)
    if x.ndim != 1 or x.size < 2 or not np.allclose(np.diff(x), x[1] - x[0]) or x[1] <= x[0]:
        raise InputError("The grid must be evenly spaced and increasing.")
    dx = float(x[1] - x[0])
    idx = np.rint((d - x[0]) / dx).astype(int)
    idx = idx[(idx >= 0) & (idx < x.size)]
    spikes = np.bincount(idx, minlength=x.size)[: x.size] / (d.size * dx)
    radius = min(int(np.ceil(6 * h / dx)), MAX_LENGTH // 2)
    t = dx * np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (t / h) ** 2) / (h * math.sqrt(2 * math.pi))
    return np.convolve(spikes, kernel * dx, mode="full")[radius : radius + x.size]


def silverman_bandwidth(data: Sequence[float] | np.ndarray) -> float:
    """Silverman's rule of thumb ``0.9·min(std, IQR/1.34)·n^(−1/5)``, a common default bandwidth."""
    d = as_signal(data, "the data")
    if d.size < 2:
        raise InputError("Need at least two data points for a bandwidth.")
    q75, q25 = np.percentile(d, [75, 25])
    spread = min(float(d.std(ddof=1)), float(q75 - q25) / 1.34) or float(d.std(ddof=1))
    if spread <= 0:
        raise InputError("All data points are equal; there is no spread to set a bandwidth from.")
    return 0.9 * spread * d.size ** (-0.2)


def mixture_sample(n: int = 200, seed: int = 0) -> np.ndarray:
    """A sample from a two-bump mixture (0.6·N(−1, 0.5²) + 0.4·N(1.5, 0.8²)) for the KDE demo."""
    if not 2 <= int(n) <= MAX_LENGTH:
        raise InputError(f"The sample size must be between 2 and {MAX_LENGTH:,}.")
    rng = np.random.default_rng(seed)
    first = rng.random(int(n)) < 0.6
    return np.where(first, rng.normal(-1.0, 0.5, int(n)), rng.normal(1.5, 0.8, int(n)))


def mixture_pdf(x: np.ndarray) -> np.ndarray:
    """The true density :func:`mixture_sample` draws from."""
    return 0.6 * Normal(-1.0, 0.5).pdf(x) + 0.4 * Normal(1.5, 0.8).pdf(x)
