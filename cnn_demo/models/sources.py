"""One handler per architecture source (the project's own nets, the CIFAR ResNets, torchvision, timm): how it builds
a row of the table of models, loads its published weights and reads its preprocessing.

:func:`cnn_demo.models.create` looks a row up (:mod:`cnn_demo.weights.catalogue`) and asks its source's handler;
a package above this one may add a source with :func:`register_source` (the face cascade's ``facenet``).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

import torch
from torch import nn

from cnn_demo import weights
from cnn_demo.errors import InputError
from cnn_demo.models.cifar import CIFAR10_CLASSES, CifarResNet
from cnn_demo.models.data import DataConfig
from cnn_demo.models.lecture import MyConvNet
from cnn_demo.weights import ModelInfo, load_pretrained

T = TypeVar("T")

#: Seed of the random weights of a detector or segmenter created with ``pretrained=False`` and no seed: the same
#: untrained network on every call.
RANDOM_SEED = 0


@contextlib.contextmanager
def seeded(seed: int | None) -> Iterator[None]:
    """Draw random initialisations from ``seed`` without touching torch's global generator (``None``: draw from it)."""
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


@torch.no_grad()
def calibrate_batchnorm(module: nn.Module, seed: int = RANDOM_SEED, size: int = 320) -> None:
    """Set every BatchNorm's running statistics from one seeded random batch.

    A freshly initialised deep network in eval mode (running mean 0, variance 1) shrinks its activations
    layer after layer to ~1e-8, so every box gets the same score. Measuring the statistics once, as
    training would, keeps random features alive; the result is deterministic for a given seed.
    """
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    saved = [(m, m.momentum) for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the calibration batch
    gen = torch.Generator().manual_seed(seed)
    batch = torch.randn(2, 3, size, size, generator=gen)
    was_training = module.training
    module.train()
    module(batch)
    module.train(was_training)
    for m, momentum in saved:
        m.momentum = momentum


def _three(values: Iterable[T]) -> tuple[T, T, T]:
    """Exactly three values (channels, or a per-channel mean/std) as a typed triple."""
    a, b, c = values
    return (a, b, c)


def timm_data_config(cfg: dict, source: str) -> DataConfig:
    """A :class:`DataConfig` from a timm pretrained config (or ``resolve_model_data_config``'s dict)."""
    return DataConfig(
        _three(int(v) for v in cfg["input_size"]),
        tuple(float(v) for v in cfg["mean"]),
        tuple(float(v) for v in cfg["std"]),
        str(cfg.get("interpolation", "bicubic")),
        float(cfg.get("crop_pct", 0.875)),
        source,
    )


def imagenet_data_config(size: tuple[int, int, int], why: str) -> DataConfig:
    """The ImageNet mean/std (timm.data's constants) at ``size``, no crop: nets without published preprocessing."""
    from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

    return DataConfig(size, tuple(IMAGENET_DEFAULT_MEAN), tuple(IMAGENET_DEFAULT_STD), "bilinear", 1.0, why)


@functools.cache
def imagenet_classes() -> tuple[str, ...]:
    """The 1000 ImageNet-1k class names, as torchvision's weights entries list them."""
    from torchvision.models import ResNet18_Weights

    return tuple(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


class SourceHandler:
    """How one architecture source builds its networks; subclasses say how to build, the rest has defaults.

    ``random`` draws the initialisation (from ``seed`` when given); ``pretrained`` adopts the verified published
    state dict (:func:`cnn_demo.weights.load_state_dict`) into a network built on the meta device, so no time goes
    into a random initialisation that is overwritten.
    """

    def build(self, info: ModelInfo, num_classes: int, **kwargs: Any) -> nn.Module:
        """The architecture of ``info`` with ``num_classes`` outputs and a fresh initialisation."""
        raise NotImplementedError

    def random(self, info: ModelInfo, num_classes: int, seed: int | None, **kwargs: Any) -> nn.Module:
        """The architecture with random weights (drawn from ``seed`` when given)."""
        with seeded(seed):
            return self.build(info, num_classes, **kwargs)

    def pretrained(self, info: ModelInfo, **kwargs: Any) -> nn.Module:
        """The architecture with its published weights (:class:`~cnn_demo.weights.WeightsMissing` when absent)."""
        state = weights.load_state_dict(info.name)
        with torch.device("meta"):
            model = self.build(info, info.num_classes, **kwargs)
        try:
            model.load_state_dict(state, strict=True, assign=True)
        except RuntimeError as exc:
            raise weights.WeightsCorrupt(
                f"The weights file for {info.name} does not fit the model ({str(exc).splitlines()[0]})."
            ) from exc
        if any(t.is_meta for t in [*model.parameters(), *model.buffers()]):
            model = self.build(info, info.num_classes, **kwargs)
            model.load_state_dict(state, strict=True)
        return model

    #: Where the ImageNet statistics of a row with ``preprocessing="imagenet"`` come from, in words.
    imagenet_note = "ImageNet mean/std"

    def data_config(self, info: ModelInfo) -> DataConfig:
        """How images are prepared for the network (:class:`DataConfig`): the row's ``preprocessing`` says whether
        it is read from what was published with the weights (the handler's own reading) or is ImageNet's."""
        if info.preprocessing == "imagenet":
            return imagenet_data_config(info.input_size, self.imagenet_note)
        raise InputError(f"{info.name} prepares its own input; it has no classifier's data config.")

    def class_names(self, info: ModelInfo) -> tuple[str, ...]:
        """The labels of the network's outputs."""
        return tuple(f"class {i}" for i in range(info.num_classes))


class LectureSource(SourceHandler):
    """The lecture's MyConvNet: no published weights, ImageNet statistics at 32×32."""

    def build(self, info: ModelInfo, num_classes: int, **kwargs: Any) -> nn.Module:
        return MyConvNet(num_classes=num_classes)

    imagenet_note = "ImageNet mean/std (MyConvNet has no published weights)"


class CifarSource(SourceHandler):
    """The CIFAR-10 ResNets of akamaster/pytorch_resnet_cifar10 (``cifar_resnet<depth>``)."""

    def build(self, info: ModelInfo, num_classes: int, **kwargs: Any) -> nn.Module:
        return CifarResNet(depth=int(info.name.removeprefix("cifar_resnet")), num_classes=num_classes)

    imagenet_note = "akamaster/pytorch_resnet_cifar10 (ImageNet mean/std)"

    def class_names(self, info: ModelInfo) -> tuple[str, ...]:
        return CIFAR10_CLASSES


def dense_kwargs(info: ModelInfo) -> dict[str, Any]:
    """Constructor arguments of a torchvision detector or segmenter: no backbone weights, no training-only
    auxiliary head (LR-ASPP has none), the class count of its published weights."""
    kwargs: dict[str, Any] = {"weights_backbone": None, "num_classes": info.num_classes}
    if info.task == "segmentation" and not info.name.startswith("lraspp"):
        kwargs["aux_loss"] = False
    return kwargs


class TorchvisionSource(SourceHandler):
    """torchvision's models, by the name ``torchvision.models.get_model`` knows (classifiers, detectors and
    segmenters). Detectors and segmenters with random weights get BatchNorm statistics measured on a seeded random
    batch (:func:`calibrate_batchnorm`), so their outputs stay alive; their published files load with the auxiliary
    head dropped and only BatchNorm step counters allowed to be missing (:func:`cnn_demo.weights.load_pretrained`).
    """

    def build(self, info: ModelInfo, num_classes: int, **kwargs: Any) -> nn.Module:
        from torchvision.models import get_model

        if info.task == "classification":
            return get_model(info.name, weights=None, num_classes=num_classes, **kwargs)
        return get_model(info.name, weights=None, **{**dense_kwargs(info), "num_classes": num_classes, **kwargs})

    def random(self, info: ModelInfo, num_classes: int, seed: int | None, **kwargs: Any) -> nn.Module:
        if info.task == "classification":
            return super().random(info, num_classes, seed, **kwargs)
        seed = RANDOM_SEED if seed is None else seed
        with seeded(seed):
            model = self.build(info, num_classes, **kwargs)
            if not any(p.is_meta for p in model.parameters()):  # on the meta device there is nothing to measure
                calibrate_batchnorm(model.get_submodule("backbone"), seed)
        return model

    def pretrained(self, info: ModelInfo, **kwargs: Any) -> nn.Module:
        if info.task == "classification":
            return super().pretrained(info, **kwargs)
        with seeded(RANDOM_SEED):
            model = self.build(info, info.num_classes, **kwargs)
        return load_pretrained(model, info.torchvision_entry(), drop_prefixes=("aux_classifier.",))

    def data_config(self, info: ModelInfo) -> DataConfig:
        if info.task != "classification" or info.preprocessing != "weights":
            return super().data_config(info)
        w = info.torchvision_entry()
        t = w.transforms()
        crop, resize = int(t.crop_size[0]), int(t.resize_size[0])
        return DataConfig(
            (3, crop, crop),
            tuple(float(v) for v in t.mean),
            tuple(float(v) for v in t.std),
            t.interpolation.value,
            crop / resize,
            f"torchvision {w}.transforms()",
        )

    def class_names(self, info: ModelInfo) -> tuple[str, ...]:
        if info.task == "classification":
            return imagenet_classes()
        return tuple(info.torchvision_entry().meta["categories"])


class TimmSource(SourceHandler):
    """timm's models (``timm/<timm name>`` rows, and ``tf_efficientnet_lite0``)."""

    def build(self, info: ModelInfo, num_classes: int, **kwargs: Any) -> nn.Module:
        import timm

        return timm.create_model(info.timm_name, pretrained=False, num_classes=num_classes, **kwargs)

    def data_config(self, info: ModelInfo) -> DataConfig:
        if info.preprocessing != "weights":
            return super().data_config(info)
        import timm

        cfg = timm.models.get_pretrained_cfg(info.timm_name)
        if cfg is None:
            raise InputError(f"timm has no preprocessing settings for {info.timm_name}.")
        return timm_data_config(cfg.to_dict(), f"timm pretrained_cfg of {info.timm_name}")

    def class_names(self, info: ModelInfo) -> tuple[str, ...]:
        return imagenet_classes()


_SOURCES: dict[str, SourceHandler] = {
    "lecture": LectureSource(),
    "cifar": CifarSource(),
    "torchvision": TorchvisionSource(),
    "timm": TimmSource(),
}


def register_source(name: str, handler: SourceHandler) -> None:
    """Add (or replace) the handler of architecture source ``name`` (a package above this one, e.g. the faces')."""
    _SOURCES[name] = handler


def source_handler(info: ModelInfo) -> SourceHandler:
    """The handler that builds the rows of ``info``'s architecture source."""
    try:
        return _SOURCES[info.source]
    except KeyError:
        raise InputError(
            f"{info.name} is built by its own application ({info.source}); import that application first."
        ) from None
