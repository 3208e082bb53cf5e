"""Convolution arithmetic: output sizes, parameter counts and receptive fields, as PyTorch computes them."""

from cnn_demo.images.arithmetic.proof import MAX_REAL_MACS, LayerRun, layer_code, run_layer, run_transposed
from cnn_demo.images.arithmetic.receptive import Layer, ReceptiveField, receptive_field, stack_sizes
from cnn_demo.images.arithmetic.sizes import (
    IntOrPair,
    Pair,
    axis_windows,
    ceil_mode_steps,
    conv_output_size,
    conv_params,
    transposed_output_size,
    window_cells,
)
from cnn_demo.images.arithmetic.transposed import (
    TRANSPOSED_MAX_CANVAS,
    TRANSPOSED_MAX_INPUT,
    TransposedSteps,
    transposed_steps,
    transposed_too_big,
)

__all__ = [
    "MAX_REAL_MACS",
    "TRANSPOSED_MAX_CANVAS",
    "TRANSPOSED_MAX_INPUT",
    "IntOrPair",
    "Layer",
    "LayerRun",
    "Pair",
    "ReceptiveField",
    "TransposedSteps",
    "axis_windows",
    "ceil_mode_steps",
    "conv_output_size",
    "conv_params",
    "layer_code",
    "receptive_field",
    "run_layer",
    "run_transposed",
    "stack_sizes",
    "transposed_output_size",
    "transposed_steps",
    "transposed_too_big",
    "window_cells",
]
