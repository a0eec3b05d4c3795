"""The members trained beside each winning ticket: one registry entry per reset step.

A variant turns what a trial has produced (its init, its rewind point, its trained weights,
the ticket's mask, a seed) into a member's starting weights and mask. Its stored identity is
generic -- the variant's name, its seed, the ticket's start and mask identities -- so an entry
here needs no key code: adding a variant is adding one line (and a test of its property).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from lottery.engine import mask1_actions as mask1
from lottery.engine import pruning
from lottery.engine.masks import Mask
from lottery.engine.members import State


@dataclass(frozen=True)
class ResetContext:
    """What a variant's reset step may use to produce its starting weights and mask."""

    init: State        # the trial's weights at iteration 0
    rewind: State      # the trial's weights at the rewind iteration (= init when k = 0)
    final: State       # the trial's trained weights at the previous level
    mask: Mask         # the ticket's mask at this level
    seed: int          # a seed of this trial, level and variant
    fresh_init: Callable[[int], State]  # a new initialization from a seed


Reset = Callable[[ResetContext], tuple[State, Mask]]

VARIANTS: dict[str, Reset] = {
    # the winning ticket: the mask, and the original (rewound) values of the survivors
    "ticket": lambda c: (c.rewind, c.mask),
    # random reinitialization: the same mask, values from a fresh init (LTH Figs. 3-5)
    "reinit": lambda c: (c.fresh_init(c.seed), c.mask),
    # random pruning: a random mask of the same per-layer density, original values (LTH Fig. 1)
    "random_mask": lambda c: (c.rewind, pruning.random_mask_like(c.mask, c.seed)),
    # Zhou et al. 2019 mask-1 actions, appended (a variant's position seeds it: order is fixed)
    # reshuffle: each layer's surviving values permuted among its kept positions (Zhou Fig. 3)
    "reshuffle": lambda c: (mask1.reshuffle(c.rewind, c.mask, c.seed), c.mask),
    # signed constant: ±σ of the layer's init distribution, the sign of the init (Zhou Fig. 3)
    "signed_constant": lambda c: (mask1.signed_constant(c.rewind, c.mask, c.init), c.mask),
    # the init's magnitudes with random signs (Zhou Fig. 4)
    "random_signs": lambda c: (mask1.random_signs(c.rewind, c.mask, c.seed), c.mask),
    # a fresh init's magnitudes with the init's signs (Zhou Fig. 4)
    "random_magnitudes": lambda c: (mask1.random_magnitudes(c.rewind, c.mask,
                                                            c.fresh_init(c.seed)), c.mask),
    # learning-rate rewinding (Renda et al. 2020): keep the trained weights of the level the
    # mask was pruned from, retrain them from iteration k with the original schedule. It draws
    # nothing from its seed (an 8th variant's seed meets the next tenth-level's ticket seed).
    # (Fine-tuning, the same weights at the final learning rate, needs another schedule: see
    # lottery.studies.open_questions.study.)
    "lr_rewind": lambda c: (c.final, c.mask),
}
CONTROLS = tuple(v for v in VARIANTS if v != "ticket")
