"""The in-place optimizers follow PyTorch's update rules exactly."""

from __future__ import annotations

import pytest
import torch

from lottery import optimizers


def run(make, steps: int = 5) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(shape, generator=generator))
              for shape in [(30, 7), (30,), (3, 4, 3, 3)]]
    optimizer = make(params)
    for _ in range(steps):
        for p in params:
            p.grad = torch.randn(p.shape, generator=generator)
        optimizer.step()
    return [p.detach() for p in params]


@pytest.mark.parametrize("weight_decay", [0.0, 1e-2])
def test_adam_matches_pytorch_bit_for_bit(weight_decay):
    ours = run(lambda p: optimizers.Adam(p, lr=1e-2, weight_decay=weight_decay))
    theirs = run(lambda p: torch.optim.Adam(p, lr=1e-2, weight_decay=weight_decay, foreach=True))
    assert all(torch.equal(a, b) for a, b in zip(ours, theirs, strict=True))


@pytest.mark.parametrize("momentum, weight_decay", [(0.9, 1e-4), (0.0, 0.0)])
def test_sgd_matches_pytorch_bit_for_bit(momentum, weight_decay):
    ours = run(lambda p: optimizers.SGD(p, lr=0.1, momentum=momentum, weight_decay=weight_decay))
    theirs = run(lambda p: torch.optim.SGD(p, lr=0.1, momentum=momentum,
                                           weight_decay=weight_decay, foreach=True))
    assert all(torch.equal(a, b) for a, b in zip(ours, theirs, strict=True))


def test_adam_state_round_trips_through_state_dict():
    params = [torch.nn.Parameter(torch.ones(4))]
    optimizer = optimizers.Adam(params, lr=0.1)
    params[0].grad = torch.full((4,), 0.5)
    optimizer.step()
    restored = optimizers.Adam(params, lr=0.1)
    restored.load_state_dict(optimizer.state_dict())
    assert restored.state[params[0]]["step"] == 1
    assert torch.equal(restored.state[params[0]]["exp_avg"], optimizer.state[params[0]]["exp_avg"])
