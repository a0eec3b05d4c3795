"""Verdicts from intervals: the statistics behind every paper-vs-ours row, and nothing else.

A claim's quantity is measured once per trial (a difference is taken trial by trial, so trials
that share an initialization or a data order are *paired*: the interval is over the per-trial
differences). From the n values we form a two-sided 95% Student t interval,

    mean ± max(t(0.975, n - 1) · sd / √n, floor),

where ``floor`` is the resolution of the measurement that the spread over trials cannot show
(the test set's binomial error, which every trial shares; the spacing of the evaluations). One
trial has no spread, hence no interval: it is never conclusive.

Three outcomes for a direction ("ours > threshold"): ``holds`` when the whole interval lies on
the claimed side, ``contradicted`` when it lies on the other, ``inconclusive`` otherwise, with
the number of trials a conclusive answer would need at the observed spread. Under the null (the
true value exactly at the threshold) a 95% interval lies wholly above it 2.5% of the time, so
``holds`` is declared on noise at most at that rate (``tests/test_verdict_calibration.py``).
A paper's number: ``consistent`` when it lies in our interval, ``differs`` when not; a paper's
bound ("more than 0.3 pp") is a direction with the bound as threshold, judged by the whole
interval. A claim "at every level" holds when it holds at each level (an intersection-union
test: no correction is needed for that) and is contradicted when one level is contradicted at
the Bonferroni level 0.05 / levels.

The mean-only rule this replaces (:func:`mean_only`) is kept for the calibration test, which
shows that it declares a null effect present about half the time.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

LEVEL = 0.95
HOLDS, CONTRADICTED, INCONCLUSIVE = "holds", "contradicted", "inconclusive"
CONSISTENT, DIFFERS = "consistent", "differs"
OUTCOMES = (HOLDS, CONTRADICTED, INCONCLUSIVE, CONSISTENT, DIFFERS, "n/a")
MAX_TRIALS = 1000  # beyond this "more trials" is no answer: the spread cannot settle it


# --- Student's t, exact for integer degrees of freedom (Abramowitz & Stegun 26.7.3-4) --------

def _two_sided_mass(t: float, df: int) -> float:
    """P(|T| < t) for T ~ Student t with ``df`` degrees of freedom (t >= 0)."""
    theta = math.atan(t / math.sqrt(df))
    c2, s = math.cos(theta) ** 2, math.sin(theta)
    if df % 2:  # odd
        if df == 1:
            return 2 * theta / math.pi
        term, total = 1.0, 1.0
        for k in range(2, df - 1, 2):
            term *= c2 * k / (k + 1)
            total += term
        return 2 / math.pi * (theta + s * math.cos(theta) * total)
    term, total = 1.0, 1.0
    for k in range(1, df - 2, 2):
        term *= c2 * k / (k + 1)
        total += term
    return s * total


def t_quantile(probability: float, df: int) -> float:
    """The ``probability`` quantile (> 0.5) of Student's t with ``df`` degrees of freedom."""
    if not 0.5 < probability < 1 or df < 1:
        raise ValueError(f"need 0.5 < probability < 1 and df >= 1; got {probability}, {df}")
    target, low, high = 2 * probability - 1, 0.0, 1.0
    while _two_sided_mass(high, df) < target:
        high *= 2
    for _ in range(200):  # bisection to machine precision
        mid = (low + high) / 2
        low, high = (mid, high) if _two_sided_mass(mid, df) < target else (low, mid)
    return (low + high) / 2


# --- the interval -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Interval:
    """A two-sided interval over trials; ``half`` is NaN with one trial (no spread)."""

    mean: float
    half: float
    trials: int
    sd: float
    floor: float = 0.0

    @property
    def low(self) -> float:
        return self.mean - self.half if self.trials > 1 else -math.inf

    @property
    def high(self) -> float:
        return self.mean + self.half if self.trials > 1 else math.inf


def interval(values: Iterable[float], floor: float = 0.0, level: float = LEVEL) -> Interval:
    """The t interval of the finite ``values`` (one per trial), never narrower than ``floor``."""
    xs = [float(v) for v in values if math.isfinite(float(v))]
    n = len(xs)
    if n == 0:
        return Interval(math.nan, math.nan, 0, math.nan, floor)
    mean = sum(xs) / n
    if n == 1:
        return Interval(mean, math.nan, 1, math.nan, floor)
    sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1))
    half = t_quantile(1 - (1 - level) / 2, n - 1) * sd / math.sqrt(n)
    return Interval(mean, max(half, floor), n, sd, floor)


# --- outcomes -----------------------------------------------------------------------------------

def direction(iv: Interval, sense: str = ">", threshold: float = 0.0) -> str:
    """holds / contradicted / inconclusive: where the whole interval lies against
    ``threshold`` (``sense`` ">": the claim is ours above it; "<": below)."""
    if sense not in (">", "<"):
        raise ValueError(f"sense must be '>' or '<'; got {sense!r}")
    if iv.trials < 2 or not math.isfinite(iv.half):
        return INCONCLUSIVE
    above, below = iv.low > threshold, iv.high < threshold
    if sense == "<":
        above, below = below, above
    return HOLDS if above else CONTRADICTED if below else INCONCLUSIVE


def number(iv: Interval, paper: float) -> str:
    """consistent / differs: whether the paper's value lies in our interval (one trial:
    inconclusive)."""
    if iv.trials < 2 or not math.isfinite(iv.half):
        return INCONCLUSIVE
    return CONSISTENT if iv.low <= paper <= iv.high else DIFFERS


def bound(iv: Interval, paper: float, check: str) -> str:
    """A paper's bound as a direction: "at_least"/"above" the bound, or "at_most" it."""
    if check not in ("at_least", "above", "at_most"):
        raise ValueError(f"unknown bound {check!r}")
    return direction(iv, "<" if check == "at_most" else ">", paper)


def trials_needed(iv: Interval, threshold: float = 0.0, level: float = LEVEL,
                  limit: int = MAX_TRIALS) -> int | None:
    """The fewest trials whose interval, at the observed mean and spread, would exclude
    ``threshold``; None when no number of trials would (the mean sits within the floor of
    the threshold, or more than ``limit`` would be needed)."""
    gap = abs(iv.mean - threshold)
    if not math.isfinite(gap) or gap <= iv.floor:
        return None
    if iv.trials < 2 or not math.isfinite(iv.sd):
        return None
    if iv.sd == 0:
        return 2
    n = 2
    while n <= limit:
        if t_quantile(1 - (1 - level) / 2, n - 1) * iv.sd / math.sqrt(n) < gap:
            return n
        n += 1 if n < 50 else max(1, n // 10)
    return None


def every_level(outcomes_by_level: Sequence[Interval], sense: str = ">",
                threshold: float = 0.0, level: float = LEVEL) -> tuple[str, dict[str, int]]:
    """A claim at every level: holds when it holds at each (intersection-union), contradicted
    when one level contradicts it at the Bonferroni level; with the count of each outcome."""
    counts = {HOLDS: 0, CONTRADICTED: 0, INCONCLUSIVE: 0}
    strict = 1 - (1 - level) / max(1, len(outcomes_by_level))
    contradicted = False
    for iv in outcomes_by_level:
        counts[direction(iv, sense, threshold)] += 1
        if iv.trials > 1 and math.isfinite(iv.sd):
            wide = interval_like(iv, strict)
            contradicted |= direction(wide, sense, threshold) == CONTRADICTED
    if counts[HOLDS] == len(outcomes_by_level) and outcomes_by_level:
        return HOLDS, counts
    return (CONTRADICTED if contradicted else INCONCLUSIVE), counts


def interval_like(iv: Interval, level: float) -> Interval:
    """``iv`` recomputed at another confidence ``level`` (same mean, spread and floor)."""
    half = t_quantile(1 - (1 - level) / 2, iv.trials - 1) * iv.sd / math.sqrt(iv.trials)
    return Interval(iv.mean, max(half, iv.floor), iv.trials, iv.sd, iv.floor)


def mean_only(values: Iterable[float], sense: str = ">", threshold: float = 0.0) -> str:
    """The rule this module replaces: the mean alone against the threshold (pass / fail).
    Kept for the calibration test, which documents that it passes on noise."""
    xs = [float(v) for v in values if math.isfinite(float(v))]
    mean = sum(xs) / len(xs)
    return "pass" if (mean > threshold if sense == ">" else mean < threshold) else "fail"


def tally(labels: Iterable[str]) -> dict[str, int]:
    """Counts of each outcome word (the first word of each label)."""
    counts: dict[str, int] = {}
    for label in labels:
        word = str(label).split(" ", 1)[0]
        counts[word] = counts.get(word, 0) + 1
    return counts
