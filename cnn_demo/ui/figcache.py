"""Figures with many cells or animation frames, built once per input and reused on every rerun.

Building a plotly figure validates every trace and frame, which costs far more than drawing it; a page reruns
on every widget change, so a figure that does not depend on that widget is taken from this cache as a plain
dict and wrapped without validation again (it was validated when first built).
"""

from __future__ import annotations

from collections.abc import Callable

import plotly.graph_objects as go
import streamlit as st

from cnn_demo.images.figures import products_figure, transposed_grid_figure
from cnn_demo.signals.figures import convolution_walkthrough_figure, correlation_walkthrough_figure

_BUILDERS: dict[str, Callable[..., go.Figure]] = {
    "products": products_figure,
    "transposed_grid": transposed_grid_figure,
    "correlation_walkthrough": correlation_walkthrough_figure,
    "convolution_walkthrough": convolution_walkthrough_figure,
}


@st.cache_data(max_entries=64, show_spinner=False)
def _figure_dict(kind: str, args: tuple, kwargs: tuple) -> dict:
    return _BUILDERS[kind](*args, **dict(kwargs)).to_dict()


def cached_figure(kind: str, *args, **kwargs) -> go.Figure:
    """The figure ``_BUILDERS[kind](*args, **kwargs)``, built on the first call with these arguments only."""
    return go.Figure(_figure_dict(kind, args, tuple(sorted(kwargs.items()))), _validate=False)
