"""MTCNN's three CNNs (Zhang et al., 2016) as plain torch modules, and their pretrained weights.

The layer names are those of facenet-pytorch's P-Net, R-Net and O-Net, so the state dicts its wheel ships
(``facenet_pytorch/data/{pnet,rnet,onet}.pt``) load unchanged under the prefixes ``pnet.``, ``rnet.``, ``onet.``
(:data:`cnn_demo.weights.PACKAGED`). The Python package itself is never imported: only its weight files are read,
verified against their recorded sha256 digests.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from cnn_demo import weights
from cnn_demo.models import SourceHandler, create, register_source
from cnn_demo.weights import ModelInfo

#: MTCNN's name in the table of models (``python -m cnn_demo weights list``).
WEIGHTS_NAME = "mtcnn"


def _channels_last(x: torch.Tensor) -> torch.Tensor:
    """Channels-last memory for the convolutions and max pools: the same numbers, on a CPU about 2–5× faster for
    these few-channel layers (a 3×3 max pool over 722 R-Net crops: 16 ms instead of 89 ms)."""
    return x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x


class PNet(nn.Module):
    """Proposal network: a 12×12 face/non-face classifier with box regression, fully convolutional.

    On a 12×12 input its output is 1×1; on a larger image the same weights slide over it with stride 2 (the max
    pool), so one pass scores every 12×12 window at once: a face-probability map.
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 10, kernel_size=3)
        self.prelu1 = nn.PReLU(10)
        self.pool1 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(10, 16, kernel_size=3)
        self.prelu2 = nn.PReLU(16)
        self.conv3 = nn.Conv2d(16, 32, kernel_size=3)
        self.prelu3 = nn.PReLU(32)
        self.conv4_1 = nn.Conv2d(32, 2, kernel_size=1)  # face / not face
        self.conv4_2 = nn.Conv2d(32, 4, kernel_size=1)  # box corrections

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(box regression (N, 4, H', W'), face probability (N, H', W')) for normalised images (N, 3, H, W)."""
        x = _channels_last(x)
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
        return self.conv4_2(x), torch.softmax(self.conv4_1(x), dim=1)[:, 1]


class RNet(nn.Module):
    """Refinement network: classifies 24×24 crops of P-Net's proposals and corrects their boxes."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 28, kernel_size=3)
        self.prelu1 = nn.PReLU(28)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(28, 48, kernel_size=3)
        self.prelu2 = nn.PReLU(48)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3 = nn.Conv2d(48, 64, kernel_size=2)
        self.prelu3 = nn.PReLU(64)
        self.dense4 = nn.Linear(576, 128)
        self.prelu4 = nn.PReLU(128)
        self.dense5_1 = nn.Linear(128, 2)
        self.dense5_2 = nn.Linear(128, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(box regression (N, 4), face probability (N,)) for normalised 24×24 crops (N, 3, 24, 24)."""
        x = _channels_last(x)
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.prelu3(self.conv3(x))
        x = x.permute(0, 3, 2, 1).reshape(x.shape[0], -1)  # the Caffe original flattens width first
        x = self.prelu4(self.dense4(x))
        return self.dense5_2(x), torch.softmax(self.dense5_1(x), dim=1)[:, 1]


class ONet(nn.Module):
    """Output network: classifies 48×48 crops, corrects the boxes and places five facial landmarks."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, kernel_size=3)
        self.prelu1 = nn.PReLU(32)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3)
        self.prelu2 = nn.PReLU(64)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3 = nn.Conv2d(64, 64, kernel_size=3)
        self.prelu3 = nn.PReLU(64)
        self.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv4 = nn.Conv2d(64, 128, kernel_size=2)
        self.prelu4 = nn.PReLU(128)
        self.dense5 = nn.Linear(1152, 256)
        self.prelu5 = nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(box regression (N, 4), landmarks (N, 10: five x then five y, relative to the box), face probability
        (N,)) for normalised 48×48 crops (N, 3, 48, 48)."""
        x = _channels_last(x)
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.pool3(self.prelu3(self.conv3(x)))
        x = self.prelu4(self.conv4(x))
        x = x.permute(0, 3, 2, 1).reshape(x.shape[0], -1)
        x = self.prelu5(self.dense5(x))
        return self.dense6_2(x), self.dense6_3(x), torch.softmax(self.dense6_1(x), dim=1)[:, 1]


class MTCNN(nn.Module):
    """The cascade's three networks in one module (state-dict keys ``pnet.*``, ``rnet.*``, ``onet.*``)."""

    def __init__(self) -> None:
        super().__init__()
        self.pnet = PNet()
        self.rnet = RNet()
        self.onet = ONet()


class FacenetSource(SourceHandler):
    """The ``facenet`` architecture source of the table of models: MTCNN, built here, seeded random weights by
    default (the same untrained cascade on every call)."""

    def build(self, info: ModelInfo, num_classes: int, **kwargs: Any) -> nn.Module:
        return MTCNN()

    def random(self, info: ModelInfo, num_classes: int, seed: int | None, **kwargs: Any) -> nn.Module:
        return super().random(info, num_classes, 0 if seed is None else seed, **kwargs)


register_source("facenet", FacenetSource())


def build_mtcnn(*, pretrained: bool = True) -> MTCNN:
    """MTCNN in eval mode with gradients off (``cnn_demo.models.create("mtcnn")``): the pretrained weights (verified,
    from the installed facenet-pytorch wheel or a converted copy in the weights folder), or seeded random ones for
    tests of the pipeline. Build it once for many images (pages share one through ``st.cache_resource``).

    A missing or damaged file raises :class:`~cnn_demo.weights.WeightsMissing` /
    :class:`~cnn_demo.weights.WeightsCorrupt`.
    """
    model = create(WEIGHTS_NAME, pretrained=pretrained)
    assert isinstance(model, MTCNN)
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def weights_available() -> bool:
    """Whether MTCNN's pretrained weights are on this machine (without hashing them)."""
    return weights.find(WEIGHTS_NAME) is not None
