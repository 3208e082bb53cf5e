"""Convolution in statistics: the density of a sum of independent variables, and kernel density estimation."""

import numpy as np
import streamlit as st

from cnn_demo import signals as sg
from cnn_demo.signals.figures import dice_figure, kde_figure, sum_density_figure
from cnn_demo.ui.common import user_errors

KEY = "signals_statistics"

st.title("Convolution in statistics")
st.markdown(
    "If X and Y are independent, the density of their sum is the convolution of their densities: to land on z, X "
    "takes some value τ and Y must make up z − τ. The same sum as on the convolution page, with densities for f and g."
)
st.latex(r"p_{X+Y}(z) = \int_{-\infty}^{\infty} p_X(\tau)\, p_Y(z-\tau)\, d\tau = (p_X * p_Y)(z)")

# ------------------------------------------------------------------------------------------------ sums
st.header("The density of a sum")
kind = st.radio("X and Y", ["Uniform + uniform", "Sum of dice", "Normal + normal"], horizontal=True, key=f"{KEY}_kind")
c1, c2 = st.columns(2)
samples = c1.select_slider(
    "Simulated values (Monte Carlo)", [1_000, 5_000, 20_000, 100_000], 20_000, key=f"{KEY}_samples"
)
seed = int(c2.number_input("Seed", 0, 10_000, 0, key=f"{KEY}_seed"))

if kind == "Sum of dice":
    n_dice = st.slider("Number of dice", 1, 10, 2, key=f"{KEY}_dice")
    totals, pmf = sg.dice_sum_pmf(n_dice)
    rolls = sg.roll_dice(n_dice, samples, seed=seed)
    st.plotly_chart(dice_figure(totals, pmf, rolls), width="stretch", key=f"{KEY}_dice_plot")
    modes = sg.most_likely(totals, pmf)
    if n_dice == 1:
        st.markdown(
            "One die is uniform on 1 … 6: every total is equally likely (probability 1/6 ≈ **0.1667**), so no "
            "total is the most likely. Add a second die to see the convolution at work."
        )
    else:
        names = " and ".join(f"**{t}**" for t in modes)
        st.markdown(
            f"One die is uniform on 1 … 6 (probability 1/6 each). Convolving that with itself {n_dice - 1} "
            f"time{'s' if n_dice > 2 else ''} gives the distribution of the total of {n_dice} dice: the most likely "
            + (f"totals are {names} (a tie), each" if len(modes) > 1 else f"total is {names},")
            + f" with probability **{pmf.max():.4f}**"
            + (" (= 6/36 for two dice)." if n_dice == 2 else ".")
        )
    observed = ", ".join(f"{t} came up {np.mean(rolls == t):.4f}" for t in modes)
    st.caption(
        f"In {samples:,} simulated throws the total {observed} of the time"
        + (" (each total 1 … 6 has probability 1/6)." if n_dice == 1 else ".")
        + " With more dice the shape approaches a bell curve (the central limit theorem)."
    )
else:
    with user_errors():
        c1, c2, c3, c4 = st.columns(4)
        if kind == "Uniform + uniform":
            a = c1.number_input("X ~ U(0, a): a", 0.1, 10.0, 1.0, 0.1, key=f"{KEY}_a")
            b = c2.number_input("Y ~ U(0, b): b", 0.1, 10.0, 1.0, 0.1, key=f"{KEY}_b")
            dist_x, dist_y = sg.Uniform(0.0, a), sg.Uniform(0.0, b)
            dx = 0.005
            label = f"U(0, {a:g}) + U(0, {b:g})"
        else:
            mx = c1.number_input("mean of X", -10.0, 10.0, 0.0, 0.5, key=f"{KEY}_mx")
            sx = c2.number_input("std of X", 0.1, 5.0, 1.0, 0.1, key=f"{KEY}_sx")
            my = c3.number_input("mean of Y", -10.0, 10.0, 2.0, 0.5, key=f"{KEY}_my")
            sy = c4.number_input("std of Y", 0.1, 5.0, 0.5, 0.1, key=f"{KEY}_sy")
            dist_x, dist_y = sg.Normal(mx, sx), sg.Normal(my, sy)
            dx = 0.01
            label = f"N({mx:g}, {sx:g}²) + N({my:g}, {sy:g}²)"
        grid, density = sg.sum_density(dist_x, dist_y, dx)
        if kind == "Uniform + uniform":
            exact = sg.uniform_sum_pdf(dist_x, dist_y, grid)
            shape = "a triangle" if a == b else "a trapezoid"
            explain = f"Two uniforms add up to {shape}: exact density = overlap length / (a·b)."
        else:
            total = sg.normal_sum(dist_x, dist_y)
            exact = total.pdf(grid)
            explain = (
                f"Two normals add up to a normal: N({total.mean:g}, {total.std:.3g}²), with the means and the "
                "variances adding."
            )
        sim = sg.monte_carlo_sum(dist_x, dist_y, samples, seed)
        st.plotly_chart(sum_density_figure(grid, density, sim, exact, label), width="stretch", key=f"{KEY}_sum_plot")
        err = float(np.max(np.abs(density - exact)))
        st.markdown(
            f"{explain} The numerical convolution (densities sampled every dx = {dx:g}) differs from the exact "
            f"density by at most **{err:.4f}**; the histogram of {samples:,} simulated sums follows both."
        )

# ------------------------------------------------------------------------------------------------ KDE
st.header("Kernel density estimation = smoothing with a Gaussian")
st.markdown(
    "Put a spike of area 1/n at every data point and convolve with a Gaussian of standard deviation h (the "
    "**bandwidth**): each spike becomes a small bump and their sum estimates the density the data came from."
)
st.latex(r"\hat p_h(x) = \frac{1}{n h}\sum_{i=1}^{n} \varphi\!\left(\frac{x - x_i}{h}\right)")
c1, c2, c3 = st.columns(3)
n = c1.slider("Sample size n", 10, 2000, 200, key=f"{KEY}_n")
bandwidth = c2.slider("Bandwidth h", 0.02, 2.0, 0.3, 0.01, key=f"{KEY}_h")
kseed = int(c3.number_input("Seed", 0, 10_000, 0, key=f"{KEY}_kseed"))
data = sg.mixture_sample(n, kseed)
grid = np.linspace(-4.0, 6.0, 1001)
estimate = sg.kde(data, grid, bandwidth)
by_conv = sg.kde_by_convolution(data, grid, bandwidth)
truth = sg.mixture_pdf(grid)
st.plotly_chart(kde_figure(data, grid, estimate, by_conv, truth), width="stretch", key=f"{KEY}_kde")
dxg = float(grid[1] - grid[0])
l1 = float(np.sum(np.abs(estimate - truth)) * dxg)
m1, m2, m3 = st.columns(3)
m1.metric("Distance to the true density (∫|p̂ − p|)", f"{l1:.3f}")
m2.metric("Silverman's rule of thumb", f"h ≈ {sg.silverman_bandwidth(data):.2f}")
m3.metric("KDE vs. spikes * Gaussian", f"max diff {np.max(np.abs(estimate - by_conv)):.1e}")
shift = dxg / 2
st.caption(
    f"Why the two differ at all: the convolution first puts every data point into its grid cell, moving it by up "
    f"to half a cell (dx/2 = {shift:g}). Next to a wide bump that shift is nothing, but it is {shift / bandwidth:.0%} "
    f"of h = {bandwidth:g}, so the smaller h, the larger the difference. Data lying exactly on grid points would "
    "give the same numbers."
)
st.caption(
    "Small h: every data point shows as its own spike (noise). Large h: the two bumps melt into one (detail "
    "lost) — the same trade-off as σ in the Gaussian filter."
)
