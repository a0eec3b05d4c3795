"""Figures of the cheap-ticket comparison (:mod:`lottery.studies.cheap.study`): accuracy against
sparsity, accuracy against the cost of finding the mask, layer-wise densities, the shuffle ablation
and the early-bird mask distances. Accuracies are drawn in percent; error bars are the standard
deviation over trials."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from lottery.claims.figures import format_remaining_axis
from lottery.studies.cheap.methods import AT_INIT, METHODS
from lottery.studies.cheap.study import CheapResult
from lottery.studies.cheap.tables import layer_table

ACC = "early_stop_test_acc"
AT_INIT_LABELS = [METHODS[k].label for k in AT_INIT]


def _family(method: str) -> str:
    """Which panel and marker a method belongs to."""
    if method.startswith(("IMP", "one-shot", "dense")):
        return "after training"
    if method.startswith("early-bird"):
        return "early-bird"
    if method.startswith("random"):
        return "random"
    return "at init (IMP layers)" if method.endswith("(IMP layers)") else "at init"


PLAIN = FuncFormatter(lambda v, _: f"{v:g}")
MARKERS = {"after training": "s", "early-bird": "^", "random": "x", "at init": "o",
           "at init (IMP layers)": "D"}


def _curve(ax: plt.Axes, rows: pd.DataFrame, label: str, **style) -> None:
    stats = rows.groupby("level").agg(x=("percent_remaining", "mean"), y=(ACC, "mean"),
                                      sd=(ACC, "std")).sort_values("x", ascending=False)
    ax.errorbar(stats.x, 100 * stats.y, yerr=100 * stats.sd.fillna(0), label=label, capsize=2,
                marker=MARKERS[_family(label)], ms=4, lw=1.2, **style)


def plot_accuracy(result: CheapResult, title: str = "") -> Figure:
    """Test accuracy at early stop against percent remaining: methods that train before
    pruning (left) and methods at initialization (right), IMP and random on both."""
    frame = result.results[result.results.variant == "ticket"]
    pruned, dense = frame[frame.level > 0], frame[frame.level == 0]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, family in zip(axes, (("after training", "early-bird"),
                                 ("at init", "at init (IMP layers)")), strict=True):
        for method in pruned.method.unique():
            kind = _family(method)
            if kind in family or method in ("IMP (reset to init)", "random (IMP layers)"):
                dashed = kind == "at init (IMP layers)" or method.startswith("random")
                _curve(ax, pruned[pruned.method == method], method,
                       ls="--" if dashed else "-")
        if len(dense):
            ax.axhline(100 * dense[ACC].mean(), color="0.5", lw=1, label="dense")
        format_remaining_axis(ax, pruned.percent_remaining.unique())
        ax.set_title(" and ".join(family))
        ax.legend(fontsize=7)
    axes[0].set_ylabel("test accuracy at early stop (%)")
    _zoom(axes[0], 100 * pruned.groupby(["method", "level"])[ACC].mean())
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def _zoom(ax: plt.Axes, values: pd.Series) -> None:
    """Leave out the collapsed points when the rest sit in a narrow band."""
    if len(values):
        ax.set_ylim(max(0.0, values.quantile(0.1) - 3), min(100.0, values.max() + 1))


def plot_pareto(table: pd.DataFrame, step_flops: float, title: str = "") -> Figure:
    """Accuracy at each target density against the FLOPs spent finding the mask (symmetric
    log axis: linear below one training step's FLOPs), one point per method; the Pareto
    front joined."""
    targets = list(dict.fromkeys(table.target))
    fig, axes = plt.subplots(1, len(targets), figsize=(5.6 * len(targets), 4.4), squeeze=False)
    for ax, target in zip(axes.flat, targets, strict=True):
        rows = table[table.target == target]
        for _, row in rows.iterrows():
            ax.errorbar(row.cost_flops, 100 * row[ACC], yerr=100 * np.nan_to_num(
                row["sd_" + ACC]), marker=MARKERS[_family(row.method)], ms=6, capsize=2,
                color="C3" if row.pareto else "C0")
            ax.annotate(row.method, (row.cost_flops, 100 * row[ACC]), fontsize=6,
                        xytext=(3, 3), textcoords="offset points")
        front = rows[rows.pareto].sort_values("cost_flops")
        ax.plot(front.cost_flops, 100 * front[ACC], color="C3", lw=1, alpha=0.6)
        _cost_axis(ax, step_flops / 10, rows.cost_flops.max())
        ax.set_xlabel("FLOPs to find the mask (before the final training)")
        ax.set_ylabel("test accuracy at early stop (%)")
        ax.set_title(f"{target:.3g}% of weights remaining (red: Pareto front)", fontsize=9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def _cost_axis(ax: plt.Axes, linear_below: float, largest: float) -> None:
    """Symmetric log axis (0 for the free methods, decades above ``linear_below``)."""
    ax.set_xscale("symlog", linthresh=linear_below)
    first, last = int(np.ceil(np.log10(linear_below))), int(np.ceil(np.log10(max(largest, 1))))
    ax.set_xticks([0.0, *[10.0 ** e for e in range(first, last + 1)]])
    ax.set_xlim(-0.3 * linear_below, 2 * max(largest, linear_below))


def plot_layers(result: CheapResult, densities: Sequence[float],
                methods: Sequence[str] | None = None, title: str = "") -> Figure:
    """Percent of each layer kept by each method at each target (bars), the question
    Frankle et al. 2021 reduce the at-init methods to."""
    fig, axes = plt.subplots(1, len(densities), figsize=(5.6 * len(densities), 3.8),
                             squeeze=False)
    for ax, density in zip(axes.flat, densities, strict=True):
        table = layer_table(result, density).drop(columns="all")
        keep = [m for m in (methods or table.index) if m in table.index]
        table.loc[keep].T.plot.bar(ax=ax, width=0.85, rot=0)
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(PLAIN)
        ax.yaxis.set_minor_formatter(PLAIN)
        ax.set_ylabel("weights kept in the layer (%)")
        ax.set_title(f"target {100 * density:.3g}% overall", fontsize=9)
        ax.legend(fontsize=6)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_shuffle(table: pd.DataFrame, title: str = "") -> Figure:
    """Accuracy of each mask and of the same mask shuffled within every layer, per target."""
    targets = list(dict.fromkeys(table.target))
    fig, axes = plt.subplots(1, len(targets), figsize=(5.6 * len(targets), 3.8), squeeze=False)
    for ax, target in zip(axes.flat, targets, strict=True):
        rows = table[table.target == target].set_index("method")
        (100 * rows[[ACC, "shuffled_test_acc"]]).rename(
            columns={ACC: "as found", "shuffled_test_acc": "shuffled within layers"}).plot.bar(
            ax=ax, rot=20, width=0.8)
        values = 100 * rows[[ACC, "shuffled_test_acc"]].to_numpy()
        if values.size:
            ax.set_ylim(max(0, np.nanmin(values) - 3), min(100, np.nanmax(values) + 1.5))
        ax.set_ylabel("test accuracy at early stop (%)")
        ax.set_xlabel("")
        ax.set_title(f"{target:.3g}% of weights remaining", fontsize=9)
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_early_bird(result: CheapResult, threshold: float, iterations: int,
                    title: str = "") -> Figure:
    """Early-bird masks over training: distance to the previous checkpoint's mask (the
    stopping rule's quantity, threshold dotted) and to the one-shot mask after training."""
    curves = result.early_bird.assign(fraction=lambda d: 100 * d.t / iterations)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for _, rows in curves.groupby("level"):
        mean = rows.groupby("fraction")[["to_previous", "to_oneshot"]].mean()
        label = f"{100 * rows.density.mean():.3g}% remaining"
        axes[0].plot(mean.index, mean.to_previous, marker=".", label=label)
        axes[1].plot(mean.index, mean.to_oneshot, marker=".", label=label)
    axes[0].axhline(threshold, color="0.4", ls=":", label="stop threshold")
    axes[0].set_ylabel("distance to the previous mask")
    axes[1].set_ylabel("distance to the one-shot mask")
    for ax in axes:
        ax.set_xlabel("t (% of training)")
        ax.set_yscale("log")
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
