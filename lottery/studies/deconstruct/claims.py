"""Paper vs ours for notebook 04 (Zhou et al. 2019, Deconstructing lottery tickets).

The results the claims read, by key: ``criterion:<name>`` (an IMP lineage per mask criterion),
``mask1`` (the large_final lineage with the mask-1 variants as controls), ``mask0:<action>``
(an IMP lineage per mask-0 action), ``untrained`` (the table of
:func:`lottery.studies.deconstruct.study.untrained_accuracy`) and ``learned_supermask``.

Zhou et al. state most findings as orderings of curves (Figs. 2-5, read from the figures,
[~]): those claims carry no number, and their direction verdict compares, trial by trial, the
mean test accuracy at early stop over the pruned levels below :data:`SPARSE` percent remaining,
where the curves separate (two lineages share their trial's init and dense network). The
supermask accuracies are stated in the text [T]: > 80% (original init) and 86% (signed
constant) for untrained large_final_same_sign masks on MNIST, about 95% learned.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import pandas as pd

from lottery.claims.framework import NO_NUMBER, Claim, Direction, Measurement, NotMeasured
from lottery.claims.paper_values import SUPERMASK_MNIST

SPARSE = 30.0
BEST = ("large_final", "magnitude_increase")
SMALL = ("small_final", "small_init", "small_init_small_final")
ACC = "early_stop_test_acc"
TEST = 10_000


def _floor(percent: float) -> float:
    """Two binomial standard errors (pp) of the difference of two accuracies near ``percent``
    on the 10K test images: what one trial resolves."""
    p = percent / 100
    return 200 * math.sqrt(2 * p * (1 - p) / TEST)


RESOLUTION = _floor(97.0)  # LeNet's sparse tickets test at ~97-98%: ~0.48 pp per difference


def sparse_trials(frame: pd.DataFrame, variant: str = "ticket", metric: str = ACC,
                  below: float = SPARSE) -> pd.Series:
    """Per trial, the mean of ``metric`` (accuracies in percent) over ``variant``'s pruned
    levels below ``below`` % remaining (empty when there is none)."""
    rows = frame[(frame.variant == variant) & (frame.level > 0)
                 & (frame.percent_remaining < below)]
    scale = 100.0 if metric.endswith("_acc") else 1.0
    return rows.groupby("trial")[metric].mean() * scale


def sparse_mean(frame: pd.DataFrame, variant: str = "ticket", metric: str = ACC,
                below: float = SPARSE) -> float:
    """The mean over trials of :func:`sparse_trials` (NaN when no level is below)."""
    values = sparse_trials(frame, variant, metric, below)
    return float(values.mean()) if len(values) else float("nan")


def _levels(frame: pd.DataFrame, below: float) -> str:
    rows = frame[(frame.variant == "ticket") & (frame.level > 0)
                 & (frame.percent_remaining < below)]
    pm = rows.groupby("level").percent_remaining.mean()
    return f"mean of {len(pm)} levels, {pm.max():.1f}% to {pm.min():.1f}%, at early stop"


def _measurement(values: pd.Series, where: str, floor: float | None = None):
    if values.dropna().empty:
        raise NotMeasured(f"no pruned level below {SPARSE:g}% remaining")
    return Measurement(tuple(values.dropna()), where, floor)


def _criteria(runs: Mapping[str, pd.DataFrame]) -> dict[str, pd.Series]:
    return {k.split(":", 1)[1]: sparse_trials(v) for k, v in runs.items()
            if k.startswith("criterion:") and not k.endswith("_same_sign")}


def best_of(chosen: tuple[str, ...], versus: Callable[[str], bool]) -> Callable:
    """Per trial, the best of the ``chosen`` criteria minus the best criterion ``versus``
    selects (criteria compared by their sparse-level mean)."""
    def measure(runs):
        scores = _criteria(runs)
        mine = pd.concat([scores[c] for c in chosen], axis=1).max(axis=1)
        others = {c: s for c, s in scores.items() if versus(c)}
        rival = max(others, key=lambda c: others[c].mean())
        frame = runs[f"criterion:{chosen[0]}"]
        return _measurement(mine - pd.concat(others.values(), axis=1).max(axis=1),
                            f"{_levels(frame, SPARSE)}; best other: {rival}")
    return measure


def lineage_gap(a: str, b: str, variant_a: str = "ticket", variant_b: str = "ticket"):
    """Per trial, ``a``'s sparse-level mean minus ``b``'s (``variant_*``: which networks of
    each run)."""
    def measure(runs):
        gap = sparse_trials(runs[a], variant_a) - sparse_trials(runs[b], variant_b)
        names = f"{variant_a} - {variant_b}" if a == b else f"{a} - {b}"
        return _measurement(gap, f"{names}, {_levels(runs[a], SPARSE)}")
    return measure


def best_untrained(criterion: str, start: str):
    """Per trial, the test accuracy (%) of the untrained network under ``criterion``'s
    one-shot masks applied to ``start``, at the density each trial's *validation* accuracy
    chooses (choose on validation, report test: the best test accuracy over 12 densities
    would be biased upward)."""
    def measure(runs):
        table = runs["untrained"]
        rows = table[(table.criterion == criterion) & (table.start == start)]
        if "val_acc" not in rows:  # a table from before densities were chosen on validation
            raise KeyError("val_acc: no validation accuracy to choose a density")
        per = rows.groupby(["trial", "rounds"])[["val_acc", "test_acc", "percent_remaining"]]
        per = per.mean().reset_index()
        chosen = per.loc[per.groupby("trial").val_acc.idxmax()].set_index("trial")
        pm = ", ".join(f"{p:.1f}%" for p in sorted(set(chosen.percent_remaining.round(1))))
        return _measurement(chosen.test_acc * 100, f"untrained, density chosen on validation:"
                                                   f" Pm {pm}")
    return measure


def signed_constant_share(runs):
    """Per trial, (signed constant - random reinit) - (ticket - signed constant) over the
    sparse levels: > 0 when the signed constant sits nearer the ticket than the random reinit
    (recovers more than half of the ticket's gain), Zhou's "nearly as well"; the null is the
    midpoint."""
    frame = runs["mask1"]
    ticket, signed, reinit = (sparse_trials(frame, v) for v in ("ticket", "signed_constant",
                                                                "reinit"))
    return _measurement((signed - reinit) - (ticket - signed),
                        f"(signed constant - reinit) - (ticket - signed constant), "
                        f"{_levels(frame, SPARSE)}")


def chosen_on_validation(table: pd.DataFrame) -> pd.DataFrame:
    """Per criterion and start of an untrained-supermask table: the density each trial's
    validation accuracy chooses (mean % remaining) and the test accuracy there (%, mean over
    trials) -- the table the claims read (the test set chooses nothing)."""
    per = table.groupby(["criterion", "start", "trial", "rounds"])[
        ["val_acc", "test_acc", "percent_remaining"]].mean().reset_index()
    chosen = per.loc[per.groupby(["criterion", "start", "trial"]).val_acc.idxmax()]
    out = chosen.groupby(["criterion", "start"]).agg(
        chosen_percent_remaining=("percent_remaining", "mean"), test_acc=("test_acc", "mean"))
    return out.assign(test_acc=out.test_acc * 100).round(2)


def learned(runs):
    """Per trial, the learned supermask's test accuracy at early stop (%)."""
    frame = runs["learned_supermask"]
    density = 100 * frame.density.mean()
    return _measurement(frame.set_index("trial")[ACC] * 100,
                        f"mean of 10 sampled masks at early stop; {density:.1f}% kept")


def learned_over_untrained(runs):
    """Per trial, the learned supermask minus the untrained signed-constant
    large_final_same_sign mask at its validation-chosen density (pp)."""
    a, b = learned(runs), best_untrained("large_final_same_sign", "signed_constant")(runs)
    return Measurement(tuple(x - y for x, y in zip(a.values, b.values, strict=False)))


def claims() -> list:
    """The claims of notebook 04 (``Claim`` is imported here: report.py registers these)."""
    criteria = tuple(f"criterion:{c}" for c in (*BEST, "random", *SMALL))
    zero, frozen = "mask0:zero", "mask0:freeze_init"
    gap = RESOLUTION
    below = f"(pp, < {SPARSE:g}% remaining)"
    return [
        Claim(f"criteria: best of large_final / magnitude_increase minus best other {below}",
              NO_NUMBER, needs=criteria, floor=gap,
              per_trial=best_of(BEST, lambda c: c not in BEST),
              direction=Direction(f"not below the best other by more than {gap:.2f} pp",
                                  best_of(BEST, lambda c: c not in BEST), ">", -gap),
              source="Zhou Fig. 2 [~]"),
        Claim(f"criteria: random minus the best small_* criterion {below}", NO_NUMBER,
              needs=criteria, floor=gap, direction="> 0", source="Zhou Fig. 2 [~]",
              per_trial=best_of(("random",), lambda c: c in SMALL)),
        Claim(f"mask-1: rewind to init minus random reinit {below}", NO_NUMBER,
              needs=("mask1",), floor=gap, direction="> 0", source="Zhou Fig. 3 [~]",
              per_trial=lineage_gap("mask1", "mask1", "ticket", "reinit")),
        Claim(f"mask-1: rewind to init minus reshuffle {below}", NO_NUMBER,
              needs=("mask1",), floor=gap, direction="> 0", source="Zhou Fig. 3 [~]",
              per_trial=lineage_gap("mask1", "mask1", "ticket", "reshuffle")),
        # Zhou Sec. 3 / Fig. 3: the signed constant "nearly matches" the rewound ticket: it
        # recovers most of what random reinit loses, i.e. lies nearer the ticket than reinit
        Claim(f"mask-1: signed constant nearer the ticket than random reinit: (signed - reinit)"
              f" - (ticket - signed) {below}", NO_NUMBER, needs=("mask1",), floor=gap,
              source="Zhou Sec. 3, Fig. 3 [~ read from the figure]",
              per_trial=signed_constant_share, direction="> 0"),
        Claim(f"mask-1: random magnitudes (init signs) minus random signs (init magnitudes) "
              f"{below}", NO_NUMBER, needs=("mask1",), floor=gap, direction="> 0",
              source="Zhou Fig. 4 [~]",
              per_trial=lineage_gap("mask1", "mask1", "random_magnitudes", "random_signs")),
        Claim(f"mask-0: zero minus freeze at init {below}", NO_NUMBER, needs=(zero, frozen),
              floor=gap, direction="> 0", source="Zhou Fig. 5 [~]",
              per_trial=lineage_gap(zero, frozen)),
        Claim("untrained large_final_same_sign mask, original init: test acc at the density "
              "chosen on validation (%)", SUPERMASK_MNIST["init"],
              "at_least", needs=("untrained",), floor=_floor(80.0) / math.sqrt(2),
              per_trial=best_untrained("large_final_same_sign", "init"),
              direction=_far_above_random("init"), source="Zhou Sec. 5 [T]"),
        Claim("untrained large_final_same_sign mask, signed constant: test acc at the density "
              "chosen on validation (%)", SUPERMASK_MNIST["signed_constant"],
              "at_least", needs=("untrained",), floor=_floor(86.0) / math.sqrt(2),
              per_trial=best_untrained("large_final_same_sign", "signed_constant"),
              direction=_far_above_random("signed_constant"), source="Zhou Sec. 5 [T]"),
        Claim("learned supermask (signed constant weights): test acc at early stop (%)",
              SUPERMASK_MNIST["learned"],
              "at_least", needs=("learned_supermask",), floor=_floor(95.0) / math.sqrt(2),
              per_trial=learned,
              direction=Direction("above the untrained one-shot supermask",
                                  learned_over_untrained),
              source="Zhou Sec. 5 [T]"),
    ]


def _far_above_random(start: str):
    """Above chance as the paper means it, against the random control: the random mask's
    untrained network at its own validation-chosen density (~10%, chance)."""
    return Direction("above chance: above a random mask (the random control)",
                     lambda r: _minus(best_untrained("large_final_same_sign", start)(r),
                                      best_untrained("random", start)(r)), ">", 0.0)


def _minus(a, b):
    return Measurement(tuple(x - y for x, y in zip(a.values, b.values, strict=False)))


def paper_results(criteria: Mapping, mask1, mask0: Mapping, untrained, learned) -> dict:
    """The notebook's results under the keys the claims read."""
    return {**{f"criterion:{c}": r for c, r in criteria.items()}, "mask1": mask1,
            **{f"mask0:{a}": r for a, r in mask0.items()}, "untrained": untrained,
            "learned_supermask": learned}


def ranking(results: Mapping, by_variant: bool = False, below: float = SPARSE) -> pd.DataFrame:
    """Per label of ``results`` (an ExperimentResult or results frame each; with ``by_variant``
    the label names the variant to read): mean test accuracy at early stop (%) and early-stop
    iteration over the pruned levels below ``below`` % remaining, best first."""
    rows = []
    for label, result in results.items():
        frame = getattr(result, "results", result)
        variant = label if by_variant else "ticket"
        rows.append({"": label,
                     f"test acc at early stop (%, < {below:g}% left)": sparse_mean(
                         frame, variant, below=below),
                     "early-stop iteration": sparse_mean(frame, variant, "early_stop_iteration",
                                                         below)})
    table = pd.DataFrame(rows).set_index("")
    return table.sort_values(table.columns[0], ascending=False).round(2)
