"""The numpy emulation of the Adam kernel: its fused multiply-add rounds once."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch

from lottery.engine import adam_emulation, optimizers

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


def test_only_float32_cpu_tensors_and_small_lerp_weights_are_supported():
    flat = [[torch.zeros(3) for _ in range(4)]]
    assert adam_emulation.supported(flat, beta1=0.9)
    assert not adam_emulation.supported(flat, beta1=0.4)  # lerp weight 0.6: another formula
    assert not adam_emulation.supported([[t.double() for t in flat[0]]], beta1=0.9)


def test_unsupported_updates_take_the_eager_path_unchanged():
    # the kernel's formula is not PyTorch's lerp for a weight of one half or more
    flat = [[torch.ones(3), torch.full((3,), 2.0), torch.zeros(3), torch.zeros(3)]]
    assert not optimizers.compiled_adam_update(flat, 1e-3, 1.0, beta1=0.4, beta2=0.999,
                                               eps=1e-8)
    assert torch.equal(flat[0][0], torch.ones(3)) and torch.equal(flat[0][2], torch.zeros(3))
