"""Figures as drawn at 1400×900: cell grids fill their plot and no tick label is cut off."""

import pytest

from tests.browser_helpers import screenshot, wait_idle

pytestmark = pytest.mark.browser

#: Every plotly chart on the page: its Streamlit key, tick labels lying outside the chart (cut off), and, for a cell
#: grid (heatmap), the share of the chart's width its cells cover.
_CHARTS = """() => [...document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot')].map(el => {
  const root = el.getBoundingClientRect();
  const holder = el.closest('[class*="st-key-"]');
  const key = holder ? [...holder.classList].find(c => c.startsWith('st-key-')).slice(7) : '';
  const clipped = [...el.querySelectorAll('.xtick text, .ytick text')].filter(t => {
    const r = t.getBoundingClientRect();
    return r.width > 0 && (r.left < root.left - 1 || r.right > root.right + 1
                           || r.top < root.top - 1 || r.bottom > root.bottom + 1);
  }).map(t => t.textContent);
  const cells = el.querySelector('.hm image');
  return {key, clipped, fill: cells ? cells.getBoundingClientRect().width / root.width : null,
          yticks: [...el.querySelectorAll('.ytick text')].map(t => t.textContent)};
})"""

#: page → the cell grids it must draw (Streamlit keys).
GRIDS = {
    "pixels": ["pixels_window"],
    "images_filtering": ["images_filtering_k"],
    "pooling": ["pooling_input_fig", "pooling_output_fig", "pooling_img_values"],
    "adaptive_pooling": ["adaptive_pooling_cover"],
}


@pytest.mark.parametrize("url", list(GRIDS))
def test_cell_grids_fill_their_plot_and_tick_labels_are_not_cut(app_server, browser, url):
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    page = ctx.new_page()
    page.goto(f"{app_server}/{url}")
    wait_idle(page)
    charts = {c["key"]: c for c in page.evaluate(_CHARTS)}
    screenshot(page, f"layout-{url}")
    assert set(GRIDS[url]) <= set(charts), charts.keys()
    cut = {k: c["clipped"] for k, c in charts.items() if c["clipped"]}
    assert not cut, f"tick labels cut off: {cut}"
    for key in GRIDS[url]:
        assert charts[key]["fill"] is not None and charts[key]["fill"] >= 0.75, (key, charts[key])
    if url == "pixels":  # the zoom window is numbered with the image's rows, not 0–7
        assert charts["pixels_window"]["yticks"] == [str(r) for r in range(252, 260)]
    ctx.close()


#: Metric values and labels the browser cuts off with an ellipsis ("15,733,760 param…").
_CUT_METRICS = """() => [...document.querySelectorAll('[data-testid="stMetricValue"], [data-testid="stMetricLabel"]')]
  .filter(m => [m, ...m.querySelectorAll('*')].some(e => e.scrollWidth > e.clientWidth + 1))
  .map(m => m.textContent)"""


def test_convolution_layer_metrics_are_shown_whole(app_server, browser):
    from tests.browser_helpers import widget

    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    page = ctx.new_page()
    page.goto(f"{app_server}/conv_layer")
    wait_idle(page)
    assert page.get_by_text("15,733,760", exact=True).count() == 1
    assert page.evaluate(_CUT_METRICS) == []
    for label, value in (("in_channels", "2048"), ("out_channels", "2048"), ("input height", "1024")):
        box = widget(page, "stNumberInput", label).locator("input")
        box.fill(value)
        box.press("Enter")
        wait_idle(page)
    screenshot(page, "layout-conv-layer-large")
    assert page.evaluate(_CUT_METRICS) == []
    ctx.close()
