"""Paper vs ours: the papers' headline claims, each measured on our results with a tolerance.

A :class:`Claim` holds the paper's value, how ours is compared with it (``within`` ±tolerance,
``at_least`` paper − tolerance, ``above`` strictly greater than paper − tolerance) and a function
measuring our value from results keyed by preset name (``"lenet"``, ``"lenet_oneshot"``,
``"conv2"`` ...; an :class:`ExperimentResult` or its ``results`` DataFrame). Tolerances are per
profile; a profile without one (e.g. absolute accuracies under ``quick``, which trains far less
than the paper) gets verdict ``n/a``, as do synthetic data, the smoke profile and claims whose
levels our run does not reach. Accuracies are in percent, iterations as recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lottery import cheap_claims
from lottery.experiments import ExperimentResult

Results = Mapping[str, "ExperimentResult | pd.DataFrame"]
NA = "n/a"


@dataclass(frozen=True)
class Claim:
    claim: str
    paper: float
    check: str                          # "within" | "at_least" | "above"
    tolerance: dict[str, float]         # profile -> tolerance; absent -> n/a
    measure: Callable[[Mapping[str, pd.DataFrame]], float]
    needs: tuple[str, ...] = field(default=())  # result keys the measure reads

    def accepts(self, ours: float, tolerance: float) -> bool:
        if self.check == "within":
            return abs(ours - self.paper) <= tolerance
        if self.check == "at_least":
            return ours >= self.paper - tolerance
        if self.check == "above":
            return ours > self.paper - tolerance
        raise ValueError(f"unknown check {self.check!r}")

    def describe(self, tolerance: float | None) -> str:
        if tolerance is None:
            return NA
        if self.check == "within":
            return f"±{tolerance:g}"
        sign = "≥" if self.check == "at_least" else ">"
        return f"ours {sign} {self.paper - tolerance:g}"


# --- measuring helpers (frames are one experiment's ``results``) ---------------------------

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
    return rows[rows.level == best] if gap.min() <= 0.2 else rows.iloc[:0]


def mean_at(frame: pd.DataFrame, metric: str, variant: str = "ticket",
            percent: float | None = None, level: int | None = None) -> float:
    """Mean over trials of ``metric`` (accuracies in percent) at one level; NaN if absent."""
    rows = _rows(frame, variant, percent, level)
    if rows.empty:
        return float("nan")
    scale = 100.0 if metric.endswith("_acc") else 1.0
    return float(rows[metric].mean() * scale)


def by_level(frame: pd.DataFrame, metric: str, variant: str = "ticket") -> pd.Series:
    """Mean over trials of ``metric`` per pruned level (index: percent remaining, descending)."""
    rows = frame[(frame.variant == variant) & (frame.level > 0)]
    scale = 100.0 if metric.endswith("_acc") else 1.0
    series = rows.groupby("level").agg(p=("percent_remaining", "mean"), v=(metric, "mean"))
    return (series.set_index("p").v * scale).sort_index(ascending=False)


def drop_point(frame: pd.DataFrame, variant: str, threshold: float = 1.0) -> float:
    """Highest percent remaining at which ``variant``'s early-stop test accuracy falls more than
    ``threshold`` pp below the dense network's; the sparsest level measured if it never does."""
    dense = mean_at(frame, "early_stop_test_acc", level=0)
    curve = by_level(frame, "early_stop_test_acc", variant)
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


# --- the claims -----------------------------------------------------------------------------

def _lenet_claims() -> list[Claim]:
    es, acc = "early_stop_iteration", "early_stop_test_acc"

    def speedup_vs_dense(r):
        return 100 * (1 - mean_at(r["lenet"], es, percent=21.1) / mean_at(r["lenet"], es, level=0))

    def fraction_beating_random(r):
        ticket, random = by_level(r["lenet"], acc), by_level(r["lenet"], acc, "random_mask")
        both = ticket.index.intersection(random.index)
        return float(100 * (ticket[both] > random[both]).mean()) if len(both) else np.nan

    return [
        Claim("LeNet dense: test accuracy at early stop (%)", 98.0, "within",
              {"paper": 0.5, "quick": 1.0}, lambda r: mean_at(r["lenet"], acc, level=0),
              ("lenet",)),
        Claim("ticket at Pm 21.1%: early stop earlier than dense (% fewer iterations)", 38.0,
              "above", {"paper": 38.0, "quick": 38.0}, speedup_vs_dense, ("lenet",)),
        Claim("ticket at Pm 13.5%: test acc at early stop minus dense (pp)", 0.3, "at_least",
              {"paper": 0.3, "quick": 0.5},
              lambda r: mean_at(r["lenet"], acc, percent=13.5) - mean_at(r["lenet"], acc, level=0),
              ("lenet",)),
        Claim("Pm 21.1%: ticket minus random reinit, test acc at early stop (pp)", 0.5,
              "above", {"paper": 0.5, "quick": 0.5},
              lambda r: mean_at(r["lenet"], acc, percent=21.1)
              - mean_at(r["lenet"], acc, "reinit", percent=21.1), ("lenet",)),
        Claim("Pm 21.1%: reinit early-stop iteration / ticket's (x faster)", 2.51, "above",
              {"paper": 1.51, "quick": 1.51},
              lambda r: mean_at(r["lenet"], es, "reinit", percent=21.1)
              / mean_at(r["lenet"], es, percent=21.1), ("lenet",)),
        Claim("accuracy drops earlier for reinit: Pm at reinit's drop / Pm at ticket's", 7.3,
              "above", {"paper": 6.3, "quick": 6.3},
              lambda r: drop_point(r["lenet"], "reinit") / drop_point(r["lenet"], "ticket"),
              ("lenet",)),
        Claim("tickets beat random pruning (% of levels)", 100.0, "at_least",
              {"paper": 0.0, "quick": 25.0}, fraction_beating_random, ("lenet",)),
        Claim("one-shot at Pm 21.1%: test acc at early stop minus dense (pp)", 0.0, "at_least",
              {"paper": 0.3, "quick": 0.5},
              lambda r: mean_at(r["lenet_oneshot"], acc, percent=21.1)
              - mean_at(r["lenet_oneshot"], acc, level=0), ("lenet_oneshot",)),
    ]


def _conv_claims() -> list[Claim]:
    es, acc = "early_stop_iteration", "early_stop_test_acc"
    # (model, dense val acc [~], best speedup, best accuracy gain, dropout dense gain)
    table = [("conv2", 67.6, 3.5, 3.4, 2.1), ("conv4", 75.0, 3.5, 3.5, 3.0),
             ("conv6", 79.0, 2.5, 3.3, 2.4)]
    claims = []
    for m, dense_acc, speedup, gain, dropout_gain in table:
        name = m.replace("conv", "Conv-")

        def best_speedup(r, m=m):
            return float((mean_at(r[m], es, level=0) / by_level(r[m], es)).max())

        def best_gain(r, m=m):
            return float((by_level(r[m], acc) - mean_at(r[m], acc, level=0)).max())

        claims += [
            # the paper plots validation accuracy; ours is test accuracy at early stop
            Claim(f"{name} dense: accuracy at early stop (%)", dense_acc, "within",
                  {"paper": 2.0}, lambda r, m=m: mean_at(r[m], acc, level=0), (m,)),
            Claim(f"{name}: best early-stop speedup of a ticket over dense (x)", speedup,
                  "above", {"paper": 1.0, "quick": speedup - 1.0}, best_speedup, (m,)),
            Claim(f"{name}: best test-accuracy gain of a ticket over dense (pp)", gain, "above",
                  {"paper": 1.5, "quick": gain}, best_gain, (m,)),
            Claim(f"{name}: tickets beat random reinit (pp, sparsest level)", 0.0, "above",
                  {"paper": 0.0, "quick": 0.0},
                  lambda r, m=m: mean_at(r[m], acc, percent=sparsest(r[m]))
                  - mean_at(r[m], acc, "reinit", percent=sparsest(r[m])), (m,)),
            Claim(f"{name}: dropout 0.5 gain of the dense net (pp)", dropout_gain, "within",
                  {"paper": 1.0},
                  lambda r, m=m: mean_at(r[f"{m}_dropout"], acc, level=0)
                  - mean_at(r[m], acc, level=0), (m, f"{m}_dropout")),
        ]
    return claims


def _scale_claims() -> list[Claim]:
    fa = "final_test_acc"
    claims = []
    for net, dense, lr01, warm, k in (("vgg19", (91.5, 92.0, 92.3), "vgg19_lr0.01",
                                       "vgg19_warmup", 100),
                                      ("resnet18", (90.5, 89.1, 89.6), "resnet18_lr0.01",
                                       "resnet18_warmup", 500)):
        name = "VGG-19" if net == "vgg19" else "ResNet-18"
        for key, value, label in ((net, dense[0], "lr 0.1"), (lr01, dense[1], "lr 0.01"),
                                  (warm, dense[2], "warmup")):
            claims.append(Claim(f"{name} {label}: dense test accuracy (%)", value, "within",
                                {"paper": 1.0}, lambda r, key=key: mean_at(r[key], fa, level=0),
                                (key,)))
        claims += [
            Claim(f"{name} warmup: ticket minus dense at the sparsest level (pp)", 0.0,
                  "at_least", {"paper": 0.0, "quick": 1.0}, _diff_at_sparsest(warm), (warm,)),
            Claim(f"{name} lr 0.01: ticket minus dense at the sparsest level (pp)", -1.0,
                  "at_least", {"paper": 0.0, "quick": 1.0}, _diff_at_sparsest(lr01), (lr01,)),
            Claim(f"{name} lr 0.1, rewind k={k}: ticket minus dense, sparsest level (pp)", 0.0,
                  "at_least", {"paper": 0.0, "quick": 1.0}, _diff_at_sparsest(f"{net}_rewind"),
                  (f"{net}_rewind",)),
            Claim(f"{name} lr 0.1: rewind k={k} ticket minus k=0 ticket, sparsest level (pp)",
                  0.0, "above", {"paper": 0.0, "quick": 0.0},
                  _diff_at_sparsest(f"{net}_rewind", other=net), (f"{net}_rewind", net)),
        ]
    return claims


CLAIMS: dict[str, list[Claim]] = {
    "01_lenet_mnist": _lenet_claims(),
    "02_conv_cifar10": _conv_claims(),
    "03_vgg_resnet_rewinding": _scale_claims(),
}
CLAIMS["07_cheap_tickets"] = cheap_claims.claims()


def _frame(value: ExperimentResult | pd.DataFrame) -> pd.DataFrame:
    return value.results if isinstance(value, ExperimentResult) else value


def paper_vs_ours(notebook: str, results: Results, profile: str,
                  synthetic: bool | None = None) -> pd.DataFrame:
    """The notebook's claims measured on ``results``: columns claim, paper, ours, tolerance,
    verdict ("pass" / "fail" / "n/a"). ``synthetic`` None reads the results' own flags.
    Claims whose results are missing (e.g. dropout off) are left out."""
    if synthetic is None:
        synthetic = any(getattr(v, "synthetic", False) for v in results.values())
    frames = {k: _frame(v) for k, v in results.items()}
    rows = []
    for claim in CLAIMS[notebook]:
        if not all(k in frames for k in claim.needs):
            continue
        with np.errstate(all="ignore"):
            try:
                ours = float(claim.measure(frames))
            except (KeyError, ValueError, ZeroDivisionError):
                ours = float("nan")
        tolerance = claim.tolerance.get(profile)
        if synthetic or profile == "smoke" or tolerance is None or not np.isfinite(ours):
            verdict = NA
        else:
            verdict = "pass" if claim.accepts(ours, tolerance) else "fail"
        rows.append({"claim": claim.claim, "paper": claim.paper,
                     "ours": round(ours, 2) if np.isfinite(ours) else np.nan,
                     "tolerance": claim.describe(tolerance), "verdict": verdict})
    return pd.DataFrame(rows, columns=["claim", "paper", "ours", "tolerance", "verdict"])
