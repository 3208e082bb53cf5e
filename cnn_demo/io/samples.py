"""Bundled sample images: files that scikit-image ships in its ``data`` folder, so they work offline.

The lecture uses ``scipy.datasets.ascent()``, which downloads at run time; the app uses
``skimage.data.camera()`` (the classic cameraman photo) as its default grayscale image instead.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from cnn_demo.errors import InputError
from cnn_demo.io.images import load_image


@dataclass(frozen=True)
class Sample:
    """One bundled image: its file in scikit-image's data folder and what it is good for."""

    name: str
    filename: str
    title: str
    description: str
    grayscale: bool = False


SAMPLES: tuple[Sample, ...] = (
    Sample("camera", "camera.png", "Cameraman", "512×512 grayscale photo; stands in for scipy's ascent.", True),
    Sample("astronaut", "astronaut.png", "Astronaut", "512×512 colour portrait of Eileen Collins."),
    Sample("chelsea", "chelsea.png", "Chelsea the cat", "451×300 colour photo of a cat."),
    Sample("coffee", "coffee.png", "Coffee", "A cup of coffee, 600×400 colour."),
    Sample("rocket", "rocket.jpg", "Rocket", "A rocket on its launch pad, 640×427 colour JPEG."),
    Sample("brick", "brick.png", "Brick wall", "512×512 grayscale texture.", True),
    Sample("grass", "grass.png", "Grass", "512×512 grayscale texture.", True),
    Sample("gravel", "gravel.png", "Gravel", "512×512 grayscale texture.", True),
    Sample("coins", "coins.png", "Coins", "Greek coins on a plain background, grayscale.", True),
    Sample("moon", "moon.png", "Moon", "Low-contrast grayscale surface of the moon.", True),
    Sample("text", "text.png", "Text", "Handwritten text on a gradient, grayscale.", True),
    Sample("page", "page.png", "Page", "A scanned page with uneven lighting, grayscale.", True),
    Sample("motorcycle", "motorcycle_left.png", "Motorcycle", "Stereo view of a motorcycle, colour."),
    Sample("hubble", "hubble_deep_field.jpg", "Hubble deep field", "Galaxies in the Hubble deep field, colour."),
    Sample("retina", "retina.jpg", "Retina", "A human retina, colour fundus photo."),
    Sample("chessboard", "chessboard_GRAY.png", "Chessboard", "A synthetic checkerboard, grayscale.", True),
)

DEFAULT_SAMPLE = "camera"


@functools.cache
def data_dir() -> Path:
    """scikit-image's bundled data folder (found without importing skimage.data, which is slow)."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("scikit-image is not installed, so the sample images are missing.")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def sample_names() -> list[str]:
    """Names of the bundled samples whose files exist in this installation."""
    return [s.name for s in SAMPLES if (data_dir() / s.filename).is_file()]


def get_sample(name: str) -> Sample:
    """The :class:`Sample` called ``name``."""
    for s in SAMPLES:
        if s.name == name:
            return s
    raise InputError(f"There is no sample image called {name!r}. Choose one of: {', '.join(sample_names())}.")


def sample_bytes(name: str) -> bytes:
    """The raw file bytes of a sample, so samples go through the same loader as uploads."""
    path = data_dir() / get_sample(name).filename
    if not path.is_file():
        raise InputError(f"The sample image file {path.name} is missing from scikit-image's data folder.")
    return path.read_bytes()


def load_sample(name: str = DEFAULT_SAMPLE, *, grayscale: bool = False, max_side: int | None = None) -> Image.Image:
    """A sample image as a PIL image, decoded by :func:`cnn_demo.io.images.load_image`."""
    return load_image(sample_bytes(name), grayscale=grayscale, max_side=max_side)
