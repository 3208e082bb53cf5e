"""Figures as drawn at 1400×900: cell grids fill their plot and no tick label is cut off."""

import itertools

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


#: Every text of a colour key (plotly ``text`` of its markers) and the key's own box: a name runs past the key's
#: right edge or into the next square when the key is too narrow for it.
_KEY_TEXTS = """key => {
  const el = document.querySelector(`.st-key-${key} .js-plotly-plot`);
  if (!el) return null;
  const root = el.getBoundingClientRect();
  const texts = [...el.querySelectorAll('.textpoint text')].map(t => {
    const r = t.getBoundingClientRect();
    return {name: t.textContent.trim(), left: r.left, right: r.right, top: r.top};
  });
  return {right: root.right, texts};
}"""


def test_home_cards_and_the_unet_voc_example_are_drawn(app_server, browser):
    """Home: a picture on every page card, drawn by the browser. U-Net: the VOC photo, its mask and a colour key
    whose names stand whole on one line, none running into the next square or out of the key."""
    from cnn_demo.ui.catalog import PAGES
    from tests.browser_helpers import widget

    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    page = ctx.new_page()
    page.goto(app_server)
    wait_idle(page)
    page.wait_for_function(
        'n => [...document.querySelectorAll(\'[data-testid="stMain"] [class*="st-key-home_card_"] img\')]'
        ".filter(i => i.complete && i.naturalWidth > 0).length >= n",
        arg=len([p for p in PAGES if p.section]),
        timeout=30_000,
    )
    screenshot(page, "layout-home")
    page.goto(f"{app_server}/unet")
    wait_idle(page)
    widget(page, "stRadio", "Data").get_by_text("PASCAL VOC sample: all 21 classes (14 real photos)").click()
    wait_idle(page)
    page.get_by_text("Its mask: the class of every pixel").wait_for()
    screenshot(page, "layout-unet-voc")
    key = page.evaluate(_KEY_TEXTS, "unet_voc_key")
    assert key is not None and {"background", "aeroplane"} <= {t["name"] for t in key["texts"]}
    rows: dict[float, list[dict]] = {}
    for t in key["texts"]:
        rows.setdefault(round(t["top"]), []).append(t)
        assert t["right"] <= key["right"] + 1, t  # whole inside the key
    for row in rows.values():
        row.sort(key=lambda t: t["left"])
        assert all(a["right"] < b["left"] - 10 for a, b in itertools.pairwise(row)), row  # room to the next
    ctx.close()
