"""Paper vs ours for notebook 04 (Zhou et al. 2019, Deconstructing lottery tickets).

The results the claims read, by key: ``criterion:<name>`` (an IMP lineage per mask criterion),
``mask1`` (the large_final lineage with the mask-1 variants as controls), ``mask0:<action>``
(an IMP lineage per mask-0 action), ``untrained`` (the table of
:func:`lottery.deconstruct.untrained_accuracy`) and ``learned_supermask``. Criteria and actions
are compared by the mean test accuracy at early stop over the pruned levels below
:data:`SPARSE` percent remaining, where Zhou et al.'s curves separate. Most of the paper's
claims are orderings (read from its figures, [~]): their "paper" value is the sign of the
difference (0 = ours must be above 0); the supermask accuracies are stated in its text [T].
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

SPARSE = 30.0
BEST = ("large_final", "magnitude_increase")
SMALL = ("small_final", "small_init", "small_init_small_final")


def sparse_mean(frame: pd.DataFrame, variant: str = "ticket",
                metric: str = "early_stop_test_acc", below: float = SPARSE) -> float:
    """Mean over trials and pruned levels below ``below`` % remaining of ``metric`` (accuracies
    in percent); NaN when no such level was run."""
    rows = frame[(frame.variant == variant) & (frame.level > 0)
                 & (frame.percent_remaining < below)]
    if rows.empty:
        return float("nan")
    return float(rows[metric].mean() * (100.0 if metric.endswith("_acc") else 1.0))


def _criteria(r: Mapping[str, pd.DataFrame]) -> dict[str, float]:
    return {k.split(":", 1)[1]: sparse_mean(v) for k, v in r.items()
            if k.startswith("criterion:") and not k.endswith("_same_sign")}


def best_criteria_margin(r: Mapping[str, pd.DataFrame]) -> float:
    """The better of large_final and magnitude_increase minus the best other criterion."""
    scores = _criteria(r)
    others = [v for c, v in scores.items() if c not in BEST]
    return max(scores[c] for c in BEST) - max(others)


def random_over_small(r: Mapping[str, pd.DataFrame]) -> float:
    """Random minus the best of the small_* criteria."""
    scores = _criteria(r)
    return scores["random"] - max(scores[c] for c in SMALL)


def _mask1(variant: str):
    return lambda r: sparse_mean(r["mask1"], variant)


def best_untrained(criterion: str, start: str):
    """The best test accuracy (%) over densities of an untrained network masked by
    ``criterion``'s one-shot masks, applied to ``start`` (mean over trials)."""
    def measure(r: Mapping[str, pd.DataFrame]) -> float:
        table = r["untrained"]
        rows = table[(table.criterion == criterion) & (table.start == start)]
        return float(100 * rows.groupby("rounds").test_acc.mean().max()) if len(rows) \
            else float("nan")
    return measure


def claims() -> list:
    """The claims of notebook 04 as :class:`lottery.report.Claim` entries."""
    from lottery.report import Claim  # here: report registers these while it loads

    criteria = tuple(f"criterion:{c}" for c in (*BEST, "random", *SMALL, "large_init",
                                                 "large_init_large_final", "movement"))
    zero, frozen = "mask0:zero", "mask0:freeze_init"
    quick = {"paper": 0.0, "quick": 0.0}
    return [
        Claim("criteria: best of large_final / magnitude_increase minus best other (pp, "
              f"< {SPARSE:g}% remaining)", 0.0, "at_least", {"paper": 0.3, "quick": 0.5},
              best_criteria_margin, criteria),
        Claim("criteria: random minus the best small_* criterion (pp)", 0.0, "above", quick,
              random_over_small, criteria),
        Claim("mask-1: rewind to init minus the better of reinit and reshuffle (pp)", 0.0,
              "above", quick, lambda r: sparse_mean(r["mask1"]) - max(
                  sparse_mean(r["mask1"], "reinit"), sparse_mean(r["mask1"], "reshuffle")),
              ("mask1",)),
        Claim("mask-1: rewind to init minus signed constant (pp)", 0.0, "within",
              {"paper": 1.0, "quick": 1.5},
              lambda r: sparse_mean(r["mask1"]) - sparse_mean(r["mask1"], "signed_constant"),
              ("mask1",)),
        Claim("mask-1: random magnitudes (init signs) minus random signs (init magnitudes) "
              "(pp)", 0.0, "above", quick,
              lambda r: _mask1("random_magnitudes")(r) - _mask1("random_signs")(r), ("mask1",)),
        Claim("mask-0: zero minus freeze at init (pp)", 0.0, "above", quick,
              lambda r: sparse_mean(r[zero]) - sparse_mean(r[frozen]), (zero, frozen)),
        Claim("untrained large_final_same_sign mask, original init: best test acc (%)", 80.0,
              "at_least", {"paper": 0.0, "quick": 10.0},
              best_untrained("large_final_same_sign", "init"), ("untrained",)),
        Claim("untrained large_final_same_sign mask, signed constant: best test acc (%)", 86.0,
              "at_least", {"paper": 2.0, "quick": 10.0},
              best_untrained("large_final_same_sign", "signed_constant"), ("untrained",)),
        Claim("learned supermask (signed constant weights): test acc at early stop (%)", 95.0,
              "at_least", {"paper": 1.0, "quick": 5.0},
              lambda r: float(100 * r["learned_supermask"].early_stop_test_acc.mean()),
              ("learned_supermask",)),
    ]


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
