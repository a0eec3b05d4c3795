"""The C Adam kernel's arithmetic evaluated with numpy: the same bits, no compiler.

The CPU Adam update (:func:`lottery.engine.optimizers.compiled_adam_update`) runs a C kernel
(:mod:`lottery.engine.adam_kernel`) that computes, per float32 element:
``m = m + (g - m) * (1 - beta1)``; ``v = fma(g * g, 1 - beta2, v * beta2)``;
``p = p - m / (sqrt(v) / bias2_sqrt + eps) * step_size``, with the constants and scalars
rounded to float32 (:func:`constants`) and every operation correctly rounded (the fma once) --
the arithmetic of the inductor kernel it replaced. This module is its specification and its
fallback where no C compiler is available. numpy's float32 operations are correctly rounded
too, so the same sequence gives the same bits. numpy has no fma: it is computed in float64,
where the product is exact, and rounded once more to float32; that second rounding can only go
wrong for a sum landing exactly halfway between two float32s (or in float32's subnormal range),
and those few elements are settled with the sum's exact error (rounding to odd).
``tests/test_adam_kernel.py`` holds the kernel to this bit for bit.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

HALF_ULP = 1 << 28     # float64 mantissa bits below float32's: 29; a float32 midpoint has 1 << 28
LOW_BITS = (1 << 29) - 1
SMALLEST_NORMAL = 2.0 ** -126  # below it float32 keeps fewer bits: settle those exactly too


def supported(flat: list[list[Tensor]], beta1: float) -> bool:
    """Whether the kernel (and so this emulation) takes these tensors and ``beta1``."""
    # the kernel's m + (g - m) * w is lerp's formula for weights below one half; from one half
    # up PyTorch's lerp computes from the other end (g - (g - m) * (1 - w), accurate there), so
    # those take the eager update
    return 1 - beta1 < 0.5 and all(t.dtype == torch.float32 and t.device.type == "cpu"
                                   for tensors in flat for t in tensors)


def fma32(a: np.ndarray, b: np.float32, c: np.ndarray) -> np.ndarray:
    """Correctly rounded float32 ``a * b + c`` (a fused multiply-add: one rounding)."""
    product = a.astype(np.float64) * np.float64(b)  # exact: 24 + 24 bits fit in 53
    addend = c.astype(np.float64)
    total = product + addend
    bits = total.view(np.int64)
    doubtful = ((bits & LOW_BITS) == HALF_ULP) | (np.abs(total) < SMALLEST_NORMAL)
    doubtful &= total != 0  # a float64 sum of zero is exact
    if doubtful.any():
        _round_to_odd(total, product, addend, doubtful)
    return total.astype(np.float32)


def _round_to_odd(total: np.ndarray, product: np.ndarray, addend: np.ndarray,
                  where: np.ndarray) -> None:
    """Replace ``total`` (a float64 sum) where asked by the sum rounded to odd, whose rounding
    to float32 is the correctly rounded float32 sum."""
    s, p, c = total[where], product[where], addend[where]
    back = s - p
    error = (p - (s - back)) + (c - back)  # the exact s - (p + c), by two-sum
    even = (s.view(np.int64) & 1) == 0
    nudge = (error != 0) & even & np.isfinite(error)
    s[nudge] = np.nextafter(s[nudge], np.where(error[nudge] > 0, np.inf, -np.inf))
    total[where] = s


def constants(step_size: float, bias2_sqrt: float, beta1: float, beta2: float,
              eps: float) -> tuple[np.float32, ...]:
    """The update's float32 constants: weight, rest, decay, bias, eps, size."""
    f = np.float32
    return f(1 - beta1), f(1 - beta2), f(beta2), f(bias2_sqrt), f(eps), f(step_size)


def update(flat: list[list[Tensor]], step_size: float, bias2_sqrt: float, beta1: float,
           beta2: float, eps: float) -> None:
    """The kernel's Adam update of each ``[param, grad, exp_avg, exp_avg_sq]`` set, in place."""
    weight, rest, decay, bias, epsilon, size = constants(step_size, bias2_sqrt, beta1, beta2,
                                                         eps)
    for tensors in flat:
        p, g, m, v = (t.detach().numpy() for t in tensors)
        m += (g - m) * weight
        v[...] = fma32(g * g, rest, v * decay)
        denominator = np.sqrt(v) / bias
        denominator += epsilon
        p -= (m / denominator) * size
