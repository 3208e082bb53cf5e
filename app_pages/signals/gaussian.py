"""Gaussian filter: the sampled kernel, smoothing a noisy signal, the effect of σ, and boundary modes."""

import numpy as np
import pandas as pd
import streamlit as st

from cnn_demo import signals as sg
from cnn_demo.signals.figures import (
    boundary_figure,
    edges_figure,
    error_curve_figure,
    kernel_figure,
    smoothing_figure,
)
from cnn_demo.ui.common import user_errors

KEY = "signals_gaussian"
LENGTH = 200
SIGMAS = np.geomspace(0.2, 40, 40)
EDGE_DEFAULT = "1, 3, 2, 5, 4, 6, 5, 8, 7, 9"


@st.cache_data(max_entries=32, show_spinner=False)
def _error_curve(noise: float, seed: int, mode: str, truncate: float) -> np.ndarray:
    clean, noisy = sg.noisy_signal(LENGTH, noise, seed)
    return sg.smoothing_error_curve(clean, noisy, SIGMAS, mode, truncate)


st.title("Gaussian filter")
st.markdown(
    "A Gaussian filter is the convolution with a Gaussian bell. Each output is a weighted average of the input "
    "around t, with weights that fall off with distance; **σ** sets how wide the neighbourhood is."
)
st.latex(r"g(t) = \frac{1}{\sqrt{2\pi\sigma^2}}\, e^{-\frac{t^2}{2\sigma^2}}")

st.header("The sampled kernel")
c1, c2 = st.columns(2)
sigma = c1.slider("σ (sigma)", 0.2, 20.0, 3.0, 0.1, key=f"{KEY}_sigma", help="width of the Gaussian, in samples")
truncate = c2.slider(
    "Truncate at (in σ)", 1.0, 6.0, 4.0, 0.5, key=f"{KEY}_truncate", help="the kernel is cut off at truncate·σ"
)
kernel = sg.gaussian_kernel(sigma, truncate)
radius = kernel.size // 2
st.markdown(
    f"Radius r = int({truncate:g}·{sigma:g} + 0.5) = **{radius}**, so the kernel has **{kernel.size}** samples "
    f"(t = −{radius} … {radius}). Dividing by their sum makes the weights add up to exactly 1, so smoothing keeps "
    "the signal's level; the samples of the formula alone add up to "
    f"{sg.gaussian_kernel(sigma, truncate, normalise=False).sum():.4f}."
)
if kernel.size <= 15:
    st.markdown(f"Kernel: `[{sg.format_numbers(kernel)}]`")
st.plotly_chart(kernel_figure(kernel, sigma), width="stretch", key=f"{KEY}_kernel")

# The two sections below are fragments: their own widgets (noise, seed, boundary mode; the short signal) rerun
# only that section, so the browser redraws two charts, not the page's five. σ and truncate rerun everything.


@st.fragment
def _smoothing(sigma: float, truncate: float) -> None:
    """Smoothing the noisy signal with the current kernel, and the error for every σ."""
    st.header("Smoothing a noisy signal")
    c1, c2, c3 = st.columns(3)
    noise = c1.slider("Noise level", 0.0, 1.0, 0.3, 0.05, key=f"{KEY}_noise")
    seed = int(c2.number_input("Seed", 0, 10_000, 0, key=f"{KEY}_seed", help="another seed, another noise pattern"))
    mode = c3.selectbox("Boundary mode", sg.BOUNDARY_MODES, key=f"{KEY}_mode")
    clean, noisy = sg.noisy_signal(LENGTH, noise, seed)
    smooth = sg.gaussian_smooth(noisy, sigma, mode, truncate)
    st.plotly_chart(smoothing_figure(clean, noisy, smooth, sigma), width="stretch", key=f"{KEY}_smooth")
    m1, m2 = st.columns(2)
    m1.metric("RMSE of the noisy input to the clean signal", f"{sg.rmse(noisy, clean):.3f}")
    m2.metric(
        f"RMSE after smoothing with σ = {sigma:g}",
        f"{sg.rmse(smooth, clean):.3f}",
        delta=f"{sg.rmse(smooth, clean) - sg.rmse(noisy, clean):+.3f}",
        delta_color="inverse",
    )
    errors = _error_curve(noise, seed, mode, truncate)
    st.plotly_chart(
        error_curve_figure(SIGMAS, errors, sigma, sg.rmse(smooth, clean)), width="stretch", key=f"{KEY}_curve"
    )
    best = float(SIGMAS[int(np.argmin(errors))])
    st.markdown(
        f"A **small σ** averages only a few neighbours, so most of the noise stays. A **large σ** removes the noise "
        "but also flattens real detail: watch the sharp-edged bump between t = 110 and t = 140 round off. "
        f"For this noise level the error is smallest near σ ≈ {best:.2g}."
    )


@st.fragment
def _boundary(sigma: float, truncate: float, radius: int) -> None:
    """The values each boundary mode invents past the ends of a short signal, and the smoothed outputs."""
    st.header("What happens at the edges: boundary modes")
    st.markdown(
        "Near the ends of the signal the kernel reaches past the samples, so the filter has to invent values there. "
        "`scipy.ndimage.gaussian_filter1d` (and this app) offer these boundary modes; type a short signal to see the "
        "values each mode invents for the current kernel radius."
    )
    edge_text = st.text_input("A short signal", EDGE_DEFAULT, key=f"{KEY}_edge_signal")
    with user_errors():
        edge = sg.parse_numbers(edge_text, "the short signal")
        shown_radius = max(1, min(radius, 3 * edge.size, 20))
        modes = [m for m in sg.BOUNDARY_MODES if m != "mirror"] + ["mirror"]
        st.plotly_chart(boundary_figure(edge, shown_radius, modes), width="stretch", key=f"{KEY}_boundary")
        if shown_radius < radius:
            st.caption(f"Only {shown_radius} of the kernel's {radius} invented samples per side are drawn.")
        outputs = {m: sg.gaussian_smooth(edge, sigma, m, truncate) for m in modes}
        st.plotly_chart(edges_figure(edge, outputs), width="stretch", key=f"{KEY}_edges")
        table = pd.DataFrame({m: [sg.format_number(v, 3) for v in y] for m, y in outputs.items()})
        table.index.name = "t"
        st.dataframe(table.T, width="stretch")
        agree = sg.modes_agree(outputs)
        if agree.all():
            where = "the modes agree everywhere on this signal."
        elif agree.any():
            ts = np.flatnonzero(agree)
            where = (
                f"the modes agree at t = {sg.format_ranges(ts)}, where the kernel (radius {radius}) stays inside the "
                "signal or the invented values happen to match; at the other t they differ."
            )
        else:
            where = (
                f"the kernel's radius ({radius}) reaches past an end of this {edge.size}-sample signal from every "
                "t, so the modes differ everywhere."
            )
        st.caption(f"Rows: boundary mode; columns: t. Here {where}")


_smoothing(sigma, truncate)
_boundary(sigma, truncate, radius)
