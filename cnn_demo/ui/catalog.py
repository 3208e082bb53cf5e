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
        "pages/localization.py",
        "Object localization",
        ":material/crop_free:",
        "Applications",
        "localization",
        "Train a small CNN to regress the box (x, y, w, h) of a shape on a textured background and watch its IoU "
        "climb epoch by epoch.",
        "Object Localization",
    ),
    PageSpec(
        "pages/detection.py",
        "Object detection",
        ":material/center_focus_strong:",
        "Applications",
        "detection",
        "Find and box every object in a photo with Faster R-CNN, RetinaNet, SSD or FCOS; see anchors, region "
        "proposals and NMS at work, and move two boxes to feel IoU.",
        "Region-based CNNs",
    ),
    PageSpec(
        "pages/segmentation.py",
        "Segmentation",
        ":material/format_paint:",
        "Applications",
        "segmentation",
        "Label every pixel: DeepLabV3, LR-ASPP and FCN next to unsupervised k-means and SLIC superpixels.",
        "Image Segmentation",
    ),
    PageSpec(
        "pages/unet.py",
        "U-Net",
        ":material/account_tree:",
        "Applications",
        "unet",
        "The U-Net's tensor shapes and skip connections for any input size, and a small U-Net trained from scratch "
        "on shapes, real VOC photos or your own image/mask pairs.",
        "U-Net",
    ),
)


def pages_in(section: str) -> list[PageSpec]:
    """The pages of one section, in order."""
    return [p for p in PAGES if p.section == section]
