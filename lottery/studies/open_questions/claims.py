"""Verdicts for notebook 08: width, initialization, pruning recipes, the information plane.

Measured on the tables of :class:`~lottery.studies.open_questions.study.OpenQuestionsStudy`, keyed
``lenet_width`` (:meth:`width_table`), ``lenet_init`` (:meth:`init_table`), ``lenet_recipes``
(:meth:`recipe_table`) and ``lenet_information`` (:meth:`information`). Every value is per trial;
none of these questions has a paper number, so each claim has a direction only (the reading
the question tests) and its number verdict is n/a.

Sources: Frankle & Carbin 2019 Sec. 7 (larger networks hold more subnetworks, so more chances
of a winning ticket [T]; the random-reinit and random-pruning controls, Figs. 1, 3, 4 [T]; Sec. 1
quoting Han et al. 2015: "training a pruned model from scratch performs worse than retraining
a pruned model" [T]); Renda et al. 2020 (learning-rate rewinding matches or beats fine-tuning
and weight rewinding [T]); Saxe et al. 2018 (binned estimates saturate; conclusions depend on
the estimator [T]).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from lottery.claims.framework import NO_NUMBER, Claim, Measurement, NotMeasured, binomial_floor
from lottery.engine.init_schemes import SCHEMES
from lottery.studies.open_questions.study import (
    FINE_TUNE,
    LR_REWIND,
    at_equal_weights,
    gap_slope,
    gaps,
    information_gap,
)

WIDTH, INIT, RECIPES, INFO = "lenet_width", "lenet_init", "lenet_recipes", "lenet_information"
ACC, ES = "early_stop_test_acc", "early_stop_iteration"
Frames = Mapping[str, pd.DataFrame]


def _measurement(values: pd.Series, where: str, floor: float | None = None):
    values = pd.Series(values, dtype=float).dropna()
    if values.empty:
        raise NotMeasured(f"no value: {where}")
    return Measurement(tuple(float(v) for v in values), where, floor)


# --- width -------------------------------------------------------------------------------------

def wider_minus_narrower(metric: str):
    """Per trial, the mean over neighbouring widths and matched weight counts of the wider
    ticket's ``metric`` minus the narrower's (accuracies in pp)."""
    def measure(r: Frames):
        table = r[WIDTH]
        diff = at_equal_weights(table, metric)
        scale = 100.0 if metric.endswith("_acc") else 1.0
        where = f"{len(diff) // max(1, diff.trial.nunique())} matched point(s) per trial"
        # early stops are read every eval_every iterations: one evaluation is their floor
        floor = float(table.eval_every.max()) if metric == ES and "eval_every" in table else None
        return _measurement(diff.groupby("trial").difference.mean() * scale, where, floor)
    return measure


def width_gap_slope(r: Frames):
    """Per trial, the ticket - reinit gap's slope against log2(width) (pp per doubling)."""
    table = r[WIDTH]
    widths = ", ".join(f"{w:g}x" for w in sorted(table.width.unique()))
    return _measurement(gap_slope(table), f"gap = mean over pruned levels; widths {widths}")


# --- initialization ------------------------------------------------------------------------------

def init_gap(scheme: str):
    """Per trial, the ticket - reinit gap under ``scheme``, mean over pruned levels (pp)."""
    def measure(r: Frames):
        table = gaps(r[INIT], "init")
        rows = table[table.init == scheme]
        return _measurement(rows.groupby("trial").gap.mean(),
                            f"{scheme}, levels {int(rows.level.min())}-{int(rows.level.max())}"
                            if len(rows) else scheme)
    return measure


# --- recipes -------------------------------------------------------------------------------------

def deepest(frame: pd.DataFrame) -> float:
    return float(frame.level.max())


def recipe_difference(first: str, second: str, metric: str = ACC):
    """Per trial, ``first`` minus ``second`` at the deepest level (pp)."""
    def measure(r: Frames):
        frame = r[RECIPES]
        level = deepest(frame)
        rows = frame[frame.level == level].pivot_table(index="trial", columns="recipe",
                                                       values=metric)
        pm = frame[frame.level == level].percent_remaining.mean()
        return _measurement(100 * (rows[first] - rows[second]),
                            f"level {level:g} ({pm:.1f}% remaining)")
    return measure


# --- information plane ---------------------------------------------------------------------------

def info_ticket_minus_reinit(layer: str, quantity: str):
    def measure(r: Frames):
        return _measurement(information_gap(r[INFO], layer, quantity),
                            f"{layer}, end of training, noisy estimator")
    return measure


def headroom(r: Frames, layer: str = "fc1", estimator: str = "noisy"):
    """Per trial, log2(inputs) minus I(X;T) of ``layer``'s dense network at the end (0: the
    estimate saturated at its ceiling)."""
    info = r[INFO]
    rows = info[(info.layer == layer) & (info.estimator == estimator)
                & (info.network == "dense")]
    rows = rows[rows.iteration == rows.iteration.max()].set_index("trial")
    return _measurement(np.log2(rows.inputs) - rows["I(X;T)"],
                        f"dense {layer}, end, {estimator}, {int(rows.inputs.max())} inputs")


def _headroom(estimator: str):
    def measure(r: Frames):
        return headroom(r, "fc1", estimator)
    return measure


# --- the claims ----------------------------------------------------------------------------------

def claims(schemes: tuple[str, ...] | None = None) -> list:
    """The notebook's claims as :class:`lottery.claims.framework.Claim` entries (one gap claim per
    init scheme of :mod:`lottery.engine.init_schemes`)."""
    # report.py registers these: imported here, not on load

    gap_floor = binomial_floor(98.0, difference=True)
    lth7 = "LTH Sec. 7 (more subnetworks in larger networks) [T]"
    out = [
        Claim("width: wider minus narrower ticket at equal remaining weights, test acc at "
              "early stop (pp)", NO_NUMBER, needs=(WIDTH,), per_trial=wider_minus_narrower(ACC),
              direction="> 0", floor=gap_floor, source=lth7),
        Claim("width: wider minus narrower ticket at equal remaining weights, early-stop "
              "iteration", NO_NUMBER, needs=(WIDTH,), per_trial=wider_minus_narrower(ES),
              direction="< 0", source=lth7),
        Claim("width: ticket - reinit gap per doubling of width (pp)", NO_NUMBER,
              needs=(WIDTH,), per_trial=width_gap_slope, direction="> 0", floor=gap_floor,
              source=lth7),
    ]
    out += [Claim(f"init {s}: ticket - reinit, test acc at early stop, mean over pruned "
                  f"levels (pp)", NO_NUMBER, needs=(INIT,), per_trial=init_gap(s),
                  direction="> 0", floor=gap_floor,
                  source="LTH Figs. 3-4 (Glorot); other schemes: open [T]")
            for s in (schemes or tuple(SCHEMES))]
    r = (RECIPES,)
    out += [
        Claim("recipes, sparsest level: ticket minus random pruning (pp)", NO_NUMBER, needs=r,
              per_trial=recipe_difference("ticket", "random_mask"), direction="> 0",
              floor=gap_floor, source="LTH Fig. 1 [T]"),
        Claim("recipes, sparsest level: fine-tune minus random reinit (pp)", NO_NUMBER,
              needs=r, per_trial=recipe_difference(FINE_TUNE, "reinit"), direction="> 0",
              floor=gap_floor, source="LTH Sec. 1, quoting Han et al. 2015 [T]"),
        Claim("recipes, sparsest level: lr rewinding minus fine-tune (pp)", NO_NUMBER,
              needs=r, per_trial=recipe_difference(LR_REWIND, FINE_TUNE), direction="> 0",
              floor=gap_floor, source="Renda et al. 2020 [T]"),
        Claim("recipes, sparsest level: lr rewinding minus reset-to-init ticket (pp)",
              NO_NUMBER, needs=r, per_trial=recipe_difference(LR_REWIND, "ticket"),
              direction="> 0", floor=gap_floor, source="Renda et al. 2020 [T]"),
        Claim("information plane: log2(inputs) minus binned (30 bins) I(X;T), dense fc1 at the "
              "end (bits; 0 = saturated)", NO_NUMBER, needs=(INFO,),
              per_trial=_headroom("binned 30"), direction="< 0.5",
              source="Saxe et al. 2018; notebook 05 [T]"),
        Claim("information plane: log2(inputs) minus noisy I(X;T), dense fc1 at the end "
              "(bits; 0 = saturated)", NO_NUMBER, needs=(INFO,), per_trial=_headroom("noisy"),
              direction="> 1", source="this estimator's purpose [T]"),
        Claim("information plane: ticket minus reinit I(T;Y), fc2 at the end (bits, noisy "
              "estimator)", NO_NUMBER, needs=(INFO,),
              per_trial=info_ticket_minus_reinit("fc2", "I(T;Y)"), direction="> 0",
              source="open question [T]"),
    ]
    return out
