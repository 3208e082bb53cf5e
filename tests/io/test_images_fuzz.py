"""Bounded fuzzing of load_image: random and mutated files give an image or an InputError, never anything else."""

from __future__ import annotations

import io

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from cnn_demo.errors import InputError
from cnn_demo.io.images import load_image


def _seed_files() -> list[bytes]:
    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8))
    out = []
    for fmt in ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP"):
        buf = io.BytesIO()
        img.save(buf, format=fmt)
        out.append(buf.getvalue())
    return out


SEEDS = _seed_files()


def _load_or_refuse(data: bytes) -> None:
    try:
        img = load_image(data, max_pixels=4_000_000)
    except InputError as exc:
        assert str(exc)
        return
    assert img.mode == "RGB" and min(img.size) >= 8


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096))
def test_random_bytes(data):
    _load_or_refuse(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(range(len(SEEDS))),
    st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=8),
    st.integers(0, 10**6),
)
def test_mutated_real_files(which, flips, cut):
    data = bytearray(SEEDS[which])
    for pos, value in flips:
        data[pos % len(data)] = value
    _load_or_refuse(bytes(data[: max(1, cut % (len(data) + 1))]))
