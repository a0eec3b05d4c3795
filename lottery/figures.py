"""The papers' figures, drawn from experiment results with seaborn.

Every function takes results (an :class:`~lottery.experiments.ExperimentResult` or its
``results`` / ``histories`` DataFrames) and returns a matplotlib Figure; error bars and bands are
the standard deviation over trials; "percent of weights remaining" axes are log-scaled and run
from 100 down, as in Frankle & Carbin (2019). :func:`save_figure` writes PNG and PDF.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter

from lottery.experiments import ExperimentResult

# axis labels of the results' columns; accuracies are plotted in percent
LABELS = {
    "early_stop_iteration": "early-stop iteration (val.)",
    "early_stop_test_acc": "test accuracy at early stop (%)",
    "final_test_acc": "test accuracy at end of training (%)",
    "final_train_acc": "train accuracy at end of training (%)",
    "test_acc": "test accuracy (%)",
    "val_acc": "validation accuracy (%)",
    "val_loss": "validation loss",
}
VARIANT_NAMES = {"ticket": "winning ticket", "reinit": "random reinit",
                 "random_mask": "random pruning"}
VARIANT_DASHES = {"ticket": "", "reinit": (4, 2), "random_mask": (1, 1)}


def _results(data: ExperimentResult | pd.DataFrame) -> pd.DataFrame:
    return data.results if isinstance(data, ExperimentResult) else data


def _percent(frame: pd.DataFrame) -> pd.DataFrame:
    """Accuracy columns (fractions in the results) as percentages."""
    frame = frame.copy()
    for column in frame.columns:
        if column.endswith("_acc"):
            frame[column] = 100 * frame[column]
    return frame


def series(data: ExperimentResult | pd.DataFrame, label: str, variant: str = "ticket",
           include_dense: bool = True) -> pd.DataFrame:
    """Rows of one ``variant`` labelled ``label`` (column ``series``); controls start from the
    dense network (level 0), which they share with the ticket, unless ``include_dense`` is off."""
    frame = _results(data)
    rows = frame[frame.variant == variant]
    if rows.empty:
        return rows.assign(series=label, kind=variant)
    if include_dense and variant != "ticket":
        rows = pd.concat([frame[(frame.level == 0) & (frame.variant == "ticket")], rows])
    return rows.assign(series=label, kind=variant)


def labelled(results: Mapping[str, ExperimentResult | pd.DataFrame],
             variants: Sequence[str] = ("ticket",)) -> pd.DataFrame:
    """One long frame of each labelled result's ``variants`` (absent variants are skipped)."""
    return combine(*[series(result, label, variant) for label, result in results.items()
                     for variant in variants])


def combine(*parts: pd.DataFrame) -> pd.DataFrame:
    """One long frame of several :func:`series` for the plot functions."""
    return pd.concat([p for p in parts if len(p)], ignore_index=True)


def format_remaining_axis(ax: plt.Axes, values: Sequence[float]) -> None:
    """Log-scaled percent-remaining axis, 100 on the left, ticks at the measured levels."""
    ax.set_xscale("log")
    ticks = sorted({round(float(v), 1) for v in values}, reverse=True)
    if len(ticks) > 8:  # keep every other level readable
        ticks = ticks[::max(1, len(ticks) // 8)]
    ax.set_xticks(ticks)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    lo, hi = min(values), max(values)
    ax.set_xlim(hi * 1.15, lo / 1.15)
    ax.set_xlabel("percent of weights remaining")


def plot_metric_vs_remaining(frame: pd.DataFrame, metric: str, ax: plt.Axes | None = None,
                             title: str | None = None, legend: bool = True) -> plt.Axes:
    """``metric`` (mean ± std over trials) against percent of weights remaining, one line per
    ``series``; controls (reinit, random pruning) dashed."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.6))
    frame = _percent(frame)
    sns.lineplot(data=frame, x="percent_remaining", y=metric, hue="series", style="kind",
                 dashes=VARIANT_DASHES, markers=True, errorbar="sd", err_style="bars",
                 err_kws={"capsize": 2}, ax=ax, legend=legend)
    format_remaining_axis(ax, frame.percent_remaining.unique())
    ax.set_ylabel(LABELS.get(metric, metric))
    if title:
        ax.set_title(title)
    if legend and ax.get_legend() is not None:
        handles, labels = ax.get_legend_handles_labels()
        keep = [(h, lab) for h, lab in zip(handles, labels, strict=True)
                if lab not in ("series", "kind") and lab not in VARIANT_DASHES]
        if keep:
            ax.legend(*zip(*keep, strict=True), fontsize=7)
    return ax


def plot_panels(frame: pd.DataFrame, metrics: Sequence[str], title: str = "",
                ncols: int | None = None) -> Figure:
    """One panel per metric, against percent remaining, sharing one legend."""
    ncols = ncols or len(metrics)
    nrows = int(np.ceil(len(metrics) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.4 * ncols, 3.6 * nrows), squeeze=False)
    for i, (ax, metric) in enumerate(zip(axes.flat, metrics, strict=False)):
        plot_metric_vs_remaining(frame, metric, ax=ax, legend=(i == 0))
    for ax in list(axes.flat)[len(metrics):]:
        ax.set_visible(False)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


FIG4_METRICS = ("early_stop_iteration", "early_stop_test_acc", "final_test_acc",
                "final_train_acc")


def plot_fig4_panels(frame: pd.DataFrame, title: str = "") -> Figure:
    """LTH Fig. 4: early-stop iteration, test accuracy at early stop, test and train accuracy at
    the end of training, against percent remaining (2 x 2 panels)."""
    return plot_panels(frame, FIG4_METRICS, title=title, ncols=2)


def level_percent(data: ExperimentResult | pd.DataFrame) -> dict[float, float]:
    """level -> percent of weights remaining of the ticket at that level."""
    frame = _results(data)
    rows = frame[frame.variant == "ticket"]
    return rows.groupby("level").percent_remaining.mean().to_dict()


def plot_accuracy_curves(result: ExperimentResult, levels: Sequence[int], variant: str = "ticket",
                         metric: str = "test_acc", ax: plt.Axes | None = None,
                         title: str | None = None, palette: str = "viridis") -> plt.Axes:
    """LTH Fig. 3: ``metric`` over training iterations for the tickets (or a control) at
    ``levels``, labelled by percent remaining; band = std over trials. Levels not in the
    result are skipped."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.6))
    percent = level_percent(result)
    hist = result.histories
    keep = [lv for lv in levels if lv in percent]
    rows = hist[hist.level.isin(keep) & ((hist.variant == variant) | (hist.level == 0))]
    rows = _percent(rows).assign(
        remaining=lambda d: d.level.map(lambda lv: f"{percent[lv]:.1f}"
                                        + ("" if variant == "ticket" or lv == 0
                                           else f" ({VARIANT_NAMES[variant]})")))
    if rows.empty:
        return ax
    order = sorted(rows.remaining.unique(), key=lambda s: -float(s.split()[0]))
    sns.lineplot(data=rows, x="iteration", y=metric, hue="remaining", hue_order=order,
                 errorbar="sd", palette=palette, ax=ax)
    ax.set_ylabel(LABELS.get(metric, metric))
    ax.set_xlabel("training iterations")
    if ax.get_legend() is not None:
        ax.get_legend().set_title("Pm (%)")
    low = rows.groupby(["remaining", "iteration"])[metric].mean()
    if len(low):  # zoom on the interesting range, as the paper does
        ax.set_ylim(max(0, low.quantile(0.15) - 2), min(100, low.max() + 1))
    if title:
        ax.set_title(title)
    return ax


def plot_fig3(result: ExperimentResult, panels: Sequence[Sequence[int]],
              reinit_levels: Sequence[int] = (), title: str = "") -> Figure:
    """LTH Fig. 3: one panel per group of ``panels`` levels (tickets), plus a panel of tickets
    against their random reinit at ``reinit_levels`` when the result has them."""
    has_reinit = bool(reinit_levels) and (result.results.variant == "reinit").any()
    count = len(panels) + has_reinit
    fig, axes = plt.subplots(1, count, figsize=(4.6 * count, 3.6), squeeze=False)
    for ax, levels in zip(axes.flat, panels, strict=False):
        plot_accuracy_curves(result, levels, ax=ax)
    if has_reinit:
        ax = axes.flat[-1]
        plot_accuracy_curves(result, [0, *reinit_levels], ax=ax, palette="crest")
        plot_accuracy_curves(result, [lv for lv in reinit_levels if lv], variant="reinit", ax=ax,
                             palette="flare")
        ax.set_title("tickets vs random reinit")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_rewind_sweep(results: Mapping[int, ExperimentResult], metric: str = "final_test_acc",
                      title: str = "") -> Figure:
    """Stabilizing the LTH: ``metric`` of the tickets against the rewind iteration k, one line
    per pruning level; the dense network (k-independent up to noise) is the gray band."""
    rows = []
    for k, result in results.items():
        frame = _percent(result.results)
        rows.append(frame[frame.variant == "ticket"].assign(k=k))
    frame = pd.concat(rows, ignore_index=True)
    frame["Pm (%)"] = frame.percent_remaining.round(1).astype(str)
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    pruned = frame[frame.level > 0]
    order = sorted(pruned["Pm (%)"].unique(), key=lambda s: -float(s))
    sns.lineplot(data=pruned, x="k", y=metric, hue="Pm (%)", hue_order=order, marker="o",
                 errorbar="sd", err_style="bars", palette="viridis", ax=ax)
    dense = frame[frame.level == 0][metric]
    ax.axhspan(dense.mean() - dense.std(ddof=0), dense.mean() + dense.std(ddof=0),
               color="0.85", zorder=0, label="dense")
    ax.axhline(dense.mean(), color="0.4", lw=1)
    ks = sorted(results)
    ax.set_xscale("symlog", linthresh=max(1, min([k for k in ks if k] or [1])))
    ax.set_xticks(ks)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xlabel("rewind iteration k (0 = reset to init)")
    ax.set_ylabel(LABELS.get(metric, metric))
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def save_figure(fig: Figure, notebook: str, name: str,
                root: str | Path = "figures") -> list[Path]:
    """Write ``fig`` to ``root/notebook/name.png`` and ``.pdf``; returns both paths."""
    folder = Path(root) / notebook
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{name}.png", folder / f"{name}.pdf"]
    fig.savefig(paths[0], dpi=150, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight")
    return paths
