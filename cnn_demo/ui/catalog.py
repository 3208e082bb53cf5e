"""The app's page list: one entry per page, used by app.py's navigation, the home page's cards and the tests."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PageSpec:
    """One page of the app."""

    path: str
    title: str
    icon: str
    section: str
    url_path: str
    summary: str
    lecture: str = ""


HOME = PageSpec(
    "pages/home.py",
    "Home",
    ":material/home:",
    "",
    "home",
    "What the app covers and where to start.",
)

#: Section names in navigation order; the home page sits above them.
SECTIONS: tuple[str, ...] = ("Signals", "Images", "Building blocks", "Models", "Applications")

PAGES: tuple[PageSpec, ...] = (
    HOME,
    PageSpec(
        "pages/pixels.py",
        "Images as numbers",
        ":material/grid_on:",
        "Images",
        "pixels",
        "Upload a photo or pick a sample and see it as the grid of numbers a CNN reads: channels, "
        "pixel values and their histogram.",
        "2-D Convolution",
    ),
    PageSpec(
        "pages/images_filtering.py",
        "2-D filtering",
        ":material/blur_on:",
        "Images",
        "images_filtering",
        "Blur, sharpen and find edges: Gaussian, gradient, Sobel and your own kernels on any image, with border "
        "modes, a pixel inspector, low/high-pass spectra and the code.",
        "2-D Gaussian Filter; Filter for edge detection; Sobel Filter; High-pass and low-pass filters",
    ),
    PageSpec(
        "pages/images_arithmetic.py",
        "Convolution arithmetic",
        ":material/grid_4x4:",
        "Images",
        "images_arithmetic",
        "Output size from kernel, stride, padding and dilation, an animated grid of what each output reads, "
        "transposed convolutions and receptive fields.",
        "Image size after convolution",
    ),
)


def pages_in(section: str) -> list[PageSpec]:
    """The pages of one section, in order."""
    return [p for p in PAGES if p.section == section]
