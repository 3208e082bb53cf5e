"""One stage or two: the detectors' pipelines side by side as one picture (plotly shapes, no data)."""

from __future__ import annotations

from dataclasses import dataclass

import plotly.graph_objects as go

#: Block colours by role: the input, CNN features, proposing, classifying, post-processing.
ROLE_COLOURS = {
    "input": "#e0e0e0",
    "features": "#aec7e8",
    "propose": "#ffbb78",
    "classify": "#98df8a",
    "output": "#c5b0d5",
}
INK, GREY, HIGHLIGHT = "#222222", "#555555", "#fff5cc"
ROLE_NAMES = {
    "input": "input",
    "features": "CNN features",
    "propose": "propose regions",
    "classify": "classify regions",
    "output": "non-maximum suppression",
}


@dataclass(frozen=True)
class Block:
    """One step of a pipeline: its text (``<br>`` breaks lines) and its role (a colour)."""

    text: str
    role: str


@dataclass(frozen=True)
class Lane:
    """One kind of detector: its name, the networks of that kind, and its steps in order."""

    key: str  # "two-stage", "one-stage" or "cascade"
    title: str
    members: str
    blocks: tuple[Block, ...]
    note: str


LANES: tuple[Lane, ...] = (
    Lane(
        "two-stage",
        "Two stages",
        "Faster R-CNN, Mask R-CNN",
        (
            Block("image", "input"),
            Block("backbone CNN<br>+ FPN:<br>feature maps", "features"),
            Block("RPN: anchors on<br>every cell →<br>objectness + box", "propose"),
            Block("~1000 region<br>proposals<br>(after NMS)", "propose"),
            Block("RoIAlign: each<br>proposal's features<br>from the same maps", "classify"),
            Block("ROI head:<br>class + refined<br>box per proposal", "classify"),
            Block("NMS per class<br>→ boxes", "output"),
        ),
        "Stage 1 proposes, stage 2 classifies each proposal. Both read the same feature maps, computed once:<br>"
        "that sharing made Faster R-CNN faster than R-CNN, which ran the whole CNN on every proposal's crop.",
    ),
    Lane(
        "one-stage",
        "One stage",
        "RetinaNet, SSD, FCOS",
        (
            Block("image", "input"),
            Block("backbone CNN<br>+ FPN:<br>feature maps", "features"),
            Block(
                "dense head on every cell:<br>class scores + box for each anchor<br>(FCOS: for each point)", "classify"
            ),
            Block("score threshold,<br>NMS per class<br>→ boxes", "output"),
        ),
        "No proposals: every cell of every feature map is classified directly, tens of thousands of candidates in "
        "one pass.<br>Simpler and often faster; RetinaNet's focal loss copes with the many empty cells.",
    ),
    Lane(
        "cascade",
        "A cascade",
        "MTCNN (faces)",
        (
            Block("image<br>pyramid", "input"),
            Block("P-Net: a 12×12<br>classifier slid over<br>every level", "propose"),
            Block("face proposals<br>(after NMS)", "propose"),
            Block("R-Net:<br>24×24 crops,<br>face or not", "classify"),
            Block("O-Net:<br>48×48 crops,<br>box + landmarks", "classify"),
            Block("NMS<br>→ faces", "output"),
        ),
        "Propose, then classify, like R-CNN: each stage is a small CNN on crops cut from the image,<br>and each "
        "throws away most windows, so the bigger networks see only a few.",
    ),
)


LEFT, WIDTH_ALL, GAP = 17.0, 82.5, 2.2  # where the blocks of a row start, their row's width, the gap between


def _arrow(fig: go.Figure, x: float, y: float, ax: float, ay: float, **style: object) -> None:
    """An arrow from (ax, ay) to (x, y) in data coordinates."""
    fig.add_annotation(
        x=x, y=y, ax=ax, ay=ay, xref="x", yref="y", axref="x", ayref="y", showarrow=True, arrowhead=2, **style, text=""
    )


def _lane_heading(fig: go.Figure, lane: Lane, y: float, highlight: str | None) -> None:
    """The row's shading (when it is the chosen detector's), its title and its members."""
    if lane.key == highlight:
        fig.add_shape(
            type="rect", x0=0, x1=100.5, y0=y - 0.56, y1=y + 0.44, fillcolor=HIGHLIGHT, line_width=0, layer="below"
        )
    fig.add_annotation(
        x=0.5,
        y=y + 0.12,
        text=f"<b>{lane.title}</b>",
        showarrow=False,
        xanchor="left",
        font=dict(size=14, color=INK),
    )
    fig.add_annotation(
        x=0.5, y=y - 0.14, text=lane.members, showarrow=False, xanchor="left", font=dict(size=11, color=GREY)
    )


def _lane_blocks(fig: go.Figure, lane: Lane, y: float) -> float:
    """The row's blocks joined by arrows; returns a block's width."""
    slot = (WIDTH_ALL - GAP * (len(lane.blocks) - 1)) / len(lane.blocks)
    for j, block in enumerate(lane.blocks):
        x0 = LEFT + j * (slot + GAP)
        fig.add_shape(
            type="rect",
            x0=x0,
            x1=x0 + slot,
            y0=y - 0.3,
            y1=y + 0.3,
            fillcolor=ROLE_COLOURS[block.role],
            line=dict(color="#555555", width=1),
        )
        fig.add_annotation(
            x=x0 + slot / 2, y=y, text=block.text, showarrow=False, font=dict(size=10.5, color=INK), align="center"
        )
        if j:
            _arrow(fig, x0, y, x0 - GAP, y, arrowsize=1, arrowwidth=1.5, arrowcolor="#333333")
    return slot


def _shared_features_arrow(fig: go.Figure, y: float, slot: float) -> None:
    """The two-stage row's arrow from the feature maps to RoIAlign, which reads them too."""
    start = LEFT + 1 * (slot + GAP) + slot / 2
    end = LEFT + 4 * (slot + GAP) + slot / 2
    _arrow(fig, end, y + 0.3, start, y + 0.3, arrowwidth=1.5, arrowcolor="#1f77b4")
    fig.add_annotation(
        x=(start + end) / 2,
        y=y + 0.4,
        text="the same feature maps, computed once",
        showarrow=False,
        font=dict(size=10, color="#1f77b4"),
    )


def pipelines_figure(highlight: str | None = None) -> go.Figure:
    """The three pipelines as rows of coloured blocks joined by arrows; ``highlight`` (a lane key) shades the row
    of the detector chosen on the page."""
    fig = go.Figure()
    n = len(LANES)
    for i, lane in enumerate(LANES):
        y = n - 1 - i
        _lane_heading(fig, lane, y, highlight)
        slot = _lane_blocks(fig, lane, y)
        if lane.key == "two-stage":  # the shared feature maps feed RoIAlign too
            _shared_features_arrow(fig, y, slot)
        fig.add_annotation(
            x=LEFT,
            y=y - 0.43,
            text=lane.note,
            showarrow=False,
            xanchor="left",
            align="left",
            font=dict(size=10, color=GREY),
        )
    for role, colour in ROLE_COLOURS.items():  # a legend of the colours
        fig.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="markers",
                marker=dict(size=12, color=colour, symbol="square", line=dict(color="#555555", width=1)),
                name=ROLE_NAMES[role],
            )
        )
    fig.update_xaxes(range=[0, 100.5], visible=False, fixedrange=True)
    fig.update_yaxes(range=[-0.65, n - 0.45], visible=False, fixedrange=True)
    fig.update_layout(
        height=165 * n + 40,
        margin=dict(l=0, r=0, t=10, b=0),
        plot_bgcolor="white",
        legend=dict(orientation="h", y=-0.02, x=0.17),
        hovermode=False,
    )
    return fig


def lane_key(family: str) -> str:
    """The diagram row of a detector family ("two-stage", "one-stage", or MTCNN's "cascade")."""
    return family if family in {lane.key for lane in LANES} else "cascade"
