"""The model registry: one front door, :func:`create`, for every network of the table of models.

The table (:mod:`cnn_demo.weights.catalogue`) has one row per network: classifiers, detectors, segmenters and the
face cascade. Names follow the libraries they come from: torchvision models as torchvision spells them
(``resnet18``, ``fasterrcnn_mobilenet_v3_large_320_fpn``), timm models as ``timm/<timm name>``
(``timm/resnet18.a1_in1k``), the project's CIFAR-10 ResNets (``cifar_resnet20`` … ``cifar_resnet56``) and the
lecture's ``myconvnet``. Each row's architecture source has one handler (:mod:`cnn_demo.models.sources`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from cnn_demo.errors import InputError
from cnn_demo.models.data import DataConfig
from cnn_demo.models.sources import source_handler, timm_data_config
from cnn_demo.weights import ModelInfo, model_info, model_names
from cnn_demo.weights.info import Task

#: The model pages show first: real ImageNet weights on every install (its row's ``package``).
DEFAULT_MODEL = "tf_efficientnet_lite0"


def list_models(
    source: str | None = None, pretrained: bool | None = None, task: Task | None = "classification"
) -> list[str]:
    """Names of the table's networks of ``task`` (classifiers by default; ``None``: every task), optionally only
    those of one architecture ``source`` or with(out) pretrained weights, in the table's order."""
    return [
        name
        for name in model_names(task)
        if (source is None or get_info(name).source == source)
        and (pretrained is None or get_info(name).has_pretrained == pretrained)
    ]


def get_info(name: str) -> ModelInfo:
    """The row (:class:`ModelInfo`) of a network of the table; an unknown name raises InputError listing choices."""
    return model_info(name)


def weightless(info: ModelInfo) -> nn.Module:
    """The network of ``info`` on the meta device (shapes and names only: no memory, no initialisation time)."""
    with torch.device("meta"):
        return source_handler(info).build(info, info.num_classes)


def _check_num_classes(info: ModelInfo, num_classes: int | None, pretrained: bool) -> None:
    if num_classes is not None and (
        isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1
    ):
        raise InputError(f"The number of classes must be a whole number of at least 1, not {num_classes!r}.")
    if pretrained and num_classes not in (None, info.num_classes) and info.task != "classification":
        raise InputError(f"{info.name} keeps its own {info.num_classes} classes with pretrained weights.")
    if pretrained and not info.has_pretrained:
        raise InputError(f"{info.name} has no pretrained weights; create it with pretrained=False (random weights).")


def create(
    name: str, pretrained: bool = True, num_classes: int | None = None, *, seed: int | None = None, **kwargs
) -> nn.Module:
    """Build any network of the table (classifier, detector, segmenter, face cascade), in eval mode, on the CPU.

    ``pretrained=True`` loads the weights from this machine (see :mod:`cnn_demo.weights`; never downloads) and
    raises :class:`cnn_demo.weights.WeightsMissing` when they are absent. ``num_classes`` different from a
    classifier's own replaces the final layer by a freshly initialised ``nn.Linear`` (for fine-tuning); the rest
    keeps its weights. ``seed`` draws random weights from a seed of their own (detectors and segmenters always do:
    their untrained networks are the same on every call). ``kwargs`` go to the architecture's constructor. Each call
    returns a new network, so it may be trained or changed freely.
    """
    info = get_info(name)
    _check_num_classes(info, num_classes, pretrained)
    handler = source_handler(info)
    if pretrained:
        model = handler.pretrained(info, **kwargs)
        if num_classes is not None and num_classes != info.num_classes:
            from cnn_demo.models.surgery import get_head, replace_head

            replace_head(model, nn.Linear(get_head(model).in_features, num_classes))
    else:
        model = handler.random(info, num_classes or info.num_classes, seed, **kwargs)
    model.cnn_demo_name = name  # type: ignore[assignment]  # a plain attribute, read by model_name
    return model.eval()


def model_name(model: nn.Module) -> str | None:
    """The registry name a model was created under by :func:`create`, or None."""
    return getattr(model, "cnn_demo_name", None)


def class_names(name: str) -> tuple[str, ...]:
    """The labels of a network's pretrained output classes (ImageNet-1k, CIFAR-10, COCO, VOC, or "class i")."""
    info = get_info(name)
    return source_handler(info).class_names(info)


def data_config(name_or_model: str | nn.Module) -> DataConfig:
    """The :class:`DataConfig` of a classifier's name or of a model (from :func:`create`, or any timm model).

    Read by the row's source handler: torchvision models from their weights entry's ``transforms()``, timm models
    from their ``pretrained_cfg``; the CIFAR ResNets: 32×32 with the ImageNet mean/std their training code uses
    (timm.data constants); MyConvNet (untrained in the lecture): 32×32 with the same statistics.
    """
    if isinstance(name_or_model, nn.Module):
        name = model_name(name_or_model)
        if name is None:
            cfg = getattr(name_or_model, "pretrained_cfg", None)
            if cfg:
                from timm.data import resolve_model_data_config

                return timm_data_config(resolve_model_data_config(name_or_model), "timm pretrained_cfg")
            raise InputError("This model was not created by cnn_demo.models.create, so its input format is unknown.")
    else:
        name = name_or_model
    info = get_info(name)
    return source_handler(info).data_config(info)


@dataclass(frozen=True)
class ModelView:
    """A torchvision row of the table of models as pages show it: its names, its note, its weights entry's classes."""

    row: ModelInfo

    @property
    def name(self) -> str:
        """The torchvision builder name (the table's name)."""
        return self.row.name

    @property
    def title(self) -> str:
        """How pages name it."""
        return self.row.title

    @property
    def note(self) -> str:
        """One sentence on what sets it apart."""
        return self.row.description

    @property
    def weights_entry(self):
        """The torchvision weights entry: preprocessing, class names, reference accuracy, file name."""
        return self.row.torchvision_entry()

    @property
    def categories(self) -> list[str]:
        """Class names indexed by label (detectors: COCO category ids, ``__background__`` and ``N/A`` in the gaps)."""
        return list(self.weights_entry.meta["categories"])
