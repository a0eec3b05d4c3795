"""An information-plane estimator that does not saturate: kernel bounds on a noisy layer.

Notebook 05 bins a layer's activations (Shwartz-Ziv & Tishby 2017). For a deterministic
network on N distinct inputs the binned I(X;T) is H(binned T), which at 30 bins is log2 N for
every LeNet layer (each input gets its own bin pattern) and at 4 bins moves only for the
10-unit output: the picture is the estimator's, not the network's (Saxe et al. 2018).

Here, as in Saxe et al. 2018 and Goldfeld et al. 2019, the layer is read through additive
Gaussian noise, T = h(X) + eps with eps ~ N(0, sigma^2 I), X uniform over the N inputs. T is then
an equal mixture of N Gaussians whose density is known exactly, so I(X;T) = E[log p(t|x) -
log p(t)] and I(T;Y) = E[log p(t|y) - log p(t)] are estimated by Monte Carlo: draw one t per
input, evaluate the three log densities exactly (:func:`noisy_information`). No binning, no
density estimate: the only error is the sampling of eps (a few hundredths of a bit at N =
2,000). The pairwise-distance bounds of Kolchinsky & Tracey 2017 (:func:`kde_bounds`: KL upper,
Bhattacharyya lower) bracket the same I(X;T) and check it.

Both quantities lie in [0, log2 N] and [0, H(Y)], and move with sigma. ``sigma`` is the
estimator's one choice: :func:`relative_sigma` sets sigma^2 to ``noise`` times the layer's total
variance (the sum of its units' variances), so the estimate reads how the inputs are arranged
in the layer relative to its own spread -- tight class clusters give high I(T;Y) and low
I(X;T), one spread cloud the reverse -- whatever the activations' scale. The caveat stands for
this estimator too: information-plane conclusions depend on the estimator and its noise level
(Saxe et al. 2018; Goldfeld et al. 2019), so the notebook shows the binned estimate beside it.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

LOG2 = math.log(2.0)


def squared_distances(a: Tensor, b: Tensor | None = None) -> Tensor:
    """``(N, M)`` squared Euclidean distances between the rows of ``a`` ``(N, units)`` and of
    ``b`` (default ``a``), in float64, clamped at 0 (rounding)."""
    a = a.detach().double().flatten(1)
    b = a if b is None else b.detach().double().flatten(1)
    return ((a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T).clamp_(min=0.0)


def _mixture_bound(distances: Tensor, scale: float) -> float:
    """-1/N sum_i log2 1/N sum_j exp(-d_ij / scale), in bits."""
    n = distances.shape[0]
    inner = torch.logsumexp(-distances / scale, dim=1) - math.log(n)
    return float(-inner.mean() / LOG2)


def kde_bounds(h: Tensor, sigma: float) -> tuple[float, float]:
    """(lower, upper) bounds in bits on I(X;T) for T = h(X) + N(0, sigma^2 I) over the rows of
    ``h`` as equally likely inputs."""
    if not sigma > 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    d = squared_distances(h)
    return _mixture_bound(d, 8 * sigma**2), _mixture_bound(d, 2 * sigma**2)


def relative_sigma(h: Tensor, noise: float) -> float:
    """The noise level sqrt(noise x total variance of the layer) (a constant layer: 1)."""
    total = float(h.detach().double().flatten(1).var(0, unbiased=False).sum())
    return math.sqrt(noise * total) if total > 0 else 1.0


def entropy_bits(labels: Tensor) -> float:
    _, counts = torch.unique(labels, return_counts=True)
    p = counts.double() / labels.numel()
    return float(-(p * p.log2()).sum())


def _class_log_density(log_kernel: Tensor, labels: Tensor) -> Tensor:
    """Per sample i, log of the mixture density of its own class: log mean over j with
    y_j = y_i of the kernel."""
    out = torch.empty(log_kernel.shape[0], dtype=log_kernel.dtype)
    for c in torch.unique(labels):
        rows = labels == c
        out[rows] = torch.logsumexp(log_kernel[rows][:, rows], dim=1) - math.log(int(rows.sum()))
    return out


def noisy_information(h: Tensor, labels: Tensor, sigma: float, seed: int = 20_170_309
                      ) -> dict[str, float]:
    """I(X;T) and I(T;Y) in bits of T = h(X) + N(0, sigma^2 I), X uniform over the rows of
    ``h`` ``(N, units)``, Y = ``labels``: one Monte Carlo draw of T per input, exact mixture
    densities (seeded: the same call gives the same numbers)."""
    if not sigma > 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    h = h.detach().double().flatten(1).cpu()
    labels = labels.detach().reshape(-1).cpu()
    n = h.shape[0]
    z = torch.randn(h.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    log_kernel = -squared_distances(h + sigma * z, h) / (2 * sigma**2)  # sample i, centre j
    log_t = torch.logsumexp(log_kernel, dim=1) - math.log(n)
    log_t_given_x = -(z * z).sum(1) / 2   # the kernel at the sample's own centre
    log_t_given_y = _class_log_density(log_kernel, labels)
    return {"I(X;T)": float((log_t_given_x - log_t).mean() / LOG2),
            "I(T;Y)": float((log_t_given_y - log_t).mean() / LOG2),
            "H(Y)": entropy_bits(labels), "log2 N": math.log2(n)}
