"""Plotly figures for the 2-D filtering and convolution-arithmetic pages. Pure functions: arrays in, figures out."""

from cnn_demo.images.figures.filtering import (
    CURRENT_COLOUR,
    INPUT_COLOUR,
    OUTPUT_COLOUR,
    PAD_COLOUR,
    READ_COLOUR,
    block_mean,
    border_modes_figure,
    breakdown_figure,
    kernel_figure,
    spectrum_figure,
)
from cnn_demo.images.figures.grids import conv_grid_figure, receptive_field_figure
from cnn_demo.images.figures.linked import cell_colours, linked_conv_data, linked_title, products_figure
from cnn_demo.images.figures.transposed import transposed_grid_figure

__all__ = [
    "CURRENT_COLOUR",
    "INPUT_COLOUR",
    "OUTPUT_COLOUR",
    "PAD_COLOUR",
    "READ_COLOUR",
    "block_mean",
    "border_modes_figure",
    "breakdown_figure",
    "cell_colours",
    "conv_grid_figure",
    "kernel_figure",
    "linked_conv_data",
    "linked_title",
    "products_figure",
    "receptive_field_figure",
    "spectrum_figure",
    "transposed_grid_figure",
]
