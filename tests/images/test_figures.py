"""Pictures in figures travel as lossless PNGs: exact pixels, a fraction of the bytes of the pixel array."""

from __future__ import annotations

import base64
import io

import numpy as np
import plotly.graph_objects as go
import pytest
from PIL import Image

from cnn_demo.applications.figures import BoxGroup, boxes_figure
from cnn_demo.images.figures import border_modes_figure
from cnn_demo.io.samples import load_sample
from cnn_demo.viz import image_figure, image_trace, png_data_uri, to_uint8


def decode(uri: str) -> np.ndarray:
    head, data = uri.split(",", 1)
    assert head == "data:image/png;base64"
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data))))


@pytest.mark.parametrize("shape", [(7, 5), (33, 64, 3), (1, 1), (2, 300, 3)])
def test_png_round_trip_is_exact(shape):
    rng = np.random.default_rng(sum(shape))
    arr = rng.integers(0, 256, size=shape, dtype=np.uint8)
    assert np.array_equal(decode(png_data_uri(arr)), arr)


def test_values_are_rounded_and_clipped_like_a_screen():
    values = np.array([[-20.0, 0.4, 0.6], [127.5, 254.6, 300.0]])
    assert to_uint8(values).tolist() == [[0, 0, 1], [128, 255, 255]]
    assert np.array_equal(decode(png_data_uri(values)), to_uint8(values))
    assert decode(png_data_uri(np.zeros((4, 4, 1)))).shape == (4, 4)  # a single channel is grayscale


def test_image_trace_hover_names_the_pixel_and_its_values():
    gray = image_trace(np.zeros((3, 4)))
    colour = image_trace(np.zeros((3, 4, 3)))
    assert isinstance(gray, go.Image) and gray.z is None and gray.source.startswith("data:image/png;base64,")
    assert "row %{y}, column %{x}" in gray.hovertemplate and "value %{color[0]}" in gray.hovertemplate
    assert "R %{color[0]}, G %{color[1]}, B %{color[2]}" in colour.hovertemplate


@pytest.mark.parametrize(("name", "gray"), [("camera", True), ("astronaut", False), ("chelsea", False)])
def test_a_photo_figure_is_much_smaller_than_its_pixel_array(name, gray):
    img = np.asarray(load_sample(name, grayscale=gray), dtype=float)  # pages hold images as float arrays
    fig = image_figure(img, "t")
    assert np.array_equal(decode(fig.data[0].source), to_uint8(img))
    as_pixels = go.Figure(go.Heatmap(z=img) if gray else go.Image(z=img.astype(np.uint8))).to_json()
    # camera: ~0.21 MB instead of 2.8 MB (float heatmap); astronaut ~0.62 MB instead of ~1.05 MB.
    assert len(fig.to_json()) < 0.65 * len(as_pixels)


def test_every_photo_builder_uses_the_png_trace():
    img = np.asarray(load_sample("chelsea"), dtype=np.uint8)
    figs = [
        border_modes_figure({"reflect": (img[:20, :20, 0].astype(float), img[:16, :16])}, (2, 2), 16),
        boxes_figure(img, [BoxGroup("cat", np.array([[10.0, 10, 100, 80]]), "#f00")]),
    ]
    for fig in figs:
        trace = fig.data[0]
        assert isinstance(trace, go.Image) and trace.source and trace.z is None


def test_image_and_spectrum_figures_have_fixed_margins():
    """Automatic margins make the browser measure every tick label and lay a chart out twice: the 2-D filtering
    page's many charts took seconds to redraw. The figures bring margins that fit their labels instead."""
    from cnn_demo.images import filters
    from cnn_demo.images.figures import border_modes_figure, breakdown_figure, spectrum_figure
    from cnn_demo.viz import image_figure, matrix_figure

    image = np.random.default_rng(0).uniform(0, 255, (300, 300))
    figures = [
        image_figure(image, "x"),
        matrix_figure(np.eye(3)),
        border_modes_figure({"wrap": (image[:40, :40], image[:32, :32])}, (4, 4), 32),
        spectrum_figure(filters.fft_magnitude(image), "F"),
        breakdown_figure(filters.inspect_pixel(image, filters.SOBEL_H, 5, 5)),
    ]
    for fig in figures:
        axes = [a for name, a in fig.layout.to_plotly_json().items() if name.startswith(("xaxis", "yaxis"))]
        assert axes and all(a.get("automargin") is False for a in axes)
        assert fig.layout.margin.l is not None and fig.layout.margin.b is not None
    assert image_figure(image).layout.margin.l >= 30  # room for the row numbers
    z = spectrum_figure(filters.fft_magnitude(np.zeros((512, 512))), "F").data[0].z
    assert max(np.shape(z)) <= 128


def test_border_modes_figure_draws_every_mode_in_one_figure_with_its_corner_outlined():
    """The Border modes tab: one figure (the browser lays out one plot, not ten), modes as columns, the crop with its
    invented border on top with the real image outlined, the result under it, square pixels everywhere."""
    from cnn_demo.images.figures import READ_COLOUR, border_modes_figure

    rng = np.random.default_rng(1)
    panels = {m: (rng.uniform(0, 255, (24, 24)), rng.uniform(0, 255, (16, 16))) for m in ("reflect", "wrap", "nearest")}
    fig = border_modes_figure(panels, (8, 0), 16)
    assert [a.text for a in fig.layout.annotations] == ["reflect", "wrap", "nearest"]
    assert [t.name for t in fig.data] == [f"{m}: {part}" for m in panels for part in ("with border", "result")]
    assert [(t.xaxis, t.yaxis) for t in fig.data[::2]] == [("x", "y"), ("x2", "y2"), ("x3", "y3")]  # top row
    assert [(t.xaxis, t.yaxis) for t in fig.data[1::2]] == [("x4", "y4"), ("x5", "y5"), ("x6", "y6")]
    for (mode, (padded, _)), trace in zip(panels.items(), fig.data[::2], strict=True):
        assert np.array_equal(decode(trace.source), to_uint8(padded)), mode
    rects = [(s.xref, s.x0, s.y0, s.x1, s.y1, s.line.color) for s in fig.layout.shapes]
    assert rects == [(x, -0.5, 7.5, 15.5, 23.5, READ_COLOUR) for x in ("x", "x2", "x3")]  # rows 8..23, cols 0..15
    layout = fig.layout.to_plotly_json()
    anchors = {name: a.get("scaleanchor") for name, a in layout.items() if name.startswith("yaxis")}
    assert anchors == {"yaxis": "x", **{f"yaxis{i}": f"x{i}" for i in range(2, 7)}}


def test_matrix_figure_numbers_cells_as_the_image_and_is_as_large_as_its_cells():
    """The pixel grid was labelled 0–7 for rows 316–323 and drawn tiny in a wide, empty, stretched plot with its x
    labels cut off: it now carries the image's own row and column numbers, square cells of a readable size, a
    figure exactly that large (shown with width="content") and room under it for the x labels."""
    from cnn_demo.viz import TICK_ROOM, matrix_figure

    fig = matrix_figure(np.arange(64).reshape(8, 8), "window", rows=range(316, 324), cols=range(1020, 1028))
    heat, layout = fig.data[0], fig.layout
    assert list(heat.y) == list(range(316, 324)) and list(heat.x) == list(range(1020, 1028))
    assert list(layout.yaxis.tickvals) == list(range(316, 324)) and list(layout.xaxis.tickvals) == list(
        range(1020, 1028)
    )
    assert layout.yaxis.range[0] == 323.5 and layout.yaxis.range[1] == 315.5  # row 316 on top
    m = layout.margin
    cell = (layout.width - m.l - m.r) / 8
    assert 36 <= cell <= 48 and layout.height - m.t - m.b == 8 * cell  # square cells, no empty plot area
    assert m.b >= TICK_ROOM >= 30 and m.l >= 14 + 8 * len("323")  # x labels fit below, "323" fits on the left
    assert not layout.xaxis.showgrid and not layout.yaxis.showgrid
    big = matrix_figure(np.zeros((41, 41)), annotate=False)
    assert big.layout.width <= 640 and len(big.layout.xaxis.tickvals) <= 16  # labels never overlap


def test_pooling_window_figure_numbers_padding_cells_outside_the_input():
    from cnn_demo.blocks.figures import window_figure

    fig = window_figure(np.ones((4, 4)), [-1, 0], [-1, 0], "Input", padding=(1, 1))
    assert list(fig.data[0].y) == list(range(-1, 5))
    assert fig.layout.width <= 340
    first = fig.layout.shapes[0]
    assert (first.x0, first.y0) == (-1.5, -1.5)  # the window's padding cell, in the input's own numbering
