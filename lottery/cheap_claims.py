"""The literature's claims about cheap tickets, measured on a :mod:`lottery.cheap` results table
(key ``"cheap"``: the ``results`` frame of a :class:`~lottery.cheap.CheapResult`).

Sources: You et al., "Drawing Early-Bird Tickets", ICLR 2020; Frankle, Dziugaite, Roy & Carbin,
"Pruning Neural Networks at Initialization: Why are We Missing the Mark?", ICLR 2021. Neither
paper has LeNet numbers to copy, so each claim is a direction with a margin: the paper column
holds the boundary of the claim (0 pp: "at least as accurate"), not a measured value.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from lottery.cheap_methods import AT_INIT, METHODS

KEY = "cheap"
IMP = "IMP (reset to init)"
RANDOM = "random (IMP layers)"
STOP = "early-bird (stop rule)"
ONESHOT = "one-shot magnitude"
AT_INIT_LABELS = tuple(METHODS[k].label for k in AT_INIT)


def _tickets(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[(frame.variant == "ticket") & (frame.level > 0)]


def compared_levels(frame: pd.DataFrame) -> list[int]:
    """The target levels, least sparse first: those where the at-init methods ran."""
    rows = _tickets(frame)
    return sorted(rows[rows.method.isin(AT_INIT_LABELS)].level.unique())


def accuracy(frame: pd.DataFrame, method: str, level: int, variant: str = "ticket") -> float:
    """Mean test accuracy at early stop (%) of ``method`` at ``level``; NaN when absent."""
    rows = frame[(frame.method == method) & (frame.level == level) & (frame.variant == variant)]
    return float(100 * rows.early_stop_test_acc.mean()) if len(rows) else np.nan


def _at_init(frame: pd.DataFrame, level: int, variant: str = "ticket") -> list[float]:
    values = [accuracy(frame, m, level, variant) for m in AT_INIT_LABELS]
    return [v for v in values if np.isfinite(v)]


def nearest_level(frame: pd.DataFrame, percent: float) -> int:
    """The compared level whose percent remaining is nearest ``percent`` (in ratio)."""
    rows = _tickets(frame)
    rows = rows[rows.level.isin(compared_levels(frame))]
    gap = np.abs(np.log(rows.percent_remaining / percent))
    return int(rows.level.loc[gap.idxmin()])


def early_bird_minus_oneshot(r: Mapping[str, pd.DataFrame]) -> float:
    level = nearest_level(r[KEY], 7.0)
    return accuracy(r[KEY], STOP, level) - accuracy(r[KEY], ONESHOT, level)


def search_saved(r: Mapping[str, pd.DataFrame]) -> float:
    """Training saved by the stopping rule, % of one-shot's search (the full dense run)."""
    rows = _tickets(r[KEY])
    stop, full = rows[rows.method == STOP], rows[rows.method == ONESHOT]
    return float(100 * (1 - stop.cost_iterations.mean() / full.cost_iterations.mean()))


def at_init_minus_random(r: Mapping[str, pd.DataFrame]) -> float:
    level = compared_levels(r[KEY])[0]
    return float(np.mean(_at_init(r[KEY], level))) - accuracy(r[KEY], RANDOM, level)


def imp_minus_best_at_init(r: Mapping[str, pd.DataFrame]) -> float:
    level = compared_levels(r[KEY])[-1]
    return accuracy(r[KEY], IMP, level) - max(_at_init(r[KEY], level))


def shuffle_change_at_init(r: Mapping[str, pd.DataFrame]) -> float:
    """Mean over at-init methods and ablation levels of shuffled minus as-found (pp)."""
    frame = r[KEY]
    levels = sorted(frame[frame.variant == "shuffled"].level.unique())
    changes = [accuracy(frame, m, lv, "shuffled") - accuracy(frame, m, lv)
               for lv in levels for m in AT_INIT_LABELS]
    changes = [c for c in changes if np.isfinite(c)]
    return float(np.mean(changes)) if changes else np.nan


def imp_minus_shuffled(r: Mapping[str, pd.DataFrame]) -> float:
    level = compared_levels(r[KEY])[-1]
    return accuracy(r[KEY], IMP, level) - accuracy(r[KEY], RANDOM, level)


def claims() -> list:
    """The claims of notebook 07 (imported lazily: :mod:`lottery.report` registers them)."""
    from lottery.report import Claim

    need = (KEY,)
    return [
        Claim("early-bird mask (stop rule) minus one-shot magnitude after training, ~7% (pp)",
              0.0, "at_least", {"paper": 0.3, "quick": 0.5}, early_bird_minus_oneshot, need),
        Claim("early-bird stop rule: training saved vs one-shot's full run (%; claim: > half)",
              50.0, "above", {"paper": 0.0, "quick": 0.0}, search_saved, need),
        Claim("at-init methods (mean of 4, as published) minus random pruning, least sparse "
              "target (pp)", 0.0, "above", {"paper": 0.0, "quick": 0.0}, at_init_minus_random,
              need),
        Claim("IMP minus the best at-init method at the sparsest target (pp)", 0.0, "above",
              {"paper": 0.0, "quick": 0.0}, imp_minus_best_at_init, need),
        Claim("at-init masks shuffled within layers minus as found (pp, mean)", 0.0,
              "at_least", {"paper": 0.5, "quick": 1.0}, shuffle_change_at_init, need),
        Claim("IMP minus its mask shuffled within layers, sparsest target (pp)", 0.0, "above",
              {"paper": 0.0, "quick": 0.0}, imp_minus_shuffled, need),
    ]
