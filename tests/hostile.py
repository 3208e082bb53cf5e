"""A corpus of hostile and broken inputs, built in the tests (nothing is stored in the repo)."""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class Case:
    """One input: a file name, its bytes, and the message a user must see (None: it must simply work)."""

    name: str
    data: bytes
    message: str | None


def _encode(img: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    """A valid-looking PNG header declaring width×height, with almost no pixel data (a decompression bomb)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    out = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    idat = b"IDAT" + zlib.compress(b"\x00" * 100)
    out += struct.pack(">I", len(idat) - 4) + idat + struct.pack(">I", zlib.crc32(idat))
    return out + struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))


def broken_images() -> list[Case]:
    """Files every image upload path must refuse with a message."""
    rng = np.random.default_rng(0)
    good = _encode(Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)))
    jpeg = _encode(Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)), "JPEG")
    return [
        Case("truncated.png", good[: len(good) // 2], "truncated or corrupt"),
        Case("truncated.jpg", jpeg[: len(jpeg) // 3], "truncated or corrupt"),
        Case("garbage.png", bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8)), "not an image"),
        Case("empty.png", b"", "empty"),
        Case("bomb.png", png_declaring(12_000, 12_000), "limit is"),
        Case("huge-bomb.png", png_declaring(60_000, 60_000), "too many pixels"),
        Case("drawing.svg.png", b'<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>', "SVG"),
        Case("tiny.png", _encode(Image.new("RGB", (4, 4))), "at least 8 pixels"),
    ]


def odd_images() -> list[Case]:
    """Unusual but valid images every page must handle without an error."""
    grad16 = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (48, 1))
    return [
        Case("sixteen-bit.png", _encode(Image.fromarray(grad16)), None),
        Case("cmyk.jpg", _encode(Image.new("CMYK", (40, 30), (0, 200, 200, 0)), "JPEG"), None),
        Case("wide.png", _encode(Image.new("RGB", (2000, 8), (200, 30, 30))), None),
        Case("tall.png", _encode(Image.new("L", (8, 1500), 128)), None),
        Case("transparent.png", _encode(Image.new("RGBA", (33, 17), (0, 0, 0, 0))), None),
    ]
