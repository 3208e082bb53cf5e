"""What the Object detection page shows of a COCO detector without its weights, and the pipelines diagram."""

from __future__ import annotations

import pytest

from cnn_demo.applications.detection import DETECTORS, detector_info
from cnn_demo.applications.detection.architecture import detector_parts, parts_table
from cnn_demo.applications.detection.diagram import LANES, lane_key, pipelines_figure


@pytest.mark.parametrize("name", [d.name for d in DETECTORS])
def test_parts_and_parameters_without_weights(name):
    """Counted on the meta device; torchvision's documented count differs only by the BatchNorm scales and shifts,
    which its pretrained models freeze (buffers there, parameters here)."""
    rows = parts_table(name)
    parts = [r["part"] for r in rows]
    family = detector_info(name).family
    assert parts == (
        ["backbone", "rpn", "roi_heads", "total"] if family == "two-stage" else ["backbone", "head", "total"]
    )
    # Each part says what it does, in words that fit the page's table column (about 55 characters at its width).
    assert all(0 < len(r["what it does"]) <= 55 for r in rows[:-1]), rows
    total = rows[-1]["parameters"]
    assert total == sum(n for _, _, n in detector_parts(name))
    documented = detector_info(name).weights_entry.meta["num_params"]
    assert 0 <= total - documented < 0.01 * documented
    assert all(r["what it does"] for r in rows[:-1])


def test_the_pipelines_diagram_has_a_row_per_kind_and_shades_the_chosen_one():
    assert [lane.key for lane in LANES] == ["two-stage", "one-stage", "cascade"]
    assert lane_key("one-stage") == "one-stage" and lane_key("anything else") == "cascade"
    for key in ("two-stage", "one-stage", "cascade"):
        fig = pipelines_figure(key)
        shaded = [s for s in fig.layout.shapes if s.fillcolor == "#fff5cc"]
        row = 2 - [lane.key for lane in LANES].index(key)
        assert len(shaded) == 1 and shaded[0].y0 < row < shaded[0].y1
    fig = pipelines_figure(None)
    texts = " ".join(a.text for a in fig.layout.annotations)
    assert "RPN" in texts and "RoIAlign" in texts and "P-Net" in texts and "dense head" in texts
    assert "the same feature maps, computed once" in texts
    blocks = [s for s in fig.layout.shapes if s.type == "rect"]
    assert len(blocks) == sum(len(lane.blocks) for lane in LANES)
    assert {t.name for t in fig.data} == {"input", "CNN features", "propose regions", "classify regions",
                                          "non-maximum suppression"}  # fmt: skip
