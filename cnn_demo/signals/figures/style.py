"""Colours, stems and animation controls shared by the 1-D figures."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

F_COLOUR = "#1f77b4"


G_COLOUR = "#ff7f0e"


OUT_COLOUR = "#2ca02c"


PRODUCT_COLOUR = "#9467bd"


GREY = "#888888"


#: Longer sequences are drawn as lines rather than stems.
MAX_STEMS = 1000


def plot_margin(title: str = "") -> dict:
    """The 1-D figures' narrow margins, with room at the top for a title when there is one."""
    return dict(l=10, r=10, t=40 if title else 10, b=10)


def stem_dict(
    x: Sequence[float] | np.ndarray,
    y: Sequence[float] | np.ndarray,
    name: str,
    colour: str,
    *,
    symbol: str = "circle",
    size: int = 9,
    dash_offset: float = 0.0,
    hover: str = "%{x}: %{y}",
) -> dict:
    """A stem plot (a marker on a vertical line from 0) as one scatter trace, so animation frames can update it.

    A plain dict, for animation frames (plotly validates a ``go.Scatter`` field by field, which costs far more than
    drawing it); :func:`stem_trace` is the validated trace. Above :data:`MAX_STEMS` points the stems would merge
    into a solid area, so a plain line is drawn instead.
    """
    x = np.asarray(x, float) + dash_offset
    y = np.asarray(y, float)
    if x.size > MAX_STEMS:
        return dict(type="scatter", x=x, y=y, mode="lines", name=name, line=dict(color=colour), hovertemplate=hover)
    up = np.where(y < 0, -y, 0.0)
    down = np.where(y > 0, y, 0.0)
    return dict(
        type="scatter",
        x=x,
        y=y,
        mode="markers",
        name=name,
        marker=dict(color=colour, size=size, symbol=symbol),
        error_y=dict(type="data", symmetric=False, array=up, arrayminus=down, width=0, color=colour, thickness=2),
        hovertemplate=hover + f"<extra>{name}</extra>",
    )


def stem_trace(
    x: Sequence[float] | np.ndarray,
    y: Sequence[float] | np.ndarray,
    name: str,
    colour: str,
    *,
    symbol: str = "circle",
    size: int = 9,
    dash_offset: float = 0.0,
    hover: str = "%{x}: %{y}",
) -> go.Scatter:
    """:func:`stem_dict` as a validated ``go.Scatter``."""
    return go.Scatter(stem_dict(x, y, name, colour, symbol=symbol, size=size, dash_offset=dash_offset, hover=hover))


def sum_annotation(text: str) -> dict:
    """A written sum ``(f*g)(t) = symbols = products = value`` as a left-aligned three-line note above the plots."""
    head, _, rest = text.partition(" = ")
    parts = rest.split(" = ")
    lines = [f"{head} = {parts[0]}", *(f"{' ' * len(head)} = {p}" for p in parts[1:])]
    return dict(
        text="<br>".join(lines),
        xref="paper",
        yref="paper",
        x=0,
        y=1.0,
        yshift=26,
        xanchor="left",
        yanchor="bottom",
        align="left",
        showarrow=False,
        font=dict(family="monospace", size=12),
        name="written sum",
    )


def play_controls(active: int, steps: list[dict]) -> dict:
    """Play/Pause buttons and a "t = " slider under an animated walkthrough (layout keys for ``update_layout``)."""
    play = dict(frame=dict(duration=700, redraw=True), fromcurrent=True, transition=dict(duration=0))
    pause = dict(frame=dict(duration=0, redraw=True), mode="immediate")
    return dict(
        updatemenus=[
            dict(
                type="buttons",
                direction="left",
                x=0,
                y=-0.1,
                xanchor="left",
                yanchor="top",
                pad=dict(r=10, t=0),
                buttons=[
                    dict(label="▶ Play", method="animate", args=[None, play]),
                    dict(label="❚❚ Pause", method="animate", args=[[None], pause]),
                ],
            )
        ],
        sliders=[
            dict(
                active=active,
                steps=steps,
                x=0.2,
                len=0.8,
                y=-0.08,
                yanchor="top",
                currentvalue=dict(prefix="figure at t = "),  # not the page's slider: this one moves the figure
                pad=dict(t=0, b=0),
            )
        ],
    )
