"""The Images section: 2-D filtering, borders, frequency views, convolution arithmetic, and their figures.

Loading and converting pictures lives in :mod:`cnn_demo.io.images`; its public names are re-exported here because
``cnn_demo.images`` was their home before the package had sections.
"""

from cnn_demo.io.images import (
    ALLOWED_FORMATS,
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_PIXELS,
    MIN_SIDE,
    ORIGINAL_SIZE,
    UPLOAD_EXTENSIONS,
    crop_around,
    decode_bytes,
    load_image,
    original_size,
    to_array,
    to_png_bytes,
    to_uint8,
)

__all__ = [
    "ALLOWED_FORMATS",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_PIXELS",
    "MIN_SIDE",
    "ORIGINAL_SIZE",
    "UPLOAD_EXTENSIONS",
    "crop_around",
    "decode_bytes",
    "load_image",
    "original_size",
    "to_array",
    "to_png_bytes",
    "to_uint8",
]
