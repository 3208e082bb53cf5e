"""AppTests of the Signals pages: change the inputs, check the numbers the page shows, and bad input as st.error."""

import base64
import json
import re

import numpy as np
import pytest
from scipy import ndimage

from cnn_demo import signals as sg
from cnn_demo.signals import format_numbers
from tests.conftest import app_test, assert_no_exception, shown_errors

CONV = "app_pages/signals/convolution.py"
GAUSS = "app_pages/signals/gaussian.py"
CORR = "app_pages/signals/correlation.py"
STATS = "app_pages/signals/statistics.py"


def _text(at) -> str:
    return "\n".join(m.value for m in at.markdown)


def _codes(at) -> list[str]:
    return [c.value for c in at.code]


def _metric(at, label_start: str) -> str:
    for m in at.metric:
        if m.label.startswith(label_start):
            return m.value
    raise AssertionError(f"no metric starting {label_start!r}: {[m.label for m in at.metric]}")


def open_section(at, label: str):
    """Open one of the 1-D convolution page's lazy tabs (only the open one is computed and drawn)."""
    at.session_state["signals_convolution_section"] = label
    return at.run()


def _chart_keys(at) -> list[str]:
    return [c.proto.id.rsplit("-", 1)[-1] for c in at.get("plotly_chart")]


@pytest.fixture(scope="module")
def conv():
    at = app_test(CONV)
    assert_no_exception(at)
    return at


def test_convolution_page_shows_the_lecture_numbers(conv):
    text = _text(conv)
    assert "`(f*g) = [1, 3, 6, 9, 7, 4]`" in text
    assert _codes(conv)[0] == ("(f*g)(2) = f(0)g(2) + f(1)g(1) + f(2)g(0) + f(3)g(-1) = 1×1 + 2×1 + 3×1 + 4×0 = 6")
    assert _chart_keys(conv) == ["signals_convolution_walk"]
    open_section(conv, "Convolve again")
    assert "`((f*g)*g) = [1, 4, 10, 18, 22, 20, 11, 4]`" in _text(conv)
    assert _chart_keys(conv) == ["signals_convolution_again_plot"]
    # The PyTorch code is shown and its result proven equal.
    open_section(conv, "PyTorch")
    assert "F.conv1d(f, g.flip(-1), padding=2)" in _codes(conv)[0]
    assert "PyTorch with the flipped kernel: `[1, 3, 6, 9, 7, 4]`" in _text(conv)
    assert any("Same numbers as the convolution above" in s.value for s in conv.success)
    open_section(conv, "Frequency view")
    assert_no_exception(conv)
    assert _chart_keys(conv) == ["signals_convolution_fft"]
    open_section(conv, "Step through t")


def test_convolution_page_slider_modes_and_presets(conv):
    conv.slider(key="signals_convolution_t").set_value(4).run()
    assert_no_exception(conv)
    assert _codes(conv)[0].endswith("= 1×0 + 2×0 + 3×1 + 4×1 = 7")
    open_section(conv, "Output length")
    conv.radio(key="signals_convolution_mode").set_value("valid").run()
    assert '`numpy.convolve(f, g, mode="valid")` = `[6, 9]` (2 values)' in _text(conv)
    conv.radio(key="signals_convolution_mode").set_value("same").run()
    assert "`[3, 6, 9, 7]` (4 values)" in _text(conv)
    # A ramp kernel: the preset fills the text box, and conv1d without the flip now differs.
    conv.selectbox(key="signals_convolution_g_preset").set_value("ramp").run()
    assert_no_exception(conv)
    assert conv.text_input(key="signals_convolution_g").value == "1, 2, 3"
    assert "`(f*g) = [1, 4, 10, 16, 17, 12]`" in _text(conv)
    open_section(conv, "PyTorch")
    assert "PyTorch **without** the flip: `[3, 8, 14, 20, 11, 4]`" in _text(conv)
    assert any("cross-correlation, not the convolution" in c.value for c in conv.caption)
    open_section(conv, "Convolve again")
    assert "((f*g)*g)" in _text(conv)
    conv.toggle(key="signals_convolution_again").set_value(False).run()
    assert "((f*g)*g)" not in _text(conv)


def test_convolution_page_typed_numbers_and_errors():
    at = app_test(CONV)
    at.text_input(key="signals_convolution_f").set_value("[0, 0, 1, 0, 0]").run()
    at.text_input(key="signals_convolution_g").set_value("2; -1").run()
    assert_no_exception(at)
    assert "`(f*g) = [0, 0, 2, -1, 0, 0]`" in _text(at)
    at.text_input(key="signals_convolution_f").set_value("1, two, 3").run()
    assert_no_exception(at)
    assert shown_errors(at) == [
        "f: value 2, “two”, is not a number. Type numbers separated by commas, e.g. 1, 2, 3, 4."
    ]
    at.text_input(key="signals_convolution_f").set_value("1, 2").run()
    at.text_input(key="signals_convolution_g").set_value("  ").run()
    assert "g is empty" in shown_errors(at)[0]
    at.text_input(key="signals_convolution_g").set_value(", ".join(["1"] * 10_001)).run()
    assert "limit is 10,000" in shown_errors(at)[0]


def test_convolution_page_long_signal_writes_overlap_only():
    at = app_test(CONV)
    at.text_input(key="signals_convolution_f").set_value(", ".join(str(i) for i in range(300))).run()
    assert_no_exception(at)
    assert any("animated step-through draws up to 200" in i.value for i in at.info)
    assert _codes(at)[0] == "(f*g)(2) = f(0)g(2) + f(1)g(1) + f(2)g(0) = 0×1 + 1×1 + 2×1 = 3"


def test_convolution_page_longest_inputs_do_not_crash():
    at = app_test(CONV)
    long = ", ".join(str(i % 7) for i in range(6000))
    at.text_input(key="signals_convolution_f").set_value(long).run()
    at.text_input(key="signals_convolution_g").set_value(long).run()
    assert_no_exception(at)
    assert not at.error
    assert "— L + M − 1 = 11999 values." in _text(at)
    open_section(at, "Convolve again")
    assert any("more than the 10,000 the app convolves" in i.value for i in at.info)
    open_section(at, "PyTorch")
    assert any("Same numbers as the convolution above" in s.value for s in at.success)


def test_gaussian_page():
    at = app_test(GAUSS)
    assert_no_exception(at)
    assert "Radius r = int(4·3 + 0.5) = **12**, so the kernel has **25** samples" in _text(at)
    smoothed = float(_metric(at, "RMSE after smoothing"))
    noisy = float(_metric(at, "RMSE of the noisy input"))
    assert smoothed < noisy / 1.5
    at.slider(key="signals_gaussian_sigma").set_value(0.5).run()
    assert "Radius r = int(4·0.5 + 0.5) = **2**, so the kernel has **5** samples" in _text(at)
    impulse = np.zeros(5)
    impulse[2] = 1.0
    reference = ndimage.gaussian_filter1d(impulse, 0.5, mode="constant", truncate=4.0)
    assert f"Kernel: `[{format_numbers(reference)}]`" in _text(at)  # "0.0002639, 0.1065, 0.7866, …"
    assert float(_metric(at, "RMSE after smoothing")) > smoothed  # small σ keeps the noise
    at.slider(key="signals_gaussian_truncate").set_value(2.0).run()
    assert "Radius r = int(2·0.5 + 0.5) = **1**" in _text(at)
    at.number_input(key="signals_gaussian_seed").set_value(5).run()
    at.selectbox(key="signals_gaussian_mode").set_value("wrap").run()
    assert_no_exception(at)
    assert float(_metric(at, "RMSE of the noisy input")) != noisy
    at.text_input(key="signals_gaussian_edge_signal").set_value("1, 2, ?").run()
    assert_no_exception(at)
    assert "“?”, is not a number" in shown_errors(at)[0]


def test_autocorrelation_says_how_close_the_period_is_and_why():
    """The issue: "the period is recovered" in a green box for 20.6 when the true period is 20."""
    at = app_test(CORR)
    assert_no_exception(at)
    assert _metric(at, "Period read off") == "20.6"
    assert not any("period" in s.value for s in at.success)  # no green "recovered" for 20.6
    note = " ".join(i.value for i in at.info)
    assert "20.6 samples read off for a true period of 20, 0.6 samples too long (3%)" in note
    assert "only at whole lags" in note and "lags 21, 42, 60, 83" in note and "7 samples wide" in note
    metric = next(m for m in at.metric if m.label.startswith("Period read off"))
    assert metric.delta == "+0.6 samples"
    at.slider(key="signals_correlation_pnoise").set_value(0.0).run()
    assert _metric(at, "Period read off") == "20.0"
    assert any("recovered to a tenth of a sample" in s.value for s in at.success) and not at.info


def test_correlation_page():
    at = app_test(CORR)
    assert_no_exception(at)
    assert _metric(at, "Peak of the cross-correlation") == "15"
    at.slider(key="signals_correlation_shift").set_value(-32).run()
    assert _metric(at, "True delay") == "-32"
    assert _metric(at, "Peak of the cross-correlation") == "-32"
    assert any("recovers the delay exactly" in s.value for s in at.success)
    at.slider(key="signals_correlation_period").set_value(33).run()
    at.radio(key="signals_correlation_shape").set_value("square").run()
    assert abs(float(_metric(at, "Period read off")) - 33) <= 1
    at.radio(key="signals_correlation_shape").set_value("sine").run()
    at.slider(key="signals_correlation_pnoise").set_value(3.0).run()
    assert _metric(at, "Period read off") == "none found"
    assert any("Too much noise" in w.value for w in at.warning)
    assert "Largest at lag **-1**." in _text(at)
    at.text_input(key="signals_correlation_g").set_value("1, 2, 3, 4").run()
    assert "Largest at lag **0**." in _text(at)
    # The step-through writes out the chosen lag; g is shifted, not flipped.
    assert "(f⋆g)(0) = f(0)g(0) + f(1)g(1) + f(2)g(2) + f(3)g(3) = 1×1 + 2×2 + 3×3 + 4×4 = 30" in _codes(at)
    at.slider(key="signals_correlation_lag").set_value(-2).run()
    assert "(f⋆g)(-2) = f(0)g(-2) + f(1)g(-1) + f(2)g(0) + f(3)g(1) = 1×0 + 2×0 + 3×1 + 4×2 = 11" in _codes(at)
    at.text_input(key="signals_correlation_f").set_value(", ".join(["1"] * 30)).run()
    assert any("draws up to 30 lags; these sequences have 33" in i.value for i in at.info)
    at.text_input(key="signals_correlation_f").set_value("").run()
    assert_no_exception(at)
    assert "f is empty" in shown_errors(at)[0]


def test_statistics_page():
    at = app_test(STATS)
    assert_no_exception(at)
    assert "Two uniforms add up to a triangle" in _text(at)
    at.number_input(key="signals_statistics_b").set_value(2.0).run()
    assert "Two uniforms add up to a trapezoid" in _text(at)
    err = float(re.search(r"at most \*\*([0-9.]+)\*\*", _text(at)).group(1))
    assert err < 0.01
    at.radio(key="signals_statistics_kind").set_value("Sum of dice").run()
    assert "the most likely total is **7**, with probability **0.1667** (= 6/36 for two dice)." in _text(at)
    at.slider(key="signals_statistics_dice").set_value(3).run()
    # Three dice: 10 and 11 both have probability 27/216.
    assert "the most likely totals are **10** and **11** (a tie), each with probability **0.1250**" in _text(at)
    assert "Convolving that with itself 2 times" in _text(at)
    at.slider(key="signals_statistics_dice").set_value(1).run()
    assert "every total is equally likely" in _text(at) and "most likely total is" not in _text(at)
    assert "1 dice" not in _text(at) and "0 time" not in _text(at)
    at.radio(key="signals_statistics_kind").set_value("Normal + normal").run()
    assert "N(2, 1.12²)" in _text(at)
    assert_no_exception(at)
    before = _metric(at, "Distance to the true density")
    at.slider(key="signals_statistics_h").set_value(1.5).run()
    assert float(_metric(at, "Distance to the true density")) > float(before)  # over-smoothed
    at.slider(key="signals_statistics_h").set_value(0.02).run()
    captions = " ".join(c.value for c in at.caption)
    assert "moving it by up to half a cell (dx/2 = 0.005)" in captions and "25% of h = 0.02" in captions
    assert_no_exception(at)


def test_gaussian_boundary_caption_says_where_the_modes_agree():
    at = app_test(GAUSS)
    at.slider(key="signals_gaussian_sigma").set_value(0.5).run()  # radius 2 on 10 samples
    edge = np.array([1, 3, 2, 5, 4, 6, 5, 8, 7, 9], float)
    outs = [ndimage.gaussian_filter1d(edge, 0.5, mode=m) for m in ("reflect", "constant", "nearest", "wrap", "mirror")]
    agree = [all(np.isclose(o[t], outs[0][t], rtol=1e-9, atol=1e-12) for o in outs) for t in range(10)]
    assert agree == [False, False, True, True, True, True, True, True, False, False]
    caption = " ".join(c.value for c in at.caption)
    assert "the modes agree at t = 2 … 7" in caption
    at.slider(key="signals_gaussian_sigma").set_value(20.0).run()  # radius 80: past an end from every t
    outs = [ndimage.gaussian_filter1d(edge, 20.0, mode=m) for m in ("reflect", "constant", "nearest", "wrap", "mirror")]
    assert all(not all(np.isclose(o[t], outs[0][t]) for o in outs) for t in range(10))
    caption = " ".join(c.value for c in at.caption)
    assert "the modes differ everywhere" in caption and "agree at" not in caption


def _chart(at, key: str) -> dict:
    return json.loads(next(c for c in at.get("plotly_chart") if c.proto.id.endswith(f"-{key}")).proto.spec)


def test_convolution_play_animates_the_written_sum_and_mode_chart_follows_the_radio():
    at = app_test(CONV)
    walk = _chart(at, "signals_convolution_walk")
    f, g = sg.LECTURE_F, sg.LECTURE_G
    assert len(walk["frames"]) == 6
    for k, frame in enumerate(walk["frames"]):  # Play / the figure's slider show each t's written sum
        notes = [a["text"] for a in frame["layout"]["annotations"]]
        written = sg.written_sum(sg.convolution_step(f, g, k))
        head, _, rest = written.partition(" = ")
        assert any(n.startswith(f"{head} = {rest.split(' = ')[0]}<br>") for n in notes), notes
        assert any(n.endswith(f"= {sg.format_number(np.convolve(f, g)[k])}") for n in notes)
        assert "products f(τ)·g(t − τ)" in notes  # the subplot titles survive the frame
    open_section(at, "Output length")
    at.radio(key="signals_convolution_mode").set_value("valid").run()
    modes = _chart(at, "signals_convolution_modes")
    assert modes["layout"]["title"]["text"].startswith('mode="valid" keeps indices 2 … 3 of the 6 full values')
    at.radio(key="signals_convolution_mode").set_value("same").run()
    modes = _chart(at, "signals_convolution_modes")
    assert modes["layout"]["title"]["text"].startswith('mode="same" keeps indices 1 … 4')
    kept = next(d for d in modes["data"] if d.get("name") == "kept by same")
    x = np.frombuffer(base64.b64decode(kept["x"]["bdata"]), dtype=kept["x"]["dtype"])
    assert list(x) == [1, 2, 3, 4]


def test_a_preset_change_sends_the_step_through_alone_until_another_section_is_opened():
    """A new f or g used to send the page's five charts (the step-through, the modes, convolving again, the
    frequency view's two), about 1 s of the browser's CPU per preset (docs/LATENCY.md); now the sections are lazy
    tabs and a preset sends the open one's chart; each other section is drawn, for the new f, when opened."""
    at = app_test(CONV)
    at.selectbox(key="signals_convolution_f_preset").set_value("ramp").run()
    assert_no_exception(at)
    assert _chart_keys(at) == ["signals_convolution_walk"]
    f = sg.parse_numbers(at.text_input(key="signals_convolution_f").value)
    assert f.size == 12 and len(_chart(at, "signals_convolution_walk")["frames"]) == 14
    open_section(at, "Output length")
    assert _chart_keys(at) == ["signals_convolution_modes"]
    assert '`numpy.convolve(f, g, mode="full")`' in _text(at) and "(14 values)" in _text(at)
    at.selectbox(key="signals_convolution_g_preset").set_value("box").run()
    assert_no_exception(at)
    assert _chart_keys(at) == ["signals_convolution_modes"]  # the open tab stays open and follows the new g
    open_section(at, "Frequency view")
    assert _chart_keys(at) == ["signals_convolution_fft"]


def test_convolution_preset_reads_custom_once_the_numbers_are_edited():
    at = app_test(CONV)
    assert at.selectbox(key="signals_convolution_f_preset").value == "Lecture"
    at.text_input(key="signals_convolution_f").set_value("1, 2, 3, 5").run()
    assert_no_exception(at)
    assert at.selectbox(key="signals_convolution_f_preset").value == "Custom (edited)"
    assert at.text_input(key="signals_convolution_f").value == "1, 2, 3, 5"  # the edit is kept
    at.selectbox(key="signals_convolution_g_preset").set_value("ramp").run()
    at.text_input(key="signals_convolution_g").set_value("1 2 3").run()  # the same numbers, typed differently
    assert at.selectbox(key="signals_convolution_g_preset").value == "ramp"
