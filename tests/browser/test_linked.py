"""Linked convolution views in a real browser: hover an output cell to light up its window and kernel and read its
products (no rerun), click it to select it, edit a kernel in its grid, step through a cross-correlation, play a
transposed convolution."""

import numpy as np
import pytest
from playwright.sync_api import expect

from cnn_demo.images import filters
from cnn_demo.io import samples
from cnn_demo.io.images import to_array
from tests.browser_helpers import RUNNING, RerunWatch, exception_texts, screenshot, wait_idle

pytestmark = pytest.mark.browser


def _new_page(browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    page.set_default_timeout(30_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    return ctx, page, errors


def _choose(page, label: str, option: str) -> None:
    """Pick ``option`` in the select box labelled ``label``."""
    box = page.locator('[data-testid="stSelectbox"]').filter(has_text=label).first
    box.scroll_into_view_if_needed()
    box.click()
    page.get_by_role("option", name=option, exact=True).click()
    wait_idle(page)


def _view(page):
    """The linked view (a custom component in a shadow root; Playwright's CSS selectors reach into it)."""
    view = page.locator(".lv-view")
    view.wait_for()
    view.scroll_into_view_if_needed()
    return view


def _cell(view, panel: str, i: int, j: int, channel: int = 0):
    return view.locator(f'.lv-{panel}[data-channel="{channel}"] .lv-cell[data-r="{i}"][data-c="{j}"]')


def _lit(view, panel: str, channel: int = 0) -> set[tuple[int, int]]:
    cells = view.locator(f'.lv-{panel}[data-channel="{channel}"] .lv-cell.lv-on')
    return {(int(c.get_attribute("data-r")), int(c.get_attribute("data-c"))) for c in cells.all()}


def _readout(view) -> str:
    return "\n".join(view.locator(".lv-readout .lv-line").all_text_contents())


def _assert_no_rerun(page, watch: RerunWatch, finished: int, requested: int) -> None:
    """Nothing ran on the server: the browser asked for no rerun, no script run finished, and the status widget
    does not say Running. (An absence has no event to wait for: 600 ms is longer than any widget's debounce.)"""
    page.wait_for_timeout(600)
    assert watch.requested == requested, "hovering must not ask for a rerun"
    assert watch.finished == finished, "hovering must not rerun the script"
    status = page.locator(RUNNING)
    assert not status.count() or "Running" not in status.first.inner_text()


def test_filtering_linked_view_hover_click_and_kernel_grid(app_server, browser):
    camera = to_array(samples.load_sample("camera", grayscale=True, max_side=512))
    sharpen = filters.presets()["Sharpen"].kernel
    want = filters.convolve2d(camera, sharpen)
    ctx, page, errors = _new_page(browser)
    watch = RerunWatch(page)
    try:
        page.goto(f"{app_server}/images_filtering")
        wait_idle(page)
        # The default Gaussian (σ = 2) has a 17×17 kernel: its cells are too small for numbers, the output keeps them.
        _view(page).screenshot(path="test-artifacts/filtering-linked-gaussian-chart.png")
        _choose(page, "Filter", "Sharpen")
        view = _view(page)
        h, w = camera.shape
        # The default pixel is the centre; the 7×7 tiles start at multiples of 7.
        r0, c0 = (h // 2 // 7) * 7, (w // 2 // 7) * 7
        title = view.locator(".lv-title")
        centre = want[h // 2, w // 2]
        assert title.text_content() == f"Output row {h // 2}, col {w // 2} = Σ window × kernel = {centre:.6g}"
        si, sj = h // 2 - r0, w // 2 - c0
        assert view.get_attribute("data-active") == f"{si},{sj}" and view.get_attribute("data-mode") == "selected"
        assert _lit(view, "input") == {(si + a, sj + b) for a in range(3) for b in range(3)}

        # Hover: the window (rows 1–3, cols 5–7 of the input) and the kernel light up, the products are written
        # out, all in the browser.
        finished, requested = watch.finished, watch.requested
        _cell(view, "output", 1, 5).hover()
        page.wait_for_function("v => v.dataset.active === '1,5'", arg=view.element_handle(), timeout=5_000)
        assert view.get_attribute("data-mode") == "hover"
        assert _lit(view, "input") == {(r, c) for r in (1, 2, 3) for c in (5, 6, 7)}
        assert _lit(view, "kernel") == {(r, c) for r in range(3) for c in range(3)}
        assert view.locator('.lv-kernel[data-lit="true"]').count() == 1
        assert view.locator(".lv-output .lv-cell.lv-current").get_attribute("data-r") == "1"
        assert view.locator(".lv-output .lv-cell.lv-current").get_attribute("data-c") == "5"
        assert title.text_content() == (
            f"Output row {r0 + 1}, col {c0 + 5} = Σ window × kernel = {want[r0 + 1, c0 + 5]:.6g}"
        )
        hood = np.pad(camera, 1, mode="symmetric")[r0 + 1 : r0 + 4, c0 + 5 : c0 + 8]
        text = _readout(view)
        assert f"{hood[1, 0]:.4g}×(-1) + {hood[1, 1]:.4g}×5 + {hood[1, 2]:.4g}×(-1)" in text, text
        assert text.endswith(f"= {want[r0 + 1, c0 + 5]:.6g}"), text
        _assert_no_rerun(page, watch, finished, requested)
        view.screenshot(path="test-artifacts/filtering-linked-hover-chart.png")

        # Leaving the output restores the selected cell.
        page.mouse.move(5, 5)
        page.wait_for_function("v => v.dataset.mode === 'selected'", arg=view.element_handle(), timeout=5_000)
        assert view.get_attribute("data-active") == f"{si},{sj}"
        assert title.text_content().startswith(f"Output row {h // 2}, col {w // 2} =")
        _assert_no_rerun(page, watch, finished, requested)

        # Click: the cell is sent to Python, the inspector follows (a fragment run) and the cell stays lit.
        runs = watch.fragment_runs
        _cell(view, "output", 1, 5).click()
        wait_idle(page)
        page.get_by_text(f"Output at row {r0 + 1}, column {c0 + 5}: Σ products = {want[r0 + 1, c0 + 5]:.6g}").wait_for()
        assert watch.fragment_runs > runs, "a click reruns the inspector's fragment only"
        view = _view(page)
        page.mouse.move(5, 5)
        page.wait_for_function("v => v.dataset.mode === 'selected'", arg=view.element_handle(), timeout=5_000)
        assert view.get_attribute("data-active") == "1,5"
        assert _lit(view, "input") == {(r, c) for r in (1, 2, 3) for c in (5, 6, 7)}
        assert view.locator(".lv-output .lv-cell.lv-selected").get_attribute("data-c") == "5"
        assert view.locator(".lv-title").text_content() == (
            f"Output row {r0 + 1}, col {c0 + 5} = Σ window × kernel = {want[r0 + 1, c0 + 5]:.6g}"
        )
        assert not exception_texts(page)
        view.screenshot(path="test-artifacts/filtering-linked-click-chart.png")
        screenshot(page, "filtering-linked-click")

        # Keyboard: the selected cell is the grid's tab stop, arrows move (lighting up as hover does), Enter picks.
        _cell(view, "output", 1, 5).focus()
        page.keyboard.press("ArrowRight")
        page.wait_for_function("v => v.dataset.active === '1,6'", arg=view.element_handle(), timeout=5_000)
        assert view.get_attribute("data-mode") == "focus"
        assert _lit(view, "input") == {(r, c) for r in (1, 2, 3) for c in (6, 7, 8)}
        page.keyboard.press("Enter")
        wait_idle(page)
        page.get_by_text(f"Output at row {r0 + 1}, column {c0 + 6}: Σ products = {want[r0 + 1, c0 + 6]:.6g}").wait_for()
        view = _view(page)  # redrawn by the rerun, the focus still on the picked cell
        assert view.get_attribute("data-active") == "1,6" and view.get_attribute("data-mode") == "focus"
        page.keyboard.press("ArrowDown")
        page.wait_for_function("v => v.dataset.active === '2,6'", arg=view.element_handle(), timeout=5_000)

        # The kernel edited in place, in its grid: the text, the result and the linked view follow.
        _choose(page, "Filter", filters.CUSTOM)
        grid = page.locator('[data-testid="stDataFrame"]').first
        grid.scroll_into_view_if_needed()
        box = grid.bounding_box()
        row_h = 35
        cell = (box["x"] + box["width"] * 1.5 / 3, box["y"] + row_h + row_h * 1.5)  # the centre cell
        page.mouse.dblclick(*cell)  # opens the cell's editor, holding 0.25
        editor = page.locator("input.gdg-input")
        expect(editor).to_have_value("0.25")
        # One fill, not keystrokes: under load the editor lost keys typed while it was still opening ("-0.205").
        editor.fill("-0.5")
        expect(editor).to_have_value("-0.5")
        editor.press("Enter")
        wait_idle(page)
        text = page.locator("textarea").first.input_value()
        assert text == "1/16 2/16 1/16\n2/16 -0.5 2/16\n1/16 2/16 1/16", text
        edited = filters.convolve2d(camera, filters.parse_kernel(text))
        page.get_by_text(f"Result values range from {edited.min():.4g} to {edited.max():.4g}").wait_for()
        assert _view(page).locator('.lv-kernel text[data-r="1"][data-c="1"]').text_content() == "-0.5"
        assert not exception_texts(page)
        screenshot(page, "filtering-kernel-grid")
        assert not errors, errors
    finally:
        ctx.close()


def test_conv_layer_hover_and_click_trace_an_output(app_server, browser):
    from cnn_demo.blocks.layers import conv_example

    cw = conv_example(3, 3, 1, 1, 1, 1, True, (32, 32)).windows
    ctx, page, errors = _new_page(browser)
    watch = RerunWatch(page)
    try:
        page.goto(f"{app_server}/conv_layer")
        wait_idle(page)
        view = _view(page)
        assert view.get_attribute("data-active") == "0,0"
        finished, requested = watch.finished, watch.requested
        _cell(view, "output", 2, 3).hover()
        page.wait_for_function("v => v.dataset.active === '2,3'", arg=view.element_handle(), timeout=5_000)
        window = {(r, c) for r in (2, 3, 4) for c in (3, 4, 5)}  # padding 1: input rows 2–4 hold output row 2
        for c in range(3):
            assert _lit(view, "input", c) == window
            assert len(_lit(view, "kernel", c)) == 9
        want = f"{cw.value(2, 3):.6g}"
        assert view.locator(".lv-title").text_content() == f"Output row 2, col 3 = Σ window × kernel + bias = {want}"
        text = _readout(view)
        assert f"+ bias {cw.bias:.4g}" in text and text.endswith(f"= {want}"), text
        assert text.count("×") == 27, text  # 3 channels × 3×3 products, all written out
        _assert_no_rerun(page, watch, finished, requested)
        page.set_viewport_size({"width": 1400, "height": 2200})  # the whole view, three channels high
        _cell(view, "output", 2, 3).hover()
        view.screenshot(path="test-artifacts/conv-layer-linked-hover-chart.png")
        page.set_viewport_size({"width": 1400, "height": 1000})
        _cell(view, "output", 2, 3).click()
        wait_idle(page)
        products = page.locator('[data-testid="stPlotlyChart"]').filter(has_text="Σ products")
        products.locator(".gtitle").filter(has_text=f"Σ products + bias {cw.bias:.4g} = {want}").wait_for()
        page.mouse.move(5, 5)
        view = _view(page)
        page.wait_for_function("v => v.dataset.mode === 'selected'", arg=view.element_handle(), timeout=5_000)
        assert view.get_attribute("data-active") == "2,3"
        assert view.locator(".lv-title").text_content() == f"Output row 2, col 3 = Σ window × kernel + bias = {want}"
        page.get_by_text("F.conv2d on the same numbers gives exactly this output.").wait_for()
        assert not exception_texts(page)
        view.screenshot(path="test-artifacts/conv-layer-linked-click-chart.png")
        screenshot(page, "conv-layer-linked-click")
        assert not errors, errors
    finally:
        ctx.close()


def test_correlation_step_through_plays_every_lag(app_server, browser):
    ctx, page, errors = _new_page(browser)
    try:
        page.goto(f"{app_server}/signals_correlation")
        wait_idle(page)
        page.get_by_text(
            "(f⋆g)(0) = f(0)g(0) + f(1)g(1) + f(2)g(2) + f(3)g(3) = 1×0 + 2×1 + 3×0.5 + 4×0 = 3.5"
        ).wait_for()
        chart = page.locator('[data-testid="stPlotlyChart"]').filter(has_text="g(t + τ)")
        chart.scroll_into_view_if_needed()
        title = chart.locator(".gtitle")
        assert title.text_content().startswith("t = 0: (f ⋆ g)(0) = Σ f(τ)·g(0 + τ) = 3.5")
        chart.locator(".updatemenu-button").first.click()  # ▶ Play: lags 1 and 2 follow
        page.wait_for_function("el => /^t = 2:/.test(el.textContent)", arg=title.element_handle(), timeout=15_000)
        assert title.text_content().startswith("t = 2: (f ⋆ g)(2) = Σ f(τ)·g(2 + τ) = 0.5")
        chart.screenshot(path="test-artifacts/correlation-step-through-chart.png")
        screenshot(page, "correlation-step-through")
        assert not exception_texts(page)
        assert not errors, errors
    finally:
        ctx.close()


def test_transposed_convolution_animation_plays_to_the_last_input_cell(app_server, browser):
    from cnn_demo.images import arithmetic as ar

    ts = ar.transposed_steps(5, 3, 2, 1, 1, 1)
    ctx, page, errors = _new_page(browser)
    try:
        page.goto(f"{app_server}/images_arithmetic")
        wait_idle(page)
        chart = page.locator('[data-testid="stPlotlyChart"]').filter(has_text="Canvas: output")
        chart.scroll_into_view_if_needed()
        title = chart.locator(".gtitle")
        assert (
            title.text_content()
            == f"Input (0, 0) = {ts.x[0, 0]:.3g} adds {ts.x[0, 0]:.3g} × kernel to canvas rows 0–2, cols 0–2"
        )
        chart.screenshot(path="test-artifacts/transposed-first-chart.png")
        chart.locator(".updatemenu-button").first.click()  # ▶ Play through the 25 input cells
        page.wait_for_function(
            "el => el.textContent.startsWith('Input (4, 4)')", arg=title.element_handle(), timeout=45_000
        )
        assert title.text_content().endswith("to canvas rows 8–10, cols 8–10")
        page.get_by_text("with this kernel gives exactly this 10×10 output.").wait_for()
        chart.screenshot(path="test-artifacts/transposed-last-chart.png")
        screenshot(page, "transposed-animation")
        assert not exception_texts(page)
        assert not errors, errors
    finally:
        ctx.close()


def test_pixels_page_shows_the_models_tensor_and_ranges(app_server, browser):
    from cnn_demo import models

    ctx, page, errors = _new_page(browser)
    try:
        page.goto(f"{app_server}/pixels")
        wait_idle(page)
        page.get_by_text("The tensor a CNN receives").scroll_into_view_if_needed()
        page.get_by_text("torch.Size([1, 3, 224, 224])").wait_for()
        table = page.locator('[data-testid="stTable"]').first
        for name in ("resnet18", "timm/efficientnet_b0.ra_in1k"):
            if name != "resnet18":
                _choose(page, "Model", name)
            cfg = models.data_config(name)
            text = table.inner_text()
            for k in range(3):
                lo, hi = -cfg.mean[k] / cfg.std[k], (1 - cfg.mean[k]) / cfg.std[k]
                assert f"{lo:.3f} … {hi:.3f}" in text, (name, text)
                assert f"{cfg.std[k]:.4g}" in text
        screenshot(page, "pixels-tensor")
        assert not exception_texts(page)
        assert not errors, errors
    finally:
        ctx.close()
