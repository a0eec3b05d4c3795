"""Paper vs ours for ticket transfer (Morcos et al. 2019; notebook 06).

Results are keyed by recipe name: a target-found IMP run under its name (``"mnist"``,
``"fashion_mnist rewind"``, ``"mnist sgd"``) and a transfer under
``"<source> -> <target>"`` (:func:`key`). Morcos et al. state their findings in words and
figures (docs/PAPERS.md [T]), without numbers for these networks: transferred tickets beat random
tickets, often come close to tickets found on the target itself, and tickets from larger, more
complex datasets transfer better. Each claim is therefore a direction alone, judged per trial
(a transfer's trial t starts from its source's trial-t ticket and is compared with the target's
trial t): the worst level of each trial beats the random ticket, stays within :data:`CLOSE` pp
(our reading of "close") of the target-found ticket, and the asymmetry is positive.
Accuracies are test accuracy at early stop, in percent.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import pandas as pd

from lottery.claims.framework import NO_NUMBER, Claim, Direction, Measurement, NotMeasured
from lottery.engine.data import DATASETS

ACC = "early_stop_test_acc"
BELOW = 50.0     # "at every level below 50% remaining"
DOWN_TO = 9.0    # "down to ~10% remaining": LeNet's level 10 (10.8%), not level 11 (8.7%)
CLOSE = 1.0      # "close to the target's own ticket": ours, within 1 pp
SOURCE = "Morcos et al. 2019 [T]"
Frames = Mapping[str, pd.DataFrame]


def key(source: str, target: str) -> str:
    """The results key of the transfer of ``source``'s tickets to ``target``."""
    return f"{source} -> {target}"


def title(name: str) -> str:
    """``"fashion_mnist rewind"`` -> ``"Fashion-MNIST rewind"`` (claims and legends)."""
    dataset, _, rest = name.partition(" ")
    words = [DATASETS[dataset].title if dataset in DATASETS else dataset] + (
        [rest] if rest else [])
    return " ".join(words)


def per_level(frame: pd.DataFrame, variant: str = "ticket", metric: str = ACC) -> pd.Series:
    """Mean over trials of ``metric`` (accuracies in percent) per pruned level."""
    rows = frame[(frame.variant == variant) & (frame.level > 0)]
    scale = 100.0 if metric.endswith("_acc") else 1.0
    return rows.groupby("level")[metric].mean() * scale


def remaining(frame: pd.DataFrame) -> pd.Series:
    """Percent of weights remaining per pruned level (the tickets')."""
    rows = frame[(frame.variant == "ticket") & (frame.level > 0)]
    return rows.groupby("level").percent_remaining.mean()


def gap_to_found(transferred: pd.DataFrame, found: pd.DataFrame) -> pd.Series:
    """Per level of the transfer: transferred ticket minus the target-found ticket (pp)."""
    return (per_level(transferred) - per_level(found)).dropna()


def comparison(transferred: pd.DataFrame, found: pd.DataFrame) -> pd.DataFrame:
    """Per transfer level (mean over trials, test accuracy at early stop in percent): the
    transferred ticket, the random ticket, the target-found ticket, and the two gaps."""
    table = pd.DataFrame({"remaining %": remaining(transferred),
                          "transferred": per_level(transferred),
                          "random ticket": per_level(transferred, "random_mask"),
                          "found on target": per_level(found)}).dropna(subset=["transferred"])
    table["transferred - found"] = table["transferred"] - table["found on target"]
    table["transferred - random"] = table["transferred"] - table["random ticket"]
    dense = found[(found.level == 0) & (found.variant == "ticket")][ACC].mean() * 100
    return table.assign(**{"target dense": dense})


def by_trial(frame: pd.DataFrame, variant: str = "ticket") -> pd.DataFrame:
    """Test accuracy at early stop (%) of ``variant``'s pruned levels, trial x level."""
    rows = frame[(frame.variant == variant) & (frame.level > 0)]
    return rows.pivot_table(index="trial", columns="level", values=ACC, aggfunc="mean") * 100


def _floor(accuracy: float) -> float:
    """Two binomial standard errors (pp) of the difference of two accuracies near
    ``accuracy`` on 10K test images: what one trial resolves."""
    p = accuracy / 100
    return 200 * math.sqrt(2 * p * (1 - p) / 10_000) if 0 < p < 1 else 0.0


def _worst(gaps: pd.DataFrame, percent: pd.Series, keep: Callable[[pd.Series], pd.Series],
           accuracy: pd.DataFrame, what: str):
    """Per trial, the smallest gap over the levels ``keep`` selects, as a measurement."""
    levels = gaps.columns[keep(percent.reindex(gaps.columns)).to_numpy()]
    worst = gaps[levels].dropna(how="all").min(axis=1)
    if worst.dropna().empty:
        raise NotMeasured(f"no trial with {what}")
    chosen = percent[levels]
    n = len(levels)
    where = f"worst of {n} level{'s' * (n > 1)}, {chosen.max():.1f}% to {chosen.min():.1f}%"
    return Measurement(tuple(worst.dropna()), where,
                       _floor(float(accuracy[levels].mean().mean())))


def worst_vs_random(transfer: str):
    """Per trial, the smallest margin of the transferred over the random ticket below 50%."""
    def measure(r: Frames):
        frame = r[transfer]
        ours = by_trial(frame)
        gaps = ours - by_trial(frame, "random_mask")
        return _worst(gaps, remaining(frame), lambda p: p < BELOW, ours,
                      f"levels below {BELOW:g}% remaining")
    return measure


def worst_vs_found(transfer: str, found: str):
    """Per trial, the largest shortfall of the transferred to the target-found ticket of the
    same trial, down to ~10% remaining."""
    def measure(r: Frames):
        frame = r[transfer]
        ours = by_trial(frame)
        return _worst(ours - by_trial(r[found]), remaining(frame), lambda p: p >= DOWN_TO,
                      ours, f"levels down to {DOWN_TO:g}% in both runs")
    return measure


def _gaps_to_found(r: Frames, source: str, target: str) -> pd.DataFrame:
    """Trial x level: the transfer's ticket minus the target's, on the transfer's levels."""
    gaps = by_trial(r[key(source, target)]) - by_trial(r[target])
    return gaps.dropna(axis=1, how="all")


def asymmetry_by_trial(a: str, b: str):
    """Per trial, the mean gap to the target-found ticket of b -> a minus that of a -> b over
    their common levels (pp): how much better ``b``'s tickets transfer."""
    def measure(r: Frames):
        into_a, into_b = _gaps_to_found(r, b, a), _gaps_to_found(r, a, b)
        common = into_a.columns.intersection(into_b.columns)
        gap = (into_a[common] - into_b[common]).mean(axis=1).dropna()
        if gap.empty:
            raise NotMeasured("no trial and level common to both transfers")
        return Measurement(tuple(gap), f"mean of {len(common)} common levels",
                           _floor(float(by_trial(r[key(a, b)])[common].mean().mean())))
    return measure


def asymmetry(a: str, b: str) -> Callable[[Frames], float]:
    """The mean over trials of :func:`asymmetry_by_trial` (NaN without common levels)."""
    def measure(r: Frames) -> float:
        try:
            return float(pd.Series(asymmetry_by_trial(a, b)(r).values).mean())
        except NotMeasured:
            return float("nan")
    return measure


def pair_claims(source: str, target: str, name: str | None = None) -> list:
    """Beats random below 50%, within 1 pp of the target-found ticket down to ~10%."""
    name = name or f"{title(source)} -> {title(target)}"
    transfer = key(source, target)
    close = worst_vs_found(transfer, target)
    return [
        Claim(f"{name}: transferred minus random ticket, worst level below {BELOW:g}% "
              f"remaining (pp)", NO_NUMBER, needs=(transfer,), direction="> 0",
              per_trial=worst_vs_random(transfer), source=SOURCE),
        Claim(f"{name}: transferred minus target-found ticket, worst level down to ~10% "
              f"remaining (pp)", NO_NUMBER, needs=(transfer, target), per_trial=close,
              direction=Direction(f"close: within {CLOSE:g} pp (ours) of the target's ticket",
                                  close, ">", -CLOSE), source=SOURCE),
    ]


def transfer_claims() -> list:
    """The claims of notebook 06 (``Claim`` is imported lazily: report.py registers these)."""
    a, b = "mnist", "fashion_mnist"
    claims = []
    for suffix, how in (("", ""), (" rewind", " (late resetting)")):
        claims += pair_claims(a + suffix, b + suffix, f"MNIST -> Fashion-MNIST{how}")
        claims += pair_claims(b + suffix, a + suffix, f"Fashion-MNIST -> MNIST{how}")
    claims.append(Claim("Fashion-MNIST -> MNIST minus MNIST -> Fashion-MNIST: gap to the "
                        "target-found ticket (pp; > 0: the more complex dataset's tickets "
                        "transfer better)", NO_NUMBER, needs=(key(a, b), key(b, a), a, b),
                        per_trial=asymmetry_by_trial(a, b), direction="> 0", source=SOURCE))
    for extra in ("emnist_letters", "kmnist"):  # extra sources, when on disk
        claims += pair_claims(extra, a)
    claims += pair_claims("mnist", "mnist sgd", "MNIST, Adam -> SGD")
    claims += pair_claims("mnist sgd", "mnist", "MNIST, SGD -> Adam")
    for model, shown in (("conv2", "Conv-2"), ("vgg19", "VGG-19")):
        ten, hundred = f"{model} cifar10", f"{model} cifar100"
        claims += pair_claims(ten, hundred, f"{shown}, CIFAR-10 -> CIFAR-100")
        claims += pair_claims(hundred, ten, f"{shown}, CIFAR-100 -> CIFAR-10")
    return claims
