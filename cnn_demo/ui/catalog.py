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
        "pages/finetune.py",
        "Fine-tune on your images",
        ":material/model_training:",
        "Models",
        "finetune",
        "Put a new head on a pretrained backbone and train it on your own classes as a background job: frozen "
        "versus fine-tuned, confusion matrix, mistakes, export.",
        "Model zoos",
    ),
)


def pages_in(section: str) -> list[PageSpec]:
    """The pages of one section, in order."""
    return [p for p in PAGES if p.section == section]
