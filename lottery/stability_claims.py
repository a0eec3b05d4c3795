"""Paper vs ours for notebook 05: stability, mode connectivity, mask overlap, ticket properties.

Measured on the LeNet tables of a :class:`~lottery.stability.StabilityStudy`, keyed
``lenet_stability`` (:attr:`StabilityResult.table`), ``lenet_overlap``
(:attr:`OverlapResult.table`) and ``lenet_properties`` (:attr:`PropertiesResult.table`); a
conv net's study has other keys, so these claims are left out for it. Sources: Frankle et al.
2019 (the LeNet stability table at 10.7% remaining, and "later resetting -> more stable");
Frankle et al. 2020 (LeNet on MNIST is stable to SGD noise from initialization: instability
below 2 pp); Grosse & Backes 2020 (masks of different runs overlap about as much as chance, more
when training randomness is reduced); Zhou et al. 2019 (kept weights started large and keep
their sign). Absolute distances depend on the training length, so the quick profile, which
trains far less than the paper, judges their direction only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd

from lottery.analysis import OVERALL
from lottery.mask_overlap import DATA_ORDER, INIT_SEED, overall
from lottery.ticket_properties import smallest_kept_ratio

STABILITY, OVERLAP, PROPERTIES = "lenet_stability", "lenet_overlap", "lenet_properties"
PAPER_PERCENT = 10.7  # the level of the paper's LeNet stability table


def nearest_level(frame: pd.DataFrame, percent: float = PAPER_PERCENT) -> int | None:
    """The pruned level whose percent remaining is nearest ``percent`` (within 20% relative)."""
    rows = frame[frame.level > 0]
    if rows.empty:
        return None
    gap = (rows.percent_remaining - percent).abs() / percent
    return int(rows.level[gap.idxmin()]) if gap.min() <= 0.2 else None


def stability_at(frame: pd.DataFrame, metric: str, variant: str = "ticket", k: int = 0,
                 percent: float | None = PAPER_PERCENT) -> float:
    """Mean over trials of ``metric`` of ``variant`` at rewind iteration ``k`` and the level
    nearest ``percent`` (None: the dense network); accuracies in percent."""
    rows = frame[frame.k == k]
    if percent is None:
        rows = rows[rows.variant == "dense"]
    else:
        level = nearest_level(rows, percent)
        rows = rows[(rows.level == level) & (rows.variant == variant)]
    scale = 100.0 if metric.endswith("_acc") else 1.0
    return float(rows[metric].mean() * scale) if len(rows) else math.nan


def overlap_ratio(frame: pd.DataFrame, kind: str, percent: float = PAPER_PERCENT) -> float:
    """Jaccard / chance of ``kind`` over all prunable layers at the level nearest ``percent``."""
    means = overall(frame)
    rows = means[means.kind == kind]
    level = nearest_level(rows, percent)
    return float(rows[rows.level == level].jaccard_ratio.mean()) if level else math.nan


def _latest_k_gain(r: Mapping[str, pd.DataFrame]) -> float:
    frame = r[STABILITY]
    latest = int(frame.k.max())
    metric = "data_order_distance"
    return stability_at(frame, metric) - stability_at(frame, metric, k=latest) if latest \
        else math.nan


def _signs(r: Mapping[str, pd.DataFrame]) -> float:
    frame = r[PROPERTIES]
    level = nearest_level(frame)
    rows = frame[(frame.level == level) & (frame.layer == OVERALL)]
    return float(rows.sign_agreement.mean()) if len(rows) else math.nan


def _difference(metric: str, first: str, second: str):
    def measure(r: Mapping[str, pd.DataFrame]) -> float:
        return stability_at(r[STABILITY], metric, first) - stability_at(r[STABILITY], metric,
                                                                        second)
    return measure


def _stability_claims(claim) -> list:
    s, d, p = STABILITY, "data_order_distance", "pruning_distance"
    acc = "early_stop_test_acc"
    table = [("data-order distance (L2), ticket", d, "ticket", 20.7, 5.0),
             ("data-order distance (L2), random reinit", d, "reinit", 58.6, 15.0),
             ("distance to the dense net on the mask (L2), ticket", p, "ticket", 48.1, 10.0),
             ("distance to the dense net on the mask (L2), random reinit", p, "reinit", 75.7,
              15.0)]
    claims = [claim(f"LeNet 10.7%: {text}", paper, "within", {"paper": tol},
                    lambda r, m=metric, v=variant: stability_at(r[s], m, v), (s,))
              for text, metric, variant, paper, tol in table]
    claims += [claim(f"LeNet 10.7%: test accuracy at early stop, {name} (%)", paper, "within",
                     {"paper": 0.5, "quick": 1.0},
                     lambda r, v=variant: stability_at(r[s], acc, v), (s,))
               for name, variant, paper in (("ticket", "ticket", 98.3),
                                            ("random reinit", "reinit", 97.5))]
    return claims + [
        claim("10.7%: data-order distance, random reinit minus ticket", 37.9, "above",
              {"paper": 37.9, "quick": 37.9}, _difference(d, "reinit", "ticket"), (s,)),
        claim("10.7%: distance to the dense net, random reinit minus ticket", 27.6, "above",
              {"paper": 27.6, "quick": 27.6}, _difference(p, "reinit", "ticket"), (s,)),
        claim("ticket 10.7%: data-order distance at k=0 minus at the latest k (later "
              "rewinding, more stable)", 0.0, "above", {"paper": 0.0, "quick": 0.0},
              _latest_k_gain, (s,)),
        claim("dense LeNet from k=0: instability (pp of test error; stable below 2)", 0.0,
              "within", {"paper": 2.0, "quick": 2.0},
              lambda r: stability_at(r[s], "instability_pp", percent=None), (s,)),
        claim("ticket 10.7%, k=0: instability (pp of test error; stable below 2)", 0.0,
              "within", {"paper": 2.0, "quick": 2.0},
              lambda r: stability_at(r[s], "instability_pp"), (s,)),
    ]


def _overlap_claims(claim) -> list:
    o = OVERLAP
    return [
        claim("10.7%: masks of two inits (same data order), Jaccard / chance", 1.0, "within",
              {"paper": 0.5, "quick": 0.5}, lambda r: overlap_ratio(r[o], INIT_SEED), (o,)),
        claim("10.7%: Jaccard / chance, runs differing in data order minus in init seed", 0.0,
              "above", {"paper": 0.0, "quick": 0.0},
              lambda r: overlap_ratio(r[o], DATA_ORDER) - overlap_ratio(r[o], INIT_SEED), (o,)),
    ]


def _property_claims(claim) -> list:
    p = PROPERTIES
    return [
        claim("ticket 10.7%: kept / pruned mean |init| (smallest over layers)", 1.0, "above",
              {"paper": 0.0, "quick": 0.0},
              lambda r: smallest_kept_ratio(r[p], nearest_level(r[p]) or -1), (p,)),
        claim("ticket 10.7%: kept weights with their initial sign at the end (0.5 = chance)",
              0.5, "above", {"paper": 0.0, "quick": 0.0}, _signs, (p,)),
    ]


def claims() -> list:
    """The notebook's claims as :class:`lottery.report.Claim` entries."""
    from lottery.report import Claim  # report.py registers these: imported here, not on load

    return _stability_claims(Claim) + _overlap_claims(Claim) + _property_claims(Claim)
