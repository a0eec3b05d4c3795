"""REFERENCE POINT for the speed benchmark: a plain masked LeNet-300-100, written the way common
Lottery Ticket reimplementations do it.

This is deliberately an ordinary, fair PyTorch training loop and NOT tuned, nor slowed down:

- an ``nn.Module`` with three ``nn.Linear`` layers (784-300-100-10, ReLU);
- ``torch.utils.data.DataLoader`` over a ``TensorDataset`` (already-normalized tensors in memory,
  so there is no PIL/transform cost), ``shuffle=True``, ``batch_size=60``, ``num_workers=0``;
- ``model.train()``, ``torch.optim.Adam`` with its default kernel choice, cross-entropy loss;
- pruning enforced by multiplying every prunable weight by its mask after each optimizer step
  (and once before training).

``benchmarks/run.py`` times it against the member-batched engine in ``lottery.core.training``.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset


class LeNet300100(nn.Module):
    def __init__(self, in_features: int = 784, num_classes: int = 10):
        super().__init__()
        self.fc1 = nn.Linear(in_features, 300)
        self.fc2 = nn.Linear(300, 100)
        self.fc3 = nn.Linear(100, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = x.view(x.size(0), -1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def train_baseline(x: Tensor, y: Tensor, masks: Mapping[str, Tensor], iterations: int,
                   lr: float = 1.2e-3, batch_size: int = 60, seed: int = 0,
                   init_state: Mapping[str, Tensor] | None = None) -> LeNet300100:
    """Train a masked LeNet-300-100 for ``iterations`` steps; ``masks``: parameter name -> 0/1.

    ``init_state`` (optional) is a state dict for the ``nn.Module`` (e.g. the engine's member 0
    weights), so both implementations can start from the same network.
    """
    torch.manual_seed(seed)
    model = LeNet300100(x[0].numel())
    if init_state is not None:
        model.load_state_dict(init_state)
    params = dict(model.named_parameters())
    pairs = [(params[name], mask.to(params[name].dtype)) for name, mask in masks.items()]
    with torch.no_grad():
        for p, m in pairs:
            p.mul_(m)

    loader = DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True, num_workers=0,
                        generator=torch.Generator().manual_seed(seed))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    batches = iter(loader)
    for _ in range(iterations):
        try:
            inputs, targets = next(batches)
        except StopIteration:  # next epoch: a fresh shuffle
            batches = iter(loader)
            inputs, targets = next(batches)
        optimizer.zero_grad()
        loss = F.cross_entropy(model(inputs), targets)
        loss.backward()
        optimizer.step()
        with torch.no_grad():  # keep pruned weights at zero
            for p, m in pairs:
                p.mul_(m)
    return model
