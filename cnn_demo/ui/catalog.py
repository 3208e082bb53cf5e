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
        "pages/datasets.py",
        "Datasets for training",
        ":material/folder_zip:",
        "Models",
        "datasets",
        "Upload a zip of class folders, build classes from your own photos, or use a built-in set: see images "
        "per class, skipped files, duplicates and the train/validation split before training.",
    ),
    PageSpec(
        "pages/conv_layer.py",
        "Convolution layer",
        ":material/layers:",
        "Building blocks",
        "conv_layer",
        "Build an nn.Conv2d: see its weight and bias shapes, its parameter count from the lecture's formula "
        "(checked against PyTorch), its output size, and why convolution beats a dense layer.",
        "Motivation of convolution; Convolution layer",
    ),
    PageSpec(
        "pages/pooling.py",
        "Pooling",
        ":material/filter_center_focus:",
        "Building blocks",
        "pooling",
        "Max and average pooling window by window on the lecture's 4×4 example, checked against PyTorch, then "
        "on a photo: downsampling and robustness to small shifts.",
        "Pooling; Max Pooling and Average Pooling",
    ),
    PageSpec(
        "pages/adaptive_pooling.py",
        "Adaptive pooling",
        ":material/aspect_ratio:",
        "Building blocks",
        "adaptive_pooling",
        "Adaptive pooling for any input and output length: the lecture's stride/kernel rule next to the windows "
        "PyTorch really uses, and where they differ.",
        "Adaptive Pooling; How does it work?",
    ),
    PageSpec(
        "pages/model_inspector.py",
        "Model inspector",
        ":material/account_tree:",
        "Models",
        "model_inspector",
        "MyConvNet, AlexNet, ResNets, MobileNets, EfficientNet, ConvNeXt and more: layer table, parameters and "
        "compute per layer, backbone and head, and the printed module.",
        "CNN Architecture; Example; AlexNet",
    ),
    PageSpec(
        "pages/feature_maps.py",
        "Feature maps & Grad-CAM",
        ":material/visibility:",
        "Models",
        "feature_maps",
        "Run a picture through a CNN: its first-layer filters, the activation maps of any conv layer, its top "
        "predictions and a Grad-CAM heat map of where it looked.",
        "CNN Architecture",
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
