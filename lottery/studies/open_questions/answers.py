"""Notebook 08's closing note: one paragraph per question, written from the results.

Each paragraph quotes the study's numbers (means over trials, with the interval the verdict
table uses: mean ± max(2 standard errors, the measurement's floor)) and reads the answer off
that interval: *yes* when it lies on the side the question asks about, *no* when it lies on
the other, *not settled at this scale* when it holds the null value -- with what would settle
it. Nothing here is typed by hand: rerun the notebook and the note changes with the numbers.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from lottery.claims.framework import Verdict, verdicts
from lottery.studies.open_questions.claims import INFO, INIT, WIDTH, claims
from lottery.studies.open_questions.claims import RECIPES as RECIPE_KEY
from lottery.studies.open_questions.study import RECIPE_NAMES, RECIPES, gaps

NOTEBOOK = "08_open_questions"
PAPER_RUN = ("`make reproduce NB=08_open_questions PROFILE=paper` (50K iterations per network, "
             "5 trials, every level; hours on a GPU)")


def _verdict(found: list[Verdict], start: str) -> Verdict | None:
    return next((v for v in found if v.claim.claim.startswith(start)), None)


def reading(v: Verdict | None, comparable: bool) -> str:
    """The answer an interval gives: yes, no, or not settled."""
    if v is None or not np.isfinite(v.mean):
        return "not measured"
    if not comparable:
        return "n/a"
    spec = v.claim.direction
    sense, threshold = spec.split() if isinstance(spec, str) else (spec.sense, spec.threshold)
    threshold = float(threshold)
    lo, hi = v.mean - v.half_width, v.mean + v.half_width
    above, below = lo > threshold, hi < threshold
    if (above and sense == ">") or (below and sense == "<"):
        return "**yes**"
    if above or below:
        return "**no** (the interval lies on the other side)"
    return f"**not settled at this scale** (the interval holds {threshold:g})"


def _num(v: Verdict | None, unit: str = "pp") -> str:
    if v is None or not np.isfinite(v.mean):
        return "not measured"
    return f"{v.mean:+.2f} ± {v.half_width:.2f} {unit} ({v.trials} trial{'s' * (v.trials > 1)})"


def _width(found, frames, comparable) -> str:
    acc = _verdict(found, "width: wider minus narrower ticket at equal remaining weights, test")
    es = _verdict(found, "width: wider minus narrower ticket at equal remaining weights, early")
    slope = _verdict(found, "width: ticket - reinit gap per doubling")
    per = gaps(frames[WIDTH], "width").groupby("width").gap.mean()
    listed = ", ".join(f"{w:g}x {g:+.2f}" for w, g in per.items())
    return (f"**Width.** At equal numbers of remaining weights, the ticket of the wider of two "
            f"neighbouring widths scored {_num(acc)} test accuracy at early stop against the "
            f"narrower one -- wider is better: {reading(acc, comparable)} -- and its early-stop "
            f"iteration differed by {_num(es, 'iterations')} (negative: earlier; earlier: "
            f"{reading(es, comparable)}). The ticket - reinit gap, mean over pruned levels, was "
            f"{listed} pp by width, {_num(slope, 'pp per doubling')}; the gap grows with width: "
            f"{reading(slope, comparable)}.")


def _inits(found, frames, comparable) -> str:
    table = frames[INIT]
    parts, winning = [], {True: [], False: []}
    for scheme in dict.fromkeys(table.init):
        v = _verdict(found, f"init {scheme}:")
        rows = table[(table.init == scheme) & (table.variant == "ticket")]
        dense = 100 * rows[rows.level == 0].early_stop_test_acc.mean()
        best = 100 * rows[rows.level > 0].groupby("level").early_stop_test_acc.mean().max()
        winning[bool(best >= dense)].append(scheme)
        parts.append(f"{scheme}: gap {_num(v)}, ticket beats reinit: {reading(v, comparable)}; "
                     f"best pruned ticket {best:.2f}% vs dense {dense:.2f}%")
    listed = "; ".join(f"{'under' if k else 'not under'} {', '.join(v)}"
                       for k, v in winning.items() if v)
    return ("**Initialization.** Ticket minus random reinit (reinit drawn from the same scheme), "
            "mean over pruned levels -- " + "; ".join(parts) + ". A pruned ticket at least as "
            f"accurate as its dense network (the paper's winning ticket) appeared {listed} "
            "(means over trials).")


def _recipes(found, frames, comparable) -> str:
    table = frames[RECIPE_KEY]
    level = table.level.max()
    at = table[table.level == level]
    pm = at.percent_remaining.mean()
    listed = "; ".join(
        f"{RECIPE_NAMES[r]} {100 * at[at.recipe == r].early_stop_test_acc.mean():.2f}% "
        f"({at[at.recipe == r].cost_trainings.mean():.2f} trainings)"
        for r in RECIPES if r in set(at.recipe))
    checks = [("ticket minus random pruning", "recipes, sparsest level: ticket minus random"),
              ("fine-tune minus reinit", "recipes, sparsest level: fine-tune minus"),
              ("lr rewinding minus fine-tune", "recipes, sparsest level: lr rewinding minus fine"),
              ("lr rewinding minus ticket", "recipes, sparsest level: lr rewinding minus reset")]
    said = "; ".join(f"{name} {_num(_verdict(found, key))} > 0: "
                     f"{reading(_verdict(found, key), comparable)}" for name, key in checks)
    return (f"**Pruning recipes** at {pm:.1f}% of weights remaining (level {level:g}), test "
            f"accuracy at early stop and training cost (mask search + own training, in full "
            f"trainings): {listed}. {said}.")


def _information(found, frames, comparable) -> str:
    binned = _verdict(found, "information plane: log2(inputs) minus binned")
    noisy = _verdict(found, "information plane: log2(inputs) minus noisy")
    gap = _verdict(found, "information plane: ticket minus reinit")
    return (f"**Information plane.** Headroom below the ceiling log2(inputs) of the dense "
            f"network's first layer at the end: binned (30 bins) {_num(binned, 'bits')} "
            f"(saturated: {reading(binned, comparable)}), noisy estimator {_num(noisy, 'bits')} "
            f"(room to move: {reading(noisy, comparable)}). Ticket minus reinit I(T;Y) of the "
            f"last hidden layer: {_num(gap, 'bits')}, ticket higher: "
            f"{reading(gap, comparable)}. This reads the estimator as much as the network: "
            f"the noisy estimate changes with its noise level, and the binned one with its "
            f"bins (Saxe et al. 2018) -- compare networks under one estimator, never a curve's "
            f"shape across estimators.")


def answers(results: Mapping[str, pd.DataFrame], profile: str, comparable: bool) -> str:
    """The closing note (markdown): one paragraph per question, then what settles the rest."""
    found = verdicts(claims(), results, profile, synthetic=not comparable)
    parts = [f(found, results, comparable) for key, f in
             ((WIDTH, _width), (INIT, _inits), (RECIPE_KEY, _recipes), (INFO, _information))
             if key in results and results[key] is not None]
    open_ = [v for v in found if "not settled" in reading(v, comparable)]
    measured = sum(np.isfinite(v.mean) for v in found)
    if not comparable:
        parts.append("Every reading is n/a: synthetic stand-in data (a pipeline check, not an "
                     "answer). Run `PROFILE=quick` "
                     "on real MNIST for the answers, and " + PAPER_RUN + " to settle them.")
    elif open_:
        parts.append(f"**What stays open.** {len(open_)} of {measured} readings are not "
                     f"settled at this scale (" + "; ".join(v.claim.claim for v in open_) +
                     "). The quick profile trains each network far fewer iterations than the "
                     f"paper, with fewer trials and levels; to settle them: {PAPER_RUN}.")
    return "\n\n".join(parts)
