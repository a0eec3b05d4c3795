"""Mask-1 actions (Zhou et al. 2019, Sec. 3): the values the surviving weights restart from.

Each function takes the weights a ticket would be reset to (``start``: the init, or the rewind
point) and its mask, and returns a full state whose prunable layers hold the new values; only
the kept positions matter (the engine zeroes or freezes the others). Tensors outside the mask
(biases, batch norm) keep ``start``'s values. Randomness comes from ``seed`` alone, so a variant
is reproducible from its stored identity. :data:`lottery.engine.variants.VARIANTS` holds one line
per action.
"""

from __future__ import annotations

import torch

from lottery.engine.masks import Mask
from lottery.engine.members import State


def _layers(start: State, mask: Mask, new_values) -> State:
    """``start`` with each masked layer replaced by ``new_values(name, layer, alive)``."""
    state = dict(start)
    for name, alive in mask.items():
        state[name] = new_values(name, start[name], alive)
    return state


def reshuffle(start: State, mask: Mask, seed: int) -> State:
    """The surviving values of each layer permuted among that layer's kept positions."""
    generator = torch.Generator().manual_seed(seed)

    def shuffled(name, layer, alive):
        layer = layer.clone()
        kept = layer[alive]
        layer[alive] = kept[torch.randperm(kept.numel(), generator=generator)]
        return layer
    return _layers(start, mask, shuffled)


def layer_sigma(init: State, name: str) -> float:
    """The standard deviation of a layer's initial weights (all of them, population std): the
    scale of the layer's init distribution, as Zhou et al. compute it."""
    return float(init[name].double().std(correction=0))


def signed_constant(start: State, mask: Mask, init: State) -> State:
    """Every weight set to ±σ of its layer's init distribution, with the sign of ``start``."""
    return _layers(start, mask, lambda name, layer, alive: torch.sign(layer) * layer_sigma(
        init, name))


def random_signs(start: State, mask: Mask, seed: int) -> State:
    """``start``'s magnitudes with independent random signs (each ± with probability 1/2)."""
    generator = torch.Generator().manual_seed(seed)

    def flipped(name, layer, alive):
        signs = torch.randint(0, 2, layer.shape, generator=generator).to(layer.dtype) * 2 - 1
        return layer.abs() * signs
    return _layers(start, mask, flipped)


def random_magnitudes(start: State, mask: Mask, fresh: State) -> State:
    """The magnitudes of a fresh initialization with ``start``'s signs."""
    return _layers(start, mask, lambda name, layer, alive: fresh[name].abs() * torch.sign(layer))
