"""The app's page list: one entry per page, used by app.py's navigation, the home page's cards and the tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: The browser tab's icon, served by the app itself (a material icon or emoji would be fetched from a CDN).
FAVICON = Path(__file__).with_name("favicon.png")


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
    "app_pages/home.py",
    "Home",
    ":material/home:",
    "",
    "home",
    "What the app covers and where to start.",
)

#: Section names in navigation order; the home page sits above them.
SECTIONS: tuple[str, ...] = ("Signals", "Images", "Building blocks", "Models", "Applications", "Class")

PAGES: tuple[PageSpec, ...] = (
    HOME,
    PageSpec(
        "app_pages/signals/convolution.py",
        "1-D convolution",
        ":material/stacked_line_chart:",
        "Signals",
        "signals_convolution",
        "Step through the lecture's example f = [1, 2, 3, 4], g = [1, 1, 1] one output at a time, then your own "
        "numbers: full/same/valid, PyTorch's conv1d and the frequency view.",
        "Convolution Operation, Example",
    ),
    PageSpec(
        "app_pages/signals/gaussian.py",
        "Gaussian filter",
        ":material/blur_linear:",
        "Signals",
        "signals_gaussian",
        "Smooth a noisy signal with a Gaussian kernel: see how σ trades noise against detail, and what each "
        "boundary mode does at the edges.",
        "Gaussian Filter",
    ),
    PageSpec(
        "app_pages/signals/correlation.py",
        "Cross- and auto-correlation",
        ":material/compare_arrows:",
        "Signals",
        "signals_correlation",
        "Find the delay between two noisy signals from the peak of their cross-correlation, and the period of a "
        "signal from its autocorrelation.",
        "Cross-Correlation and Auto-Correlation",
    ),
    PageSpec(
        "app_pages/signals/statistics.py",
        "Convolution in statistics",
        ":material/bar_chart:",
        "Signals",
        "signals_statistics",
        "The density of a sum of independent random variables is a convolution (uniforms, dice, normals), and "
        "kernel density estimation is smoothing with a Gaussian.",
        "Applications of convolution",
    ),
    PageSpec(
        "app_pages/images/pixels.py",
        "Images as numbers",
        ":material/grid_on:",
        "Images",
        "pixels",
        "Upload a photo or pick a sample and see it as the grid of numbers a CNN reads: channels, "
        "pixel values and their histogram.",
        "2-D Convolution",
    ),
    PageSpec(
        "app_pages/images/filtering.py",
        "2-D filtering",
        ":material/blur_on:",
        "Images",
        "images_filtering",
        "Blur, sharpen and find edges: Gaussian, gradient, Sobel and your own kernels on any image, with border "
        "modes, a pixel inspector, low/high-pass spectra and the code.",
        "2-D Gaussian Filter; Filter for edge detection; Sobel Filter; High-pass and low-pass filters",
    ),
    PageSpec(
        "app_pages/images/arithmetic.py",
        "Convolution arithmetic",
        ":material/grid_4x4:",
        "Images",
        "images_arithmetic",
        "Output size from kernel, stride, padding and dilation, an animated grid of what each output reads, "
        "transposed convolutions and receptive fields.",
        "Image size after convolution",
    ),
    PageSpec(
        "app_pages/blocks/conv_layer.py",
        "Convolution layer",
        ":material/layers:",
        "Building blocks",
        "conv_layer",
        "Build an nn.Conv2d: see its weight and bias shapes, its parameter count from the lecture's formula "
        "(checked against PyTorch), its output size, and why convolution beats a dense layer.",
        "Motivation of convolution; Convolution layer",
    ),
    PageSpec(
        "app_pages/blocks/pooling.py",
        "Pooling",
        ":material/filter_center_focus:",
        "Building blocks",
        "pooling",
        "Max and average pooling window by window on the lecture's 4×4 example, checked against PyTorch, then "
        "on a photo: downsampling and robustness to small shifts.",
        "Pooling; Max Pooling and Average Pooling",
    ),
    PageSpec(
        "app_pages/blocks/adaptive_pooling.py",
        "Adaptive pooling",
        ":material/aspect_ratio:",
        "Building blocks",
        "adaptive_pooling",
        "Adaptive pooling for any input and output length: the lecture's stride/kernel rule next to the windows "
        "PyTorch really uses, and where they differ.",
        "Adaptive Pooling; How does it work?",
    ),
    PageSpec(
        "app_pages/models/inspector.py",
        "Model inspector",
        ":material/account_tree:",
        "Models",
        "model_inspector",
        "MyConvNet, AlexNet, ResNets, MobileNets, EfficientNet, ConvNeXt and more: layer table, parameters and "
        "compute per layer, backbone and head, building blocks (residual, inverted residual, depthwise-separable) "
        "and the printed module.",
        "CNN Architecture; Example; AlexNet",
    ),
    PageSpec(
        "app_pages/models/feature_maps.py",
        "Feature maps & Grad-CAM",
        ":material/visibility:",
        "Models",
        "feature_maps",
        "Run a picture through a CNN: its first-layer filters, the activation maps of any conv layer, its top "
        "predictions and a Grad-CAM heat map of where it looked.",
        "CNN Architecture",
    ),
    PageSpec(
        "app_pages/models/datasets.py",
        "Datasets for training",
        ":material/folder_zip:",
        "Models",
        "datasets",
        "Upload a zip of class folders, build classes from your own photos, or use a built-in set: see images "
        "per class, skipped files, duplicates and the train/validation split before training.",
        "Model zoos",
    ),
    PageSpec(
        "app_pages/models/finetune.py",
        "Fine-tune on your images",
        ":material/model_training:",
        "Models",
        "finetune",
        "Put a new head on a pretrained backbone and train it on your own classes as a background job: frozen "
        "versus fine-tuned, confusion matrix, mistakes, export.",
        "Model zoos",
    ),
    PageSpec(
        "app_pages/applications/localization.py",
        "Object localization",
        ":material/crop_free:",
        "Applications",
        "localization",
        "Train a small CNN to regress the box (x, y, w, h) of a shape on a textured background and watch its IoU "
        "climb epoch by epoch.",
        "Object Localization",
    ),
    PageSpec(
        "app_pages/applications/detection.py",
        "Object detection",
        ":material/center_focus_strong:",
        "Applications",
        "detection",
        "Find faces with MTCNN's pretrained cascade (image pyramid, P-Net proposals, R-Net and O-Net crops, NMS, "
        "landmarks), and every object with Faster R-CNN, RetinaNet, SSD or FCOS where their COCO weights are "
        "installed; one stage or two, anchors, and two boxes to feel IoU.",
        "Region-based CNNs",
    ),
    PageSpec(
        "app_pages/applications/rcnn.py",
        "R-CNN and Fast R-CNN",
        ":material/select_all:",
        "Applications",
        "rcnn",
        "Selective search proposes regions of your photo, an ImageNet CNN classifies each warped region (R-CNN), "
        "then the same regions are cut out of one shared feature map with RoIAlign (Fast R-CNN): both timed, and an "
        "erase test picks the box that holds the object.",
        "Region-based CNNs",
    ),
    PageSpec(
        "app_pages/applications/train_detector.py",
        "Train a person detector",
        ":material/directions_walk:",
        "Applications",
        "train_detector",
        "Train Faster R-CNN's proposal network and box head on cached ImageNet features, on 128 shipped COCO photos "
        "or your own labelled zip (COCO, YOLO, VOC): AP50 and the proposals epoch by epoch, then your photo.",
        "Region-based CNNs",
    ),
    PageSpec(
        "app_pages/applications/segmentation.py",
        "Segmentation",
        ":material/format_paint:",
        "Applications",
        "segmentation",
        "Label every pixel: train a person segmenter in about a minute (a small head on frozen ImageNet features) and "
        "segment your photo; DeepLabV3, LR-ASPP and FCN; unsupervised k-means and SLIC superpixels.",
        "Image Segmentation",
    ),
    PageSpec(
        "app_pages/applications/unet.py",
        "U-Net",
        ":material/account_tree:",
        "Applications",
        "unet",
        "The U-Net's tensor shapes and skip connections for any input size, and a small U-Net trained from scratch "
        "on shapes, real VOC photos or your own image/mask pairs.",
        "U-Net",
    ),
    PageSpec(
        "app_pages/classroom/gallery.py",
        "Class gallery",
        ":material/leaderboard:",
        "Class",
        "gallery",
        "Fine-tuning runs your class published, ranked by held-out test accuracy: each with its dataset, baseline, "
        "curves, confusion matrix and mistakes, read-only; publish your own from the fine-tuning page.",
    ),
    PageSpec(
        "app_pages/classroom/teacher.py",
        "Teacher",
        ":material/school:",
        "Class",
        "teacher",
        "For the teacher: every student's jobs with their results, cancel or delete any, find a job by the reference "
        "a student was shown, storage in use, the limits in force, and the reset between classes.",
    ),
)


def pages_in(section: str) -> list[PageSpec]:
    """The pages of one section, in order."""
    return [p for p in PAGES if p.section == section]


def markdown_table() -> str:
    """The README's page table, generated from :data:`PAGES` so the two never drift apart."""
    lines = ["| Section | Page | What it does |", "|---|---|---|"]
    lines += [f"| {p.section} | {p.title} | {p.summary} |" for p in PAGES]
    return "\n".join(lines)
