"""The literature's claims about cheap tickets, measured on a :mod:`lottery.studies.cheap.study`
results table (key ``"cheap"``: the ``results`` frame of a
:class:`~lottery.studies.cheap.study.CheapResult`).

Sources: You et al., "Drawing Early-Bird Tickets", ICLR 2020; Frankle, Dziugaite, Roy & Carbin,
"Pruning Neural Networks at Initialization: Why are We Missing the Mark?", ICLR 2021. Neither
paper has numbers for these networks, so every claim is a direction alone (the number verdict
is n/a), judged per trial (every method of a trial starts from the same init): early-bird
masks match one-shot after training and save most of its search; the at-init methods beat
random pruning and stay below IMP; shuffling their masks within layers does not hurt them, while
it hurts IMP's. "Match" and "does not hurt" allow a loss of 1 pp (ours: a non-inferiority
margin, judged by the whole interval, wider than the test set's resolution of a difference);
"most of the search" is ours: more than half, with the stop rule's checkpoints spanning the
whole training so that it can fire late (saving little) or never (saving nothing).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from lottery.claims.framework import NO_NUMBER, Claim, Direction, Measurement, NotMeasured
from lottery.studies.cheap.methods import AT_INIT, METHODS

KEY = "cheap"
IMP = "IMP (reset to init)"
RANDOM = "random (IMP layers)"
STOP = "early-bird (stop rule)"
ONESHOT = "one-shot magnitude"
AT_INIT_LABELS = tuple(METHODS[k].label for k in AT_INIT)
EARLY_BIRD_PM = 7.0  # the early-bird comparison's target, % remaining
SAVED = 50.0         # "far lower cost": more than half of one-shot's training saved (ours)
# "match" / "does not hurt" (ours; neither paper gives a margin): not more than 1 pp below,
# judged by the whole interval -- wider than the test set's resolution of a difference
# (~0.4-0.6 pp), which no number of trials could narrow past
MARGIN = 1.0
# You et al. 2020, abstract [T, confirmed]: winning tickets "can be identified at the very
# early training stage"; Frankle et al. 2021, abstract [T, confirmed]: the at-init methods
# "surpass the trivial baseline of random pruning" but "remain below the accuracy of magnitude
# pruning after training", and "accuracy is the same or higher when randomly shuffling which
# weights these methods prune within each layer"
YOU, FRANKLE = "You et al. 2020, abstract [T]", "Frankle et al. 2021, abstract [T]"
Frames = Mapping[str, pd.DataFrame]


def _tickets(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[(frame.variant == "ticket") & (frame.level > 0)]


def compared_levels(frame: pd.DataFrame) -> list[int]:
    """The target levels, least sparse first: those where the at-init methods ran."""
    rows = _tickets(frame)
    return sorted(rows[rows.method.isin(AT_INIT_LABELS)].level.unique())


def by_trial(frame: pd.DataFrame, method: str, level: int, variant: str = "ticket",
             metric: str = "early_stop_test_acc") -> pd.Series:
    """Per trial, ``metric`` of ``method`` at ``level`` (accuracies in percent)."""
    rows = frame[(frame.method == method) & (frame.level == level) & (frame.variant == variant)]
    scale = 100.0 if metric.endswith("_acc") else 1.0
    return rows.groupby("trial")[metric].mean().dropna() * scale


def accuracy(frame: pd.DataFrame, method: str, level: int, variant: str = "ticket") -> float:
    """Mean test accuracy at early stop (%) of ``method`` at ``level``; NaN when absent."""
    values = by_trial(frame, method, level, variant)
    return float(values.mean()) if len(values) else np.nan


def nearest_level(frame: pd.DataFrame, percent: float) -> int:
    """The compared level whose percent remaining is nearest ``percent`` (in ratio)."""
    rows = _tickets(frame)
    rows = rows[rows.level.isin(compared_levels(frame))]
    gap = np.abs(np.log(rows.percent_remaining / percent))
    return int(rows.level.loc[gap.idxmin()])


def _floor(accuracy: float) -> float:
    """Two binomial standard errors (pp) of the difference of two accuracies near
    ``accuracy`` on 10K test images: what one trial resolves."""
    p = accuracy / 100
    return 200 * math.sqrt(2 * p * (1 - p) / 10_000) if 0 < p < 1 else 0.0


def _at(frame: pd.DataFrame, level: int) -> str:
    pm = _tickets(frame)[lambda rows: rows.level == level].percent_remaining.mean()
    return f"Pm {pm:.1f}% (level {level})"


def _measurement(gap: pd.Series, where: str, accuracy: pd.Series | None = None):
    """Per-trial values as a measurement; accuracies, when given, set the floor."""
    gap = gap.dropna()
    if gap.empty:
        raise NotMeasured(f"no trial with both quantities ({where})")
    floor = None if accuracy is None or accuracy.empty else _floor(float(accuracy.mean()))
    return Measurement(tuple(float(v) for v in gap), where, floor)


# --- per-trial quantities --------------------------------------------------------------------

def early_bird_minus_oneshot(r: Frames):
    """Per trial, the early-bird mask (stop rule) minus one-shot magnitude after full training,
    at the compared level nearest 7% (pp)."""
    frame = r[KEY]
    level = nearest_level(frame, EARLY_BIRD_PM)
    ours = by_trial(frame, STOP, level)
    return _measurement(ours - by_trial(frame, ONESHOT, level), _at(frame, level), ours)


def search_saved(r: Frames):
    """Per trial, training saved by the stopping rule, % of one-shot's search (its full dense
    run), over the levels both made. The rule's checkpoints span the training, so it saves
    0% when the masks never settle; "where" gives what IMP's ticket at the early-bird level
    costs, in full trainings (the same accuracy by IMP)."""
    rows = _tickets(r[KEY])
    cost = rows.groupby(["method", "trial"]).cost_iterations.mean()
    if STOP not in cost.index or ONESHOT not in cost.index:
        return _measurement(pd.Series(dtype=float), "no early-bird or one-shot runs")
    where = "training iterations, stop rule vs one-shot's full run"
    if IMP in cost.index:
        level = nearest_level(r[KEY], EARLY_BIRD_PM)
        imp = rows[(rows.method == IMP) & (rows.level == level)].cost_iterations.mean()
        where += f"; IMP at {_at(r[KEY], level)} costs {imp / cost[ONESHOT].mean():.0f} runs"
    return _measurement(100 * (1 - cost[STOP] / cost[ONESHOT]), where)


def at_init_minus_random(r: Frames):
    """Per trial, the mean of the at-init methods minus random pruning (IMP's layer densities)
    at the least sparse target (pp)."""
    frame = r[KEY]
    level = compared_levels(frame)[0]
    methods = pd.concat([by_trial(frame, m, level) for m in AT_INIT_LABELS], axis=1)
    ours = methods.mean(axis=1)
    return _measurement(ours - by_trial(frame, RANDOM, level),
                        f"{_at(frame, level)}, mean of {methods.shape[1]} methods", ours)


def imp_minus_best_at_init(r: Frames):
    """Per trial, IMP minus the at-init method best on average at the sparsest target (pp)."""
    frame = r[KEY]
    level = compared_levels(frame)[-1]
    methods = {m: by_trial(frame, m, level) for m in AT_INIT_LABELS}
    best = max((m for m in methods if len(methods[m])), key=lambda m: methods[m].mean())
    ours = by_trial(frame, IMP, level)
    return _measurement(ours - methods[best], f"{_at(frame, level)}; best: {best}", ours)


def shuffle_change_at_init(r: Frames):
    """Per trial, shuffled within layers minus as found, mean over at-init methods and the
    ablation's levels (pp)."""
    frame = r[KEY]
    levels = sorted(frame[frame.variant == "shuffled"].level.unique())
    pairs = [(by_trial(frame, m, lv, "shuffled"), by_trial(frame, m, lv))
             for lv in levels for m in AT_INIT_LABELS]
    changes = pd.concat([shuffled - found for shuffled, found in pairs], axis=1)
    found = pd.concat([f for _, f in pairs], axis=1).mean(axis=1)
    return _measurement(changes.mean(axis=1), f"{len(levels)} level(s), at-init methods",
                        found)


def imp_minus_shuffled(r: Frames):
    """Per trial, IMP minus its mask shuffled within layers (random pruning at IMP's layer
    densities) at the sparsest target (pp)."""
    frame = r[KEY]
    level = compared_levels(frame)[-1]
    ours = by_trial(frame, IMP, level)
    return _measurement(ours - by_trial(frame, RANDOM, level), _at(frame, level), ours)


# --- the claims ------------------------------------------------------------------------------

def claims() -> list:
    """The claims of notebook 07 (imported lazily: :mod:`lottery.claims.framework` registers
    them)."""
    need, two_se = (KEY,), f"by more than {MARGIN:g} pp (ours)"
    return [
        # non-inferiority: the whole interval above -MARGIN, a stated margin (not a shifted
        # measurement)
        Claim("early-bird mask (stop rule) minus one-shot magnitude after training, ~7% (pp)",
              NO_NUMBER, needs=need, per_trial=early_bird_minus_oneshot, source=YOU,
              direction=Direction(f"matches: not below one-shot {two_se}",
                                  early_bird_minus_oneshot, ">", -MARGIN)),
        Claim(f"early-bird stop rule: training saved vs one-shot's full run (%; claim: most, "
              f"ours: > {SAVED:g}; checkpoints span the training, so 0 if it never fires)",
              NO_NUMBER, needs=need, per_trial=search_saved,
              direction=f"> {SAVED:g}", source=YOU),
        Claim("at-init methods (mean of 4, as published) minus random pruning, least sparse "
              "target (pp)", NO_NUMBER, needs=need, per_trial=at_init_minus_random,
              direction="> 0", source=FRANKLE),
        Claim("IMP minus the best at-init method at the sparsest target (pp)", NO_NUMBER,
              needs=need, per_trial=imp_minus_best_at_init, direction="> 0", source=FRANKLE),
        Claim("at-init masks shuffled within layers minus as found (pp, mean)", NO_NUMBER,
              needs=need, per_trial=shuffle_change_at_init, source=FRANKLE,
              direction=Direction(f"does not hurt: not below as found {two_se}",
                                  shuffle_change_at_init, ">", -MARGIN)),
        Claim("IMP minus its mask shuffled within layers, sparsest target (pp)", NO_NUMBER,
              needs=need, per_trial=imp_minus_shuffled, direction="> 0", source=FRANKLE),
    ]
