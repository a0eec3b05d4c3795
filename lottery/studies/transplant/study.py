"""Mask transplant: a winning ticket's mask on another trial's initialization.

Frankle & Carbin (2019, Sec. 2-3) show that a ticket's mask with a *fresh random* init (the
reinit control) loses the ticket's advantage, so the mask alone is not the ticket. A sharper
version of that control: keep the mask but take the initialization of another IMP trial (a
network trained just as well by its own lineage), so the weights are a real Glorot draw that
a different mask would have won with. Frankle & Carbin's reading predicts the transplant
behaves like reinit (the ticket's advantage is the mask *with its own init*); matching the
ticket instead would say the mask alone carries it.

Trial ``t`` at level ``L`` trains trial ``t``'s IMP mask from the init of trial
``(t + 1) mod trials`` with trial ``t``'s data order, so the only change from the ticket is the
starting weights. The IMP lineage is the runner's own (loaded when stored), and each
transplanted network is stored under a key naming its mask's lineage and its donor's seed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pandas as pd

from lottery.core.experiments import Network, Runner, data_seed, init_seed
from lottery.core.hparams import HparamError, to_dict
from lottery.core.results import ExperimentResult, experiment_tables
from lottery.core.training import Member
from lottery.engine.masks import Mask

VARIANT = "transplant"


def check(runner: Runner, levels: Sequence[int]) -> None:
    """One-line errors before any training: a donor needs a second trial, levels must exist."""
    if runner.hp.trials < 2:
        raise HparamError("trials must be at least 2 for a transplant (the mask of trial t "
                          f"goes on the init of trial t+1); got {runner.hp.trials}")
    bad = [level for level in levels if not 1 <= level <= runner.hp.levels]
    if bad or not levels:
        raise HparamError(f"levels must be between 1 and --levels ({runner.hp.levels}); got "
                          f"{list(levels)}")


def transplant_networks(runner: Runner, levels: Sequence[int],
                        mask_of: Callable[[int, int], Mask]) -> list[Network]:
    """Trial ``t``'s ticket mask at each level on trial ``t+1``'s init (``mask_of(t, level)``
    is called only when a network must be trained)."""
    hp = runner.hp
    lineage = {"pruning": to_dict(hp.pruning), "rewind_iteration": hp.rewind_iteration,
               "seed": hp.seed}
    networks = []
    for level in levels:
        for t in range(hp.trials):
            donor = init_seed(hp, (t + 1) % hp.trials)
            identity = {"start": {"init_seed": donor},
                        "mask": {"imp_ticket_of_trial": t, "level": level, **lineage},
                        "variant": VARIANT, "data_seed": data_seed(hp, t)}

            def build(t=t, level=level, donor=donor) -> Member:
                return Member(runner.fresh_init(donor), mask_of(t, level), data_seed(hp, t))
            networks.append(runner.network(f"transplant-{level:g}", identity,
                                           {"trial": t, "level": level, "variant": VARIANT},
                                           build, keep_final=False))
    return networks


def transplant(runner: Runner, levels: Sequence[int]) -> ExperimentResult:
    """IMP with the runner's controls, plus the transplanted masks at ``levels``: one table."""
    check(runner, levels)
    imp = runner.imp()
    networks = transplant_networks(runner, levels, lambda t, level: imp.masks[(t, level)])
    payloads = runner.train_many(networks, "mask transplant")
    results, histories = experiment_tables(
        ({"method": "imp", **n.labels}, p) for n, p in zip(networks, payloads, strict=True))
    return ExperimentResult(imp.hparams, _concat(imp.results, results),
                            _concat(imp.histories, histories), imp.masks, imp.data,
                            imp.synthetic)


def _concat(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([a, b], ignore_index=True)
