"""Tables of a cheap-ticket comparison (:class:`lottery.studies.cheap.study.CheapResult`): the
Pareto table of accuracy against the cost of the mask, layer-wise densities, the shuffle ablation,
a summary. Accuracies stay fractions (``*_acc`` columns;
:func:`lottery.core.results.percent_columns` shows them in percent)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from lottery.studies.cheap.study import CheapResult


def at_target(result: CheapResult, density: float, variant: str = "ticket") -> pd.DataFrame:
    """Rows of every method at the IMP level of target ``density`` (dense excluded)."""
    frame = result.results
    return frame[(frame.level == result.levels[density]) & (frame.variant == variant)]


def pareto(result: CheapResult, densities: Sequence[float]) -> pd.DataFrame:
    """Per target and method: mean accuracy (and sd over trials) against the mean cost of the
    mask; ``pareto`` marks methods no other beats on accuracy at no more FLOPs."""
    tables = []
    for density in densities:
        table = at_target(result, density).groupby("method", sort=False).agg(
            percent_remaining=("percent_remaining", "mean"),
            early_stop_test_acc=("early_stop_test_acc", "mean"),
            sd_early_stop_test_acc=("early_stop_test_acc", "std"),
            cost_iterations=("cost_iterations", "mean"), cost_flops=("cost_flops", "mean"),
            trials=("trial", "nunique")).reset_index()
        acc, flops = table.early_stop_test_acc.to_numpy(), table.cost_flops.to_numpy()
        table["pareto"] = [not np.any((acc >= a) & (flops <= f) & ((acc > a) | (flops < f)))
                           for a, f in zip(acc, flops, strict=True)]
        tables.append(table.assign(target=100 * density))
    out = pd.concat(tables, ignore_index=True)
    return out[["target", *[c for c in out.columns if c != "target"]]]


def layer_table(result: CheapResult, density: float) -> pd.DataFrame:
    """Percent of each layer's weights that each method keeps at target ``density`` (mean over
    trials); the ``all`` column is the overall percent remaining."""
    rows = at_target(result, density)
    layers = [c for c in rows.columns if c.startswith("density:")]
    table = rows.groupby("method", sort=False)[[*layers, "density"]].mean() * 100
    return table.rename(columns={c: c.removeprefix("density:") for c in layers} | {
        "density": "all"})


def shuffle_table(result: CheapResult, densities: Sequence[float]) -> pd.DataFrame:
    """Frankle et al. 2021's ablation: accuracy of each mask and of the mask shuffled within
    its layers (IMP's shuffled mask is random pruning at its layer densities), with the
    change in percentage points."""
    rows = []
    for density in densities:
        kept, moved = at_target(result, density), at_target(result, density, "shuffled")
        pairs = [(m, kept[kept.method == m], moved[moved.method == m])
                 for m in moved.method.unique()]
        pairs.append(("IMP (reset to init)", kept[kept.method == "IMP (reset to init)"],
                      kept[kept.method == "random (IMP layers)"]))
        for method, a, b in pairs:
            if len(a) and len(b):
                rows.append({"target": 100 * density, "method": method,
                             "early_stop_test_acc": a.early_stop_test_acc.mean(),
                             "shuffled_test_acc": b.early_stop_test_acc.mean(),
                             "change_pp": 100 * (b.early_stop_test_acc.mean()
                                                 - a.early_stop_test_acc.mean())})
    return pd.DataFrame(rows, columns=["target", "method", "early_stop_test_acc",
                                       "shuffled_test_acc", "change_pp"])


def summary(result: CheapResult) -> pd.DataFrame:
    """Mean over trials per method, variant and level: percent remaining, accuracy, cost."""
    frame = result.results[result.results.level > 0]
    return frame.groupby(["method", "variant", "level"], sort=False).agg(
        percent_remaining=("percent_remaining", "mean"),
        early_stop_test_acc=("early_stop_test_acc", "mean"),
        sd_early_stop_test_acc=("early_stop_test_acc", "std"),
        cost_iterations=("cost_iterations", "mean"), cost_flops=("cost_flops", "mean"))
