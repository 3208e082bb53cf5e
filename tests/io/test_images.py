"""cnn_demo.io.images.load_image: every accepted and refused case, with images built in the test."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from cnn_demo.errors import InputError
from cnn_demo.io import samples
from cnn_demo.io.images import crop_around, load_image, to_png_bytes


def encode(img: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def rgb(w: int = 32, h: int = 24, seed: int = 0) -> Image.Image:
    arr = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    return Image.fromarray(arr, "RGB")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "BMP", "GIF", "TIFF"])
def test_allowed_formats_decode_to_rgb(fmt):
    img = load_image(encode(rgb(), fmt))
    assert img.mode == "RGB" and img.size == (32, 24)


def test_lossless_png_roundtrip_is_exact():
    src = rgb(40, 30, seed=3)
    np.testing.assert_array_equal(np.asarray(load_image(encode(src))), np.asarray(src))


def test_grayscale_flag():
    img = load_image(encode(rgb()), grayscale=True)
    assert img.mode == "L"
    expected = np.asarray(rgb().convert("L"))
    np.testing.assert_array_equal(np.asarray(img), expected)


@pytest.mark.parametrize("data", [b"", b"hello world, not an image", bytes(range(256)) * 4])
def test_empty_and_garbage_refused(data):
    with pytest.raises(InputError):
        load_image(data)


def test_non_bytes_refused():
    with pytest.raises(InputError):
        load_image("camera.png")  # type: ignore[arg-type]


def test_input_error_is_value_error():
    assert issubclass(InputError, ValueError)


@pytest.mark.parametrize(
    ("data", "word"),
    [
        (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>', "SVG"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"><rect width="100" height="100"/></svg>', "SVG"),
        (b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n", "PDF"),
        (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", "EPS"),
        (b"8BPS\x00\x01" + b"\x00" * 64, "PSD"),
    ],
)
def test_refused_document_formats(data, word):
    with pytest.raises(InputError, match=word):
        load_image(data)


def test_pdf_written_by_pil_refused():
    with pytest.raises(InputError, match="PDF"):
        load_image(encode(rgb(), "PDF"))


def test_format_outside_allow_list_refused():
    # ICO decodes fine in PIL but is not on the allow-list.
    with pytest.raises(InputError, match="not an image the app can read"):
        load_image(encode(rgb(32, 32), "ICO"))


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_refused(fmt):
    data = encode(rgb(64, 64), fmt)
    with pytest.raises(InputError, match="truncated or corrupt"):
        load_image(data[: len(data) // 2])


def _png_declaring(width: int, height: int) -> bytes:
    """A PNG whose header declares width×height but carries almost no pixel data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    out = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    idat = b"IDAT" + zlib.compress(b"\x00" * 100)
    out += struct.pack(">I", len(idat) - 4) + idat + struct.pack(">I", zlib.crc32(idat))
    iend = b"IEND"
    return out + struct.pack(">I", 0) + iend + struct.pack(">I", zlib.crc32(iend))


def test_pixel_limit_checked_before_decoding():
    with pytest.raises(InputError, match="pixels; the limit is 50,000,000"):
        load_image(_png_declaring(8_000, 8_000))


def test_huge_declared_size_beyond_pil_bomb_limit():
    with pytest.raises(InputError, match="too many pixels"):
        load_image(_png_declaring(60_000, 60_000), max_pixels=10**10)
    with pytest.raises(InputError, match="too many pixels"):
        load_image(_png_declaring(20_000, 20_000))


def test_custom_max_pixels():
    data = encode(rgb(100, 100))
    assert load_image(data, max_pixels=10_000).size == (100, 100)
    with pytest.raises(InputError, match="9,999 pixels; the limit is 9,998"):
        load_image(encode(rgb(101, 99)), max_pixels=9_998)


@pytest.mark.parametrize("size", [(2, 100), (100, 2), (1, 1)])
def test_too_small_refused(size):
    with pytest.raises(InputError, match="at least 3 pixels"):
        load_image(encode(Image.new("RGB", size)))


def test_the_lectures_7x7_image_is_accepted():
    pixels = np.arange(49, dtype=np.uint8).reshape(7, 7) * 5
    img = load_image(encode(Image.fromarray(pixels)), grayscale=True)
    assert img.size == (7, 7) and (np.asarray(img) == pixels).all()
    with pytest.raises(InputError, match="at least 8 pixels"):  # dataset images keep their own minimum
        load_image(encode(Image.fromarray(pixels)), min_side=8)


def test_exif_orientation_applied():
    img = Image.new("RGB", (40, 20), (255, 0, 0))
    img.paste((0, 0, 255), (0, 0, 10, 20))  # blue stripe on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise for display
    out = load_image(encode(img, "JPEG", exif=exif.tobytes(), quality=95))
    assert out.size == (20, 40)
    top = np.asarray(out)[2, 10]
    assert top[2] > 200 and top[0] < 60, "the blue stripe should end up on top"


def test_animated_gif_first_frame():
    frames = [Image.new("RGB", (16, 16), c) for c in [(255, 0, 0), (0, 0, 255)]]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    out = np.asarray(load_image(buf.getvalue()))
    assert tuple(out[8, 8]) == (255, 0, 0)


def test_rgba_composited_on_white():
    img = Image.new("RGBA", (16, 16), (255, 0, 0, 0))
    img.putpixel((0, 0), (0, 0, 0, 255))
    img.putpixel((1, 0), (0, 0, 0, 128))
    out = np.asarray(load_image(encode(img)))
    assert tuple(out[5, 5]) == (255, 255, 255)
    assert tuple(out[0, 0]) == (0, 0, 0)
    assert 120 <= out[0, 1, 0] <= 135


def test_la_composited_on_white():
    img = Image.new("LA", (16, 16), (0, 0))
    out = np.asarray(load_image(encode(img)))
    assert out.shape == (16, 16, 3) and (out == 255).all()


def test_palette_with_transparency():
    img = Image.new("P", (16, 16), 0)
    img.putpalette([0, 0, 0, 255, 0, 0] + [0] * (256 * 3 - 6))
    img.putpixel((3, 3), 1)
    data = encode(img, transparency=0)
    out = np.asarray(load_image(data))
    assert tuple(out[0, 0]) == (255, 255, 255)
    assert tuple(out[3, 3]) == (255, 0, 0)


def test_palette_without_transparency():
    img = Image.new("P", (16, 16), 1)
    img.putpalette([0, 0, 0, 0, 200, 0] + [0] * (256 * 3 - 6))
    assert tuple(np.asarray(load_image(encode(img)))[0, 0]) == (0, 200, 0)


def test_cmyk():
    img = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # pure red in CMYK
    for fmt in ("JPEG", "TIFF"):
        out = np.asarray(load_image(encode(img, fmt)))
        assert out.shape == (16, 16, 3)
        r, g, b = out[8, 8].astype(int)
        assert r > 200 and g < 60 and b < 60, (fmt, r, g, b)


def test_i16_scaled_not_clipped():
    arr = np.array([[0, 32768, 65535, 1000]] * 16, dtype=np.uint16)
    arr = np.tile(arr, (1, 4))
    img = Image.fromarray(arr)
    assert img.mode.startswith("I;16")
    out = np.asarray(load_image(encode(img), grayscale=True))
    assert out[0, 0] == 0 and out[0, 2] == 255
    assert 127 <= out[0, 1] <= 129, "mid-range 16-bit values must map to mid-gray, not white"
    assert out[0, 3] == 4


def test_mode_i_scaled():
    arr = np.tile(np.array([[0, 30000, 60000]], dtype=np.int32), (16, 6))
    img = Image.fromarray(arr, mode="I")
    out = np.asarray(load_image(encode(img, "TIFF"), grayscale=True))
    assert out.max() <= 255 and out[0, 1] < 200, "values under 65535 must not be clipped to white"
    assert out[0, 0] == 0


def test_mode_f_min_max():
    arr = np.tile(np.array([[0.1, 0.15, 0.2]], dtype=np.float32), (16, 6))
    out = np.asarray(load_image(encode(Image.fromarray(arr, mode="F"), "TIFF"), grayscale=True))
    assert out[0, 0] == 0 and out[0, 2] == 255 and 126 <= out[0, 1] <= 129


def test_mode_1():
    img = Image.new("1", (16, 16), 1)
    img.putpixel((0, 0), 0)
    out = np.asarray(load_image(encode(img)))
    assert tuple(out[0, 0]) == (0, 0, 0) and tuple(out[5, 5]) == (255, 255, 255)


def test_max_side_keeps_aspect():
    out = load_image(encode(rgb(400, 200)), max_side=100)
    assert out.size == (100, 50)
    assert load_image(encode(rgb(40, 20)), max_side=100).size == (40, 20)


def test_max_side_jpeg_draft():
    out = load_image(encode(rgb(1200, 800), "JPEG"), max_side=150)
    assert out.size == (150, 100)


def test_every_sample_loads():
    names = samples.sample_names()
    assert "camera" in names and "chelsea" in names and len(names) >= 10
    for name in names:
        img = samples.load_sample(name)
        assert img.mode == "RGB" and min(img.size) >= 8
    assert samples.load_sample("camera", grayscale=True).size == (512, 512)


def test_unknown_sample():
    with pytest.raises(InputError, match="no sample"):
        samples.sample_bytes("nope")


def test_crop_around_clamps_at_borders():
    arr = np.arange(100).reshape(10, 10)
    win, top, left = crop_around(arr, 0, 9, 4)
    assert (top, left) == (0, 6) and win.shape == (4, 4)
    np.testing.assert_array_equal(win, arr[0:4, 6:10])


def test_to_png_bytes_roundtrip():
    arr = np.random.default_rng(1).integers(0, 256, (12, 10, 3)).astype(np.uint8)
    np.testing.assert_array_equal(np.asarray(load_image(to_png_bytes(arr))), arr)


def test_a_shrunk_image_remembers_its_original_size():
    from cnn_demo.io.images import original_size

    img = load_image(encode(rgb(640, 400)), max_side=512)
    assert img.size == (512, 320) and original_size(img) == (640, 400)
    small = load_image(encode(rgb(64, 40)), max_side=512)
    assert original_size(small) == small.size == (64, 40)
    # EXIF orientation 6 (rotate 90°): the original is reported as shown, upright.
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    rgb(640, 400).save(buf, "JPEG", exif=exif)
    turned = load_image(buf.getvalue(), max_side=100)
    assert turned.size == (62, 100) and original_size(turned) == (400, 640)
