"""Cross-correlation finds the delay between two signals; autocorrelation finds the period of one."""

import pandas as pd
import streamlit as st

from cnn_demo import signals as sg
from cnn_demo.signals.figures import correlation_figure, two_signals_figure
from cnn_demo.ui.common import user_errors
from cnn_demo.ui.figcache import cached_figure

KEY = "signals_correlation"
LENGTH = 200
MAX_WALK = 30  # lags the animated step-through draws (each is a frame plotly builds and validates)
LONG = 12  # above this many f values, the written sum keeps only the overlapping terms

st.title("Cross-correlation and autocorrelation")
st.markdown(
    "Cross-correlation looks like convolution **without the flip**: slide g along f by a lag t and add up the "
    "products. It is large where the two signals line up, so it measures how similar they are at each lag."
)
st.latex(r"(f \star g)(t) = \sum_{\tau=-\infty}^{\infty} f(\tau)\, g(t+\tau)")
st.latex(r"(f \star f)(t) = \sum_{\tau=-\infty}^{\infty} f(\tau)\, f(t+\tau) \quad\text{(autocorrelation)}")

# ------------------------------------------------------------------------------------------------ delay
st.header("Finding a delay")
st.markdown(
    "g below is a copy of f delayed by some samples, with noise added. If g(τ) = f(τ − s), the products "
    "f(τ)·g(t + τ) line up best at lag t = s, so the peak of the cross-correlation recovers the delay."
)
c1, c2, c3 = st.columns(3)
shift = c1.slider("True delay s of g (samples)", -60, 60, 15, key=f"{KEY}_shift")
noise = c2.slider("Noise added to g", 0.0, 3.0, 0.5, 0.1, key=f"{KEY}_noise")
seed = int(c3.number_input("Seed", 0, 10_000, 0, key=f"{KEY}_seed"))
f, g = sg.shifted_noisy_copy(LENGTH, shift, noise, seed)
st.plotly_chart(
    two_signals_figure(f, g, ("f", f"g: f delayed by {shift}, plus noise")), width="stretch", key=f"{KEY}_fg"
)
lags, values = sg.cross_correlation(f, g)
peak = sg.best_lag(lags, values)
st.plotly_chart(
    correlation_figure(lags, values, "cross-correlation (f ⋆ g)(t)", peak, f"peak at t = {peak}"),
    width="stretch",
    key=f"{KEY}_xcorr",
)
m1, m2 = st.columns(2)
m1.metric("True delay", shift)
m2.metric("Peak of the cross-correlation", peak)
if peak == shift:
    st.success(f"The peak at lag {peak} recovers the delay exactly.")
else:
    st.warning(
        f"The peak is at lag {peak}, not {shift}: with this much noise the true alignment no longer stands out. "
        "Lower the noise or try another seed."
    )

# ------------------------------------------------------------------------------------------------ period
st.header("Finding a period")
st.markdown(
    "A periodic signal looks like itself shifted by one period, so its autocorrelation has peaks at multiples of "
    "the period, even when noise hides the pattern by eye. (Lag 0 is always the highest: every signal matches "
    "itself; the mean is removed first so the peaks stand out.)"
)
c1, c2, c3, c4 = st.columns(4)
shape = c1.radio("Shape", ["sine", "square"], horizontal=True, key=f"{KEY}_shape")
period = c2.slider("True period (samples)", 4, 60, 20, key=f"{KEY}_period")
pnoise = c3.slider("Noise", 0.0, 3.0, 1.0, 0.1, key=f"{KEY}_pnoise")
pseed = int(c4.number_input("Seed", 0, 10_000, 0, key=f"{KEY}_pseed"))
x = sg.periodic_signal(LENGTH, period, pnoise, shape, pseed)
st.plotly_chart(two_signals_figure(x, names=("noisy periodic signal", "")), width="stretch", key=f"{KEY}_x")
alags, avalues = sg.autocorrelation(x - x.mean())
reading = sg.read_period(x)
found = None if reading is None else reading.period
mark = None if found is None else round(found)
st.plotly_chart(
    correlation_figure(
        alags, avalues, "autocorrelation (f ⋆ f)(t), mean removed", mark, f"period ≈ {found:.1f}" if found else ""
    ),
    width="stretch",
    key=f"{KEY}_acorr",
)
m1, m2 = st.columns(2)
m1.metric("True period", period)
m2.metric(
    "Period read off the autocorrelation",
    "none found" if found is None else f"{found:.1f}",
    None if found is None else f"{found - period:+.1f} samples",
    delta_color="off",
)
if reading is None:
    st.warning("Too much noise: the autocorrelation no longer shows the period clearly. Lower the noise.")
elif abs(reading.period - period) > 1:
    st.warning(
        f"Read off {reading.period:.1f} samples for a true period of {period}: with this much noise another peak "
        "stands out as well as the period's. Lower the noise or try another seed."
    )
else:
    off = reading.period - period
    lags = ", ".join(str(p) for p in reading.peaks)
    why = (
        f"The autocorrelation exists only at whole lags, so each peak is found to the nearest sample (here at lags "
        f"{lags}); and each peak is about {reading.peak_width:.0f} samples wide at half its height, so noise can "
        f"move its top by a sample or more. Fitting one line through all {len(reading.peaks)} peaks averages "
        "those errors (the far peaks count most), which is why the reading has a decimal."
    )
    if abs(off) < 0.05:
        st.success(
            f"The autocorrelation's peaks sit at multiples of {reading.period:.1f} samples: the period is "
            "recovered to a tenth of a sample."
        )
    else:
        st.info(
            f"Close, not exact: {reading.period:.1f} samples read off for a true period of {period}, "
            f"{abs(off):.1f} samples {'too long' if off > 0 else 'too short'} ({abs(off) / period:.0%}). " + why
        )
st.caption("The period is the lag of the first clear peak, refined by fitting the peaks near 2, 3, … periods as well.")

# ------------------------------------------------------------------------------------------------ own numbers
st.header("Your own numbers")
st.markdown(
    "Type two short sequences to see every lag of the lecture's definition. The result equals "
    '`numpy.correlate(g, f, "full")`, and equals the convolution of f reversed with g.'
)
c1, c2 = st.columns(2)
f_text = c1.text_input("f", "1, 2, 3, 4", key=f"{KEY}_f")
g_text = c2.text_input("g", "0, 1, 0.5", key=f"{KEY}_g")
with user_errors():
    fo = sg.parse_numbers(f_text, "f")
    go_ = sg.parse_numbers(g_text, "g")
    olags, ovalues = sg.cross_correlation(fo, go_)
    table = pd.DataFrame({"lag t": olags, "(f ⋆ g)(t)": [sg.format_number(v) for v in ovalues]}).set_index("lag t")
    st.dataframe(table.T, width="stretch")
    st.markdown(f"Largest at lag **{sg.best_lag(olags, ovalues)}**.")

    st.subheader("Step through the lags")
    st.markdown(
        "For each lag t, g is **shifted** by t (not flipped, unlike convolution): multiply f(τ) with g(t + τ) "
        "where they overlap and add up. This slider picks the lag whose sum is written out under it (and where "
        "the figure starts); the figure's own slider and ▶ Play move only the figure."
    )
    lo, hi = int(olags[0]), int(olags[-1])
    lag = (
        st.slider("Lag t of the sum written out below", lo, hi, 0 if lo <= 0 <= hi else lo, key=f"{KEY}_lag")
        if hi > lo
        else lo
    )
    cstep = sg.correlation_step(fo, go_, lag)
    st.code(sg.written_correlation(cstep, overlap_only=fo.size > LONG), language=None, wrap_lines=True)
    if olags.size <= MAX_WALK:
        st.plotly_chart(cached_figure("correlation_walkthrough", fo, go_, lag), width="stretch", key=f"{KEY}_walk")
        st.caption(
            "Top: f (blue) and g shifted by the lag (orange diamonds, in g's own order). Middle: the products. "
            "Bottom: the cross-correlation so far. The figure's slider (“figure at t =”) and ▶ Play step through "
            "every lag in the figure only; the slider above the written sum does not follow them."
        )
    else:
        st.info(f"The animated step-through draws up to {MAX_WALK} lags; these sequences have {olags.size}.")
