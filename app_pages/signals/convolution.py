"""1-D convolution step by step: the lecture's example first, then any numbers or preset signals."""

import contextlib

import numpy as np
import pandas as pd
import streamlit as st

from cnn_demo import signals as sg
from cnn_demo.errors import InputError
from cnn_demo.signals.figures import frequency_figure, lines_figure, modes_figure
from cnn_demo.ui.common import KEEP, fit_kept, user_errors
from cnn_demo.ui.figcache import cached_figure

KEY = "signals_convolution"
LECTURE = "Lecture"
CUSTOM = "Custom (edited)"
PRESET_LENGTH = {"f": 12, "g": 3}
LECTURE_TEXT = {"f": sg.format_numbers(sg.LECTURE_F), "g": sg.format_numbers(sg.LECTURE_G)}
MAX_WALK = 200  # outputs the animated step-through draws
SUM_T = "t of the sum written out below"
SUM_T_HELP = "Chooses the output whose sum is written out under this slider; the figure starts at the same t."
LONG = 12  # above this many f values, the written sum keeps only the overlapping terms


def _fill_from_preset(which: str) -> None:
    """Write the chosen preset's numbers into the text box, where the student can still edit them."""
    choice = st.session_state[f"{KEY}_{which}_preset"]
    if choice == CUSTOM:
        return
    if choice == LECTURE:
        st.session_state[f"{KEY}_{which}"] = LECTURE_TEXT[which]
    else:
        st.session_state[f"{KEY}_{which}"] = sg.format_numbers(sg.preset_signal(choice, PRESET_LENGTH[which]))


def _mark_edited(which: str) -> None:
    """Once the student edits the numbers, the preset box no longer claims they are the preset's."""
    preset = st.session_state[f"{KEY}_{which}_preset"]
    if preset == CUSTOM:
        return
    if preset == LECTURE:
        wanted = LECTURE_TEXT[which]
    else:
        wanted = sg.format_numbers(sg.preset_signal(preset, PRESET_LENGTH[which]))
    with contextlib.suppress(InputError):  # unparsable text is edited text too (the error shows below)
        if np.array_equal(sg.parse_numbers(st.session_state[f"{KEY}_{which}"], which), sg.parse_numbers(wanted)):
            return
    st.session_state[f"{KEY}_{which}_preset"] = CUSTOM


def _short(values: np.ndarray, limit: int = 40) -> str:
    text = sg.format_numbers(values[:limit])
    return f"[{text}, … ({values.size} values)]" if values.size > limit else f"[{text}]"


st.title("1-D convolution, step by step")
st.markdown(
    "The lecture defines the discrete convolution of an input **f** with a kernel **g** as a sum over τ, with "
    "f and g taken as 0 outside their samples. Type your own numbers or pick a preset (the numbers land in the "
    "box so you can edit them)."
)
st.latex(r"(f * g)(t) = \sum_{\tau=-\infty}^{\infty} f(\tau)\, g(t-\tau)")

cols = st.columns(2)
for col, which, label in ((cols[0], "f", "Input f"), (cols[1], "g", "Kernel g")):
    with col:
        st.selectbox(
            f"Preset for {which}",
            [LECTURE, *sg.PRESETS, CUSTOM],
            key=f"{KEY}_{which}_preset",
            on_change=_fill_from_preset,
            args=(which,),
            help="impulse, step, box, ramp (shows the flip), noisy sine, random",
        )
        st.session_state.setdefault(f"{KEY}_{which}", LECTURE_TEXT[which])
        st.text_input(
            f"{label}: numbers separated by commas",
            key=f"{KEY}_{which}",
            help=f"f(0), f(1), … — at most {sg.MAX_LENGTH:,} values",
            on_change=_mark_edited,
            args=(which,),
        )

f = g = None
with user_errors():
    f = sg.parse_numbers(st.session_state[f"{KEY}_f"], "f")
    g = sg.parse_numbers(st.session_state[f"{KEY}_g"], "g")
if f is None or g is None:
    st.stop()

full = sg.convolve(f, g)
n_out = full.size
st.markdown(f"`f = {_short(f)}` (L = {f.size}), `g = {_short(g)}` (M = {g.size})")
st.markdown(f"**Result:** `(f*g) = {_short(full)}` — L + M − 1 = {n_out} values.")

# The sections below are lazy tabs (only the open one runs and is drawn; see SECTIONS), and the three with a widget
# are fragments: their own widget (t, the mode, the toggle) reruns that section alone, so the browser redraws one
# chart.


@st.fragment
def _step_through(f: np.ndarray, g: np.ndarray, n_out: int) -> None:
    """The written sum for one t and the animated step-through."""
    st.markdown(
        "For each output t the kernel is **flipped** (g(t − τ) runs backwards in τ) and **shifted** to t; "
        "multiply it with f where they overlap and add up. Two controls move t: **this slider** picks the output "
        "whose sum is written out under it (and where the figure starts); **the figure's own slider and ▶ Play** "
        "move only the figure, which writes each t's sum above its plots."
    )
    fit_kept(f"{KEY}_t", lo=0, hi=n_out - 1)
    t = st.slider(SUM_T, 0, n_out - 1, min(2, n_out - 1), key=f"{KEY}_t", help=SUM_T_HELP, **KEEP) if n_out > 1 else 0
    step = sg.convolution_step(f, g, t)
    st.code(sg.written_sum(step, overlap_only=f.size > LONG), language=None, wrap_lines=True)
    if f.size > LONG:
        st.caption(f"f has more than {LONG} values, so only the terms where g(t − τ) is defined are written out.")
    if n_out <= MAX_WALK:
        sums = tuple(sg.written_sum(sg.convolution_step(f, g, k), overlap_only=f.size > LONG) for k in range(n_out))
        st.plotly_chart(
            cached_figure("convolution_walkthrough", f, g, t, sums=sums), width="stretch", key=f"{KEY}_walk"
        )
        st.caption(
            "Top: f (blue) and the flipped kernel placed at t (orange diamonds). Middle: the products. Bottom: the "
            "output so far. The figure's slider (“figure at t =”) and ▶ Play step through every t in the figure "
            "only; the slider above the written sum does not follow them."
        )
    else:
        st.info(f"The animated step-through draws up to {MAX_WALK} outputs; this convolution has {n_out}.")


@st.fragment
def _modes(f: np.ndarray, g: np.ndarray, full: np.ndarray) -> None:
    """Output length of the three modes, the table and the chart of the chosen one."""
    st.subheader("Output length: full, same, valid")
    mode = st.radio("Mode", sg.MODES, horizontal=True, key=f"{KEY}_mode", **KEEP)
    L, M = f.size, g.size
    table = pd.DataFrame(
        {
            "mode": list(sg.MODES),
            "keeps": [
                "every t where f and g overlap at all",
                "the middle max(L, M) values, centred like the longer input",
                "only t where the shorter sequence lies completely inside the longer one",
            ],
            "length formula": ["L + M − 1", "max(L, M)", "L − M + 1 (longer − shorter + 1)"],
            "length here": [sg.output_length(L, M, m) for m in sg.MODES],
        }
    )
    st.table(table.set_index("mode"))
    out = sg.convolve(f, g, mode)
    st.markdown(f'`numpy.convolve(f, g, mode="{mode}")` = `{_short(out)}` ({out.size} values)')
    st.plotly_chart(modes_figure(full, L, M, mode), width="stretch", key=f"{KEY}_modes")


@st.fragment
def _again(f: np.ndarray, g: np.ndarray, full: np.ndarray) -> None:
    """(f * g) * g: convolving twice."""
    st.subheader("Convolve again: (f * g) * g")
    if full.size > sg.MAX_LENGTH:
        st.info(f"f * g has {full.size:,} values, more than the {sg.MAX_LENGTH:,} the app convolves: shorten f or g.")
    elif st.toggle("Convolve the result with g once more", value=True, key=f"{KEY}_again", **KEEP):
        twice = sg.convolve(full, g)
        st.markdown(f"`((f*g)*g) = {_short(twice)}` ({twice.size} values)")
        st.plotly_chart(
            lines_figure(
                {
                    "f": (np.arange(f.size), f),
                    "f * g": (np.arange(full.size), full),
                    "(f * g) * g": (np.arange(twice.size), twice),
                },
                "t",
            ),
            width="stretch",
            key=f"{KEY}_again_plot",
        )
        st.caption(
            "With a box kernel like [1, 1, 1] every pass is a moving sum: the sequence gets longer by M − 1 and "
            "smoother each time."
        )


def _torch(f: np.ndarray, g: np.ndarray, full: np.ndarray) -> None:
    """What torch.nn.functional.conv1d computes, with and without flipping the kernel."""
    st.subheader("Convolution or cross-correlation? What PyTorch computes")
    st.markdown(
        "`torch.nn.Conv1d` and `torch.nn.functional.conv1d` slide the kernel **without flipping it**: they compute a "
        "cross-correlation. Flip the kernel first and you get the lecture's convolution. This code is run now:"
    )
    st.code(sg.torch_conv1d_code(f, g), language="python")
    flipped = sg.torch_conv1d(f, g, flip=True)
    plain = sg.torch_conv1d(f, g, flip=False)
    st.markdown(f"PyTorch with the flipped kernel: `{_short(flipped)}`")
    if np.allclose(flipped, full):
        st.success(f"Same numbers as the convolution above (largest difference {np.max(np.abs(flipped - full)):.1e}).")
    else:
        st.error("PyTorch disagrees with NumPy here — please report this.")
    st.markdown(f"PyTorch **without** the flip: `{_short(plain)}`")
    if np.allclose(plain, full):
        st.caption("g reads the same backwards, so flipping changes nothing here. Try the ramp preset for g.")
    else:
        st.caption("Different: without the flip conv1d computes the cross-correlation, not the convolution.")


def _frequency(f: np.ndarray, g: np.ndarray, full: np.ndarray) -> None:
    """The convolution theorem on these f and g."""
    st.subheader("The frequency view")
    st.markdown(
        "The **convolution theorem**: the Fourier transform turns convolution into multiplication. Pad f and g with "
        "zeros to L + M − 1 samples, take FFTs, multiply them, transform back, and you get f * g."
    )
    st.latex(r"\mathcal{F}\{f * g\} = \mathcal{F}\{f\} \cdot \mathcal{F}\{g\}")
    view = sg.frequency_view(f, g)
    st.plotly_chart(frequency_figure(view, full), width="stretch", key=f"{KEY}_fft")
    st.caption(
        f"Inverse FFT of the product versus the direct sum: largest difference {view.max_error:.1e} (rounding "
        "only). Where |FFT(g)| is small the kernel removes those frequencies from f."
    )


#: The page's sections. Only the open tab is computed and drawn (lazy tabs, as on 2-D filtering): a new f or g
#: (a preset, typed numbers) redraws the step-through alone, not the page's five charts, which took the browser
#: about 1 s of CPU per preset change.
SECTIONS = ("Step through t", "Output length", "Convolve again", "PyTorch", "Frequency view")
tabs = st.tabs(SECTIONS, key=f"{KEY}_section", on_change="rerun")
sections = (
    lambda: _step_through(f, g, n_out),
    lambda: _modes(f, g, full),
    lambda: _again(f, g, full),
    lambda: _torch(f, g, full),
    lambda: _frequency(f, g, full),
)
for tab, draw in zip(tabs, sections, strict=True):
    if tab.open:
        with tab:
            draw()
