"""Paper vs ours for notebook 05: stability, mode connectivity, mask overlap, ticket properties.

Measured on the LeNet tables of a :class:`~lottery.studies.stability.study.StabilityStudy`, keyed
``lenet_stability`` (:attr:`StabilityResult.table`), ``lenet_overlap``
(:attr:`OverlapResult.table`) and ``lenet_properties`` (:attr:`PropertiesResult.table`); a
conv net's study has other keys, so these claims are left out for it. Every claim is read per
trial (per pair of trials for masks of two inits) at the level nearest the paper's 10.7%.

Sources: Frankle et al. 2019 (the LeNet stability table at 10.7% remaining [~], and "later
resetting -> more stable" [T]); Frankle et al. 2020 (LeNet on MNIST is stable to SGD noise from
initialization: instability about 0, below 2 pp [T]); Grosse & Backes 2020 (masks of different
runs overlap about as much as chance, more when training randomness is reduced [T]); Zhou et al.
2019 (kept weights started large and keep their sign [T]). Absolute distances grow with the
training length, so under ``quick``, which trains 20x less than the paper, their number verdict
is not expected to match; their direction (ticket more stable than random reinit) is.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd

from lottery.claims.framework import (
    NO_NUMBER,
    Claim,
    Direction,
    Measurement,
    NotMeasured,
    binomial_floor,
)
from lottery.claims.paper_values import (
    CHANCE_OVERLAP,
    STABILITY_LENET,
    STABILITY_PERCENT,
    STABILITY_SOURCE,
    STABLE_BARRIER_PP,
)
from lottery.engine.analysis import OVERALL
from lottery.studies.stability.overlap import DATA_ORDER, INIT_SEED
from lottery.studies.stability.properties import smallest_kept_ratio

STABILITY, OVERLAP, PROPERTIES = "lenet_stability", "lenet_overlap", "lenet_properties"
PAPER_PERCENT = STABILITY_PERCENT  # the level of the paper's LeNet stability table
STABLE_PP = STABLE_BARRIER_PP      # Frankle et al. 2020: stable when the barrier is below 2 pp
DISTANCE, TO_DENSE, ACC = "data_order_distance", "pruning_distance", "early_stop_test_acc"
Frames = Mapping[str, pd.DataFrame]


def nearest_level(frame: pd.DataFrame, percent: float = PAPER_PERCENT) -> int | None:
    """The pruned level whose percent remaining is nearest ``percent`` (within 20% relative)."""
    rows = frame[frame.level > 0]
    if rows.empty:
        return None
    gap = (rows.percent_remaining - percent).abs() / percent
    return int(rows.level[gap.idxmin()]) if gap.min() <= 0.2 else None


def paper_level(frame: pd.DataFrame, percent: float = PAPER_PERCENT) -> int:
    """:func:`nearest_level`, raising NotMeasured (with the levels we reached) when none is."""
    level = nearest_level(frame, percent)
    if level is None:
        pm = frame[frame.level > 0].percent_remaining
        reached = f"ours {pm.max():.1f}% to {pm.min():.1f}%" if len(pm) else "no pruned level"
        raise NotMeasured(f"Pm {percent:g}% not reached ({reached})")
    return level


def _rows_at(frame: pd.DataFrame, variant: str, k: int, percent: float | None) -> pd.DataFrame:
    """Rows of ``variant`` at rewind iteration ``k`` and the level nearest ``percent`` (None:
    the dense network)."""
    rows = frame[frame.k == k]
    if percent is None:
        return rows[rows.variant == "dense"]
    return rows[(rows.level == paper_level(rows, percent)) & (rows.variant == variant)]


def trials_at(frame: pd.DataFrame, metric: str, variant: str = "ticket", k: int = 0,
              percent: float | None = PAPER_PERCENT) -> pd.Series:
    """Per trial, ``metric`` of ``variant`` at rewind iteration ``k`` and the level nearest
    ``percent`` (None: the dense network); accuracies in percent."""
    rows = _rows_at(frame, variant, k, percent)
    scale = 100.0 if metric.endswith("_acc") else 1.0
    return rows.groupby("trial")[metric].mean().dropna() * scale


def _where(frame: pd.DataFrame, k: int = 0, percent: float | None = PAPER_PERCENT) -> str:
    if percent is None:
        return f"dense, k={k}"
    rows = _rows_at(frame, "ticket", k, percent)
    return f"k={k}, Pm {rows.percent_remaining.mean():.1f}% (level {rows.level.max():g})"


def _measurement(values: pd.Series, where: str, floor: float | None = None):
    values = values.dropna()
    if values.empty:
        raise NotMeasured(f"no value: {where}")
    return Measurement(tuple(float(v) for v in values), where, floor)


# --- per-trial quantities of the stability table -------------------------------------------

def value(metric: str, variant: str = "ticket", percent: float | None = PAPER_PERCENT):
    """Per trial, ``metric`` of ``variant`` at k=0 (``percent`` None: the dense network)."""
    def measure(r: Frames):
        frame = r[STABILITY]
        return _measurement(trials_at(frame, metric, variant, 0, percent),
                            _where(frame, 0, percent))
    return measure


def difference(metric: str, first: str, second: str):
    """Per trial, ``first`` minus ``second`` (variants) at k=0 and the paper's level."""
    def measure(r: Frames):
        frame = r[STABILITY]
        gap = trials_at(frame, metric, first) - trials_at(frame, metric, second)
        return _measurement(gap, f"{first} - {second}, {_where(frame)}")
    return measure


def later_rewinding_gain(r: Frames):
    """Per trial, the ticket's data-order distance at k=0 minus at the latest k."""
    frame = r[STABILITY]
    latest = int(frame.k.max())
    if latest == 0:
        return _measurement(pd.Series(dtype=float), "no rewind point k > 0")
    gap = trials_at(frame, DISTANCE) - trials_at(frame, DISTANCE, k=latest)
    return _measurement(gap, f"k=0 vs k={latest}, {_where(frame)}")


# --- mask overlap: one value per pair of masks -----------------------------------------------

def _overlap_rows(frame: pd.DataFrame, kind: str) -> pd.DataFrame:
    """The all-layers rows of ``kind``'s pairs at the paper's level."""
    rows = frame[(frame.layer == OVERALL) & (frame.kind == kind)]
    if rows.empty:  # one trial has no pair of inits
        raise NotMeasured(f"no pair of masks of kind {kind!r}")
    return rows[rows.level == paper_level(rows)]


def _chance_resolution(rows: pd.DataFrame) -> float:
    """Two chance standard deviations of the shared count, relative (<= 2 / sqrt(E[shared])):
    how far from 1 the ratio of two independent masks strays."""
    cj = rows.chance_jaccard.mean()
    expected = cj * (rows.kept_1.mean() + rows.kept_2.mean()) / (1 + cj)
    return 2 / math.sqrt(expected) if expected > 0 else math.nan


def overlap(kind: str, metric: str = "jaccard_ratio"):
    """Per pair of masks of ``kind``, ``metric`` of all prunable layers at the paper's level;
    the ratio's floor is chance's own spread."""
    def measure(r: Frames):
        rows = _overlap_rows(r[OVERLAP], kind)
        counted = {"kept_1", "kept_2"} <= set(rows.columns) and len(rows)
        floor = _chance_resolution(rows) if metric == "jaccard_ratio" and counted else None
        where = f"{len(rows)} pair(s), Pm {rows.percent_remaining.mean():.1f}%"
        return _measurement(rows.set_index("pair")[metric], where, floor)
    return measure


def _pair_trials(pair: str) -> list[int]:
    return [int(t) for t in pair.lstrip("t").split("-t")]


def reduced_randomness_gain(r: Frames):
    """Per trial, Jaccard / chance of its data-order pair minus the mean of its init-seed
    pairs (masks sharing the init against masks that do not)."""
    order, seeds = (_overlap_rows(r[OVERLAP], kind) for kind in (DATA_ORDER, INIT_SEED))
    gaps = {}
    for pair, ratio in zip(order.pair, order.jaccard_ratio, strict=True):
        t = _pair_trials(pair)[0]
        mine = [v for p, v in zip(seeds.pair, seeds.jaccard_ratio, strict=True)
                if t in _pair_trials(p)]
        if mine:
            gaps[t] = ratio - sum(mine) / len(mine)
    return _measurement(pd.Series(gaps, dtype=float),
                        f"Pm {order.percent_remaining.mean():.1f}%, data order vs init seed")


# --- ticket properties ---------------------------------------------------------------------

def kept_init_ratio(r: Frames):
    """Per trial, the smallest per-layer kept / pruned mean |init| at the paper's level."""
    frame = r[PROPERTIES]
    level = paper_level(frame)
    values = pd.Series({t: smallest_kept_ratio(rows, level)
                        for t, rows in frame.groupby("trial")}, dtype=float)
    return _measurement(values, f"smallest over layers, level {level}")


def sign_agreement(r: Frames):
    """Per trial, the share of kept weights ending with their initial sign (all layers)."""
    frame = r[PROPERTIES]
    level = paper_level(frame)
    rows = frame[(frame.level == level) & (frame.layer == OVERALL)]
    return _measurement(rows.groupby("trial").sign_agreement.mean(),
                        f"all prunable layers, level {level}")


def sign_agreement_over_dense(r: Frames):
    """Per trial, the kept weights' sign agreement at the paper's level minus the dense
    network's (level 0: all weights): the null is a mask that picks weights whatever their
    sign does in training, which keeps signs as often as the weights at large do."""
    frame = r[PROPERTIES]
    level = paper_level(frame)
    rows = frame[frame.layer == OVERALL]
    ours = rows[rows.level == level].groupby("trial").sign_agreement.mean()
    dense = rows[rows.level == 0].groupby("trial").sign_agreement.mean()
    return _measurement(ours - dense, f"all prunable layers, level {level} minus dense")


# --- the claims ------------------------------------------------------------------------------

TABLE = STABILITY_SOURCE
# Frankle et al. 2019, LeNet at 10.7%: (what, metric, paper ticket, paper random reinit)
_PAPER_TABLE = tuple((what, metric, STABILITY_LENET[metric]["ticket"],
                      STABILITY_LENET[metric]["reinit"])
                     for what, metric in (("data-order distance (L2)", DISTANCE),
                                          ("distance to the dense net on the mask (L2)",
                                           TO_DENSE)))
_ACC = STABILITY_LENET[ACC]


def _distance_claims(claim, direction) -> list:
    """The paper's stability table: each distance, and random reinit minus ticket."""
    s, claims = (STABILITY,), []
    for what, metric, ticket, reinit in _PAPER_TABLE:
        less = direction("ticket below random reinit", difference(metric, "ticket", "reinit"),
                         "<")
        more = direction("random reinit above the ticket",
                         difference(metric, "reinit", "ticket"))
        claims += [
            claim(f"LeNet 10.7%: {what}, ticket", ticket, needs=s, direction=less,
                  per_trial=value(metric), source=TABLE),
            claim(f"LeNet 10.7%: {what}, random reinit", reinit, needs=s, direction=more,
                  per_trial=value(metric, "reinit"), source=TABLE),
            claim(f"LeNet 10.7%: {what}, random reinit minus ticket", round(reinit - ticket, 1),
                  needs=s, direction="> 0", per_trial=difference(metric, "reinit", "ticket"),
                  source=TABLE),
        ]
    return claims


def _accuracy_claims(claim, direction, floor) -> list:
    s = (STABILITY,)
    return [
        claim("LeNet 10.7%: test accuracy at early stop, ticket (%)", _ACC["ticket"], needs=s,
              per_trial=value(ACC), floor=floor(_ACC["ticket"]), source=TABLE,
              direction=direction("ticket above random reinit",
                                  difference(ACC, "ticket", "reinit"))),
        claim("LeNet 10.7%: test accuracy at early stop, random reinit (%)", _ACC["reinit"],
              needs=s, per_trial=value(ACC, "reinit"), floor=floor(_ACC["reinit"]), source=TABLE,
              direction=direction("random reinit below the ticket",
                                  difference(ACC, "reinit", "ticket"), "<")),
    ]


def _connectivity_claims(claim, no_number, floor) -> list:
    s, barrier = (STABILITY,), floor(2.0, difference=True)  # test error ~2%: ~0.4 pp
    stable = f"< {STABLE_PP:g}"
    return [
        claim("ticket 10.7%: data-order distance at k=0 minus at the latest k (later rewinding "
              "more stable; LeNet is stable from k=0 (Frankle et al. 2020), so expect it small)",
              no_number, needs=s, per_trial=later_rewinding_gain, direction="> 0",
              source="Frankle et al. 2019 [T]"),
        claim("dense LeNet from k=0: instability (pp of test error; stable below 2)", 0.0,
              needs=s, per_trial=value("instability_pp", percent=None), floor=barrier,
              direction=stable, source="Frankle et al. 2020 [T]"),
        claim("ticket 10.7%, k=0: instability (pp of test error; stable below 2)", 0.0,
              needs=s, per_trial=value("instability_pp"), floor=barrier, direction=stable,
              source="Frankle et al. 2020 [T]"),
    ]


# Grosse & Backes 2020, abstract [T, confirmed]: "each network contains several winning
# tickets, even if the initial weights are fixed ... [they] show no overlap or correlation
# significantly larger than expected by chance. If randomness during training is decreased,
# overlaps higher than chance occur"
GROSSE = "Grosse & Backes 2020, abstract [T]"


def _overlap_claims(claim, direction, no_number) -> list:
    """Grosse & Backes 2020: a network holds several winning tickets "even if the initial
    weights are fixed", whose masks overlap no more than chance (Jaccard / chance 1; "no more
    than chance": the z of the shared count under independent masks below 2)."""
    o = (OVERLAP,)
    return [
        claim("10.7%: masks of two inits (same data order), Jaccard / chance", CHANCE_OVERLAP,
              needs=o, per_trial=overlap(INIT_SEED), source=GROSSE,
              direction=direction("no more than chance: z of the shared count < 2",
                                  overlap(INIT_SEED, "z"), "<", 2.0)),
        # the paper's own comparison: the init fixed, the training randomness (data order)
        # varied -- the claim is that these overlap no more than chance either
        claim("10.7%: masks of one init, two data orders (Grosse & Backes's fixed init), "
              "Jaccard / chance", CHANCE_OVERLAP, needs=o, per_trial=overlap(DATA_ORDER),
              source=GROSSE,
              direction=direction("no more than chance: z of the shared count < 2",
                                  overlap(DATA_ORDER, "z"), "<", 2.0)),
        claim("10.7%: Jaccard / chance, runs differing in data order minus in init seed "
              "(less training randomness, more overlap)", no_number, needs=o,
              per_trial=reduced_randomness_gain, direction="> 0", source=GROSSE),
    ]


def _property_claims(claim, direction, no_number) -> list:
    """Zhou et al. 2019 (kept weights started large; signs matter), each against a stated
    null: a random mask keeps mean |init| in ratio 1 (chance); a mask blind to the weights'
    training keeps signs as often as the dense network's weights do."""
    p = (PROPERTIES,)
    return [
        claim("ticket 10.7%: kept / pruned mean |init| (smallest over layers; null: 1, a random "
              "mask's ratio)", no_number, needs=p, per_trial=kept_init_ratio, direction="> 1",
              source="Zhou et al. 2019, Sec. 2 (large_init criteria) [~ our reading]"),
        claim("ticket 10.7%: kept weights with their initial sign at the end, minus the dense "
              "network's weights (null: 0)", no_number, needs=p,
              per_trial=sign_agreement_over_dense, direction="> 0",
              source="Zhou et al. 2019, Sec. 4 (signs) [~ our reading]"),
    ]


def claims() -> list:
    """The notebook's claims as :class:`lottery.claims.framework.Claim` entries."""
    # report.py registers these: imported here, not on load

    return (_distance_claims(Claim, Direction)
            + _accuracy_claims(Claim, Direction, binomial_floor)
            + _connectivity_claims(Claim, NO_NUMBER, binomial_floor)
            + _overlap_claims(Claim, Direction, NO_NUMBER)
            + _property_claims(Claim, Direction, NO_NUMBER))
