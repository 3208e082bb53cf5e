"""The model registry: one front door, :func:`create`, for every model the app offers.

Names follow the libraries they come from: torchvision models as torchvision spells them (``resnet18``),
timm models as ``timm/<timm name>`` (``timm/resnet18.a1_in1k``), the project's CIFAR-10 ResNets
(``cifar_resnet20`` … ``cifar_resnet56``) and the lecture's ``myconvnet``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import torch
from torch import nn

from cnn_demo.errors import InputError
from cnn_demo.models.cifar import CIFAR10_CLASSES, CifarResNet
from cnn_demo.models.lecture import MyConvNet
from cnn_demo.weights.catalogue import has_pretrained, torchvision_entry

if TYPE_CHECKING:
    from torchvision.models import WeightsEnum

Source = Literal["torchvision", "timm", "cifar", "lecture"]
#: The model pages show first: real ImageNet weights on every install (see ``cnn_demo.weights.catalogue.PACKAGED``).
DEFAULT_MODEL = "tf_efficientnet_lite0"


@dataclass(frozen=True)
class ModelInfo:
    """What the app knows about a registered model before building it.

    ``input_size`` is (channels, height, width) of the pretrained weights' evaluation size; ``params`` the
    parameter count with the default head (for sorting and warnings, checked by the tests). Which models have
    pretrained weights, and which file, is the weights catalogue's to say (:mod:`cnn_demo.weights.catalogue`).
    """

    name: str
    source: Source
    input_size: tuple[int, int, int]
    description: str
    num_classes: int
    params: int
    heavy: bool = False

    @property
    def has_pretrained(self) -> bool:
        """Whether published pretrained weights exist for the model (an entry of the weights catalogue)."""
        return has_pretrained(self.name)


_INFOS: tuple[ModelInfo, ...] = (
    ModelInfo("myconvnet", "lecture", (3, 32, 32), "The lecture's MyConvNet: 2 conv layers + 2 linear.", 10, 72_042),
    ModelInfo(
        "cifar_resnet20",
        "cifar",
        (3, 32, 32),
        "ResNet-20 for CIFAR-10 (He et al. 2016), 91.8% test accuracy.",
        10,
        269_722,
    ),
    ModelInfo("cifar_resnet32", "cifar", (3, 32, 32), "ResNet-32 for CIFAR-10, 92.8% test accuracy.", 10, 464_154),
    ModelInfo("cifar_resnet44", "cifar", (3, 32, 32), "ResNet-44 for CIFAR-10, 93.1% test accuracy.", 10, 658_586),
    ModelInfo("cifar_resnet56", "cifar", (3, 32, 32), "ResNet-56 for CIFAR-10, 93.6% test accuracy.", 10, 853_018),
    ModelInfo(
        "alexnet",
        "torchvision",
        (3, 224, 224),
        "AlexNet (2012): 5 conv + 3 linear layers, as on the slide.",
        1000,
        61_100_840,
        heavy=True,
    ),
    ModelInfo(
        "vgg16",
        "torchvision",
        (3, 224, 224),
        "VGG-16 (2014): 13 conv layers of 3×3 kernels + 3 linear.",
        1000,
        138_357_544,
        heavy=True,
    ),
    ModelInfo(
        "resnet18",
        "torchvision",
        (3, 224, 224),
        "ResNet-18 (2015): residual blocks, global average pooling.",
        1000,
        11_689_512,
    ),
    ModelInfo("resnet50", "torchvision", (3, 224, 224), "ResNet-50: bottleneck residual blocks.", 1000, 25_557_032),
    ModelInfo(
        "mobilenet_v3_small",
        "torchvision",
        (3, 224, 224),
        "MobileNetV3-Small: depthwise convs for phones.",
        1000,
        2_542_856,
    ),
    ModelInfo("mobilenet_v3_large", "torchvision", (3, 224, 224), "MobileNetV3-Large.", 1000, 5_483_032),
    ModelInfo(
        "efficientnet_b0", "torchvision", (3, 224, 224), "EfficientNet-B0: scaled MBConv blocks.", 1000, 5_288_548
    ),
    ModelInfo(
        "convnext_tiny",
        "torchvision",
        (3, 224, 224),
        "ConvNeXt-Tiny (2022): a modernised ResNet.",
        1000,
        28_589_128,
        heavy=True,
    ),
    ModelInfo(
        "mobilenet_v2",
        "torchvision",
        (3, 224, 224),
        "MobileNetV2 (2018): inverted residual blocks with depthwise 3×3 convs and linear bottlenecks.",
        1000,
        3_504_872,
    ),
    ModelInfo(
        "tf_efficientnet_lite0",
        "timm",
        (3, 224, 224),
        "EfficientNet-Lite0: MobileNetV2-style inverted residual (MBConv) blocks with depthwise-separable convs, "
        "75% ImageNet top-1; its weights come with set-up.",
        1000,
        4_652_008,
    ),
    ModelInfo(
        "timm/resnet18.a1_in1k",
        "timm",
        (3, 224, 224),
        "timm's ResNet-18, trained with the A1 recipe.",
        1000,
        11_689_512,
    ),
    ModelInfo(
        "timm/mobilenetv3_small_100.lamb_in1k",
        "timm",
        (3, 224, 224),
        "timm's MobileNetV3-Small.",
        1000,
        2_542_856,
    ),
    ModelInfo(
        "timm/efficientnet_b0.ra_in1k",
        "timm",
        (3, 224, 224),
        "timm's EfficientNet-B0 (RandAugment).",
        1000,
        5_288_548,
    ),
)
_BY_NAME: dict[str, ModelInfo] = {i.name: i for i in _INFOS}


def torchvision_weights(name: str) -> WeightsEnum:
    """The torchvision weights entry of a registered torchvision model (the catalogue's tag, else ``DEFAULT``)."""
    from torchvision.models import get_model_weights

    get_info(name)
    return torchvision_entry(name) if has_pretrained(name) else get_model_weights(name).DEFAULT


def list_models(source: str | None = None, pretrained: bool | None = None) -> list[str]:
    """Registered model names, optionally only those of one ``source`` or with(out) pretrained weights."""
    return [
        i.name
        for i in _INFOS
        if (source is None or i.source == source) and (pretrained is None or i.has_pretrained == pretrained)
    ]


def get_info(name: str) -> ModelInfo:
    """The :class:`ModelInfo` of a registered model; an unknown name raises InputError listing the choices."""
    try:
        return _BY_NAME[name]
    except (KeyError, TypeError):
        raise InputError(f"There is no model called {name!r}. Choose one of: {', '.join(list_models())}.") from None


def _build(info: ModelInfo, num_classes: int) -> nn.Module:
    if info.source == "lecture":
        return MyConvNet(num_classes=num_classes)
    if info.source == "cifar":
        return CifarResNet(depth=int(info.name.removeprefix("cifar_resnet")), num_classes=num_classes)
    if info.source == "torchvision":
        from torchvision.models import get_model

        return get_model(info.name, weights=None, num_classes=num_classes)
    import timm

    return timm.create_model(info.name.removeprefix("timm/"), pretrained=False, num_classes=num_classes)


def weightless(info: ModelInfo) -> nn.Module:
    """The model of ``info`` on the meta device (shapes and names only: no memory, no initialisation time)."""
    with torch.device("meta"):
        return _build(info, info.num_classes)


def _load_pretrained(info: ModelInfo) -> nn.Module:
    from cnn_demo import weights

    state = weights.load_state_dict(info.name)
    # Build on the meta device and adopt the loaded tensors: no time spent on a random init that is overwritten.
    model = weightless(info)
    try:
        model.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as exc:
        raise weights.WeightsCorrupt(
            f"The weights file for {info.name} does not fit the model ({str(exc).splitlines()[0]})."
        ) from exc
    if any(t.is_meta for t in [*model.parameters(), *model.buffers()]):
        model = _build(info, info.num_classes)
        model.load_state_dict(state, strict=True)
    return model


def create(name: str, pretrained: bool = True, num_classes: int | None = None) -> nn.Module:
    """Build a registered model, in eval mode, on the CPU.

    ``pretrained=True`` loads the weights from this machine (see :mod:`cnn_demo.weights`; never downloads) and
    raises :class:`cnn_demo.weights.WeightsMissing` when they are absent. ``num_classes`` different from the
    model's own replaces the final layer by a freshly initialised ``nn.Linear`` (for fine-tuning); the rest keeps
    its weights. Each call returns a new model, so it may be trained or changed freely.
    """
    info = get_info(name)
    if num_classes is not None and (
        isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1
    ):
        raise InputError(f"The number of classes must be a whole number of at least 1, not {num_classes!r}.")
    if pretrained and not info.has_pretrained:
        raise InputError(f"{name} has no pretrained weights; create it with pretrained=False (random weights).")
    if pretrained:
        model = _load_pretrained(info)
        if num_classes is not None and num_classes != info.num_classes:
            from cnn_demo.models.surgery import get_head, replace_head

            replace_head(model, nn.Linear(get_head(model).in_features, num_classes))
    else:
        model = _build(info, num_classes or info.num_classes)
    model.cnn_demo_name = name  # type: ignore[assignment]  # a plain attribute, read by registered_name
    return model.eval()


def model_name(model: nn.Module) -> str | None:
    """The registry name a model was created under by :func:`create`, or None."""
    return getattr(model, "cnn_demo_name", None)


@functools.cache
def _imagenet_classes() -> tuple[str, ...]:
    from torchvision.models import ResNet18_Weights

    return tuple(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


_CLASS_NAMES: dict[str, Callable[[ModelInfo], tuple[str, ...]]] = {
    "cifar": lambda info: CIFAR10_CLASSES,
    "torchvision": lambda info: _imagenet_classes(),
    "timm": lambda info: _imagenet_classes(),
}


def class_names(name: str) -> tuple[str, ...]:
    """The labels of a registered model's pretrained output classes (ImageNet-1k, CIFAR-10, or "class i")."""
    info = get_info(name)
    if info.source in _CLASS_NAMES:
        return _CLASS_NAMES[info.source](info)
    return tuple(f"class {i}" for i in range(info.num_classes))
