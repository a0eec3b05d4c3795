"""Small user-style modules and data for the bring-your-own-model tests (8x8 one-channel
images, three classes): an MLP, a CNN with batch norm, a residual block, a Sequential."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class MLP(nn.Module):
    def __init__(self, hidden: int = 24):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(64, hidden), nn.Linear(hidden, 3)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


class BNConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        # no bias before batch norm (it cancels; under Adam its pure-rounding gradient would
        # turn float rounding into steps of size lr)
        self.conv, self.bn = nn.Conv2d(1, 6, 3, padding=1, bias=False), nn.BatchNorm2d(6)
        self.head = nn.Linear(6 * 4 * 4, 3)

    def forward(self, x):
        return self.head(F.max_pool2d(F.relu(self.bn(self.conv(x))), 2).flatten(1))


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 4, 3, padding=1, bias=False)
        self.conv1 = nn.Conv2d(4, 4, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        x = F.relu(self.stem(x))
        x = F.relu(x + self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))))
        return self.fc(x.mean((2, 3)))


def sequential() -> nn.Sequential:
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.Tanh(), nn.Linear(16, 3))


NETS = {"mlp": MLP, "bn_cnn": BNConvNet, "residual": Residual, "sequential": sequential}


def make(name: str, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return NETS[name]()


def data(n: int = 240, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Images whose class is a fixed linear function of the pixels (learnable in a few steps)."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, 8, 8, generator=generator)
    w = torch.randn(64, 3, generator=torch.Generator().manual_seed(99))
    return x, (x.flatten(1) @ w).argmax(1)
