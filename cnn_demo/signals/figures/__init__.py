"""Plotly figures for the Signals pages. Pure functions: arrays in, figures out (no streamlit)."""

from cnn_demo.signals.figures.smoothing import (
    boundary_figure,
    edges_figure,
    error_curve_figure,
    frequency_figure,
    kernel_figure,
    mode_span,
    modes_figure,
    smoothing_figure,
)
from cnn_demo.signals.figures.statistics import (
    correlation_figure,
    dice_figure,
    kde_figure,
    lines_figure,
    sum_density_figure,
    two_signals_figure,
)
from cnn_demo.signals.figures.style import F_COLOUR, G_COLOUR, GREY, MAX_STEMS, OUT_COLOUR, PRODUCT_COLOUR, stem_trace
from cnn_demo.signals.figures.walkthrough import convolution_walkthrough_figure, correlation_walkthrough_figure

__all__ = [
    "F_COLOUR",
    "GREY",
    "G_COLOUR",
    "MAX_STEMS",
    "OUT_COLOUR",
    "PRODUCT_COLOUR",
    "boundary_figure",
    "convolution_walkthrough_figure",
    "correlation_figure",
    "correlation_walkthrough_figure",
    "dice_figure",
    "edges_figure",
    "error_curve_figure",
    "frequency_figure",
    "kde_figure",
    "kernel_figure",
    "lines_figure",
    "mode_span",
    "modes_figure",
    "smoothing_figure",
    "stem_trace",
    "sum_density_figure",
    "two_signals_figure",
]
