"""Initialization schemes of one member's weight tensor, the paper's and the common others.

Frankle & Carbin (2019) initialize every network with Gaussian Glorot (Glorot & Bengio 2010),
``std = sqrt(2 / (fan_in + fan_out))``. Notebook 08 asks whether winning tickets, and their gap
to a random reinitialization, survive other schemes:

- ``kaiming_normal``: He et al. 2015, ``N(0, 2 / fan_in)`` (for ReLU layers);
- ``kaiming_uniform``: the same variance from ``U(-b, b)``, ``b = sqrt(6 / fan_in)``;
- ``orthogonal``: Saxe et al. 2014, the weight flattened to (fan_out / receptive, fan_in) has
  orthonormal rows or columns, so each entry's variance is ``1 / max(rows, cols)``;
- ``glorot_normal_x2``: Glorot with twice the standard deviation (a scaled variance, x4).

Fan sizes are ``xavier_normal_``'s: a convolution's receptive field counts in both. Every scheme
draws from the member's own generator, so a (model, seed, scheme) triple gives the same weights
on every run and device. Each scheme comes with the standard deviation it implies
(:func:`expected_std`), which the tests check the draws against.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from lottery.engine.members import glorot_normal_

DEFAULT = "glorot_normal"


def fans(shape: torch.Size | tuple[int, ...]) -> tuple[int, int]:
    """(fan_in, fan_out) of a member weight ``(out, in, *kernel)``."""
    receptive = math.prod(shape[2:]) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def _normal(weight: Tensor, generator: torch.Generator, std: float) -> Tensor:
    with torch.no_grad():
        return weight.copy_(torch.randn(weight.shape, generator=generator,
                                        dtype=weight.dtype) * std)


def _kaiming_normal(weight: Tensor, generator: torch.Generator) -> Tensor:
    return _normal(weight, generator, expected_std("kaiming_normal", weight.shape))


def _kaiming_uniform(weight: Tensor, generator: torch.Generator) -> Tensor:
    bound = math.sqrt(3.0) * expected_std("kaiming_uniform", weight.shape)
    values = torch.rand(weight.shape, generator=generator, dtype=weight.dtype)
    with torch.no_grad():
        return weight.copy_((2 * values - 1) * bound)


def _orthogonal(weight: Tensor, generator: torch.Generator) -> Tensor:
    rows = weight.shape[0]
    cols = weight.numel() // rows
    gaussian = torch.randn((max(rows, cols), min(rows, cols)), generator=generator,
                           dtype=torch.float64)
    q, r = torch.linalg.qr(gaussian)
    q = q * torch.sign(torch.diagonal(r))  # the sign fix that makes q Haar-distributed
    q = q if rows >= cols else q.T
    with torch.no_grad():
        return weight.copy_(q.reshape(weight.shape).to(weight.dtype))


def _glorot_x2(weight: Tensor, generator: torch.Generator) -> Tensor:
    return _normal(weight, generator, expected_std("glorot_normal_x2", weight.shape))


SCHEMES: dict[str, Callable[[Tensor, torch.Generator], Tensor]] = {
    "glorot_normal": glorot_normal_,   # the paper's: keep this exact function (stored weights)
    "kaiming_normal": _kaiming_normal,
    "kaiming_uniform": _kaiming_uniform,
    "orthogonal": _orthogonal,
    "glorot_normal_x2": _glorot_x2,
}


def expected_std(scheme: str, shape: torch.Size | tuple[int, ...]) -> float:
    """The standard deviation of one entry that ``scheme`` draws for a weight of ``shape``."""
    fan_in, fan_out = fans(shape)
    if scheme == "glorot_normal":
        return math.sqrt(2.0 / (fan_in + fan_out))
    if scheme == "glorot_normal_x2":
        return 2.0 * math.sqrt(2.0 / (fan_in + fan_out))
    if scheme in ("kaiming_normal", "kaiming_uniform"):
        return math.sqrt(2.0 / fan_in)
    if scheme == "orthogonal":
        rows = shape[0]
        return 1.0 / math.sqrt(max(rows, math.prod(shape) // rows))
    raise ValueError(f"unknown init scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")


def initialize_(weight: Tensor, generator: torch.Generator, scheme: str = DEFAULT) -> Tensor:
    """Draw ``weight`` (one member's) in place under ``scheme``."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown init scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")
    return SCHEMES[scheme](weight, generator)
