"""2-D filtering of images: convolution, correlation, Gaussian blur, gradients and Sobel, as in the lecture.

Everything is computed here with NumPy by padding the image (the border modes of ``scipy.ndimage``) and
adding up shifted copies of it, one per kernel weight, so the result is what ``scipy.ndimage`` gives while
the method stays the one drawn on the slides (in cache-sized blocks, one BLAS ``daxpy`` per weight). Kernels with
many weights (a large Gaussian, a 15×15 kernel) go through the FFT instead, equal to SciPy up to ~1e-11.
Colour images (H×W×C) are filtered channel by channel. The module also parses kernels typed by students,
explains one output pixel (the pixel inspector), computes Fourier magnitudes for the low-/high-pass view, and
writes the ``scipy.ndimage`` and ``torch.nn.functional.conv2d`` code that reproduces a result.
"""

from cnn_demo.images.filters.borders import CORNERS, border_comparison, busiest_corner, corner_offset
from cnn_demo.images.filters.code import scipy_code, torch_code
from cnn_demo.images.filters.filtering import (
    BLOCK_ELEMENTS,
    FFT_TAPS,
    check_sigma,
    convolve2d,
    correlate2d,
    gaussian_blur,
    gaussian_kernel1d,
    gaussian_kernel2d,
    gradient_magnitude,
    sobel,
)
from cnn_demo.images.filters.frequency import fft_magnitude, high_pass, kernel_response, split_frequencies
from cnn_demo.images.filters.kernels import (
    GAUSSIAN_TRUNCATE,
    K_H,
    K_V,
    MAX_KERNEL_SIDE,
    MAX_SIGMA,
    MODES,
    NP_PAD_MODES,
    SOBEL_H,
    SOBEL_V,
    Preset,
    as_kernel,
    check_image,
    check_mode,
    edit_kernel_text,
    format_kernel,
    parse_kernel,
    presets,
)
from cnn_demo.images.filters.pixels import PixelBreakdown, conv_windows, inspect_pixel
from cnn_demo.images.filters.spec import (
    CUSTOM,
    DISPLAY_MODES,
    GAUSSIAN,
    GRADIENT_MAGNITUDE,
    SOBEL_MAGNITUDE,
    EdgePixel,
    FilterSpec,
    apply_filter,
    default_display,
    edge_pixel,
    filter_kinds,
    make_spec,
    spec_kernel,
    to_display,
)

__all__ = [
    "BLOCK_ELEMENTS",
    "CORNERS",
    "CUSTOM",
    "DISPLAY_MODES",
    "FFT_TAPS",
    "GAUSSIAN",
    "GAUSSIAN_TRUNCATE",
    "GRADIENT_MAGNITUDE",
    "K_H",
    "K_V",
    "MAX_KERNEL_SIDE",
    "MAX_SIGMA",
    "MODES",
    "NP_PAD_MODES",
    "SOBEL_H",
    "SOBEL_MAGNITUDE",
    "SOBEL_V",
    "EdgePixel",
    "FilterSpec",
    "PixelBreakdown",
    "Preset",
    "apply_filter",
    "as_kernel",
    "border_comparison",
    "busiest_corner",
    "check_image",
    "check_mode",
    "check_sigma",
    "conv_windows",
    "convolve2d",
    "corner_offset",
    "correlate2d",
    "default_display",
    "edge_pixel",
    "edit_kernel_text",
    "fft_magnitude",
    "filter_kinds",
    "format_kernel",
    "gaussian_blur",
    "gaussian_kernel1d",
    "gaussian_kernel2d",
    "gradient_magnitude",
    "high_pass",
    "inspect_pixel",
    "kernel_response",
    "make_spec",
    "parse_kernel",
    "presets",
    "scipy_code",
    "sobel",
    "spec_kernel",
    "split_frequencies",
    "to_display",
    "torch_code",
]
