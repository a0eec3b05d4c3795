"""The in-place optimizers follow PyTorch's update rules (SGD bit for bit, Adam to an ulp)."""

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
def test_adam_matches_pytorch_to_float_rounding(weight_decay):
    # ours takes the correctly rounded square root, PyTorch's CPU one is sometimes an ulp off
    ours = run(lambda p: optimizers.Adam(p, lr=1e-2, weight_decay=weight_decay), steps=20)
    theirs = run(lambda p: torch.optim.Adam(p, lr=1e-2, weight_decay=weight_decay, foreach=True),
                 steps=20)
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
    # and it is not a trivially loose comparison: a one-step lr difference is caught
    other = run(lambda p: optimizers.Adam(p, lr=1.001e-2, weight_decay=weight_decay), steps=20)
    pairs = zip(ours, other, strict=True)
    assert not all(torch.allclose(a, b, rtol=1e-6, atol=1e-7) for a, b in pairs)


def test_ieee_sqrt_is_correctly_rounded_on_zeros_subnormals_and_strided_tensors():
    generator = torch.Generator().manual_seed(0)
    values = torch.cat([torch.rand(10_000, generator=generator) * 10.0 ** torch.randint(
        -30, 30, (10_000,), generator=generator), torch.zeros(100), torch.full((100,), 1e-41)])
    strided = values[:9_000].view(90, 100).t()  # not contiguous
    for source in (values, strided):
        out = torch.empty_like(source)
        optimizers.ieee_sqrt_(source, out)
        assert torch.equal(out, source.double().sqrt().float())


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
