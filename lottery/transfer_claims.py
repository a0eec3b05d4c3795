"""Paper vs ours for ticket transfer (Morcos et al. 2019; notebook 06).

Results are keyed by recipe name: a target-found IMP run under its name (``"mnist"``,
``"fashion_mnist rewind"``, ``"mnist sgd"``) and a transfer under
``"<source> -> <target>"`` (:func:`key`). Morcos et al. state their findings in words and
figures (PAPERS.md [T]): transferred tickets beat random tickets, often come close to tickets
found on the target itself, and tickets from larger, more complex datasets transfer better. The
``paper`` column holds those statements as numbers: 0 pp to beat or to come within, with our
tolerance (1 pp for "close"). Accuracies are test accuracy at early stop, in percent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pandas as pd

from lottery.data import DATASETS

ACC = "early_stop_test_acc"
BELOW = 50.0     # "at every level below 50% remaining"
DOWN_TO = 9.0    # "down to ~10% remaining": LeNet's level 10 (10.8%), not level 11 (8.7%)
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


def gap_to_random(frame: pd.DataFrame) -> pd.Series:
    """Per level: transferred ticket minus random ticket (pp)."""
    return (per_level(frame) - per_level(frame, "random_mask")).dropna()


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


def _worst(gaps: pd.Series, percent: pd.Series, keep: Callable[[pd.Series], pd.Series]) -> float:
    chosen = gaps[keep(percent.reindex(gaps.index))]
    return float(chosen.min()) if len(chosen) else float("nan")


def worst_vs_random(transfer: str) -> Callable[[Frames], float]:
    """The smallest margin of the transferred over the random ticket below 50% remaining."""
    def measure(r: Frames) -> float:
        frame = r[transfer]
        return _worst(gap_to_random(frame), remaining(frame), lambda p: p < BELOW)
    return measure


def worst_vs_found(transfer: str, found: str) -> Callable[[Frames], float]:
    """The largest shortfall of the transferred to the target-found ticket down to ~10%."""
    def measure(r: Frames) -> float:
        frame = r[transfer]
        return _worst(gap_to_found(frame, r[found]), remaining(frame), lambda p: p >= DOWN_TO)
    return measure


def asymmetry(a: str, b: str) -> Callable[[Frames], float]:
    """How much better ``b``'s tickets transfer to ``a`` than ``a``'s to ``b``: the mean gap to
    the target-found ticket of b -> a minus that of a -> b, over their common levels (pp)."""
    def measure(r: Frames) -> float:
        into_a = gap_to_found(r[key(b, a)], r[a])
        into_b = gap_to_found(r[key(a, b)], r[b])
        common = into_a.index.intersection(into_b.index)
        return float((into_a[common] - into_b[common]).mean()) if len(common) else float("nan")
    return measure


def pair_claims(source: str, target: str, claim_type, name: str | None = None) -> list:
    """Beats random below 50%, within 1 pp of the target-found ticket down to ~10%."""
    name = name or f"{title(source)} -> {title(target)}"
    transfer = key(source, target)
    return [
        claim_type(f"{name}: transferred minus random ticket, worst level below {BELOW:g}% "
                   f"remaining (pp)", 0.0, "above", {"paper": 0.0, "quick": 0.0},
                   worst_vs_random(transfer), (transfer,)),
        claim_type(f"{name}: transferred minus target-found ticket, worst level down to "
                   f"~10% remaining (pp)", 0.0, "at_least", {"paper": 1.0, "quick": 1.0},
                   worst_vs_found(transfer, target), (transfer, target)),
    ]


def transfer_claims() -> list:
    """The claims of notebook 06 (``Claim`` is imported here: report.py registers these)."""
    from lottery.report import Claim

    a, b = "mnist", "fashion_mnist"
    claims = []
    for suffix, how in (("", ""), (" rewind", " (late resetting)")):
        claims += pair_claims(a + suffix, b + suffix, Claim, f"MNIST -> Fashion-MNIST{how}")
        claims += pair_claims(b + suffix, a + suffix, Claim, f"Fashion-MNIST -> MNIST{how}")
    claims.append(Claim("Fashion-MNIST -> MNIST minus MNIST -> Fashion-MNIST: gap to the "
                        "target-found ticket (pp; > 0: the more complex dataset's tickets "
                        "transfer better)", 0.0, "above", {"paper": 0.0, "quick": 0.0},
                        asymmetry(a, b), (key(a, b), key(b, a), a, b)))
    for extra in ("emnist_letters", "kmnist"):  # extra sources, when on disk
        claims += pair_claims(extra, a, Claim)
    claims += pair_claims("mnist", "mnist sgd", Claim, "MNIST, Adam -> SGD")
    claims += pair_claims("mnist sgd", "mnist", Claim, "MNIST, SGD -> Adam")
    for model, shown in (("conv2", "Conv-2"), ("vgg19", "VGG-19")):
        ten, hundred = f"{model} cifar10", f"{model} cifar100"
        claims += pair_claims(ten, hundred, Claim, f"{shown}, CIFAR-10 -> CIFAR-100")
        claims += pair_claims(hundred, ten, Claim, f"{shown}, CIFAR-100 -> CIFAR-10")
    return claims
