"""Pruning: turn trained weights and the current mask into the next, sparser mask.

Every criterion gives each surviving weight a score; the lowest-scoring survivors are removed.
Magnitude pruning (Frankle & Carbin 2019) scores by ``|w_final|``. Per-layer pruning removes a
fraction of each layer's survivors at the rate of the layer's kind (conv / fc / output);
global pruning ranks the survivors of all prunable layers together (VGG-19, ResNet-18).
Ties are broken deterministically: among equal scores the lower flat index is removed first.

``rounds`` lets one call reach the density of several rounds at once (one-shot pruning keeps
``(1 - rate) ** rounds`` of the weights); iterative pruning calls it with ``rounds=1``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import Tensor

from lottery.engine.errors import HparamError
from lottery.engine.masks import Mask

Weights = Mapping[str, Tensor]


def _magnitude_change(init: Tensor, final: Tensor) -> Tensor:
    return final.abs() - init.abs()


# Zhou et al. 2019, "Deconstructing Lottery Tickets": higher score = kept.
CRITERIA: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "large_final": lambda init, final: final.abs(),
    "small_final": lambda init, final: -final.abs(),
    "large_init": lambda init, final: init.abs(),
    "small_init": lambda init, final: -init.abs(),
    "large_init_large_final": lambda init, final: torch.minimum(init.abs(), final.abs()),
    "small_init_small_final": lambda init, final: -torch.maximum(init.abs(), final.abs()),
    "magnitude_increase": _magnitude_change,
    "movement": lambda init, final: (final - init).abs(),
}


def scores(criterion: str, init: Weights, final: Weights, seed: int = 0) -> dict[str, Tensor]:
    """Per-layer scores of ``criterion``; ``*_same_sign`` variants score sign flips lowest;
    ``random`` draws scores from ``seed``."""
    base = criterion.removesuffix("_same_sign")
    if criterion == "random":
        generator = torch.Generator().manual_seed(seed)
        return {n: torch.rand(final[n].shape, generator=generator) for n in final}
    if base not in CRITERIA:
        allowed = sorted(CRITERIA) + [f"{c}_same_sign" for c in sorted(CRITERIA)] + ["random"]
        raise ValueError(f"unknown pruning criterion {criterion!r}; choose one of {allowed}")
    out = {}
    for name in final:
        score = CRITERIA[base](init[name].float().cpu(), final[name].float().cpu())
        if criterion.endswith("_same_sign"):
            flipped = torch.sign(init[name].cpu()) != torch.sign(final[name].cpu())
            score = torch.where(flipped, torch.full_like(score, -torch.inf), score)
        out[name] = score
    return out


def remove_lowest(score: Tensor, alive: Tensor, count: int) -> Tensor:
    """``alive`` with its ``count`` lowest-scoring True entries set False.

    Only alive entries are ranked (an alive +inf or NaN score never trades places with a pruned
    weight; NaN ranks above +inf). Ties at the threshold go lowest flat index first. Selection
    by ``kthvalue`` keeps this linear in the layer size (VGG-19 ranks 20M weights at once).
    """
    flat_alive = alive.flatten()
    alive_index = flat_alive.nonzero().flatten()
    count = max(0, min(count, alive_index.numel()))
    values = score.flatten()[alive_index].double()
    values = torch.where(values.isnan(), torch.finfo(torch.float64).max, values)
    values = torch.where(values == torch.inf, torch.finfo(torch.float64).max / 2, values)
    if count == alive_index.numel():
        chosen = alive_index
    elif count == 0:
        chosen = alive_index[:0]
    else:
        threshold = torch.kthvalue(values, count).values
        below = (values < threshold).nonzero().flatten()
        ties = (values == threshold).nonzero().flatten()[: count - below.numel()]
        chosen = alive_index[torch.cat([below, ties])]
    survivors = flat_alive.clone()
    survivors[chosen] = False
    return survivors.view_as(alive)


def removed_count(alive: int, rate: float, rounds: float) -> int:
    """How many of ``alive`` weights ``rounds`` rounds of pruning at ``rate`` remove (the kept
    count rounded to nearest, as the paper's rates are fractions of the survivors)."""
    keep = int(alive * (1.0 - rate) ** rounds + 0.5)
    return alive - keep


def prune_layerwise(layer_scores: Mapping[str, Tensor], mask: Mask, rates: Mapping[str, float],
                    rounds: float = 1.0) -> Mask:
    """Remove ``rates[layer]`` of each layer's surviving weights (per round)."""
    new = Mask()
    for name, alive in mask.items():
        count = removed_count(int(alive.sum()), rates[name], rounds)
        new[name] = remove_lowest(layer_scores[name], alive, count)
    return new


def prune_global(layer_scores: Mapping[str, Tensor], mask: Mask, rate: float,
                 rounds: float = 1.0) -> Mask:
    """Remove ``rate`` of all surviving weights, ranked together across the mask's layers."""
    names = list(mask)
    flat_scores = torch.cat([layer_scores[n].flatten().double() for n in names])
    flat_alive = torch.cat([mask[n].flatten() for n in names])
    count = removed_count(int(flat_alive.sum()), rate, rounds)
    survivors = remove_lowest(flat_scores, flat_alive, count)
    new, start = Mask(), 0
    for name in names:
        size = mask[name].numel()
        new[name] = survivors[start:start + size].view_as(mask[name])
        start += size
    return new


def _levels_possible(size: int, rate: float, limit: int) -> tuple[int, str]:
    """How many IMP rounds (up to ``limit``) a layer takes before it keeps no weight or stops
    losing any to rounding, and which of the two happens then."""
    alive = size
    for level in range(1, limit + 1):
        removed = removed_count(alive, rate, 1)
        alive -= removed
        if alive < 1 or removed == 0:
            return level - 1, "keeps none" if alive < 1 else "stops shrinking"
    return limit, ""


def check_schedule(sizes: Mapping[str, int], rates: Mapping[str, float], levels: int,
                   oneshot_rounds: tuple[float, ...] = ()) -> None:
    """Refuse IMP ``levels`` or one-shot rounds past the point where a layer (of ``sizes``
    weights, pruned at ``rates``) keeps no weight, or stops losing any to rounding: such
    levels would repeat the last network or train one that computes nothing."""

    pruned = {name: size for name, size in sizes.items() if rates[name] > 0}
    limits = {name: _levels_possible(size, rates[name], levels) for name, size in pruned.items()}
    name = min(limits, key=lambda n: limits[n][0], default=None)
    if name is not None and limits[name][0] < levels:
        possible, what = limits[name]
        raise HparamError(f"levels must be at most {possible} here: {name} ({sizes[name]:,} "
                          f"weights, {rates[name]:.0%} pruned per round) {what} at level "
                          f"{possible + 1}; got {levels}")
    for name, size in pruned.items():
        for rounds in oneshot_rounds:
            if size - removed_count(size, rates[name], rounds) < 1:
                raise HparamError(f"oneshot_rounds: {name} ({size:,} weights, "
                                  f"{rates[name]:.0%} per round) keeps none after {rounds:g} "
                                  f"rounds; got {oneshot_rounds}")


def next_mask(hp, kinds: Mapping[str, str], init: Weights, final: Weights, mask: Mask,
              rounds: float, seed: int) -> Mask:
    """The pruning policy: ``mask`` pruned by ``rounds`` rounds of ``hp`` (a
    :class:`~lottery.core.hparams.PruningHparams`) from the trained weights ``final``; ``kinds``
    maps each prunable layer to its kind (conv / fc / output) for the per-layer rates."""
    layer_scores = scores(hp.criterion, init, final, seed)
    if hp.strategy == "global":
        return prune_global(layer_scores, mask, hp.global_rate, rounds)
    rates = {name: hp.rate_of(kind) for name, kind in kinds.items()}
    return prune_layerwise(layer_scores, mask, rates, rounds)


def random_mask_like(mask: Mask, seed: int) -> Mask:
    """A random mask with exactly the same number of survivors in every layer as ``mask``."""
    generator = torch.Generator().manual_seed(seed)
    new = Mask()
    for name, alive in mask.items():
        order = torch.randperm(alive.numel(), generator=generator)
        layer = torch.zeros(alive.numel(), dtype=torch.bool)
        layer[order[: int(alive.sum())]] = True
        new[name] = layer.view_as(alive)
    return new
