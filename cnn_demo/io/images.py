"""Safe image input: every uploaded or bundled image enters the app through :func:`load_image`.

The loader accepts only common raster formats, checks the declared size before decoding (so a
decompression bomb is refused without allocating its pixels), and converts every PIL mode to a
faithful RGB or grayscale picture.
"""

from __future__ import annotations

import io
import struct

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from cnn_demo.errors import InputError

#: PIL format names that may be decoded (phone-camera MPO files open through the JPEG plugin).
ALLOWED_FORMATS: tuple[str, ...] = ("PNG", "JPEG", "WEBP", "BMP", "GIF", "TIFF")
#: File extensions offered by upload widgets.
UPLOAD_EXTENSIONS: tuple[str, ...] = ("png", "jpg", "jpeg", "webp", "bmp", "gif", "tif", "tiff")
#: The smallest side an image may have: the lecture's 7×7 example fits, and so does a 3×3 kernel.
MIN_SIDE = 3
DEFAULT_MAX_PIXELS = 50_000_000
#: Key in a loaded image's ``info`` holding the file's own size before any shrinking.
ORIGINAL_SIZE = "cnn_demo_original_size"
#: Memory one decode may take, in bytes: the decoded raster plus its conversion to RGB/L. A pixel count alone lets a
#: 16-bit or RGBA picture take two to three times what an 8-bit one of the same size does.
DEFAULT_MAX_BYTES = 128 * 1024 * 1024
#: Bytes per pixel of PIL's decoded modes (anything not listed counts 4).
_MODE_BYTES = {"1": 1, "L": 1, "P": 1, "LA": 2, "La": 2, "PA": 2, "RGB": 3, "YCbCr": 3, "LAB": 3, "HSV": 3}
#: Rows converted at once from 16-bit or float data, so the float64 arithmetic never spans the whole picture.
_ROWS_PER_BLOCK = 512

_REFUSED_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF", "a PDF document"),
    (b"%!PS", "a PostScript/EPS file"),
    (b"\xc5\xd0\xd3\xc6", "an EPS file"),
    (b"8BPS", "a Photoshop (PSD) file"),
    (b"<svg", "an SVG drawing"),
    (b"<?xml", "an XML/SVG file"),
)


def _refused_kind(data: bytes) -> str | None:
    head = data[:512].lstrip().lower()
    for sig, kind in _REFUSED_SIGNATURES:
        if head.startswith(sig.lower()):
            return kind
    if b"<svg" in head:
        return "an SVG drawing"
    return None


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Ancillary PNG chunks that carry only metadata; PIL refuses files whose decompressed metadata exceeds 1 MB.
_PNG_METADATA_CHUNKS = frozenset({b"iCCP", b"tEXt", b"zTXt", b"iTXt", b"eXIf"})


def _strip_png_metadata(data: bytes) -> bytes | None:
    """The PNG without its ICC profile and text chunks (never used here), or ``None`` if it is not a PNG.

    A photo editor may embed a colour profile of several megabytes; PIL then refuses the whole file. The pixels do
    not depend on those chunks, so the picture is read without them.
    """
    if not data.startswith(_PNG_SIGNATURE):
        return None
    out = [_PNG_SIGNATURE]
    pos = len(_PNG_SIGNATURE)
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if kind not in _PNG_METADATA_CHUNKS:
            out.append(data[pos:end])
        pos = end
        if kind == b"IEND":
            break
    return b"".join(out)


def _open(data: bytes) -> Image.Image:
    try:
        return Image.open(io.BytesIO(data), formats=list(ALLOWED_FORMATS))
    except ValueError:
        stripped = _strip_png_metadata(data)
        if stripped is None:
            raise
        return Image.open(io.BytesIO(stripped), formats=["PNG"])


def _composite_on_white(img: Image.Image) -> Image.Image:
    rgba = img.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


def decode_bytes(mode: str, width: int, height: int) -> int:
    """Memory that decoding a ``mode`` picture of this size and converting it for display takes, in bytes."""
    source = 2 if mode.startswith("I;16") else _MODE_BYTES.get(mode, 4)
    if mode in ("RGB", "L"):
        converted = 0
    elif mode.startswith("I;16") or mode in ("I", "F", "1"):
        converted = 4  # scaled to 8-bit grayscale a block of rows at a time, then RGB
    elif mode in ("LA", "La", "PA", "RGBA", "RGBa", "P"):
        converted = 7  # composited on white through RGBA, then RGB
    else:
        converted = 3
    return width * height * (source + converted)


def _scale_to_uint8(arr: np.ndarray, lo: float, hi: float) -> Image.Image:
    out = np.empty(arr.shape, dtype=np.uint8)
    for top in range(0, arr.shape[0], _ROWS_PER_BLOCK):
        block = np.nan_to_num(arr[top : top + _ROWS_PER_BLOCK].astype(np.float64), nan=lo, posinf=hi, neginf=lo)
        if hi > lo:
            block = (block - lo) * (255.0 / (hi - lo))
        else:
            block = np.full(block.shape, np.clip(lo, 0, 255), dtype=np.float64)
        out[top : top + _ROWS_PER_BLOCK] = np.clip(np.rint(block), 0, 255)
    return Image.fromarray(out, mode="L")


def _to_display_mode(img: Image.Image) -> Image.Image:
    """Convert any PIL mode to RGB (or L for single-channel data) without losing the picture."""
    mode = img.mode
    if mode in ("RGB", "L"):
        return img  # a decoded upload of its own: no copy needed
    if mode == "1":
        return img.convert("L")
    if mode in ("P", "PA"):
        if "transparency" in img.info or mode == "PA":
            return _composite_on_white(img)
        return img.convert("RGB")
    if mode in ("LA", "La", "RGBA", "RGBa"):
        return _composite_on_white(img)
    if mode.startswith("I;16"):
        arr = np.asarray(img)
        return _scale_to_uint8(arr, 0.0, 65535.0)
    if mode == "I":
        arr = np.asarray(img)
        lo, hi = float(arr.min()), float(arr.max())
        if lo >= 0 and hi <= 255:
            return _scale_to_uint8(arr, 0.0, 255.0)
        if lo >= 0 and hi <= 65535:
            return _scale_to_uint8(arr, 0.0, 65535.0)
        return _scale_to_uint8(arr, lo, hi)
    if mode == "F":
        arr = np.asarray(img)
        finite = np.isfinite(arr)
        if not finite.any():
            return _scale_to_uint8(np.zeros(arr.shape, dtype=np.uint8), 0.0, 0.0)
        return _scale_to_uint8(
            arr, float(np.min(arr, where=finite, initial=np.inf)), float(np.max(arr, where=finite, initial=-np.inf))
        )
    # CMYK, YCbCr, LAB, HSV and anything else PIL knows how to turn into RGB.
    return img.convert("RGB")


def load_image(
    data: bytes,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_side: int | None = None,
    grayscale: bool = False,
    min_side: int = MIN_SIDE,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Image.Image:
    """Decode user-supplied bytes into an RGB (or ``L`` with ``grayscale=True``) PIL image.

    Raises :class:`~cnn_demo.errors.InputError` with a student-readable message for empty or
    non-image data, formats outside :data:`ALLOWED_FORMATS`, truncated files, images declaring
    more than ``max_pixels`` pixels (checked before decoding) and images under ``min_side`` pixels on a side.
    more than ``max_pixels`` pixels or needing more than ``max_bytes`` of memory to decode (both checked before
    decoding; a JPEG that will be shrunk is counted at the reduced size libjpeg decodes it at) and images under
    8 px on a side.
    EXIF orientation is applied, animated files give their first frame, and ``max_side``
    downscales keeping the aspect ratio.
    """
    data = _image_bytes(data)
    if max_side is not None and max_side < MIN_SIDE:
        raise InputError(f"max_side must be at least {MIN_SIDE} pixels.")
    _refuse_documents(data)
    img = _open_checked(data)
    width, height = img.size
    _check_dimensions(width, height, max_pixels, min_side)
    out, rotated = _decode(img, max_side, max_bytes)
    if grayscale and out.mode != "L":
        out = out.convert("L")
    elif not grayscale and out.mode != "RGB":
        out = out.convert("RGB")

    original = (height, width) if rotated else (width, height)
    if max_side is not None and max(out.size) > max_side:
        scale = max_side / max(out.size)
        new_size = (max(1, round(out.width * scale)), max(1, round(out.height * scale)))
        out = out.resize(new_size, Image.Resampling.LANCZOS)
    out.info[ORIGINAL_SIZE] = original
    return out


def _image_bytes(data: bytes) -> bytes:
    """The upload as ``bytes``; :class:`InputError` when it is something else or empty."""
    if isinstance(data, (bytearray, memoryview)):
        data = bytes(data)
    if not isinstance(data, bytes):
        raise InputError("Expected the raw bytes of an image file.")
    if not data:
        raise InputError("The file is empty.")
    return data


def _refuse_documents(data: bytes) -> None:
    """Refuse, by name, the documents students upload by mistake (PDF, PostScript, Photoshop, SVG)."""
    refused = _refused_kind(data)
    if refused:
        raise InputError(
            f"This looks like {refused}, which is not accepted. "
            "Please upload a PNG, JPEG, WebP, BMP, GIF or TIFF image."
        )


def _open_checked(data: bytes) -> Image.Image:
    """The image opened lazily (its header read, no pixels decoded); :class:`InputError` when it is not one of
    :data:`ALLOWED_FORMATS` or PIL sees a decompression bomb."""
    try:
        return _open(data)
    except Image.DecompressionBombError as exc:
        raise InputError("This image declares far too many pixels to be opened safely.") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InputError(
            "This file is not an image the app can read. Please upload a PNG, JPEG, WebP, BMP, GIF or TIFF image."
        ) from exc


def _check_dimensions(width: int, height: int, max_pixels: int, min_side: int) -> None:
    """Refuse a declared size over ``max_pixels`` or under ``min_side`` on a side, before any pixel is decoded."""
    if width * height > max_pixels:
        raise InputError(
            f"This image is {width}×{height} = {width * height:,} pixels; the limit is {max_pixels:,}. "
            "Please upload a smaller image."
        )
    if min(width, height) < min_side:
        raise InputError(f"This image is {width}×{height} pixels; it must be at least {min_side} pixels on each side.")


def _decode(img: Image.Image, max_side: int | None, max_bytes: int) -> tuple[Image.Image, bool]:
    """Decode the first frame within ``max_bytes`` of memory, apply its EXIF orientation and convert it to RGB or
    L; returns it and whether the orientation swapped width and height. Every decoding failure is an
    :class:`InputError`."""
    width, height = img.size
    try:
        if getattr(img, "is_animated", False):
            img.seek(0)
        if max_side is not None and img.format in ("JPEG", "MPO"):
            # Let libjpeg decode at a reduced scale; the exact resize happens in load_image.
            img.draft("RGB", (max_side, max_side))
        needed = decode_bytes(img.mode, *img.size)
        if needed > max_bytes:
            raise InputError(
                f"This image would take {needed / 2**20:,.0f} MB of memory to open ({width}×{height} pixels, "
                f"{img.mode} mode); the limit is {max_bytes / 2**20:,.0f} MB. Please upload a smaller image, or "
                "save it with 8 bits per channel."
            )
        img.load()
        rotated = img.getexif().get(0x0112) in (5, 6, 7, 8)  # EXIF orientations that swap width and height
        exif_rotated = ImageOps.exif_transpose(img)
        if exif_rotated is not None:
            img = exif_rotated
        return _to_display_mode(img), rotated
    except InputError:
        raise
    except Image.DecompressionBombError as exc:
        raise InputError("This image declares far too many pixels to be opened safely.") from exc
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, struct.error) as exc:
        raise InputError("This image file is truncated or corrupt, so it cannot be decoded.") from exc
    except MemoryError as exc:
        raise InputError("This image is too large to decode on the server.") from exc


def original_size(img: Image.Image) -> tuple[int, int]:
    """The (width, height) the file had (after EXIF rotation), before :func:`load_image`'s ``max_side`` shrink."""
    size = img.info.get(ORIGINAL_SIZE)
    return (int(size[0]), int(size[1])) if size else img.size


def to_array(img: Image.Image, dtype: type = np.float64) -> np.ndarray:
    """An image as an H×W (grayscale) or H×W×3 array of 0..255 values."""
    return np.asarray(img, dtype=dtype)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Pixel values 0..255 as ``uint8`` (rounded and clipped): what a screen shows."""
    arr = np.asarray(image)
    if arr.dtype == np.uint8:
        return arr
    return np.clip(np.rint(arr), 0, 255).astype(np.uint8)


def to_png_bytes(img: Image.Image | np.ndarray, compress_level: int = 6) -> bytes:
    """PNG-encode an image or a uint8/float array (floats are rounded and clipped to 0..255), losslessly."""
    if isinstance(img, np.ndarray):
        img = Image.fromarray(to_uint8(img))
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=compress_level)
    return buf.getvalue()


def crop_around(arr: np.ndarray, row: int, col: int, size: int) -> tuple[np.ndarray, int, int]:
    """A ``size``×``size`` window of ``arr`` centred as near (row, col) as the borders allow.

    Returns the window and the (row, col) of its top-left corner in ``arr``.
    """
    h, w = arr.shape[:2]
    size = max(1, min(size, h, w))
    top = int(np.clip(row - size // 2, 0, h - size))
    left = int(np.clip(col - size // 2, 0, w - size))
    return arr[top : top + size, left : left + size], top, left
