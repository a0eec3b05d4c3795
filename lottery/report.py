"""Paper vs ours: the papers' claims, each measured on our runs where the paper measures it.

Every :class:`Claim` gets two verdicts, computed from the runs:

- **direction** -- is the phenomenon there: the sign of a difference or the order of two runs
  (``direction="> 0"`` tests our mean; a :class:`Direction` tests another quantity);
- **number** -- does the paper's value lie within our estimate's uncertainty: the mean over
  trials ± 2 standard errors, never narrower than the claim's ``floor`` (the resolution of the
  measurement: the test set's binomial error, the evaluation spacing, one pruning level), which
  is the whole width with one trial. Where the paper states a bound ("more than 0.3 pp",
  ``check="at_least"``) our interval has to reach it.

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
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lottery import cheap_claims, deconstruct_claims, open_questions_claims
from lottery.experiments import ExperimentResult
from lottery.hparams import ExperimentHparams
from lottery.presets import PRESETS
from lottery.results import in_percent
from lottery.stability_claims import claims as stability_claims
from lottery.transfer_claims import transfer_claims

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


def share_of_levels(key: str, variant: str, versus: str | At, pm_range=(0.0, 100.0),
                    metric: str = ACC, better: str = ">", iteration: int | None = None,
                    slack: float = RANGE_SLACK) -> PerTrial:
    """Per trial, % of ``variant``'s levels within ``pm_range`` where it beats ``versus``
    (``better``: ">" higher, "<" lower); the floor is one level."""
    compare = operator.gt if better == ">" else operator.lt

    def measure(runs: Runs) -> Measurement:
        curve, pm = _curve(runs, key, variant, metric, iteration)
        levels = _levels_in(pm, *pm_range, key, slack)
        other = _versus(runs, key, versus, metric, iteration, levels)
        wins = compare(curve[levels].sub(other, axis=0) if isinstance(other, pd.Series)
                       else curve[levels] - other, 0)
        share = 100 * wins.mean(axis=1)
        where = f"{len(levels)} levels, {pm[levels].max():.1f}% to {pm[levels].min():.1f}%"
        return Measurement(tuple(share), where, 100 / len(levels))
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
    """The phenomenon as a test: the mean over trials of ``measure`` compared with
    ``threshold`` (``sense`` ">" or "<"); ``text`` says what must hold."""

    text: str
    measure: PerTrial
    sense: str = ">"
    threshold: float = 0.0


@dataclass(frozen=True)
class Claim:
    """One claim of a paper. Old style: ``measure`` gives our value and ``tolerance`` (per
    profile) the number check. New style: ``per_trial`` gives a value per trial, ``direction``
    the phenomenon (``"> 0"`` on our mean, or a :class:`Direction`), ``floor`` the least
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

    def contains(self, mean: float, half_width: float) -> bool:
        """The number check: the paper's value within mean ± half-width (a bound: reached)."""
        if self.check == "within":
            return abs(self.paper - mean) <= half_width
        if self.check in ("at_least", "above"):
            return mean + half_width >= self.paper
        if self.check == "at_most":
            return mean - half_width <= self.paper
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
    """One claim judged on the runs: our estimate, both verdicts, where it was measured."""

    claim: Claim
    mean: float
    half_width: float           # NaN for an old-style claim (no trials)
    trials: int                 # 0 for an old-style claim
    direction: str              # "pass" | "fail" | "n/a"
    number: str                 # "pass" | "fail" | "n/a", labelled when not expected
    where: str


def _as_measurement(result) -> Measurement:
    return result if isinstance(result, Measurement) else Measurement(tuple(result))


def estimate(m: Measurement, floor: float) -> tuple[float, float, int]:
    """(mean, half-width, trials): half-width = max(2 SE, floor), the floor alone for one."""
    values = np.asarray([v for v in m.values if np.isfinite(v)], dtype=float)
    if values.size == 0:
        return float("nan"), float("nan"), 0
    floor = m.floor if m.floor is not None else floor
    se = values.std(ddof=1) / math.sqrt(values.size) if values.size > 1 else 0.0
    return float(values.mean()), max(2 * se, float(floor)), int(values.size)


def _direction(claim: Claim, runs: Runs, mean: float) -> str:
    """The direction verdict: the claim's own mean, or its :class:`Direction`'s quantity."""
    spec = claim.direction
    if spec is None:
        return NA
    if isinstance(spec, str):
        sense, threshold = spec.split()
        spec, tested = Direction(f"ours {spec}", None, sense, float(threshold)), mean
    else:
        try:
            tested = estimate(_as_measurement(spec.measure(runs)), 0.0)[0]
        except (NotMeasured, KeyError, ValueError, ZeroDivisionError):
            return NA
    if not np.isfinite(tested):
        return NA
    holds = tested > spec.threshold if spec.sense == ">" else tested < spec.threshold
    return f"{'pass' if holds else 'fail'} ({spec.text})"


def _measure(claim: Claim, runs: Runs) -> tuple[float, float, int, str]:
    """(mean, half-width, trials, where) of our value; NaN and the reason when not measured."""
    try:
        with np.errstate(all="ignore"):
            if claim.per_trial is None:
                return float(claim.measure(runs)), float("nan"), 0, claim.where
            m = _as_measurement(claim.per_trial(runs))
            mean, half, n = estimate(m, claim.floor)
            return mean, half, n, m.where or claim.where
    except NotMeasured as reason:
        return float("nan"), float("nan"), 0, f"not measured: {reason}"
    except (KeyError, ValueError, ZeroDivisionError, IndexError) as error:
        return float("nan"), float("nan"), 0, f"not measured: {type(error).__name__} {error}"


def _number(claim: Claim, mean: float, half: float, profile: str) -> str:
    if not (np.isfinite(mean) and np.isfinite(claim.paper)):
        return NA
    if claim.per_trial is None:
        tolerance = claim.tolerance.get(profile)
        if tolerance is None:
            return NA
        verdict = "pass" if claim.accepts(mean, tolerance) else "fail"
    else:
        verdict = "pass" if claim.contains(mean, half) else "fail"
    return verdict if profile == "paper" else f"{verdict} (not expected under {profile})"


def judge(claim: Claim, runs: Runs, profile: str, comparable: bool = True) -> Verdict:
    """``claim`` measured on ``runs`` and judged under ``profile`` (``comparable`` False:
    synthetic data, both verdicts n/a)."""
    mean, half, n, where = _measure(claim, runs)
    if not comparable or profile == "smoke":
        return Verdict(claim, mean, half, n, NA, NA, where)
    direction = _direction(claim, runs, mean) if np.isfinite(mean) else NA
    return Verdict(claim, mean, half, n, direction, _number(claim, mean, half, profile), where)


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
    return f"{v.mean:.2f} ± {v.half_width:.2f} ({v.trials} trial{'s' * (v.trials > 1)})"


def row(v: Verdict) -> dict:
    return {"claim": v.claim.claim, "paper": _shown_paper(v.claim), "ours": _shown_ours(v),
            "direction": v.direction, "number": v.number, "where measured": v.where,
            "source": v.claim.source}


def verdicts(notebook: str, results: Results, profile: str,
             synthetic: bool | None = None) -> list[Verdict]:
    """The notebook's claims judged on ``results``; claims whose results are missing (e.g.
    dropout off) are left out. ``synthetic`` None reads the results' own flags."""
    if synthetic is None:
        synthetic = any(getattr(v, "synthetic", False) for v in results.values())
    runs = Runs(results)
    return [judge(claim, runs, profile, comparable=not synthetic)
            for claim in CLAIMS[notebook] if all(k in runs for k in claim.needs)]


def paper_vs_ours(notebook: str, results: Results, profile: str,
                  synthetic: bool | None = None) -> pd.DataFrame:
    """The notebook's paper-vs-ours table: claim, paper, ours (mean ± 2 SE over trials, never
    narrower than the claim's floor), direction and number verdicts, where measured, source."""
    return pd.DataFrame([row(v) for v in verdicts(notebook, results, profile, synthetic)],
                        columns=COLUMNS)


# --- measuring helpers of the first claims (kept for claims written against them) ----------

def _rows(frame: pd.DataFrame, variant: str, percent: float | None = None,
          level: int | None = None) -> pd.DataFrame:
    """Rows of ``variant`` at the level nearest ``percent`` (within 20% relative), or ``level``;
    the dense level serves every variant."""
    if level == 0 or (percent is not None and percent >= 99.9):
        return frame[(frame.level == 0) & (frame.variant == "ticket")]
    rows = frame[(frame.variant == variant) & (frame.level > 0)]
    if level is not None:
        return rows[rows.level == level]
    if percent is None or rows.empty:
        return rows.iloc[:0]
    gap = (rows.percent_remaining - percent).abs() / percent
    best = rows.loc[gap.idxmin(), "level"]
    return rows[rows.level == best] if gap.min() <= NEAR else rows.iloc[:0]


def mean_at(frame: pd.DataFrame, metric: str, variant: str = "ticket",
            percent: float | None = None, level: int | None = None) -> float:
    """Mean over trials of ``metric`` (accuracies in percent) at one level; NaN if absent."""
    rows = _rows(frame, variant, percent, level)
    if rows.empty:
        return float("nan")
    return float(in_percent(metric, rows[metric].mean()))


def by_level(frame: pd.DataFrame, metric: str, variant: str = "ticket") -> pd.Series:
    """Mean over trials of ``metric`` per pruned level (index: percent remaining, descending)."""
    rows = frame[(frame.variant == variant) & (frame.level > 0)]
    series = rows.groupby("level").agg(p=("percent_remaining", "mean"), v=(metric, "mean"))
    return in_percent(metric, series.set_index("p").v).sort_index(ascending=False)


def drop_point(frame: pd.DataFrame, variant: str, threshold: float = 1.0) -> float:
    """Highest percent remaining at which ``variant``'s early-stop test accuracy falls more than
    ``threshold`` pp below the dense network's; the sparsest level measured if it never does."""
    dense = mean_at(frame, ACC, level=0)
    curve = by_level(frame, ACC, variant)
    if curve.empty:
        return float("nan")
    below = curve[curve < dense - threshold]
    return float(below.index.max() if len(below) else curve.index.min())


def sparsest(frame: pd.DataFrame) -> float:
    rows = frame[(frame.variant == "ticket") & (frame.level > 0)]
    return float(rows.percent_remaining.min()) if len(rows) else float("nan")


def _diff_at_sparsest(key: str, metric: str = "final_test_acc", other: str | None = None,
                      variant: str = "ticket") -> Callable[[Mapping[str, pd.DataFrame]], float]:
    """Ticket at the sparsest level minus dense (or minus ``other``'s ticket at that level)."""
    def measure(r: Mapping[str, pd.DataFrame]) -> float:
        p = sparsest(r[key])
        ours = mean_at(r[key], metric, variant, percent=p)
        base = mean_at(r[other], metric, percent=p) if other else mean_at(r[key], metric, level=0)
        return ours - base
    return measure


# --- the claims -------------------------------------------------------------------------------
# Each claim cites the paper's sentence or figure beside it; LTH = Frankle & Carbin, ICLR 2019
# (arXiv 1803.03635 v5), Stabilizing = Frankle, Dziugaite, Roy & Carbin 2019 (arXiv 1903.01611).
# [~]: read from a plot, not stated in the text.

FINAL = "final_test_acc"
NO_NUMBER = float("nan")   # the paper shows it (a figure, an ordering) without a number
MNIST_ONE = binomial_floor(98.0)                          # one LeNet accuracy: ~0.28 pp
MNIST_GAP = binomial_floor(98.0, difference=True)         # a gap between two: ~0.40 pp
DEEP_ONE = binomial_floor(91.0)                           # VGG-19 / ResNet-18: ~0.57 pp
DEEP_GAP = binomial_floor(91.0, difference=True)          # ~0.81 pp


def val_at_early_stop(key: str) -> PerTrial:
    """The dense network's validation accuracy (%) at its early-stop iteration, per trial (LTH
    App. H reports validation accuracy), read from the history."""
    def measure(runs: Runs) -> Measurement:
        frame, history = runs[key], runs.history(key)
        dense = frame[(frame.level == 0) & (frame.variant == "ticket")]
        rows = history[(history.level == 0) & (history.variant == "ticket")]
        values = [in_percent("val_acc", rows[(rows.trial == t) & (rows.iteration == it)]
                             .val_acc.mean()) for t, it in zip(dense.trial,
                                                              dense.early_stop_iteration,
                                                              strict=True)]
        return Measurement(tuple(values), "dense, validation accuracy at early stop")
    return measure


def _lenet_claims() -> list[Claim]:
    """LTH Sec. 2 (Figs. 1, 3, 4): LeNet-300-100 on MNIST, iterative and one-shot pruning."""
    lenet, oneshot = ("lenet",), ("lenet_oneshot",)
    dense, dense_es = At("lenet", "dense"), At("lenet", "dense", metric=ES)

    def ticket(pm, metric=ACC, variant="ticket", key="lenet"):
        return At(key, variant, pm, metric)

    return [
        # LTH Figs. 3, 4a: the dense network tests at about 98% [~]
        Claim("LeNet dense: test accuracy at early stop (%)", 98.0, needs=lenet,
              per_trial=value(dense), floor=MNIST_ONE, source="LTH Figs. 3, 4a [~]"),
        # LTH Sec. 2: "winning tickets learn faster as Pm decreases from 100% to 21%, at which
        # point early-stopping occurs 38% earlier than for the original network"
        Claim("ticket at Pm 21.1%: early stop earlier than dense (% fewer iterations)", 38.0,
              needs=lenet, per_trial=ratio(ticket(21.1, ES), dense_es, percent_fewer=True),
              direction="> 0", source="LTH Sec. 2, Fig. 4a"),
        # LTH Sec. 2: "Further pruning causes learning to slow, returning to the early-stopping
        # performance of the original network when Pm = 3.6%"
        Claim("ticket at Pm 3.6%: early stop earlier than dense (% fewer iterations)", 0.0,
              needs=lenet, per_trial=ratio(ticket(3.6, ES), dense_es, percent_fewer=True),
              source="LTH Sec. 2, Fig. 4a"),
        # LTH Sec. 2: "Test accuracy increases with pruning, improving by more than 0.3
        # percentage points when Pm = 13.5%"
        Claim("ticket at Pm 13.5%: test acc at early stop minus dense (pp)", 0.3, "at_least",
              needs=lenet, per_trial=difference(ticket(13.5), dense), direction="> 0",
              floor=MNIST_GAP, source="LTH Sec. 2, Fig. 4a"),
        # LTH Sec. 2: "after this point, accuracy decreases, returning to the level of the
        # original network when Pm = 3.6%"
        Claim("ticket at Pm 3.6%: test acc at early stop minus dense (pp)", 0.0, needs=lenet,
              per_trial=difference(ticket(3.6), dense), floor=MNIST_GAP,
              source="LTH Sec. 2, Fig. 4a"),
        # LTH Sec. 2: "At Pm = 21%, the lottery ticket reaches minimum validation loss 2.51x
        # faster than when reinitialized and is half a percentage point more accurate"
        Claim("Pm 21.1%: ticket minus random reinit, test acc at early stop (pp)", 0.5,
              needs=lenet, per_trial=difference(ticket(21.1), ticket(21.1, variant="reinit")),
              direction="> 0", floor=MNIST_GAP, source="LTH Sec. 2, Figs. 3, 4a"),
        Claim("Pm 21.1%: reinit early-stop iteration / ticket's (x faster)", 2.51, needs=lenet,
              per_trial=ratio(ticket(21.1, ES, "reinit"), ticket(21.1, ES)), direction="> 1",
              source="LTH Sec. 2, Fig. 4a"),
        # LTH Sec. 2: "The average test accuracy of a reinitialized iterative winning ticket
        # begins to drop off from the original accuracy when Pm = 21.1%, compared to 2.9% for
        # the winning ticket" (21.1 / 2.9 = 7.3)
        Claim("accuracy drops earlier for reinit: Pm at reinit's drop / Pm at ticket's", 7.3,
              needs=lenet, per_trial=drop_ratio("lenet"), direction="> 1",
              source="LTH Sec. 2, Fig. 4a"),
        *_random_pruning_claims("lenet", "LeNet"),
        *_oneshot_claims(lenet, oneshot, ticket),
    ]


def _random_pruning_claims(key: str, name: str) -> list[Claim]:
    """LTH Fig. 1: randomly sampled sparse networks (dashed) learn slower and test worse than
    the winning tickets (solid) at every size. Our random pruning samples a random mask of each
    level's per-layer density from the dense network, the paper's random sampling."""
    return [
        Claim(f"{name}: tickets more accurate than random pruning (% of levels)", 100.0,
              "at_least", needs=(key,), per_trial=share_of_levels(key, "ticket", "random_mask"),
              direction=Direction("ticket > random pruning, mean of levels",
                                  mean_over_levels(key, "ticket", "random_mask")),
              source="LTH Fig. 1 (right)"),
        Claim(f"{name}: tickets stop earlier than random pruning (% of levels)", 100.0,
              "at_least", needs=(key,),
              per_trial=share_of_levels(key, "ticket", "random_mask", metric=ES, better="<"),
              direction=Direction("ticket earlier, mean of levels",
                                  mean_over_levels(key, "ticket", "random_mask", metric=ES), "<"),
              source="LTH Fig. 1 (left)"),
    ]


def _oneshot_claims(lenet, oneshot, ticket) -> list[Claim]:
    """LTH Sec. 2, "One-shot pruning" and Fig. 4c."""
    key = "lenet_oneshot"
    return [
        # LTH Sec. 2: "the average winning ticket reaches minimum validation loss earlier than
        # the original network when 67.5% ≥ Pm ≥ 17.6%"
        Claim("one-shot, 67.5% ≥ Pm ≥ 17.6%: earlier early stop than dense (% of levels)", 100.0,
              "at_least", needs=oneshot,
              per_trial=share_of_levels(key, "ticket", "dense", (17.6, 67.5), ES, "<"),
              direction=Direction("one-shot ticket earlier, mean of the range", mean_over_levels(
                  key, "ticket", "dense", (17.6, 67.5), ES), "<"), source="LTH Sec. 2, Fig. 4c"),
        # LTH Sec. 2: "... and higher test accuracy when 95.0% ≥ Pm ≥ 5.17%"
        Claim("one-shot, 95.0% ≥ Pm ≥ 5.17%: more accurate than dense (% of levels)", 100.0,
              "at_least", needs=oneshot,
              per_trial=share_of_levels(key, "ticket", "dense", (5.17, 95.0)),
              direction=Direction("one-shot ticket > dense, mean of the range",
                                  mean_over_levels(key, "ticket", "dense", (5.17, 95.0))),
              source="LTH Sec. 2, Fig. 4c"),
        # LTH Fig. 4c: the one-shot tickets' random reinit (red) falls below them (green)
        Claim("one-shot: ticket minus random reinit, test acc at early stop (pp)", NO_NUMBER,
              needs=oneshot, per_trial=mean_over_levels(key, "ticket", "reinit"),
              direction="> 0", source="LTH Fig. 4c"),
        # LTH Sec. 2: "iteratively-pruned winning tickets learn faster and reach higher test
        # accuracy at smaller network sizes" -- at 7.0%, below the one-shot range of faster
        # learning (17.6%), where Fig. 4a shows the gap
        Claim("Pm 7.0%: iterative minus one-shot ticket, test acc at early stop (pp)", NO_NUMBER,
              needs=lenet + oneshot, per_trial=difference(ticket(7.0), ticket(7.0, key=key)),
              direction="> 0", floor=MNIST_GAP, source="LTH Sec. 2, Fig. 4a"),
        Claim("Pm 7.0%: iterative / one-shot ticket, early-stop iteration (x)", NO_NUMBER,
              needs=lenet + oneshot,
              per_trial=ratio(ticket(7.0, ES), ticket(7.0, ES, key=key)), direction="< 1",
              source="LTH Sec. 2, Fig. 4a"),
    ]


# LTH Sec. 3: "The winning tickets reach minimum validation loss at best 3.5x faster for Conv-2
# (Pm = 8.8%), 3.5x for Conv-4 (Pm = 9.2%), and 2.5x for Conv-6 (Pm = 15.1%). Test accuracy
# improves at best 3.4 percentage points for Conv-2 (Pm = 4.6%), 3.5 for Conv-4 (Pm = 11.1%),
# and 3.3 for Conv-6 (Pm = 26.4%)"; Fig. 6 text: dropout "increases initial test accuracy (2.1,
# 3.0, and 2.4 percentage points on average ...), and iterative pruning increases it further
# (up to an additional 2.3, 4.6, and 4.7 percentage points, respectively, on average)"; App.
# H.2: dense validation accuracy 67.6% (Conv-2), 78.6 - 3.7 = 74.9% (Conv-4), 81.5 - 2.4 =
# 79.1% (Conv-6).
_CONV = {"conv2": (67.6, (8.8, 3.5), (4.6, 3.4), (2.1, 2.3)),
         "conv4": (74.9, (9.2, 3.5), (11.1, 3.5), (3.0, 4.6)),
         "conv6": (79.1, (15.1, 2.5), (26.4, 3.3), (2.4, 4.7))}


def _conv_claims() -> list[Claim]:
    """LTH Sec. 3 (Figs. 1, 5, 6): Conv-2/4/6 on CIFAR-10."""
    return [claim for m in _CONV for claim in _one_conv(m)]


def _one_conv(m: str) -> list[Claim]:
    dense_val, (speed_pm, speedup), (gain_pm, gain), (dropout_gain, pruned_gain) = _CONV[m]
    name, drop = m.replace("conv", "Conv-"), f"{m}_dropout"
    dense, gap = At(m, "dense"), binomial_floor(dense_val, difference=True)
    return [
        Claim(f"{name} dense: validation accuracy at early stop (%)", dense_val, needs=(m,),
              per_trial=val_at_early_stop(m), floor=binomial_floor(dense_val, VAL_SIZE),
              source="LTH App. H.2 (Adam lr of Fig. 2)"),
        Claim(f"{name} ticket at Pm {speed_pm}%: early-stop speedup over dense (x)", speedup,
              needs=(m,), per_trial=ratio(At(m, "dense", metric=ES), At(m, "ticket", speed_pm,
                                                                         ES)),
              direction="> 1", source="LTH Sec. 3, Fig. 5"),
        Claim(f"{name} ticket at Pm {gain_pm}%: test acc at early stop minus dense (pp)", gain,
              needs=(m,), per_trial=difference(At(m, "ticket", gain_pm), dense),
              direction="> 0", floor=gap, source="LTH Sec. 3, Fig. 5"),
        # LTH Sec. 3: "all three networks remain above their original average test accuracy
        # when Pm > 2%"
        Claim(f"{name}: tickets above dense accuracy while Pm > 2% (% of levels)", 100.0,
              "at_least", needs=(m,),
              per_trial=share_of_levels(m, "ticket", "dense", (2.0, 100), slack=0.0),
              direction=Direction("ticket > dense, mean of levels", mean_over_levels(
                  m, "ticket", "dense", (2.0, 100), slack=0.0)),
              source="LTH Sec. 3, Fig. 5"),
        # LTH Sec. 3, Fig. 5 (dashed): "the test accuracy of the random reinitialization
        # experiment drops off more quickly" -- read where the ticket gains most
        Claim(f"{name} Pm {gain_pm}%: ticket minus random reinit, test acc (pp)", NO_NUMBER,
              needs=(m,), per_trial=difference(At(m, "ticket", gain_pm),
                                               At(m, "reinit", gain_pm)),
              direction="> 0", floor=gap, source="LTH Sec. 3, Fig. 5"),
        *_random_pruning_claims(m, name),
        Claim(f"{name} dense: dropout 0.5 gain in test acc at early stop (pp)", dropout_gain,
              needs=(m, drop), per_trial=difference(At(drop, "dense"), dense), direction="> 0",
              floor=gap, source="LTH Sec. 3, Fig. 6"),
        Claim(f"{name} dropout: best ticket gain over the dense net (pp)", pruned_gain,
              needs=(drop,), per_trial=best_level_gap(drop), direction="> 0", floor=gap,
              source="LTH Sec. 3, Fig. 6"),
    ]


def _scale_claims() -> list[Claim]:
    """LTH Sec. 4 (Figs. 7, 8) and late resetting (Stabilizing): VGG-19 and ResNet-18."""
    return _vgg_claims() + _resnet_claims()


def _end(key: str, variant: str = "ticket", pm: float | None = None) -> At:
    """Test accuracy at the end of training (LTH Figs. 7 and 8, right: 112K and 30K)."""
    return At(key, variant, pm, FINAL)


def _dense_claims(name: str, dense: dict[str, tuple[str, float]], source: str) -> list[Claim]:
    return [Claim(f"{name} {label}: dense test accuracy at the end (%)", acc, needs=(key,),
                  per_trial=value(_end(key, "dense")), floor=DEEP_ONE, source=source)
            for label, (key, acc) in dense.items()]


def _no_ticket_claims(name: str, key: str, pm: float, source: str) -> list[Claim]:
    """At lr 0.1 without warmup IMP finds no winning ticket: the ticket falls below the dense
    net and does no better than its random reinit (LTH Sec. 4; App. I.4: "for higher learning
    rates, the pruned networks with the original initialization perform no better than when
    randomly reinitialized"). Read at the Pm where the warmup tickets still win."""
    return [Claim(f"{name} lr 0.1 (no warmup), Pm {pm}%: ticket minus random reinit (pp)", 0.0,
                  needs=(key,), per_trial=difference(_end(key, pm=pm), _end(key, "reinit", pm)),
                  direction=Direction("no ticket: ticket < dense", difference(
                      _end(key, pm=pm), _end(key, "dense")), "<"),
                  floor=DEEP_GAP, source=source)]


def _rewind_claims(name: str, base: str, k: int, pm: float) -> list[Claim]:
    """Stabilizing: rewinding to iteration k (lr 0.1, no warmup) gives tickets that beat the
    dense network at all sparsities (PAPERS.md [T]); read at the Pm where LTH's warmup tickets
    end, against the dense net and against the ticket reset to iteration 0."""
    key = f"{base}_rewind"
    return [Claim(f"{name} lr 0.1, rewind k={k}, Pm {pm}%: ticket minus dense (pp)", 0.0,
                  "at_least", needs=(key,),
                  per_trial=difference(_end(key, pm=pm), _end(key, "dense")),
                  direction=Direction("rewound ticket > ticket reset to 0", difference(
                      _end(key, pm=pm), _end(base, pm=pm))),
                  floor=DEEP_GAP, source="Stabilizing the LTH (late resetting)")]


def _vgg_claims() -> list[Claim]:
    lr01, warm = "vgg19_lr0.01", "vgg19_warmup"
    reinit_gap = Direction("ticket > random reinit", difference(_end(lr01, pm=3.5),
                                                                _end(lr01, "reinit", 3.5)))
    return [
        *_dense_claims("VGG-19", {"lr 0.1": ("vgg19", 91.5), "lr 0.01": (lr01, 92.0),
                                  "lr 0.1 + warmup": (warm, 92.3)}, "LTH Fig. 7, 112K [~]"),
        # LTH Sec. 4: "Training VGG-19 with warmup (k = 10000, green line) at learning rate 0.1
        # improves the test accuracy of the unpruned network by about one percentage point"
        Claim("VGG-19 dense: warmup gain in test acc at the end (pp)", 1.0,
              needs=("vgg19", warm), per_trial=difference(_end(warm, "dense"),
                                                          _end("vgg19", "dense")),
              direction="> 0", floor=DEEP_GAP, source="LTH Sec. 4, Fig. 7"),
        # LTH Sec. 4: at lr 0.01 "subnetworks remain within 1 percentage point of the original
        # accuracy while Pm ≥ 3.5%" ... "When randomly reinitialized, the subnetworks lose
        # accuracy as they are pruned"
        Claim("VGG-19 lr 0.01, Pm 3.5%: ticket minus dense at the end (pp)", -1.0, "at_least",
              needs=(lr01,), per_trial=difference(_end(lr01, pm=3.5), _end(lr01, "dense")),
              direction=reinit_gap, floor=DEEP_GAP, source="LTH Sec. 4, Fig. 7"),
        # LTH Sec. 4: "these subnetworks learn faster than the unpruned network early in
        # training (Figure 7 left)" -- 30K, over the levels where they hold (Pm ≥ 3.5%)
        Claim("VGG-19 lr 0.01, 30K: ticket minus dense, Pm ≥ 3.5% (pp)", NO_NUMBER,
              needs=(lr01,), per_trial=mean_over_levels(lr01, "ticket", "dense", (3.5, 100),
                                                        iteration=30_000),
              direction="> 0", source="LTH Sec. 4, Fig. 7 (left, 30K)"),
        # LTH Sec. 4: warmup "made it possible to find winning tickets, exceeding this initial
        # accuracy when Pm ≥ 1.5%"
        Claim("VGG-19 lr 0.1 + warmup, Pm 1.5%: ticket minus dense at the end (pp)", 0.0,
              "at_least", needs=(warm,),
              per_trial=difference(_end(warm, pm=1.5), _end(warm, "dense")),
              direction=Direction("ticket > random reinit", difference(
                  _end(warm, pm=1.5), _end(warm, "reinit", 1.5))),
              floor=DEEP_GAP, source="LTH Sec. 4, Fig. 7"),
        # LTH Sec. 4: "At the higher learning rate, iterative pruning does not find winning
        # tickets, and performance is no better than when the pruned networks are randomly
        # reinitialized"
        *_no_ticket_claims("VGG-19", "vgg19", 1.5, "LTH Sec. 4, Fig. 7; App. I.4"),
        *_rewind_claims("VGG-19", "vgg19", 100, 1.5),
    ]


def _resnet_claims() -> list[Claim]:
    lr01, warm = "resnet18_lr0.01", "resnet18_warmup"
    dense_high_lr = At("resnet18", "dense", metric=FINAL)
    return [
        # LTH Sec. 4: the original network at lr 0.1 reaches 90.5%; the other two [~]
        *_dense_claims("ResNet-18", {"lr 0.1": ("resnet18", 90.5), "lr 0.01": (lr01, 89.1),
                                     "lr 0.03 + warmup": (warm, 89.6)},
                       "LTH Sec. 4 (lr 0.1), Fig. 8 at 30K [~]"),
        # LTH Sec. 4: "The accuracy of the best winning ticket at the lower learning rate (89.5%
        # when 41.7% ≥ Pm ≥ 21.9%) falls short of the original network's accuracy at the higher
        # learning rate (90.5%)"
        Claim("ResNet-18 lr 0.01, 41.7% ≥ Pm ≥ 21.9%: ticket test acc at the end (%)", 89.5,
              needs=(lr01,), per_trial=mean_over_levels(lr01, "ticket", None, (21.9, 41.7), FINAL),
              direction=Direction("below the dense net at lr 0.1", mean_over_levels(
                  lr01, "ticket", dense_high_lr, (21.9, 41.7), FINAL), "<"),
              floor=DEEP_ONE, source="LTH Sec. 4, Fig. 8"),
        # LTH Sec. 4: "At the lower learning rate, winning tickets again initially learn faster
        # (left plots of Figure 8)" -- 10K, over the levels where they hold (Pm ≥ 21.9%)
        Claim("ResNet-18 lr 0.01, 10K: ticket minus dense, Pm ≥ 21.9% (pp)", NO_NUMBER,
              needs=(lr01,), per_trial=mean_over_levels(lr01, "ticket", "dense", (21.9, 100),
                                                        iteration=10_000),
              direction="> 0", source="LTH Sec. 4, Fig. 8 (left, 10K)"),
        # LTH Sec. 4: warmup tickets close the gap, "reaching 90.5% test accuracy with learning
        # rate 0.03 (warmup, k = 20000) at Pm = 27.1%"
        Claim("ResNet-18 lr 0.03 + warmup, Pm 27.1%: ticket test acc at the end (%)", 90.5,
              needs=(warm,), per_trial=value(_end(warm, pm=27.1)),
              direction=Direction("above the lr 0.01 ticket", difference(
                  _end(warm, pm=27.1), _end(lr01, pm=27.1))),
              floor=DEEP_ONE, source="LTH Sec. 4, Fig. 8"),
        # LTH Sec. 4: "For these hyperparameters, we still find winning tickets when Pm ≥ 11.8%"
        Claim("ResNet-18 lr 0.03 + warmup, Pm 11.8%: ticket minus dense at the end (pp)", 0.0,
              "at_least", needs=(warm,),
              per_trial=difference(_end(warm, pm=11.8), _end(warm, "dense")),
              direction=Direction("ticket > random reinit", difference(
                  _end(warm, pm=11.8), _end(warm, "reinit", 11.8))),
              floor=DEEP_GAP, source="LTH Sec. 4, Fig. 8"),
        # LTH Sec. 4: "we could not find hyperparameters for which we could identify winning
        # tickets at the original learning rate, 0.1"
        *_no_ticket_claims("ResNet-18", "resnet18", 11.8, "LTH Sec. 4, Fig. 8; App. I.4"),
        *_rewind_claims("ResNet-18", "resnet18", 500, 11.8),
    ]


CLAIMS: dict[str, list[Claim]] = {
    "01_lenet_mnist": _lenet_claims(),
    "02_conv_cifar10": _conv_claims(),
    "03_vgg_resnet_rewinding": _scale_claims(),
}
CLAIMS["06_ticket_transfer"] = transfer_claims()
CLAIMS["05_stability_and_overlap"] = stability_claims()
CLAIMS["04_deconstructing_tickets"] = deconstruct_claims.claims()
CLAIMS["07_cheap_tickets"] = cheap_claims.claims()
CLAIMS["08_open_questions"] = open_questions_claims.claims()
