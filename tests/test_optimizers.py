"""The in-place optimizers follow PyTorch's update rules (SGD bit for bit, Adam to an ulp)."""

from __future__ import annotations

import pytest
import torch

from lottery.engine import optimizers


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


@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize("weight_decay", [0.0, 1e-2])
def test_adam_matches_pytorch_to_float_rounding(weight_decay, compiled):
    # ours takes the correctly rounded square root, PyTorch's CPU one is sometimes an ulp off
    ours = run(lambda p: optimizers.Adam(p, lr=1e-2, weight_decay=weight_decay,
                                         compiled=compiled), steps=20)
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


def adam_run(params: list[torch.Tensor], grads: list[list[torch.Tensor]],
             compiled: bool) -> list[torch.Tensor]:
    params = [torch.nn.Parameter(p.clone()) for p in params]
    optimizer = optimizers.Adam(params, lr=1e-2, weight_decay=1e-3, compiled=compiled)
    for step_grads in grads:
        for p, g in zip(params, step_grads, strict=True):
            p.grad = g.clone()
        optimizer.step()
    return [p.detach() for p in params]


@pytest.mark.parametrize("compiled", [True, False])
def test_adam_is_exact_per_element_batched_or_alone(compiled):
    # K stacked members and each member alone: bit-identical, whatever the tensor sizes
    generator = torch.Generator().manual_seed(1)
    shapes = [(5, 30, 7), (5, 30), (5, 3, 4, 3, 3), (5, 10), (5, 3)]
    params = [torch.randn(s, generator=generator) for s in shapes]
    grads = [[torch.randn(s, generator=generator) * (torch.rand(s, generator=generator) > 0.5)
              for s in shapes] for _ in range(6)]
    together = adam_run(params, grads, compiled)
    for k in range(5):
        alone = adam_run([p[k:k + 1] for p in params],
                         [[g[k:k + 1] for g in step] for step in grads], compiled)
        for a, b in zip(together, alone, strict=True):
            assert torch.equal(a[k:k + 1], b)


def test_compiled_adam_runs_on_channels_last_weights_and_matches_contiguous():
    generator = torch.Generator().manual_seed(2)
    weight = torch.randn(2, 8, 3, 3, 4, generator=generator).permute(0, 1, 4, 2, 3)
    grad = torch.randn(2, 8, 3, 3, 4, generator=generator).permute(0, 1, 4, 2, 3)
    assert optimizers.storage_order_flat(weight) is not None
    assert optimizers.storage_order_flat(weight[:, :, :2]) is None  # gapped: no flat view
    state = [torch.zeros_like(weight), torch.zeros_like(weight)]
    flat = [[optimizers.storage_order_flat(t) for t in (weight, grad, *state)]]
    assert optimizers.compiled_adam_update(flat, 0.1, 0.5, 0.9, 0.999, 1e-8)
    assert torch.count_nonzero(state[0]) > 0  # the moments were updated through the aliases
    contiguous = adam_run([weight.contiguous()], [[grad.contiguous()]], compiled=True)[0]
    permuted = adam_run([weight], [[grad]], compiled=True)[0]
    assert permuted.stride() == weight.stride()
    assert torch.equal(permuted, contiguous)


def test_compiled_adam_on_float64_takes_the_eager_update():
    # the C kernel is float32 only: other dtypes get the eager arithmetic, not an error
    params = [torch.randn(4, 5, dtype=torch.float64)]
    grads = [[torch.randn(4, 5, dtype=torch.float64)] for _ in range(3)]
    flat = [[torch.zeros(3, dtype=torch.float64) for _ in range(4)]]
    assert not optimizers.compiled_adam_update(flat, 0.1, 0.5, 0.9, 0.999, 1e-8)
    assert torch.equal(adam_run(params, grads, compiled=True)[0],
                       adam_run(params, grads, compiled=False)[0])
