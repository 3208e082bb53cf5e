"""cnn_demo.signals against NumPy, SciPy and PyTorch: the lecture's numbers exactly, random inputs by property."""

import itertools
from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import ndimage, stats

from cnn_demo import signals as sg
from cnn_demo.errors import InputError

F, G = [1, 2, 3, 4], [1, 1, 1]
SETTINGS = settings(max_examples=60, deadline=None)


def signal(min_size: int = 1, max_size: int = 30):
    """Hypothesis strategy: a 1-D float array of moderate values."""
    return arrays(np.float64, st.integers(min_size, max_size), elements=st.floats(-100, 100, allow_nan=False, width=32))


# ------------------------------------------------------------------------------------------------ the lecture


def test_lecture_convolution_exactly():
    assert sg.convolve(F, G).tolist() == [1, 3, 6, 9, 7, 4]
    assert sg.convolve(sg.convolve(F, G), G).tolist() == [1, 4, 10, 18, 22, 20, 11, 4]


def test_lecture_written_sums_exactly():
    lines = [sg.written_sum(s) for s in sg.convolution_steps(F, G)[:3]]
    assert lines == [
        "(f*g)(0) = f(0)g(0) + f(1)g(-1) + f(2)g(-2) + f(3)g(-3) = 1×1 + 2×0 + 3×0 + 4×0 = 1",
        "(f*g)(1) = f(0)g(1) + f(1)g(0) + f(2)g(-1) + f(3)g(-2) = 1×1 + 2×1 + 3×0 + 4×0 = 3",
        "(f*g)(2) = f(0)g(2) + f(1)g(1) + f(2)g(0) + f(3)g(-1) = 1×1 + 2×1 + 3×1 + 4×0 = 6",
    ]


def test_lecture_step_record():
    step = sg.convolution_steps(F, G)[2]
    assert step.t == 2
    assert step.terms == ((0, 1.0, 1.0), (1, 2.0, 1.0), (2, 3.0, 1.0), (3, 4.0, 0.0))
    assert step.value == 6


def test_written_sum_negative_factors_and_overlap_only():
    step = sg.convolution_step([2, -1], [-3, 0.5], 1)
    assert sg.written_sum(step) == "(f*g)(1) = f(0)g(1) + f(1)g(0) = 2×0.5 + (-1)×(-3) = 4"
    long = sg.convolution_step(np.arange(20), [1, 1], 5)
    assert sg.written_sum(long, overlap_only=True) == "(f*g)(5) = f(4)g(1) + f(5)g(0) = 4×1 + 5×1 = 9"


def test_torch_conv1d_with_flipped_kernel_is_the_convolution():
    assert sg.torch_conv1d(F, G).tolist() == [1, 3, 6, 9, 7, 4]
    f, g = [1, 2, 3, 4], [1, 2, 3]
    assert np.allclose(sg.torch_conv1d(f, g, flip=True), np.convolve(f, g))
    # Without the flip, conv1d is a cross-correlation, which differs for an asymmetric kernel.
    plain = sg.torch_conv1d(f, g, flip=False)
    assert np.allclose(plain, np.correlate(f, g, "full"))
    assert not np.allclose(plain, np.convolve(f, g))


def test_shown_torch_code_runs_and_gives_the_convolution():
    f, g = [1, -2.5, 3, 4, 0.25], [1, 2, 3]
    code = sg.torch_conv1d_code(f, g)
    assert "F.conv1d(f, g.flip(-1), padding=2)" in code
    namespace: dict = {}
    exec(code.replace("F.conv1d(", "result = F.conv1d("), namespace)
    assert torch.allclose(namespace["result"].reshape(-1).double(), torch.tensor(np.convolve(f, g)), atol=1e-6)


# ------------------------------------------------------------------------------------------------ convolution


@SETTINGS
@given(signal(), signal(), st.sampled_from(sg.MODES))
def test_convolve_equals_numpy(f, g, mode):
    out = sg.convolve(f, g, mode)
    np.testing.assert_allclose(out, np.convolve(f, g, mode), rtol=1e-12, atol=1e-9)
    assert out.size == sg.output_length(f.size, g.size, mode)


@SETTINGS
@given(signal(max_size=12), signal(max_size=8))
def test_steps_follow_the_definition(f, g):
    steps = sg.convolution_steps(f, g)
    assert [s.t for s in steps] == list(range(f.size + g.size - 1))
    np.testing.assert_allclose([s.value for s in steps], np.convolve(f, g), rtol=1e-9, atol=1e-9)
    for s in steps:
        assert [tau for tau, _, _ in s.terms] == list(range(f.size))
        for tau, f_tau, g_val in s.terms:
            j = s.t - tau
            assert f_tau == f[tau]
            assert g_val == (g[j] if 0 <= j < g.size else 0.0)


@SETTINGS
@given(signal(), signal())
def test_frequency_view_is_the_convolution_theorem(f, g):
    view = sg.frequency_view(f, g)
    np.testing.assert_allclose(view.convolution, np.convolve(f, g), atol=1e-7 * (1 + np.abs(f).sum() * 100))
    np.testing.assert_allclose(view.product, view.f_spectrum * view.g_spectrum)
    assert view.frequencies[0] == 0 and view.frequencies[-1] <= 0.5


@SETTINGS
@given(signal(max_size=20), signal(max_size=20))
def test_torch_matches_numpy_on_random_inputs(f, g):
    np.testing.assert_allclose(sg.torch_conv1d(f, g), np.convolve(f, g), rtol=1e-9, atol=1e-7)


# ------------------------------------------------------------------------------------------------ correlation


@SETTINGS
@given(signal(max_size=15), signal(max_size=15))
def test_cross_correlation_definition_and_numpy(f, g):
    lags, values = sg.cross_correlation(f, g)
    assert lags.tolist() == list(range(-(f.size - 1), g.size))
    brute = [sum(f[tau] * g[tau + t] for tau in range(f.size) if 0 <= tau + t < g.size) for t in lags]
    np.testing.assert_allclose(values, brute, rtol=1e-9, atol=1e-8)
    np.testing.assert_allclose(values, np.correlate(g, f, "full"), rtol=1e-9, atol=1e-8)


@SETTINGS
@given(signal(max_size=25))
def test_autocorrelation_symmetric_and_largest_at_zero(f):
    lags, values = sg.autocorrelation(f)
    np.testing.assert_allclose(values, values[::-1], rtol=1e-9, atol=1e-8)
    assert values[lags == 0][0] == pytest.approx(np.sum(f**2))
    assert values.max() <= values[lags == 0][0] + 1e-9


@pytest.mark.parametrize("shift", [-23, -1, 0, 7, 40])
def test_peak_of_cross_correlation_recovers_the_shift(shift):
    f, g = sg.shifted_noisy_copy(200, shift, noise=0.3, seed=3)
    assert sg.best_lag(*sg.cross_correlation(f, g)) == shift


@pytest.mark.parametrize(("period", "shape"), [(7, "sine"), (20, "sine"), (20, "square"), (33, "square")])
def test_autocorrelation_finds_the_period(period, shape):
    x = sg.periodic_signal(300, period, noise=0.5, shape=shape, seed=1)
    assert sg.estimate_period(x) == pytest.approx(period, abs=0.6)


def test_period_reading_gives_its_whole_lag_peaks_and_their_width():
    clean = sg.read_period(sg.periodic_signal(200, 20, noise=0.0, shape="sine", seed=0))
    assert clean is not None and clean.period == pytest.approx(20.0)
    assert clean.peaks == (20, 40, 60, 80)  # whole lags: a peak is known to the nearest sample
    # A sine's autocorrelation is a cosine (times a taper): above half its height for a third of a period.
    assert clean.peak_width == pytest.approx(20 / 3, abs=0.4)
    noisy = sg.read_period(sg.periodic_signal(200, 20, noise=1.0, shape="sine", seed=0))
    assert noisy is not None and noisy.period == sg.estimate_period(sg.periodic_signal(200, 20, 1.0, "sine", 0))
    k = np.arange(1, len(noisy.peaks) + 1)
    assert noisy.period == pytest.approx(np.sum(k * noisy.peaks) / np.sum(k**2))  # the line through the origin


def test_no_period_without_one():
    assert sg.estimate_period(np.arange(50.0) ** 2) is None
    assert sg.estimate_period(np.random.default_rng(0).standard_normal(200)) is None
    assert sg.estimate_period(np.ones(20)) is None


# ------------------------------------------------------------------------------------------------ Gaussian


@SETTINGS
@given(st.floats(0.1, 15), st.floats(0.5, 6))
def test_gaussian_kernel_matches_scipy(sigma, truncate):
    kernel = sg.gaussian_kernel(sigma, truncate)
    r = int(truncate * sigma + 0.5)
    assert kernel.size == 2 * r + 1
    assert kernel.sum() == pytest.approx(1.0)
    raw = sg.gaussian_kernel(sigma, truncate, normalise=False)
    np.testing.assert_allclose(raw, stats.norm(0, sigma).pdf(np.arange(-r, r + 1)), rtol=1e-12)
    np.testing.assert_allclose(kernel, raw / raw.sum(), rtol=1e-12)
    impulse = np.zeros(2 * r + 1)
    impulse[r] = 1.0
    np.testing.assert_allclose(
        kernel, ndimage.gaussian_filter1d(impulse, sigma, mode="constant", truncate=truncate), atol=1e-12
    )


@SETTINGS
@given(signal(max_size=60), st.floats(0.1, 12), st.sampled_from(sg.BOUNDARY_MODES), st.floats(1, 5))
def test_gaussian_smooth_equals_scipy(x, sigma, mode, truncate):
    ours = sg.gaussian_smooth(x, sigma, mode, truncate)
    ref = ndimage.gaussian_filter1d(x, sigma, mode=mode, truncate=truncate)
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("mode", sg.BOUNDARY_MODES)
def test_extend_signal_matches_scipy_boundary(mode):
    x = np.array([1.0, 3.0, 2.0, 5.0])
    radius = 6
    ext = sg.extend_signal(x, radius, mode)
    assert ext[radius : radius + x.size].tolist() == x.tolist()
    # A one-hot kernel of length 2k+1 makes scipy's correlate1d read x[i − k] (hot at 0) or x[i + k] (hot at 2k)
    # at the edges: exactly the values the boundary mode invents.
    for k in range(1, radius + 1):
        w = np.zeros(2 * k + 1)
        w[0] = 1.0
        assert ext[radius - k] == ndimage.correlate1d(x, w, mode=mode)[0], (mode, -k)
        w = w[::-1].copy()
        assert ext[radius + x.size - 1 + k] == ndimage.correlate1d(x, w, mode=mode)[-1], (mode, k)


def test_smoothing_trade_off():
    clean, noisy = sg.noisy_signal(200, noise=0.5, seed=0)
    errors = sg.smoothing_error_curve(clean, noisy, [0.3, 3.0, 40.0])
    assert errors[1] < errors[0] and errors[1] < errors[2]


# ------------------------------------------------------------------------------------------------ statistics


def test_two_dice_exactly():
    totals, pmf = sg.dice_sum_pmf(2)
    assert totals.tolist() == list(range(2, 13))
    assert [Fraction(p).limit_denominator(36) for p in pmf] == [
        Fraction(k, 36) for k in (1, 2, 3, 4, 5, 6, 5, 4, 3, 2, 1)
    ]


def test_three_dice_by_enumeration():
    totals, pmf = sg.dice_sum_pmf(3)
    assert totals.tolist() == list(range(3, 19))
    counts = np.bincount([sum(r) for r in itertools.product(range(1, 7), repeat=3)])[3:]
    np.testing.assert_allclose(pmf, counts / 216)
    rolls = sg.roll_dice(3, 20_000, seed=0)
    assert rolls.mean() == pytest.approx(10.5, abs=0.05)


@pytest.mark.parametrize(("a", "b"), [(1.0, 1.0), (1.0, 2.5)])
def test_uniform_sum_density(a, b):
    x, y = sg.Uniform(0, a), sg.Uniform(0, b)
    grid, density = sg.sum_density(x, y, 0.005)
    assert grid[0] == pytest.approx(0) and grid[-1] == pytest.approx(a + b)
    np.testing.assert_allclose(density, sg.uniform_sum_pdf(x, y, grid), atol=0.006)
    assert density.sum() * 0.005 == pytest.approx(1.0, abs=1e-6)
    sim = sg.monte_carlo_sum(x, y, 50_000, seed=0)
    hist, edges = np.histogram(sim, bins=20, range=(0, a + b), density=True)
    centres = (edges[:-1] + edges[1:]) / 2
    np.testing.assert_allclose(hist, sg.uniform_sum_pdf(x, y, centres), atol=0.05)


def test_normal_sum_density_against_scipy():
    x, y = sg.Normal(0, 1), sg.Normal(2, 0.5)
    grid, density = sg.sum_density(x, y, 0.01)
    ref = stats.norm(2, np.hypot(1, 0.5)).pdf(grid)
    np.testing.assert_allclose(density, ref, atol=1e-6)
    np.testing.assert_allclose(sg.normal_sum(x, y).pdf(grid), ref, atol=1e-12)


@SETTINGS
@given(signal(max_size=20).map(np.abs), signal(max_size=20).map(np.abs), st.floats(0.01, 2))
def test_density_of_sum_is_scaled_convolution(px, py, dx):
    np.testing.assert_allclose(sg.density_of_sum(px, py, dx), np.convolve(px, py) * dx, rtol=1e-12, atol=1e-9)


def test_kde_against_scipy():
    data = sg.mixture_sample(300, seed=2)
    grid = np.linspace(-4, 6, 1001)
    for h in (0.1, 0.4, 1.2):
        ref = stats.gaussian_kde(data, bw_method=h / data.std(ddof=1))(grid)
        np.testing.assert_allclose(sg.kde(data, grid, h), ref, atol=1e-12)
        # The convolution form agrees up to the grid spacing (data moved to the nearest grid point).
        assert np.max(np.abs(sg.kde_by_convolution(data, grid, h) - ref)) < 0.02 * ref.max()
    assert sg.silverman_bandwidth(data) == pytest.approx(
        0.9 * min(data.std(ddof=1), stats.iqr(data) / 1.34) * data.size ** (-0.2)
    )


# ------------------------------------------------------------------------------------------------ input


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1, 2, 3, 4", [1, 2, 3, 4]), ("[1 2 3 4]", [1, 2, 3, 4]), ("1;-2.5; 3e1", [1, -2.5, 30]), ("−1", [-1])],
)
def test_parse_numbers(text, expected):
    assert sg.parse_numbers(text).tolist() == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is empty"),
        ("  [ ] ", "is empty"),
        ("1, two, 3", "value 2, “two”, is not a number"),
        ("1 [x](http://a.b) 2", r"value 2, “\?x\?\?http\?\?\?a.b\?”"),  # no markdown link survives
        ("1, " + "9" * 30 + "x", "“" + "9" * 20 + "…”"),
        ("1, nan", "not a finite number"),
        ("inf", "not a finite number"),
        (", ".join(["1"] * 10_001), "limit is 10,000"),
    ],
)
def test_parse_numbers_errors(text, message):
    with pytest.raises(InputError, match=message):
        sg.parse_numbers(text, "f")


def test_bad_input_raises_input_error():
    with pytest.raises(InputError, match="empty"):
        sg.convolve([], [1])
    with pytest.raises(InputError, match="list of numbers"):
        sg.convolve(["a", "b"], [1])
    with pytest.raises(InputError, match="flat list"):
        sg.convolve(np.ones((2, 2)), [1])
    with pytest.raises(InputError, match="10,000"):
        sg.convolve(np.ones(10_001), [1])
    with pytest.raises(InputError, match="NaN"):
        sg.cross_correlation([1, np.nan], [1])
    with pytest.raises(InputError, match="Unknown mode"):
        sg.convolve([1], [1], "circular")
    with pytest.raises(InputError, match="greater than 0"):
        sg.gaussian_kernel(0)
    with pytest.raises(InputError, match="greater than 0"):
        sg.gaussian_smooth([1, 2, 3], -1)
    with pytest.raises(InputError, match="Unknown mode"):
        sg.gaussian_smooth([1, 2, 3], 1, mode="periodic")
    with pytest.raises(InputError, match="t must be between 0 and 5"):
        sg.convolution_step(F, G, 6)
    with pytest.raises(InputError, match="negative"):
        sg.density_of_sum([1, -1], [1], 0.1)
    with pytest.raises(InputError, match="greater than 0"):
        sg.density_of_sum([1], [1], 0)
    with pytest.raises(InputError, match="low < high"):
        sg.Uniform(1, 1)
    with pytest.raises(InputError, match="Unknown preset"):
        sg.preset_signal("sawtooth")


@pytest.mark.parametrize("name", sg.PRESETS)
def test_presets(name):
    x = sg.preset_signal(name, 12)
    assert x.shape == (12,) and np.all(np.isfinite(x))
    assert sg.parse_numbers(sg.format_numbers(x)).tolist() == pytest.approx(x.tolist())
    assert sg.preset_signal(name, 1).shape == (1,)


def test_most_likely_dice_totals_keep_ties():
    totals, pmf = sg.dice_sum_pmf(3)
    # Exact counts by enumerating all 216 throws; the convolution's rounding differs between machines (BLAS, SIMD).
    counts = np.bincount([a + b + c for a in range(1, 7) for b in range(1, 7) for c in range(1, 7)])[3:]
    np.testing.assert_allclose(pmf, counts / 216, rtol=1e-12, atol=0)
    assert pmf[list(totals).index(10)] == pytest.approx(27 / 216, rel=1e-12)
    assert pmf[list(totals).index(11)] == pytest.approx(27 / 216, rel=1e-12)
    assert sg.most_likely(totals, pmf) == [10, 11]
    assert sg.most_likely(*sg.dice_sum_pmf(2)) == [7]
    assert sg.most_likely(*sg.dice_sum_pmf(1)) == [1, 2, 3, 4, 5, 6]


def test_kde_by_convolution_differs_from_kde_only_by_moving_points_to_the_grid():
    grid = np.linspace(-4.0, 6.0, 1001)
    data = sg.mixture_sample(200, 0)
    off = np.max(np.abs(sg.kde(data, grid, 0.02) - sg.kde_by_convolution(data, grid, 0.02)))
    assert off > 1e-2  # what the page explains
    on_grid = grid[np.rint((data - grid[0]) / (grid[1] - grid[0])).astype(int)]
    same = np.max(np.abs(sg.kde(on_grid, grid, 0.02) - sg.kde_by_convolution(on_grid, grid, 0.02)))
    assert same < 1e-9


# ------------------------------------------------------------------------------------------ correlation step


def test_correlation_step_written_like_the_definition():
    step = sg.correlation_step([1, 2, 3], [0, 1, 0.5], -1)
    assert sg.written_correlation(step) == "(f⋆g)(-1) = f(0)g(-1) + f(1)g(0) + f(2)g(1) = 1×0 + 2×0 + 3×1 = 3"
    short = sg.correlation_step(np.arange(20), [1, -2], -5)
    assert sg.written_correlation(short, overlap_only=True) == "(f⋆g)(-5) = f(5)g(0) + f(6)g(1) = 5×1 + 6×(-2) = -7"
    with pytest.raises(InputError, match="between -2 and 2"):
        sg.correlation_step([1, 2, 3], [0, 1, 0.5], 3)


@SETTINGS
@given(signal(max_size=12), signal(max_size=12))
def test_correlation_steps_equal_numpy_correlate(f, g):
    lags, values = sg.cross_correlation(f, g)
    want = np.correlate(g, f, "full")
    got = [sg.correlation_step(f, g, int(t)).value for t in lags]
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(got, values, rtol=1e-9, atol=1e-6)


def test_correlation_walkthrough_frames_follow_the_lags():
    from cnn_demo.signals.figures import correlation_walkthrough_figure

    f, g = np.array([1.0, 2, 3, 4]), np.array([0.0, 1, 0.5])
    fig = correlation_walkthrough_figure(f, g, 0)
    lags, values = sg.cross_correlation(f, g)
    assert [fr.name for fr in fig.frames] == [str(t) for t in lags]
    assert fig.layout.sliders[0].active == 3  # lag 0 is the fourth of -3 … 2
    for fr, t, v in zip(fig.frames, lags, values, strict=True):
        assert fr.layout.title.text.startswith(f"t = {t}: (f ⋆ g)({t}) = Σ f(τ)·g({t} + τ) = {sg.format_number(v)}")
        shifted, products, so_far = fr.data[0], fr.data[1], fr.data[2]
        # g is only shifted: g(j) sits at τ = j − t, in g's own order (a convolution would reverse it)
        np.testing.assert_allclose(np.asarray(shifted.x) - 0.15, np.arange(g.size) - t)
        np.testing.assert_allclose(shifted.y, g)
        np.testing.assert_allclose(np.sum(products.y), v)
        np.testing.assert_allclose(so_far.y, values[: t - lags[0] + 1])


def test_walkthrough_frames_are_built_as_valid_plotly_and_each_trace_is_validated_once(monkeypatch):
    """Frames are plain dicts (a preset change on 1-D convolution rebuilt and validated every frame trace twice):
    validating the whole figure changes nothing, and each frame trace is checked by plotly at most once."""
    import json

    import plotly.graph_objects as go
    from plotly.utils import PlotlyJSONEncoder

    from cnn_demo.signals.figures import convolution_walkthrough_figure, correlation_walkthrough_figure

    f, g = sg.preset_signal("noisy sine", 12), np.array(G, float)
    sums = tuple(sg.written_sum(sg.convolution_step(f, g, k)) for k in range(f.size + g.size - 1))
    for fig in (convolution_walkthrough_figure(f, g, 2, sums=sums), correlation_walkthrough_figure(f[:6], g, 0)):
        spec = fig.to_dict()
        validated = go.Figure(spec).to_dict()  # plotly's full validation, frames included
        assert json.dumps(spec, cls=PlotlyJSONEncoder, sort_keys=True) == json.dumps(
            validated, cls=PlotlyJSONEncoder, sort_keys=True
        )
        assert all(fr["layout"]["title"]["text"].startswith("t = ") for fr in spec["frames"])
    built = [0]
    scatter_init = go.Scatter.__init__

    def counting(self, *args, **kwargs):
        built[0] += 1
        scatter_init(self, *args, **kwargs)

    monkeypatch.setattr(go.Scatter, "__init__", counting)
    fig = convolution_walkthrough_figure(f, g, 2, sums=sums)
    frame_traces = sum(len(fr.data) for fr in fig.frames)
    assert frame_traces == 4 * 14 and built[0] < 2 * frame_traces, built  # 122 before: every trace twice
