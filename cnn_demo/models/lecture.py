"""The lecture's example network, MyConvNet, exactly as on the slide."""

from __future__ import annotations

import torch
from torch import nn


class MyConvNet(nn.Module):
    """The lecture's MyConvNet: two conv/ReLU layers with pooling, then a two-layer classifier.

    ``AdaptiveMaxPool2d((4, 4))`` makes it accept any input size of at least 2×2 pixels; the slide
    uses ten classes. ``num_classes`` is the one addition, so that the same network can be trained on
    other labels.
    """

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.feature = nn.Sequential(
            nn.Conv2d(3, 16, kernel_size=3, stride=1, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=2),
            nn.Conv2d(16, 32, kernel_size=3, stride=1, padding=1),
            nn.ReLU(),
            nn.AdaptiveMaxPool2d(output_size=(4, 4)),
            nn.Flatten(),
        )
        self.classifier = nn.Sequential(nn.Linear(32 * 4 * 4, 128), nn.ReLU(), nn.Linear(128, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores (logits) for a batch of 3-channel images."""
        x = self.feature(x)
        x = self.classifier(x)
        return x
