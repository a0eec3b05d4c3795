"""The numpy emulation of the compiled Adam update gives the compiled kernel's bits."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import torch

from lottery import adam_emulation, optimizers

pytestmark = pytest.mark.usefixtures("one_thread")


def exact_fma32(a: float, b: float, c: float) -> np.float32:
    """a * b + c computed exactly, then rounded to float32 once (via a float64 rounded to odd
    is what we test, so this goes through exact fractions and a nearest-float32 search)."""
    exact = Fraction(a) * Fraction(b) + Fraction(c)
    guess = np.float32(float(exact))
    candidates = [np.nextafter(guess, np.float32(-np.inf)), guess,
                  np.nextafter(guess, np.float32(np.inf))]
    return min(candidates, key=lambda x: (abs(Fraction(float(x)) - exact),
                                          int(np.array(x).view(np.int32)) & 1))


def test_fma32_rounds_once_where_rounding_through_float64_rounds_twice():
    # 1 + 2^-23 + (1 + 2^-23)(1 - 2^-23) 2^-24 = 1 + 2^-23 + 2^-24 - 2^-70: just below the
    # float32 midpoint, but float64 rounds it onto the midpoint, which then ties to even (up)
    a, b, c = 1 + 2.0 ** -23, (1 - 2.0 ** -23) * 2.0 ** -24, 1 + 2.0 ** -23
    arrays = np.array([a], np.float32), np.float32(b), np.array([c], np.float32)
    twice = np.float32(np.float64(arrays[0][0]) * np.float64(b) + np.float64(c))
    assert twice == np.float32(1 + 2.0 ** -22)  # the double rounding this must avoid
    assert adam_emulation.fma32(*arrays)[0] == np.float32(1 + 2.0 ** -23) == exact_fma32(a, b, c)


def test_fma32_matches_exact_arithmetic_on_random_and_subnormal_inputs():
    rng = np.random.default_rng(0)
    a = (rng.standard_normal(3000) * 10.0 ** rng.integers(-25, 5, 3000)).astype(np.float32)
    c = (rng.standard_normal(3000) * 10.0 ** rng.integers(-45, 5, 3000)).astype(np.float32)
    a[:100], c[100:200] = 0, 0
    b = np.float32(1 - 0.999)
    got = adam_emulation.fma32(a, b, c)
    want = np.array([exact_fma32(float(x), float(b), float(z)) for x, z in zip(a, c,
                                                                               strict=True)])
    assert np.array_equal(got.view(np.int32), want.astype(np.float32).view(np.int32))


def adversarial(n: int, generator: torch.Generator) -> torch.Tensor:
    """Values over 40 orders of magnitude, with exact zeros and subnormals among them."""
    x = torch.randn(n, generator=generator) * torch.exp(torch.randn(n, generator=generator) * 8)
    x[::7], x[3::11] = 0.0, 1e-40
    return x


def moments(sizes, generator):
    return [[adversarial(n, generator), adversarial(n, generator) * 1e-2,
             adversarial(n, generator).abs() * 1e-3] for n in sizes]


@pytest.fixture
def compiler(monkeypatch):
    """The compiled kernel, never the emulation."""
    monkeypatch.setattr(optimizers, "EMULATED_UPDATES", 0)


def test_emulation_gives_the_compiled_kernels_bits_step_after_step(compiler):
    generator = torch.Generator().manual_seed(0)
    sizes = (40_000, 301, 15, 1)  # vector bodies and tails of every length class
    compiled = moments(sizes, generator)
    emulated = [[t.clone() for t in tensors] for tensors in compiled]
    for step in range(1, 16):
        grads = [adversarial(n, generator) for n in sizes]
        scalars = (1e-3 / (1 - 0.9 ** step), math.sqrt(1 - 0.999 ** step), 0.9, 0.999, 1e-8)
        optimizers._run_kernel([[p, g.clone(), m, v] for (p, m, v), g in
                                zip(compiled, grads, strict=True)], *scalars)
        adam_emulation.update([[p, g, m, v] for (p, m, v), g in
                               zip(emulated, grads, strict=True)], *scalars)
        for mine, theirs in zip(emulated, compiled, strict=True):
            for a, b in zip(mine, theirs, strict=True):
                assert torch.equal(a.view(torch.int32), b.view(torch.int32)), step


def adam_steps(steps: int = 4) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(5)
    params = [torch.nn.Parameter(torch.randn(s, generator=generator)) for s in [(3, 50), (3,)]]
    optimizer = optimizers.Adam(params, lr=1e-2, weight_decay=1e-3, compiled=True)
    for _ in range(steps):
        for p in params:
            p.grad = torch.randn(p.shape, generator=generator)
        optimizer.step()
    return [p.detach().clone() for p in params]


def fresh_process(monkeypatch, budget: int) -> None:
    """The module as in a new process with ``budget`` element updates to emulate."""
    monkeypatch.setattr(optimizers, "EMULATED_UPDATES", budget)
    monkeypatch.setattr(optimizers, "_emulated", 0)
    monkeypatch.setattr(optimizers, "_kernel_ran", False)
    monkeypatch.setattr(optimizers, "_compile_failed", False)


def test_a_run_switching_from_emulation_to_the_compiler_gets_the_compiled_numbers(monkeypatch):
    fresh_process(monkeypatch, budget=0)
    compiled = adam_steps()
    fresh_process(monkeypatch, budget=2 * 153)  # two steps of 153 weights, then compiled
    switched = adam_steps()
    assert optimizers._emulated == 2 * 153 and optimizers._kernel_ran
    fresh_process(monkeypatch, budget=10 ** 9)
    emulated = adam_steps()
    assert not optimizers._kernel_ran
    for a, b, c in zip(compiled, switched, emulated, strict=True):
        assert torch.equal(a, b) and torch.equal(a, c)


def test_a_compiler_failing_after_emulated_steps_keeps_the_same_arithmetic(monkeypatch):
    fresh_process(monkeypatch, budget=0)
    compiled = adam_steps()
    fresh_process(monkeypatch, budget=2 * 153)

    def broken(*args):
        raise RuntimeError("no C++ compiler")
    monkeypatch.setattr(optimizers, "_kernel", broken)
    with pytest.warns(RuntimeWarning, match="the same numbers"):
        fell_back = adam_steps()
    assert optimizers._compile_failed
    assert all(torch.equal(a, b) for a, b in zip(compiled, fell_back, strict=True))


def test_only_float32_cpu_tensors_and_small_lerp_weights_are_emulated():
    flat = [[torch.zeros(3) for _ in range(4)]]
    assert adam_emulation.supported(flat, beta1=0.9)
    assert not adam_emulation.supported(flat, beta1=0.4)  # lerp weight 0.6: another formula
    assert not adam_emulation.supported([[t.double() for t in flat[0]]], beta1=0.9)


def test_end_emulation_sends_the_next_update_to_the_compiler(monkeypatch):
    fresh_process(monkeypatch, budget=10 ** 9)
    optimizers.end_emulation()
    adam_steps()
    assert optimizers._kernel_ran  # nothing emulated once the budget is spent


def test_a_calibration_times_the_compiled_update_not_the_emulated_start(monkeypatch):
    from lottery import calibration
    from lottery.presets import resolve

    fresh_process(monkeypatch, budget=10 ** 12)  # a fresh process would emulate for ages
    calibration.measure(resolve("lenet", "smoke"), 2, "cpu")
    assert optimizers._emulated == optimizers.EMULATED_UPDATES and optimizers._kernel_ran
