"""Paper vs ours: the papers' claims, each measured on our runs where the paper measures it.

Every :class:`Claim` gets two verdicts, computed from the runs by :mod:`lottery.claims.verdicts`:

- **direction** -- is the phenomenon there: the sign of a difference or the order of two runs
  (``direction="> 0"`` tests our values; a :class:`Direction` tests another quantity). Our 95%
  t interval over trials (paired: differences are taken trial by trial), never narrower than
  the claim's ``floor`` (the resolution of the measurement: the test set's binomial error, the
  evaluation spacing), gives ``holds`` when it lies wholly on the claimed side,
  ``contradicted`` when wholly on the other, else ``inconclusive`` with the trials a
  conclusive answer would need at the observed spread. One trial is always inconclusive.
- **number** -- ``consistent`` when the paper's value lies in our interval, ``differs`` when
  not; a paper's bound ("more than 0.3 pp", ``check="at_least"``) is judged by the whole
  interval like a direction (holds / contradicted / inconclusive).

A measurement with ``levels`` makes an "at every level" claim: it holds when it holds at each
level and is contradicted when one level is contradicted at the Bonferroni level.

A claim is measured where the paper measures it: at the paper's Pm (the level nearest it,
within 20%), at early stop, at the end of training, or at a fixed iteration of the paper
(scaled like the profile's training, read from the history). Where our run does not reach
that point both verdicts are n/a and "where measured" says why. Under ``quick``, which trains
far less than the paper, the number verdict is reported but labelled as not expected to match;
``smoke`` and synthetic data give n/a throughout.

Old-style claims -- ``Claim(claim, paper, check, tolerance, measure, needs)`` with a tolerance
per profile -- still work: their number verdict is the tolerance check and their direction n/a
unless one is given. Results are keyed by preset name (``"lenet"``, ``"lenet_oneshot"``,
``"conv2"`` ...), as :class:`ExperimentResult` (histories included) or a ``results`` frame.
Accuracies are in percent, iterations as recorded.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lottery.claims import verdicts as verdicts_
from lottery.core.experiments import ExperimentResult
from lottery.core.hparams import ExperimentHparams
from lottery.core.presets import PRESETS
from lottery.core.results import in_percent

Results = Mapping[str, "ExperimentResult | pd.DataFrame"]
NA = "n/a"
NEAR = 0.2                 # a level stands for the paper's Pm when within 20% of it (relative)
RANGE_SLACK = 0.05         # a level counts inside a range of the paper's Pm within 5% of its ends
TEST_SIZE = 10_000         # MNIST and CIFAR-10 test sets (quick and paper use them whole)
VAL_SIZE = 5_000           # LTH: 5K training examples held out for validation
ES, ACC = "early_stop_iteration", "early_stop_test_acc"
COLUMNS = ["claim", "paper", "ours", "direction", "number", "where measured", "source"]


class NotMeasured(Exception):
    """Our runs cannot give this quantity (a level or iteration not reached, no history)."""


def binomial_floor(percent: float, n: int = TEST_SIZE, difference: bool = False) -> float:
    """Two binomial standard errors (pp) of an accuracy near ``percent`` measured on ``n``
    examples (x sqrt 2 for the difference of two independent ones): what one trial resolves."""
    p = percent / 100
    return 200 * math.sqrt(p * (1 - p) / n) * (math.sqrt(2) if difference else 1)


# --- the runs a claim reads -------------------------------------------------------------------

class Runs(dict):
    """Results frames by key (what old-style ``measure`` functions index), with the histories
    and hyperparameters of the runs given as :class:`ExperimentResult`."""

    def __init__(self, results: Results):
        super().__init__({k: _frame(v) for k, v in results.items()})
        self.full = {k: v for k, v in results.items() if isinstance(v, ExperimentResult)}

    def history(self, key: str) -> pd.DataFrame:
        if key not in self.full:
            raise NotMeasured(f"{key}: no training history given")
        return self.full[key].histories

    def hparams(self, key: str) -> ExperimentHparams | None:
        return self.full[key].hparams if key in self.full else None

    def paper_iterations(self, key: str) -> tuple[int, int]:
        """(our iterations, the paper's) of ``key``'s training: how its iterations scale."""
        hp = self.hparams(key)
        if hp is None:
            raise NotMeasured(f"{key}: no hyperparameters given")
        paper = PRESETS[hp.name].training.iterations if hp.name in PRESETS else \
            hp.training.iterations
        return hp.training.iterations, paper

    def eval_every(self, key: str) -> int:
        hp = self.hparams(key)
        return hp.training.eval_every if hp is not None else 100


def _frame(value: ExperimentResult | pd.DataFrame) -> pd.DataFrame:
    return value.results if isinstance(value, ExperimentResult) else value


# --- where a quantity is read -------------------------------------------------------------------

@dataclass(frozen=True)
class At:
    """One quantity per trial: ``metric`` of ``variant`` of run ``key`` at the paper's Pm
    ``percent`` (``variant="dense"``: the unpruned network), or its test accuracy at the paper's
    ``iteration`` (scaled like the run's training; the end of training reads the results)."""

    key: str
    variant: str = "ticket"
    percent: float | None = None
    metric: str = ACC
    iteration: int | None = None


def level_of(frame: pd.DataFrame, percent: float, variant: str = "ticket") -> tuple[float, float]:
    """(level, our percent remaining) of the level of ``variant`` nearest the paper's Pm."""
    rows = frame[(frame.variant == variant) & (frame.level > 0)]
    if rows.empty:
        raise NotMeasured(f"no pruned {variant} networks")
    pm = rows.groupby("level").percent_remaining.mean()
    gap = (pm - percent).abs() / percent
    if gap.min() > NEAR:
        raise NotMeasured(f"Pm {percent:g}% not reached (ours {pm.max():.1f}% to "
                          f"{pm.min():.1f}%)")
    level = gap.idxmin()
    return level, float(pm[level])


def _when(at: At) -> str:
    if at.metric.startswith("early_stop"):
        return "at early stop"
    return "at the end of training" if at.metric.startswith("final") else ""


def _read(runs: Runs, at: At) -> tuple[pd.Series, str, str]:
    """``at``'s quantity per trial (index: trial), the level it was read at ("dense" or "Pm
    x% (level L)") and when in training."""
    frame = runs[at.key]
    if at.variant == "dense":
        level, variant, place = 0, "ticket", "dense"
    else:
        level, pm = level_of(frame, at.percent, at.variant)
        variant, place = at.variant, f"Pm {pm:.1f}% (level {level:g})"
    if at.iteration is not None:
        values, when = at_iteration(runs, at.key, level, variant, at.iteration)
    else:
        rows = frame[(frame.level == level) & (frame.variant == variant)]
        values = in_percent(at.metric, rows.groupby("trial")[at.metric].mean())
        when = _when(at)
    if values.dropna().empty:
        raise NotMeasured(f"{at.key}: no {variant} at level {level:g}")
    return values.dropna(), place, when


def trial_values(runs: Runs, at: At) -> tuple[pd.Series, str]:
    """``at``'s quantity per trial (index: trial) and where it was read."""
    values, place, when = _read(runs, at)
    return values, f"{place}, {when}" if when else place


def at_iteration(runs: Runs, key: str, level: float, variant: str,
                 paper_iteration: int) -> tuple[pd.Series, str]:
    """Test accuracy (%) per trial at the evaluation nearest the paper's iteration scaled to the
    run (LTH Figs. 7, 8 report 30K/60K/112K and 10K/20K/30K); the end is the final accuracy."""
    ours, paper = runs.paper_iterations(key)
    frame = runs[key]
    if paper_iteration >= paper:
        rows = frame[(frame.level == level) & (frame.variant == variant)]
        return in_percent("test_acc", rows.groupby("trial").final_test_acc.mean()), \
            f"at the end, iteration {ours} (paper {paper_iteration / 1000:g}K)"
    history = runs.history(key)
    rows = history[(history.level == level) & (history.variant == variant)]
    nearest = _nearest(rows.iteration.unique(), paper_iteration * ours / paper)
    values = rows[rows.iteration == nearest].groupby("trial").test_acc.mean()
    if values.isna().all():
        raise NotMeasured(f"no test accuracy at iteration {nearest} (training.test_curve off)")
    return in_percent("test_acc", values), \
        f"at iteration {nearest} (paper {paper_iteration / 1000:g}K)"


def _nearest(points, target: float) -> int:
    """The evaluation iteration nearest ``target`` (the later one on a tie)."""
    if len(points) == 0:
        raise NotMeasured("no evaluations recorded")
    return int(min(points, key=lambda i: (abs(i - target), -i)))


def at_iterations(result: ExperimentResult, paper_iterations: Sequence[int]) -> pd.DataFrame:
    """``result``'s table with one column per paper iteration, "test accuracy at 30K (%)": the
    test accuracy at the evaluation nearest it once scaled (for LTH Figs. 7 and 8)."""
    runs = Runs({"run": result})
    frame = result.results.copy()
    for iteration in paper_iterations:
        column = f"test accuracy at {round(iteration / 1000)}K (%)"
        values = {}
        for (level, variant), _ in frame.groupby(["level", "variant"]):
            try:
                series, _ = at_iteration(runs, "run", level, variant, iteration)
            except NotMeasured:
                continue
            values |= {(t, level, variant): v for t, v in series.items()}
        frame[column] = [values.get((t, lv, v), np.nan) for t, lv, v in
                         zip(frame.trial, frame.level, frame.variant, strict=True)]
    return frame


# --- quantities per trial ----------------------------------------------------------------------

@dataclass(frozen=True)
class Measurement:
    """Our value per trial, where it was read and, when the quantity fixes it, the floor of
    its uncertainty (overriding the claim's)."""

    values: tuple[float, ...]
    where: str = ""
    floor: float | None = None
    # a claim "at every level": (label, values per trial) of each level, judged level by level
    levels: tuple[tuple[str, tuple[float, ...]], ...] = ()


PerTrial = Callable[[Runs], "Measurement | Sequence[float]"]


def value(at: At) -> PerTrial:
    """``at``'s quantity per trial."""
    def measure(runs: Runs) -> Measurement:
        values, where = trial_values(runs, at)
        # early-stop iterations are read every ``eval_every``: one evaluation is their floor
        floor = float(runs.eval_every(at.key)) if at.metric == ES else None
        return Measurement(tuple(values), where, floor)
    return measure


def _paired(runs: Runs, a: At, b: At) -> tuple[pd.Series, pd.Series, str]:
    """``a`` and ``b`` on the trials that have both, and where they were read."""
    (va, pa, wa), (vb, pb, wb) = _read(runs, a), _read(runs, b)
    both = va.index.intersection(vb.index)
    if both.empty:
        raise NotMeasured("no trial has both quantities")

    def name(at: At, place: str) -> str:
        who = at.key + " " if a.key != b.key else ""
        return who + ("dense" if at.variant == "dense" else at.variant)
    if pa == pb and pa != "dense":
        where = f"{name(a, pa)} vs {name(b, pb)} at {pa}"
    else:
        where = " vs ".join(name(at, p) + ("" if p == "dense" else f" at {p}")
                            for at, p in ((a, pa), (b, pb)))
    when = wa if wa == wb else f"{wa} vs {wb}"
    return va[both], vb[both], f"{where}, {when}" if when else where


def difference(a: At, b: At) -> PerTrial:
    """``a`` minus ``b``, trial by trial (trials share their initialization across runs)."""
    def measure(runs: Runs) -> Measurement:
        va, vb, where = _paired(runs, a, b)
        floor = float(runs.eval_every(a.key)) if a.metric == ES else None
        return Measurement(tuple(va - vb), where, floor)
    return measure


def ratio(a: At, b: At, percent_fewer: bool = False) -> PerTrial:
    """``a / b`` per trial (``percent_fewer``: 100 (1 - a/b), "% fewer iterations"); for
    early-stop iterations the floor is one evaluation's spacing on either side."""
    def measure(runs: Runs) -> Measurement:
        va, vb, where = _paired(runs, a, b)
        r = va / vb
        floor = None
        if a.metric == ES:  # d(a/b) = a/b (da/a + db/b), one evaluation each
            step = runs.eval_every(a.key)
            floor = float(r.mean() * step * (1 / va.mean() + 1 / vb.mean()))
        if percent_fewer:
            return Measurement(tuple(100 * (1 - r)), where, None if floor is None else
                               100 * floor)
        return Measurement(tuple(r), where, floor)
    return measure


def _curve(runs: Runs, key: str, variant: str, metric: str,
           iteration: int | None) -> tuple[pd.DataFrame, pd.Series]:
    """(trial x level table of ``variant``'s pruned levels, percent remaining per level)."""
    frame = runs[key]
    rows = frame[(frame.variant == variant) & (frame.level > 0)]
    if rows.empty:
        raise NotMeasured(f"{key}: no pruned {variant} networks")
    pm = rows.groupby("level").percent_remaining.mean()
    if iteration is None:
        table = rows.pivot_table(index="trial", columns="level", values=metric, aggfunc="mean")
        return in_percent(metric, table), pm
    columns = {lv: at_iteration(runs, key, lv, variant, iteration)[0] for lv in pm.index}
    return pd.DataFrame(columns), pm


def _dense(runs: Runs, key: str, metric: str, iteration: int | None) -> pd.Series:
    return trial_values(runs, At(key, "dense", metric=metric, iteration=iteration))[0]


def _versus(runs: Runs, key: str, versus: str | At, metric: str, iteration: int | None,
            levels) -> pd.DataFrame | pd.Series:
    """What a curve is compared with: the dense network, another variant at the same levels,
    or a fixed quantity of another run (per trial)."""
    if isinstance(versus, At):
        return trial_values(runs, versus)[0]
    if versus == "dense":
        return _dense(runs, key, metric, iteration)
    return _curve(runs, key, versus, metric, iteration)[0].reindex(columns=levels)


def _range_label(lo: float, hi: float) -> str:
    return f"{hi:g}% ≥ Pm ≥ {lo:g}%" if hi < 100 else f"Pm ≥ {lo:g}%"


def _levels_in(pm: pd.Series, lo: float, hi: float, key: str,
               slack: float = RANGE_SLACK) -> pd.Index:
    """The levels inside the paper's range (ends that are levels of the paper get a ``slack``:
    ours may sit a little off them; a bound such as "Pm > 2%" gets none)."""
    levels = pm[(pm >= lo * (1 - slack)) & (pm <= hi * (1 + slack))].index
    if levels.empty:
        raise NotMeasured(f"{key}: no level with {_range_label(lo, hi)}")
    return levels


def at_every_level(key: str, variant: str, versus: str | At, pm_range=(0.0, 100.0),
                   metric: str = ACC, iteration: int | None = None,
                   slack: float = RANGE_SLACK, floor: float | None = None) -> PerTrial:
    """Per trial and per level within ``pm_range``, ``variant`` minus ``versus``: a claim "at
    every level" (LTH Fig. 1: tickets beat random pruning at every size), judged level by level;
    the values shown are each trial's mean over the levels. For early-stop iterations the floor
    is one evaluation."""
    def measure(runs: Runs) -> Measurement:
        curve, pm = _curve(runs, key, variant, metric, iteration)
        levels = _levels_in(pm, *pm_range, key, slack)
        other = _versus(runs, key, versus, metric, iteration, levels)
        gaps = curve[levels].sub(other, axis=0) if isinstance(other, pd.Series) \
            else curve[levels] - other
        per_level = tuple((f"Pm {pm[lv]:.1f}%", tuple(gaps[lv].dropna())) for lv in levels)
        where = f"{len(levels)} levels, {pm[levels].max():.1f}% to {pm[levels].min():.1f}%"
        step = float(runs.eval_every(key)) if metric == ES else floor
        return Measurement(tuple(gaps.mean(axis=1).dropna()), where, step, per_level)
    return measure


def mean_over_levels(key: str, variant: str, versus: str | At | None, pm_range=(0.0, 100.0),
                     metric: str = ACC, iteration: int | None = None,
                     slack: float = RANGE_SLACK) -> PerTrial:
    """Per trial, the mean over ``variant``'s levels within ``pm_range`` of its ``metric``
    (minus ``versus`` when given)."""
    def measure(runs: Runs) -> Measurement:
        curve, pm = _curve(runs, key, variant, metric, iteration)
        levels = _levels_in(pm, *pm_range, key, slack)
        gap = curve[levels]
        if versus is not None:
            other = _versus(runs, key, versus, metric, iteration, levels)
            gap = gap.sub(other, axis=0) if isinstance(other, pd.Series) else gap - other
        when = f", at {iteration / 1000:g}K (paper)" if iteration else ""
        where = f"mean of {len(levels)} levels, {pm[levels].max():.1f}% to " \
                f"{pm[levels].min():.1f}%{when}"
        return Measurement(tuple(gap.mean(axis=1).dropna()), where)
    return measure


def best_level_gap(key: str, variant: str = "ticket", metric: str = ACC) -> PerTrial:
    """Per trial, ``variant`` minus dense at the level where the mean gap is largest (the
    paper's "up to ... pp")."""
    def measure(runs: Runs) -> Measurement:
        curve, pm = _curve(runs, key, variant, metric, None)
        gap = curve.sub(_dense(runs, key, metric, None), axis=0)
        best = gap.mean().idxmax()
        return Measurement(tuple(gap[best].dropna()),
                           f"best level: Pm {pm[best]:.1f}% (level {best:g})")
    return measure


def falls_below_at(curve: pd.Series, dense: float) -> float:
    """The Pm where ``curve`` (accuracy by Pm, descending) falls below ``dense`` for good: the
    start of the last run of levels below it; NaN if its sparsest level is not below."""
    below = curve < dense
    if below.empty or not below.iloc[-1]:
        return float("nan")
    start = len(below)
    while start > 0 and below.iloc[start - 1]:
        start -= 1
    return float(curve.index[start])


def drop_ratio(key: str, early: str = "reinit", late: str = "ticket") -> PerTrial:
    """Per trial, the Pm where ``early``'s accuracy falls below dense for good divided by the
    Pm where ``late``'s does; the floor is one pruning level (x1.25) on one end."""
    def measure(runs: Runs) -> Measurement:
        dense = _dense(runs, key, ACC, None)
        drops = {}
        for variant in (early, late):
            curve, pm = _curve(runs, key, variant, ACC, None)
            drops[variant] = pd.Series({t: falls_below_at(pd.Series(curve.loc[t].values,
                                                                index=pm.values), dense[t])
                                        for t in curve.index if t in dense.index})
        r = (drops[early] / drops[late]).dropna()
        where = "; ".join(f"{v} below dense from Pm {drops[v].mean():.1f}%"
                          if drops[v].notna().any() else f"{v} not below dense at the end"
                          for v in (early, late))
        return Measurement(tuple(r), where, 0.25 * float(r.mean()) if len(r) else None)
    return measure


# --- claims and verdicts -----------------------------------------------------------------------

@dataclass(frozen=True)
class Direction:
    """The phenomenon as a test: the interval over trials of ``measure`` against ``threshold``
    (``sense`` ">" or "<"; see :mod:`lottery.claims.verdicts`); ``text`` says what must hold."""

    text: str
    measure: PerTrial
    sense: str = ">"
    threshold: float = 0.0


@dataclass(frozen=True)
class Claim:
    """One claim of a paper. Old style: ``measure`` gives our value and ``tolerance`` (per
    profile) the number check. New style: ``per_trial`` gives a value per trial, ``direction``
    the phenomenon (``"> 0"`` on our values, or a :class:`Direction`), ``floor`` the least
    half-width of our interval (a measurement may fix its own), ``source`` the paper's
    sentence or figure, ``where`` where it is measured when the measurement does not say."""

    claim: str
    paper: float
    check: str = "within"               # "within" | "at_least" | "above" | "at_most"
    tolerance: dict[str, float] = field(default_factory=dict)  # profile -> tolerance (old style)
    measure: Callable[[Mapping[str, pd.DataFrame]], float] | None = None
    needs: tuple[str, ...] = field(default=())  # result keys the measure reads
    per_trial: PerTrial | None = None
    direction: str | Direction | None = None
    floor: float = 0.0
    source: str = ""
    where: str = ""

    def accepts(self, ours: float, tolerance: float) -> bool:
        """The old-style number check: ``ours`` against the paper's value and a tolerance."""
        if self.check == "within":
            return abs(ours - self.paper) <= tolerance
        if self.check == "at_least":
            return ours >= self.paper - tolerance
        if self.check == "above":
            return ours > self.paper - tolerance
        if self.check == "at_most":
            return ours <= self.paper + tolerance
        raise ValueError(f"unknown check {self.check!r}")

    def describe(self, tolerance: float | None) -> str:
        if tolerance is None:
            return NA
        if self.check == "within":
            return f"±{tolerance:g}"
        sign = {"at_least": "≥", "above": ">"}.get(self.check, "≤")
        bound = self.paper + tolerance if self.check == "at_most" else self.paper - tolerance
        return f"ours {sign} {bound:g}"


@dataclass(frozen=True)
class Verdict:
    """One claim judged on the runs: our interval, both verdicts, where it was measured."""

    claim: Claim
    mean: float
    half_width: float           # NaN for one trial (no spread) and old-style claims
    trials: int                 # 0 for an old-style claim
    direction: str              # "holds" | "contradicted" | "inconclusive" | "n/a" (+ why)
    number: str                 # "consistent" | "differs", a bound's direction word, or "n/a"
    where: str


def _as_measurement(result) -> Measurement:
    return result if isinstance(result, Measurement) else Measurement(tuple(result))


def estimate(m: Measurement, floor: float) -> verdicts_.Interval:
    """Our t interval over trials (paired where the values are per-trial differences), never
    narrower than the measurement's floor (else ``floor``); one trial has none."""
    return verdicts_.interval(m.values, m.floor if m.floor is not None else float(floor))


def _settle(iv: verdicts_.Interval, threshold: float) -> str:
    """Why an inconclusive verdict is so, and what would settle it."""
    if iv.trials < 2:
        return "1 trial: no spread to judge"
    n = verdicts_.trials_needed(iv, threshold)
    if n is None:
        return "more trials cannot settle it at this resolution"
    return f"~{n} trials would settle it"


def _outcome(iv: verdicts_.Interval, sense: str, threshold: float, text: str,
             m: Measurement | None = None) -> str:
    """A direction outcome with what it tested, at every level when ``m`` has levels."""
    if m is not None and m.levels:
        ivs = [verdicts_.interval(values, m.floor or 0.0) for _, values in m.levels]
        word, counts = verdicts_.every_level(ivs, sense, threshold)
        detail = ", ".join(f"{n} {w}" for w, n in counts.items() if n)
        return f"{word} ({text}; levels: {detail})"
    word = verdicts_.direction(iv, sense, threshold)
    why = f"; {_settle(iv, threshold)}" if word == verdicts_.INCONCLUSIVE else ""
    return f"{word} ({text}{why})"


def _direction(claim: Claim, runs: Runs, m: Measurement) -> str:
    """The direction verdict: the claim's own values, or its :class:`Direction`'s quantity."""
    spec = claim.direction
    if spec is None:
        return NA
    if isinstance(spec, str):
        sense, threshold = spec.split()
        spec, tested = Direction(f"ours {spec}", None, sense, float(threshold)), m
    else:
        try:
            tested = _as_measurement(spec.measure(runs))
        except (NotMeasured, KeyError, ValueError, ZeroDivisionError):
            return NA
    iv = estimate(tested, claim.floor if tested is m else 0.0)
    if not np.isfinite(iv.mean):
        return NA
    return _outcome(iv, spec.sense, spec.threshold, spec.text, tested)


def _measure(claim: Claim, runs: Runs) -> tuple[Measurement | None, float, str]:
    """(our measurement, the old-style value, where); None and the reason when not measured."""
    try:
        with np.errstate(all="ignore"):
            if claim.per_trial is None:
                return None, float(claim.measure(runs)), claim.where
            m = _as_measurement(claim.per_trial(runs))
            return m, float("nan"), m.where or claim.where
    except NotMeasured as reason:
        return None, float("nan"), f"not measured: {reason}"
    except (KeyError, ValueError, ZeroDivisionError, IndexError) as error:
        return None, float("nan"), f"not measured: {type(error).__name__} {error}"


def _number(claim: Claim, iv: verdicts_.Interval, profile: str) -> str:
    if not (np.isfinite(iv.mean) and np.isfinite(claim.paper)):
        return NA
    if claim.per_trial is None:
        tolerance = claim.tolerance.get(profile)
        if tolerance is None:
            return NA
        verdict = verdicts_.CONSISTENT if claim.accepts(iv.mean, tolerance) else \
            verdicts_.DIFFERS
    elif claim.check == "within":
        verdict = verdicts_.number(iv, claim.paper)
    else:
        verdict = verdicts_.bound(iv, claim.paper, claim.check)
    return verdict if profile == "paper" else f"{verdict} (not expected under {profile})"


def judge(claim: Claim, runs: Runs, profile: str, comparable: bool = True) -> Verdict:
    """``claim`` measured on ``runs`` and judged under ``profile`` (``comparable`` False:
    synthetic data, both verdicts n/a)."""
    m, old, where = _measure(claim, runs)
    iv = estimate(m, claim.floor) if m is not None else \
        verdicts_.Interval(old, float("nan"), 0, float("nan"))
    if not comparable or profile == "smoke":
        return Verdict(claim, iv.mean, iv.half, iv.trials, NA, NA, where)
    direction = _direction(claim, runs, m) if m is not None and np.isfinite(iv.mean) else NA
    return Verdict(claim, iv.mean, iv.half, iv.trials, direction,
                   _number(claim, iv, profile), where)


def _shown_paper(claim: Claim) -> str:
    if not np.isfinite(claim.paper):
        return "— (no number)"
    sign = {"at_least": "≥ ", "above": "> ", "at_most": "≤ "}.get(claim.check, "")
    return f"{sign}{claim.paper:g}"


def _shown_ours(v: Verdict) -> str:
    if not np.isfinite(v.mean):
        return "—"
    if v.trials == 0:
        return f"{v.mean:.2f}"
    if v.trials == 1:
        return f"{v.mean:.2f} (1 trial: no interval)"
    return f"{v.mean:.2f} ± {v.half_width:.2f} ({v.trials} trials)"


def row(v: Verdict) -> dict:
    return {"claim": v.claim.claim, "paper": _shown_paper(v.claim), "ours": _shown_ours(v),
            "direction": v.direction, "number": v.number, "where measured": v.where,
            "source": v.claim.source}


def verdicts(claims: Sequence[Claim], results: Results, profile: str,
             synthetic: bool | None = None) -> list[Verdict]:
    """``claims`` (a notebook's) judged on ``results``; claims whose results are missing (e.g.
    dropout off) are left out. ``synthetic`` None reads the results' own flags."""
    if synthetic is None:
        synthetic = any(getattr(v, "synthetic", False) for v in results.values())
    runs = Runs(results)
    return [judge(claim, runs, profile, comparable=not synthetic)
            for claim in claims if all(k in runs for k in claim.needs)]


def paper_vs_ours(claims: Sequence[Claim], results: Results, profile: str,
                  synthetic: bool | None = None) -> pd.DataFrame:
    """A notebook's paper-vs-ours table of ``claims``: claim, paper, ours (mean ± the 95% t
    interval's half-width over trials, never narrower than the claim's floor), direction and number
    verdicts, where measured, source."""
    return pd.DataFrame([row(v) for v in verdicts(claims, results, profile, synthetic)],
                        columns=COLUMNS)


NO_NUMBER = float("nan")   # the paper shows it (a figure, an ordering) without a number
