"""The model inspector's data: layer table, totals and backbone/head split of a registered model.

Models are built on the meta device (structure and shapes without weights), so even VGG-16 is inspected in a
fraction of a second and nothing shared is touched.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import torch
from torch import nn

from cnn_demo import models
from cnn_demo.errors import InputError

#: What the blocks the inspector names are made of (a block type's class name → one sentence).
BLOCK_NOTES: Mapping[str, str] = MappingProxyType(
    {
        "DepthwiseSeparableConv": "a depthwise k×k convolution (one filter per channel) then a pointwise 1×1 "
        "convolution that mixes the channels: a k×k convolution for far fewer parameters and multiply-adds",
        "InvertedResidual": "a pointwise 1×1 convolution expands the channels, a depthwise k×k convolution filters "
        "each channel, a pointwise 1×1 convolution projects back to a few channels, with a skip connection "
        "around it when the shapes match (MobileNetV2's inverted residual with a linear bottleneck)",
        "MBConv": "EfficientNet's inverted residual: 1×1 expansion, depthwise k×k, squeeze-and-excitation, 1×1 "
        "projection, and a skip connection",
        "BasicBlock": "two 3×3 convolutions with a skip connection that adds the block's input to its output",
        "Bottleneck": "1×1 (fewer channels), 3×3, 1×1 (more channels) convolutions with a skip connection",
        "CNBlock": "ConvNeXt's block: a depthwise 7×7 convolution, LayerNorm, an MLP of two 1×1 layers, a skip",
    }
)


@dataclass(frozen=True)
class BlockCount:
    """One kind of building block of a model: its class name, how many there are and the first one's name."""

    type: str
    count: int
    first: str

    @property
    def note(self) -> str:
        """What the block is made of, or "" for a type without a note."""
        return BLOCK_NOTES.get(self.type, "")


def conv_kind(module: nn.Module) -> str:
    """``"depthwise 3×3"``, ``"pointwise 1×1"``, ``"grouped (g groups)"`` or ``"standard 3×3"`` for a convolution
    (every convolution gets a kind, so the layer table's *conv* column is never blank for one), else ``""``."""
    if not isinstance(module, nn.Conv2d):
        return ""
    k = "×".join(map(str, module.kernel_size))
    if module.groups > 1 and module.groups == module.in_channels:
        return f"depthwise {k}"
    if module.groups > 1:
        return f"grouped ({module.groups} groups)"
    return "pointwise 1×1" if module.kernel_size == (1, 1) else f"{STANDARD} {k}"


#: The kind of an ordinary convolution: every filter reads every input channel.
STANDARD = "standard"


def building_blocks(model: nn.Module) -> tuple[BlockCount, ...]:
    """The outermost modules that hold convolutions and are not plain containers (``Sequential`` and its
    subclasses, ``ModuleList``, ``ModuleDict``): ResNet's ``BasicBlock``, MobileNetV2's ``InvertedResidual``,
    EfficientNet-Lite's ``DepthwiseSeparableConv`` and ``InvertedResidual``; empty for AlexNet."""
    containers = (nn.Sequential, nn.ModuleList, nn.ModuleDict)
    counts: dict[str, list] = {}

    def visit(prefix: str, module: nn.Module) -> None:
        for child_name, child in module.named_children():
            name = f"{prefix}{child_name}"
            has_conv = any(isinstance(m, nn.Conv2d) for m in child.modules())
            if not has_conv:
                continue
            if isinstance(child, containers) or not any(True for _ in child.children()):
                visit(f"{name}.", child)
                continue
            kind = type(child).__name__
            counts.setdefault(kind, [0, name])[0] += 1

    visit("", model)
    return tuple(BlockCount(kind, n, first) for kind, (n, first) in counts.items())


@dataclass(frozen=True)
class ModelReport:
    """Everything the inspector page shows about one model at one input size."""

    name: str
    info: models.ModelInfo
    summary: models.ModelSummary
    printed: str
    #: The final classification layer, the one fine-tuning replaces (AlexNet's ``classifier.6``).
    head: str
    head_params: int
    num_features: int
    stage_names: tuple[str, ...]
    backbone_params: int
    #: The lecture's split: the top-level block holding the final linear layers (the head, AlexNet's
    #: ``classifier``) and the blocks before it (the backbone: ``features``, ``avgpool``).
    classifier: str
    classifier_params: int
    classifier_in_features: int
    feature_blocks: tuple[str, ...]
    feature_params: int
    #: The model's building blocks (InvertedResidual, BasicBlock, ...) in the order they first appear.
    blocks: tuple[BlockCount, ...] = ()
    #: Layer name → "depthwise 3×3", "pointwise 1×1", "standard 3×3", ... for every convolution.
    conv_kinds: dict[str, str] = field(default_factory=dict)

    def conv_kind_counts(self) -> list[tuple[str, int]]:
        """How many convolutions of each special kind (``("pointwise 1×1", 32)``, ...; standard ones are not
        counted), the most frequent first."""
        return Counter(k for k in self.conv_kinds.values() if not k.startswith(STANDARD)).most_common()

    def records(self) -> list[dict]:
        """The layer table: the summary's rows with each convolution's kind (depthwise, pointwise) beside its type."""
        return [
            {"name": r["name"], "type": r["type"], "conv": self.conv_kinds.get(r["name"], ""), **r}
            for r in self.summary.records()
        ]


def model_report(name: str, input_size: tuple[int, int, int] | None = None) -> ModelReport:
    """Layer table and structure of the registered model ``name`` for ``input_size`` (C, H, W)."""
    info = models.get_info(name)
    size = tuple(input_size) if input_size is not None else info.input_size
    with torch.device("meta"):
        model = models.create(name, pretrained=False)
    try:
        summary = models.summarize(model, size)
    except InputError as exc:
        smallest = smallest_input_side(model, size[0])
        if smallest is None:
            raise
        raise InputError(f"{exc} Height and width must each be at least {smallest} pixels.") from exc
    head_path = models.head_path(model)
    head = model.get_submodule(head_path)
    assert isinstance(head, nn.Linear)
    stage_names = tuple(n for n, _ in models.named_stages(model))
    head_params = sum(p.numel() for p in head.parameters())
    block, block_names = _classifier_block(model, head_path)
    classifier = model.get_submodule(block)
    classifier_params = sum(p.numel() for p in classifier.parameters())
    first_linear = next(m for m in classifier.modules() if isinstance(m, nn.Linear))
    return ModelReport(
        name=name,
        info=info,
        summary=summary,
        printed=str(model),
        head=head_path,
        head_params=head_params,
        num_features=head.in_features,
        stage_names=stage_names,
        backbone_params=summary.total_params - head_params,
        classifier=block,
        classifier_params=classifier_params,
        classifier_in_features=first_linear.in_features,
        feature_blocks=block_names,
        feature_params=summary.total_params - classifier_params,
        blocks=building_blocks(model),
        conv_kinds={n: kind for n, m in model.named_modules() if (kind := conv_kind(m))},
    )


def _classifier_block(model: nn.Module, head_path: str) -> tuple[str, tuple[str, ...]]:
    """The top-level block holding the final linear layer (AlexNet's ``classifier``) and the blocks before it."""
    block = head_path.split(".")[0]
    names = [n for n, _ in model.named_children()]
    return block, tuple(names[: names.index(block)])


def smallest_input_side(model: nn.Module, channels: int, limit: int = 1024) -> int | None:
    """The smallest S for which ``model`` (built on the meta device) takes a ``channels``×S×S input.

    Convolutions and pooling treat rows and columns alike, so S is also the least height and the least width.
    None when even ``limit`` fails (a model that needs one fixed size, say). Bisects, assuming that larger
    inputs keep working.
    """

    def works(side: int) -> bool:
        try:
            models.summarize(model, (channels, side, side))
        except InputError:
            return False
        return True

    lo, hi = 0, limit  # lo fails, hi works
    if not works(hi):
        return None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if works(mid) else (mid, hi)
    return hi
