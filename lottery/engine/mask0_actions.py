"""Mask-0 actions (Zhou et al. 2019, Sec. 4): what the pruned weights hold while a ticket trains.

The lottery ticket sets them to zero. Zhou et al. also freeze them at their initial values, and
freeze at zero only those that moved toward zero during training (|w_final| < |w_init|),
freezing the others at init. An action maps the trial's init and the trained weights the mask
was pruned from to the frozen values of the pruned weights (``None`` = zeros: the engine's
default, and the only action that leaves a network's stored identity unchanged). The engine
(:class:`lottery.core.training.Member` ``frozen``) keeps them exact through training.

In an IMP lineage the rule is applied at every level to the parent's trained weights: a weight
frozen at init then reads |w_final| = |w_init| and stays at init, one frozen at zero reads 0 and
stays at zero, so each weight keeps the decision taken when it was pruned.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from lottery.engine.errors import HparamError
from lottery.engine.masks import Mask
from lottery.engine.members import State

Action = Callable[[State, State, Mask], State | None]


def freeze_init(init: State, final: State, mask: Mask) -> State:
    """Pruned weights frozen at their initial values."""
    return {name: torch.where(alive, 0.0, init[name]) for name, alive in mask.items()}


def moved_toward_zero(init: State, final: State, name: str) -> torch.Tensor:
    """Where a layer's weights ended training smaller in magnitude than they started."""
    return final[name].abs() < init[name].abs()


def freeze_shrunk_to_zero(init: State, final: State, mask: Mask) -> State:
    """Pruned weights that moved toward zero frozen at zero, the other pruned ones at init."""
    return {name: torch.where(alive | moved_toward_zero(init, final, name), 0.0, init[name])
            for name, alive in mask.items()}


MASK0: dict[str, Action] = {
    # the lottery ticket: pruned weights are zero (no frozen values)
    "zero": lambda init, final, mask: None,
    # pruned weights frozen at init (Zhou Fig. 5)
    "freeze_init": freeze_init,
    # pruned weights that moved toward zero frozen at zero, the others at init (Zhou Fig. 5)
    "freeze_shrunk_to_zero": freeze_shrunk_to_zero,
}


def check(action: str) -> None:
    """Raise a one-line :class:`~lottery.engine.errors.HparamError` for an unknown action."""

    if action not in MASK0:
        raise HparamError(f"mask0 must be one of {', '.join(MASK0)}; got {action!r}")
