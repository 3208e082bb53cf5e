"""Linked convolution views in a real browser: hover an output cell for its products, click it to outline its
window and kernel, edit a kernel in its grid, step through a cross-correlation, play a transposed convolution."""

import numpy as np
import pytest

from cnn_demo import filters, samples
from cnn_demo.images import to_array
from tests.browser_helpers import exception_texts, screenshot, wait_idle

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


def _output_cell(chart, i: int, j: int, n: int, subplot: str = "x3y3") -> tuple[float, float]:
    """Page coordinates of the centre of output cell (i, j) of an n×n output panel of a linked figure."""
    chart.scroll_into_view_if_needed()
    box = chart.locator(f"g.draglayer g.{subplot} rect.nsewdrag").first.bounding_box()
    assert box and box["width"] > 40, box
    return box["x"] + box["width"] * (j + 0.5) / n, box["y"] + box["height"] * (i + 0.5) / n


def _hover_text(page) -> str:
    label = page.locator(".hoverlayer .hovertext").first
    label.wait_for(timeout=5_000)
    return label.text_content()


def test_filtering_linked_view_hover_click_and_kernel_grid(app_server, browser):
    camera = to_array(samples.load_sample("camera", grayscale=True, max_side=512))
    sharpen = filters.presets()["Sharpen"].kernel
    want = filters.convolve2d(camera, sharpen)
    ctx, page, errors = _new_page(browser)
    try:
        page.goto(f"{app_server}/images_filtering")
        wait_idle(page)
        _choose(page, "Filter", "Sharpen")
        chart = page.locator('[data-testid="stPlotlyChart"]').filter(has_text="Output: hover or click a cell")
        chart.wait_for()
        h, w = camera.shape
        # The default pixel is the centre; the 7×7 tiles start at multiples of 7.
        r0, c0 = (h // 2 // 7) * 7, (w // 2 // 7) * 7
        title = chart.locator(".gtitle")
        centre = want[h // 2, w // 2]
        assert title.text_content() == f"Output row {h // 2}, col {w // 2} = Σ window × kernel = {centre:.6g}"

        # Hover: plotly's own tooltip writes window × kernel and the sum, without a rerun.
        x, y = _output_cell(chart, 1, 5, 7)
        page.mouse.move(x, y)
        tip = _hover_text(page)
        assert tip.startswith(f"output row {r0 + 1}, col {c0 + 5} = Σ window × kernel"), tip
        assert tip.endswith(f"= {want[r0 + 1, c0 + 5]:.6g}"), tip
        hood = np.pad(camera, 1, mode="symmetric")[r0 + 1 : r0 + 4, c0 + 5 : c0 + 8]
        assert f"{hood[1, 0]:.4g}×(-1) + {hood[1, 1]:.4g}×5 + {hood[1, 2]:.4g}×(-1)" in tip, tip
        chart.screenshot(path="test-artifacts/filtering-linked-hover-chart.png")

        # Click: the cell is selected, its window and the kernel outlined, the inspector follows.
        page.mouse.click(x, y)
        wait_idle(page)
        chart = page.locator('[data-testid="stPlotlyChart"]').filter(has_text="Output: hover or click a cell")
        title = chart.locator(".gtitle")
        assert title.text_content() == (
            f"Output row {r0 + 1}, col {c0 + 5} = Σ window × kernel = {want[r0 + 1, c0 + 5]:.6g}"
        )
        page.get_by_text(f"Output at row {r0 + 1}, column {c0 + 5}: Σ products = {want[r0 + 1, c0 + 5]:.6g}").wait_for()
        assert chart.locator(".shapelayer path").count() >= 3  # window, kernel, output cell
        assert not exception_texts(page)
        chart.screenshot(path="test-artifacts/filtering-linked-click-chart.png")
        screenshot(page, "filtering-linked-click")

        # The kernel edited in place, in its grid: the text, the result and the linked view follow.
        _choose(page, "Filter", filters.CUSTOM)
        grid = page.locator('[data-testid="stDataFrame"]').first
        grid.scroll_into_view_if_needed()
        box = grid.bounding_box()
        row_h = 35
        cell = (box["x"] + box["width"] * 1.5 / 3, box["y"] + row_h + row_h * 1.5)  # the centre cell
        page.mouse.dblclick(*cell)  # opens the cell's editor, holding 0.25
        for _ in range(8):
            page.keyboard.press("Backspace")
        page.keyboard.type("-0.5", delay=80)
        page.keyboard.press("Enter")
        wait_idle(page)
        text = page.locator("textarea").first.input_value()
        assert text == "1/16 2/16 1/16\n2/16 -0.5 2/16\n1/16 2/16 1/16", text
        edited = filters.convolve2d(camera, filters.parse_kernel(text))
        page.get_by_text(f"Result values range from {edited.min():.4g} to {edited.max():.4g}").wait_for()
        assert not exception_texts(page)
        screenshot(page, "filtering-kernel-grid")
        assert not errors, errors
    finally:
        ctx.close()


def test_conv_layer_hover_and_click_trace_an_output(app_server, browser):
    from cnn_demo.layers import conv_example

    cw = conv_example(3, 3, 1, 1, 1, 1, True, (32, 32)).windows
    ctx, page, errors = _new_page(browser)
    try:
        page.goto(f"{app_server}/conv_layer")
        wait_idle(page)
        chart = page.locator('[data-testid="stPlotlyChart"]').filter(has_text="Output: hover or click a cell")
        x, y = _output_cell(chart, 2, 3, 7)
        page.mouse.move(x, y)
        tip = _hover_text(page)
        assert tip.startswith("output row 2, col 3 = Σ window × kernel"), tip
        assert f"+ bias {cw.bias:.4g}" in tip and tip.endswith(f"= {cw.value(2, 3):.6g}"), tip
        page.mouse.click(x, y)
        wait_idle(page)
        chart = page.locator('[data-testid="stPlotlyChart"]').filter(has_text="Output: hover or click a cell")
        want = f"{cw.value(2, 3):.6g}"
        assert chart.locator(".gtitle").text_content() == f"Output row 2, col 3 = Σ window × kernel + bias = {want}"
        assert chart.locator(".shapelayer path").count() >= 7  # a window and a kernel per channel, the output cell
        products = page.locator('[data-testid="stPlotlyChart"]').filter(has_text="Σ products")
        assert products.locator(".gtitle").text_content() == f"Σ products + bias {cw.bias:.4g} = {want}"
        page.get_by_text("F.conv2d on the same numbers gives exactly this output.").wait_for()
        assert not exception_texts(page)
        chart.screenshot(path="test-artifacts/conv-layer-linked-click-chart.png")
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
    from cnn_demo import arithmetic as ar

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
