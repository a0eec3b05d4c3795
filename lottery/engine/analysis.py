"""What winning tickets look like: distances, linear mode connectivity, mask overlap, ticket
properties and the information plane.

Pure functions over one member's :data:`~lottery.engine.members.State` (name -> tensor) and
:class:`~lottery.engine.masks.Mask` objects; :func:`error_along_line` is the one that builds and
runs a (member-batched) model. Sources: Frankle et al. 2019 "Stabilizing the LTH" (L2 distances),
Frankle et al. 2020 "Linear Mode Connectivity and the LTH" (error barrier), Grosse & Backes 2020
(mask overlap against chance), Shwartz-Ziv & Tishby 2017 (information plane).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from itertools import islice

import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lottery.engine.data import Split, evaluation_batches
from lottery.engine.masks import Mask
from lottery.engine.members import MemberBatchNorm2d, State, load_member_state
from lottery.engine.models import build

OVERALL = "(all prunable)"  # the summary row's label, as in Mask.report()

# --------------------------------------------------------------------------------- distances


def l2_distance(a: State, b: State, names: Sequence[str] | None = None,
                mask: Mask | None = None) -> float:
    """L2 distance between two states over ``names`` (default: the mask's layers), within ``mask``.

    With a mask, only the weights it keeps count: stability to pruning compares a ticket's final
    weights with the dense network's final weights on the ticket's mask (Frankle et al. 2019).
    """
    if names is None:
        if mask is None:
            raise ValueError("name the weights to compare: pass names= or mask=")
        names = list(mask)
    total = 0.0
    for name in names:
        diff = a[name].double().cpu() - b[name].double().cpu()
        if mask is not None:
            diff = diff * mask[name]
        total += float(diff.square().sum())
    return math.sqrt(total)


# ------------------------------------------------------------------ linear mode connectivity


def interpolate(a: State, b: State, alpha: float) -> State:
    """The state ``(1 - alpha) * a + alpha * b`` (exactly ``a`` at 0 and ``b`` at 1)."""
    if set(a) != set(b):
        raise KeyError(f"states differ in entries: {sorted(set(a) ^ set(b))}")
    return {name: (1.0 - alpha) * a[name] + alpha * b[name] if a[name].is_floating_point()
            else a[name].clone() for name in a}


def alphas(points: int) -> Tensor:
    """The ``points`` evenly spaced interpolation weights from 0 to 1 used along a line."""
    if points < 2:
        raise ValueError(f"need at least the two endpoints; got points={points}")
    return torch.linspace(0.0, 1.0, points, dtype=torch.float64)


def has_batch_norm(model: nn.Module) -> bool:
    """True when the model holds batch norm layers (resnet18, vgg19)."""
    return any(isinstance(m, MemberBatchNorm2d) for m in model.modules())


def recompute_batch_norm(model: nn.Module, batches: Iterable[Tensor]) -> int:
    """Reset every batch norm's running statistics and re-estimate them as the plain average of
    the per-batch statistics over ``batches`` (no grad); returns the number of batches used.

    Interpolated running statistics do not describe the interpolated network, so they are
    recomputed (as in Frankle et al. 2020). Only the batch norms run in train mode, so dropout
    stays off; every module's mode and momentum are restored afterwards.
    """
    norms = [m for m in model.modules() if isinstance(m, MemberBatchNorm2d)]
    modes = {m: m.training for m in model.modules()}
    momenta = [norm.momentum for norm in norms]
    count = 0
    try:
        model.eval()
        for norm in norms:
            norm.running_mean.zero_()
            norm.running_var.fill_(1.0)
            norm.train()
        with torch.no_grad():
            for count, x in enumerate(batches, 1):
                for norm in norms:  # momentum 1/t makes the running buffers a cumulative mean
                    norm.momentum = 1.0 / count
                model(x)
    finally:
        for module, mode in modes.items():
            module.train(mode)
        for norm, momentum in zip(norms, momenta, strict=True):
            norm.momentum = momentum
    if norms and count == 0:
        raise ValueError("no batches to recompute the batch norm statistics from")
    return count


def member_errors(model: nn.Module, split: Split, batch_size: int = 1000) -> Tensor:
    """Test error (fraction misclassified) of every member on ``split``: a ``(K,)`` CPU tensor."""
    was_training = model.training
    model.eval()
    wrong = torch.zeros(model.members, dtype=torch.float64)
    with torch.no_grad():
        for x, y in evaluation_batches(split, batch_size):
            wrong += (model(x).argmax(-1) != y).sum(1).double().cpu()
    model.train(was_training)
    return wrong / len(split)


def error_along_line(model_name: str, a: State, b: State, split: Split, points: int = 11, *,
                     bn_data: Split | None = None, bn_batches: int = 10, batch_size: int = 1000,
                     num_classes: int = 10) -> Tensor:
    """Error on ``split`` of the networks at :func:`alphas` ``(points)`` between ``a`` and ``b``.

    The interpolated networks are the members of one model on ``split``'s device. Models with
    batch norm need ``bn_data`` (a training split): their statistics are recomputed from its
    first ``bn_batches`` batches (unaugmented), also at the endpoints.
    """
    input_shape = tuple(split.x.shape[1:])
    model = build(model_name, seeds=[0] * points, input_shape=input_shape,
                  num_classes=num_classes)
    for k, alpha in enumerate(alphas(points).tolist()):
        load_member_state(model, k, interpolate(a, b, alpha))
    model.to(split.device)
    if has_batch_norm(model):
        if bn_data is None:
            raise ValueError(f"{model_name} has batch norm: pass bn_data (a training split)")
        batches = islice(evaluation_batches(bn_data, batch_size), bn_batches)
        recompute_batch_norm(model, (x.to(split.device) for x, _ in batches))
    return member_errors(model, split, batch_size)


def instability(errors: Sequence[float] | Tensor) -> float:
    """The error barrier: the highest error along the line minus the mean of its endpoints'."""
    errors = torch.as_tensor(errors, dtype=torch.float64)
    return float(errors.max() - (errors[0] + errors[-1]) / 2)


# ------------------------------------------------------------------------------ mask overlap


def _counts(m1: Mask | Tensor, m2: Mask | Tensor) -> tuple[int, int, int, int]:
    """(weights, kept by m1, kept by m2, kept by both), summed over a mask's layers."""
    if isinstance(m1, Tensor):
        m1, m2 = {"": m1}, {"": m2}
    if set(m1) != set(m2):
        raise KeyError(f"masks differ in layers: {sorted(set(m1) ^ set(m2))}")
    n = k1 = k2 = both = 0
    for name in m1:
        a, b = m1[name].bool(), m2[name].bool()
        n, k1, k2 = n + a.numel(), k1 + int(a.sum()), k2 + int(b.sum())
        both += int((a & b).sum())
    return n, k1, k2, both


def jaccard(m1: Mask | Tensor, m2: Mask | Tensor) -> float:
    """Kept by both / kept by either (over all of a mask's layers); NaN when neither keeps any."""
    _, k1, k2, both = _counts(m1, m2)
    union = k1 + k2 - both
    return both / union if union else math.nan


def shared_fraction(m1: Mask | Tensor, m2: Mask | Tensor) -> float:
    """Fraction of ``m1``'s kept weights that ``m2`` keeps too (asymmetric; NaN if m1 is empty)."""
    _, k1, _, both = _counts(m1, m2)
    return both / k1 if k1 else math.nan


def _log_choose(n: Tensor | float, k: Tensor | float) -> Tensor:
    n, k = torch.as_tensor(n, dtype=torch.float64), torch.as_tensor(k, dtype=torch.float64)
    return torch.lgamma(n + 1) - torch.lgamma(k + 1) - torch.lgamma(n - k + 1)


def chance_overlap(n: int, k1: int, k2: int) -> dict[str, float]:
    """Overlap of two independent uniformly random masks keeping k1 and k2 of n weights.

    The intersection is hypergeometric: mean k1 k2 / n and its standard deviation; the expected
    Jaccard index is computed exactly by summing over the intersection's distribution.
    """
    low, high = max(0, k1 + k2 - n), min(k1, k2)
    i = torch.arange(low, high + 1, dtype=torch.float64)
    log_p = _log_choose(k1, i) + _log_choose(n - k1, k2 - i) - _log_choose(n, k2)
    p = (log_p - log_p.max()).exp()
    p = p / p.sum()  # absorbs the rounding of the log-gamma differences
    union = k1 + k2 - i
    expected_jaccard = float((p * i / union).sum()) if k1 + k2 else math.nan
    variance = k1 * k2 * (n - k1) * (n - k2) / (n * n * (n - 1)) if n > 1 else 0.0
    return {"intersection": k1 * k2 / n, "intersection_sd": math.sqrt(variance),
            "jaccard": expected_jaccard, "shared_fraction": k2 / n}


def _overlap_row(layer: str, n: int, k1: int, k2: int, both: int,
                 chance: Mapping[str, float]) -> dict[str, object]:
    union = k1 + k2 - both
    row = {"layer": layer, "size": n, "kept_1": k1, "kept_2": k2, "kept_both": both,
           "jaccard": both / union if union else math.nan,
           "chance_jaccard": chance["jaccard"],
           "shared_fraction": both / k1 if k1 else math.nan,
           "chance_shared_fraction": chance["shared_fraction"]}
    row["jaccard_ratio"] = row["jaccard"] / chance["jaccard"] if chance["jaccard"] else math.nan
    expected, sd = chance["intersection"], chance["intersection_sd"]
    row["shared_ratio"] = both / expected if expected else math.nan
    row["z"] = (both - expected) / sd if sd else math.nan
    return row


def overlap_table(m1: Mask, m2: Mask) -> pd.DataFrame:
    """Per-layer and overall overlap of two masks, beside two independent random masks with the
    same per-layer counts.

    Columns: size, kept_1, kept_2, kept_both; jaccard and shared_fraction (of m1's kept weights
    also kept by m2), each with its chance value and ratio to chance; z = (kept_both - chance) /
    chance standard deviation. Per layer the chance Jaccard is exact; the overall row's is
    E[I] / (K1 + K2 - E[I]) with I the summed intersection (a ratio of expectations, accurate
    to O(1/E[I]) as I concentrates), while its chance intersection and deviation are exact.
    """
    rows, totals, variance = [], [0, 0, 0, 0], 0.0
    for name in m1:
        counts = _counts(m1[name], m2[name])
        chance = chance_overlap(*counts[:3])
        rows.append(_overlap_row(name, *counts, chance))
        totals = [t + c for t, c in zip(totals, counts, strict=True)]
        variance += chance["intersection_sd"] ** 2
    n, k1, k2, _ = totals
    expected = sum(row["kept_1"] * row["kept_2"] / row["size"] for row in rows)
    overall = {"intersection": expected, "intersection_sd": math.sqrt(variance),
               "jaccard": expected / (k1 + k2 - expected) if k1 + k2 else math.nan,
               "shared_fraction": expected / k1 if k1 else math.nan}
    rows.append(_overlap_row(OVERALL, *totals, overall))
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------- ticket properties


def split_by_mask(state: State, mask: Mask) -> dict[str, tuple[Tensor, Tensor]]:
    """Per layer, the (kept, pruned) values of ``state``'s weight as two flat tensors."""
    return {name: (state[name][keep].flatten(), state[name][~keep].flatten())
            for name, keep in ((n, m.bool()) for n, m in mask.items())}


def kept_vs_pruned_init(init: State, mask: Mask) -> pd.DataFrame:
    """Per layer: how many weights are kept and pruned and the mean and median |init| of each."""
    rows = []
    for name, (kept, pruned) in split_by_mask(init, mask).items():
        kept, pruned = kept.abs().double(), pruned.abs().double()
        row = {"layer": name, "kept": kept.numel(), "pruned": pruned.numel()}
        for label, values in (("kept", kept), ("pruned", pruned)):
            empty = values.numel() == 0
            row[f"{label}_mean_abs"] = math.nan if empty else float(values.mean())
            row[f"{label}_median_abs"] = math.nan if empty else float(values.median())
        row["mean_ratio"] = row["kept_mean_abs"] / row["pruned_mean_abs"]
        rows.append(row)
    return pd.DataFrame(rows)


def sign_agreement(init: State, final: State, mask: Mask) -> dict[str, float]:
    """Per layer and overall, the fraction of kept weights whose sign did not change in training
    (a weight that ends exactly at zero counts as changed; 0.5 is what independent signs give)."""
    out, same_total, kept_total = {}, 0, 0
    for name, keep in mask.items():
        keep = keep.bool()
        same = int((torch.sign(init[name][keep]) == torch.sign(final[name][keep])).sum())
        kept = int(keep.sum())
        out[name] = same / kept if kept else math.nan
        same_total, kept_total = same_total + same, kept_total + kept
    out[OVERALL] = same_total / kept_total if kept_total else math.nan
    return out


def input_connectivity(mask: Mask, layer: str = "fc1.weight",
                       image_shape: Sequence[int] = (28, 28)) -> Tensor:
    """Surviving outgoing connections of each input pixel of a fully connected first layer
    (weight ``(out, in)``), shaped as the image: LeNet's dense fc1 gives 300 everywhere."""
    return mask[layer].long().sum(0).view(*image_shape)


# ------------------------------------------------------------------------ information plane


def lenet_activations(state: State, x: Tensor) -> dict[str, Tensor]:
    """LeNet-300-100 layers of one member on inputs ``(B, ...)``: ReLU outputs of fc1 and fc2 and
    the fc3 logits, each ``(B, units)``."""
    h = x.flatten(1)
    out = {}
    for name in ("fc1", "fc2", "fc3"):
        h = F.linear(h, state[f"{name}.weight"], state[f"{name}.bias"])
        if name != "fc3":
            h = F.relu(h)
        out[name] = h
    return out


def _entropy_bits(symbols: Tensor) -> float:
    """Entropy in bits of the empirical distribution of the rows of ``symbols``."""
    _, counts = torch.unique(symbols, dim=0, return_counts=True)
    p = counts.double() / symbols.shape[0]
    return float(-(p * p.log2()).sum())


def bin_activations(activations: Tensor, bins: int = 30, per_unit: bool = False) -> Tensor:
    """Bin indices ``(N, units)``: ``bins`` equal-width bins over the observed range of the whole
    layer (or of each unit with ``per_unit``); the maximum falls in the last bin."""
    a = activations.detach().double().flatten(1)
    low = a.amin(0, keepdim=True) if per_unit else a.min()
    high = a.amax(0, keepdim=True) if per_unit else a.max()
    width = torch.where(high > low, (high - low) / bins, torch.ones_like(high))
    return ((a - low) / width).floor().long().clamp_(0, bins - 1)


def binned_mutual_information(activations: Tensor, labels: Tensor, bins: int = 30,
                              per_unit: bool = False) -> tuple[float, float]:
    """(I(X;T), I(T;Y)) in bits for a layer's activations T ``(N, units)`` on N distinct inputs.

    Binning estimator of Shwartz-Ziv & Tishby 2017: each row of bin indices (see
    :func:`bin_activations`) is one discrete symbol. T is a deterministic function of the
    distinct inputs, so I(X;T) = H(T) (at most log2 N) and I(T;Y) = H(T) + H(Y) - H(T, Y).
    The estimate depends on the binning (bins, range), and the compression it shows is contested
    (Saxe et al. 2018: it follows from the activation function and the estimator).
    """
    symbols = bin_activations(activations, bins, per_unit)
    labels = labels.detach().long().view(-1, 1).to(symbols.device)
    h_t = _entropy_bits(symbols)
    h_y = _entropy_bits(labels)
    h_ty = _entropy_bits(torch.cat([symbols, labels], dim=1))
    return h_t, h_t + h_y - h_ty
