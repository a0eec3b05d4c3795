"""Figures of notebook 08: width, initialization, pruning recipes and the information plane.

House style of :mod:`lottery.claims.figures`: lines are means over trials, error bars run from the
minimum to the maximum trial (each caption says so), percent-remaining and weight-count axes are
log-scaled and run from the dense network down; every method keeps one colour in every figure
(:data:`COLORS`), widths and init schemes one colour each (:func:`width_colours`,
:data:`INIT_COLORS`), and line style keys the variant (solid: ticket, dashed: random reinit).
"""

from __future__ import annotations

import itertools
import textwrap

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

from lottery.claims.figures import LABELS, caption, format_remaining_axis
from lottery.engine.init_schemes import SCHEMES
from lottery.studies.open_questions.study import RECIPE_NAMES, RECIPES, gaps

COLORS = {"dense": "0.35", "ticket": "C0", "reinit": "C1", "random_mask": "C2",
          "rewind": "C3", "fine_tune": "C4", "lr_rewind": "C5"}
INIT_COLORS = {s: colormaps["tab10"].colors[i + 3] for i, s in enumerate(SCHEMES)}
DASHES = {"ticket": "-", "reinit": "--"}
SPREAD = "error bars"


def width_colours(widths) -> dict[float, tuple]:
    """One colour per width, light (narrow) to dark (wide)."""
    widths = sorted(set(widths))
    cmap = colormaps["viridis"]
    return {w: cmap(0.9 - 0.8 * i / max(1, len(widths) - 1)) for i, w in enumerate(widths)}


def _stats(frame: pd.DataFrame, by: list[str], metric: str, scale: float = 1.0) -> pd.DataFrame:
    g = frame.groupby(by)[metric]
    out = g.agg(["mean", "min", "max"]) * scale
    return out.reset_index()


def _line(ax, stats: pd.DataFrame, x: str, colour, style: str, label: str) -> None:
    stats = stats.sort_values(x, ascending=False)
    err = [stats["mean"] - stats["min"], stats["max"] - stats["mean"]]
    ax.errorbar(stats[x], stats["mean"], yerr=err, color=colour, ls=style, marker="o", ms=3,
                capsize=2, lw=1.2, label=label)


def _caption(fig: Figure, trials: int, text: str) -> None:
    """The house caption, its text wrapped to the figure's width."""
    width = max(60, int(fig.get_figwidth() * 17))
    caption(fig, trials=trials, spread=SPREAD, text=textwrap.fill(text, width))


def _trials(frame: pd.DataFrame) -> int:
    return int(frame.trial.nunique()) if "trial" in frame else 1


def _count_axis(ax, counts) -> None:
    ax.set_xscale("log")
    counts = [c for c in counts if c > 0]
    ax.set_xlim(max(counts) * 1.3, min(counts) / 1.3)
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v / 1000:g}K"))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("weights remaining (count)")


# --- width -------------------------------------------------------------------------------------

def plot_width(table: pd.DataFrame, title: str = "") -> Figure:
    """Test accuracy at early stop and the early-stop iteration against the number of remaining
    weights, one colour per width (solid: ticket; dashed: random reinit)."""
    colours = width_colours(table.width)
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 3.9))
    for width, colour in colours.items():
        rows = table[table.width == width]
        for variant, style in DASHES.items():
            part = rows[rows.variant == variant]
            if variant == "reinit":  # the reinit curve starts at the dense network
                part = pd.concat([rows[(rows.level == 0) & (rows.variant == "ticket")],
                                  rows[rows.variant == "reinit"]])
            stats = _stats(part, ["remaining_weights"], "early_stop_test_acc", 100)
            _line(axes[0], stats, "remaining_weights", colour, style,
                  f"{width:g}x" if variant == "ticket" else None)
        ticket = rows[rows.variant == "ticket"]
        _line(axes[1], _stats(ticket, ["remaining_weights"], "early_stop_iteration"),
              "remaining_weights", colour, "-", f"{width:g}x")
    for ax, metric in zip(axes, ("early_stop_test_acc", "early_stop_iteration"), strict=True):
        _count_axis(ax, table.remaining_weights)
        ax.set_ylabel(LABELS[metric])
    handles, labels = axes[0].get_legend_handles_labels()
    handles += [Line2D([], [], color="k", ls=s) for s in DASHES.values()]
    labels += ["winning ticket", "random reinit"]
    axes[0].legend(handles, labels, fontsize=7, title="width", title_fontsize=7, ncol=2)
    fig.suptitle(title)
    fig.tight_layout()
    _caption(fig, _trials(table), (
        "x: the number of prunable weights left, so networks of different widths are compared "
        "at equal size; each width's points are its IMP levels (left end: its dense network)."))
    return fig


def plot_width_gap(table: pd.DataFrame, title: str = "") -> Figure:
    """The ticket - random reinit gap (test accuracy at early stop, pp) against width: mean over
    the pruned levels, and at the sparsest level."""
    g = gaps(table, "width")
    mean = g.groupby(["width", "trial"]).gap.mean().reset_index()
    deepest = g[g.level == g.level.max()]
    fig, ax = plt.subplots(figsize=(5.2, 3.7))
    _line(ax, _stats(mean, ["width"], "gap"), "width", COLORS["ticket"], "-",
          "mean over pruned levels")
    _line(ax, _stats(deepest, ["width"], "gap"), "width", COLORS["reinit"], "--",
          f"sparsest level ({int(g.level.max())})")
    ax.set_xscale("log", base=2)
    ax.set_xlim(min(g.width) / 1.4, max(g.width) * 1.4)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}x"))
    ax.axhline(0, color="0.6", lw=0.8)
    ax.set_xlabel("width (x LeNet-300-100's hidden units)")
    ax.set_ylabel("ticket - random reinit (pp)")
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    _caption(fig, _trials(table), "At equal percent remaining (the same IMP level) across widths.")
    return fig


# --- initialization ------------------------------------------------------------------------------

def plot_inits(table: pd.DataFrame, title: str = "") -> Figure:
    """Test accuracy at early stop against percent remaining per init scheme (solid: ticket;
    dashed: random reinit under the same scheme), and each scheme's gap."""
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 3.9), gridspec_kw={"width_ratios": [3, 2]})
    schemes = [s for s in SCHEMES if s in set(table.init)]
    for scheme in schemes:
        rows = table[table.init == scheme]
        for variant, style in DASHES.items():
            part = rows[rows.variant == variant]
            if variant == "reinit":
                part = pd.concat([rows[(rows.level == 0) & (rows.variant == "ticket")], part])
            _line(axes[0], _stats(part, ["percent_remaining"], "early_stop_test_acc", 100),
                  "percent_remaining", INIT_COLORS[scheme], style,
                  scheme if variant == "ticket" else None)
    format_remaining_axis(axes[0], table.percent_remaining.unique())
    axes[0].set_ylabel(LABELS["early_stop_test_acc"])
    axes[0].legend(fontsize=7)
    g = gaps(table, "init").groupby(["init", "trial"]).gap.mean().reset_index()
    for i, scheme in enumerate(schemes):
        values = g[g.init == scheme].gap
        axes[1].bar(i, values.mean(), color=INIT_COLORS[scheme],
                    yerr=[[values.mean() - values.min()], [values.max() - values.mean()]],
                    capsize=3)
    axes[1].set_xticks(range(len(schemes)), schemes, rotation=25, ha="right", fontsize=7)
    axes[1].axhline(0, color="0.6", lw=0.8)
    axes[1].set_ylabel("ticket - random reinit (pp),\nmean over pruned levels")
    fig.suptitle(title)
    fig.tight_layout()
    _caption(fig, _trials(table), "The random reinit draws its fresh weights from the same scheme.")
    return fig


# --- recipes -------------------------------------------------------------------------------------

def plot_recipes(table: pd.DataFrame, title: str = "") -> Figure:
    """Test accuracy at early stop per recipe against percent remaining, and against the
    training each costs at the sparsest level."""
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 3.9))
    dense = table[(table.level == 0) & (table.recipe == "ticket")]
    level = table.level.max()
    for recipe in RECIPES:
        rows = table[table.recipe == recipe]
        if rows.empty:
            continue
        part = pd.concat([dense, rows]) if recipe != "ticket" else rows
        _line(axes[0], _stats(part, ["percent_remaining"], "early_stop_test_acc", 100),
              "percent_remaining", COLORS[recipe], "-", RECIPE_NAMES[recipe])
        at = rows[rows.level == level]
        acc = 100 * at.early_stop_test_acc
        axes[1].errorbar(at.cost_trainings.mean(), acc.mean(), color=COLORS[recipe],
                         yerr=[[acc.mean() - acc.min()], [acc.max() - acc.mean()]], marker="o",
                         capsize=2, label=RECIPE_NAMES[recipe])
    format_remaining_axis(axes[0], table.percent_remaining.unique())
    axes[0].set_ylabel(LABELS["early_stop_test_acc"])
    axes[0].legend(fontsize=7)
    pm = table[table.level == level].percent_remaining.mean()
    axes[1].set_xlabel("training cost (full trainings: mask search + its own)")
    axes[1].set_ylabel(f"test accuracy at early stop (%),\nat {pm:.1f}% remaining")
    fig.suptitle(title)
    fig.tight_layout()
    _caption(fig, _trials(table), (
        "Every recipe uses the IMP ticket's mask of its level except random pruning (a random "
        "mask of the same per-layer density) and rewind to k (IMP's own run at k). Fine-tune: "
        "the trained weights the mask was pruned from, trained at the final learning rate; lr "
        "rewinding: the same weights, retrained with the whole schedule."))
    return fig


# --- information plane ---------------------------------------------------------------------------

def plot_information_plane(info: pd.DataFrame, trial: int = 0, title: str = "") -> Figure:
    """I(T;Y) against I(X;T) over training per layer (columns) and estimator (rows), dense,
    ticket and random reinit; marker size grows with the iteration, the end is ringed."""
    estimators = list(dict.fromkeys(info.estimator))
    layers = list(dict.fromkeys(info.layer))
    fig, axes = plt.subplots(len(estimators), len(layers), squeeze=False,
                             figsize=(3.6 * len(layers), 3.2 * len(estimators)))
    rows = info[info.trial == trial]
    for (r, estimator), (c, layer) in itertools.product(enumerate(estimators), enumerate(layers)):
        ax = axes[r][c]
        for network in ("dense", "ticket", "reinit"):
            part = rows[(rows.estimator == estimator) & (rows.layer == layer)
                        & (rows.network == network)].sort_values("iteration")
            if part.empty:
                continue
            sizes = 8 + 30 * np.linspace(0, 1, len(part))
            ax.plot(part["I(X;T)"], part["I(T;Y)"], color=COLORS[network], lw=1,
                    label=RECIPE_NAMES.get(network, network) if network != "ticket"
                    else "winning ticket")
            ax.scatter(part["I(X;T)"], part["I(T;Y)"], s=sizes, color=COLORS[network])
            ax.scatter(part["I(X;T)"].iloc[-1:], part["I(T;Y)"].iloc[-1:], s=80,
                       facecolor="none", edgecolor=COLORS[network])
        ax.set_title(f"{layer}, {estimator}", fontsize=8)
        ax.set_xlabel("I(X;T) (bits)")
        ax.set_ylabel("I(T;Y) (bits)")
    axes[0][0].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    inputs = int(info.inputs.max()) if "inputs" in info else 0
    _caption(fig, 1, (
        f"Trial {trial}; points: weights over training (small: early, ringed: the end), on "
        f"{inputs} test inputs (ceilings: log2 {inputs} = {np.log2(max(inputs, 1)):.2f} bits "
        f"for I(X;T), H(Y) for I(T;Y)). Noisy: T = layer + Gaussian noise of variance a fixed "
        f"fraction of the layer's total variance, exact mixture densities, Monte Carlo; binned: "
        f"notebook 05's estimator. The two disagree: conclusions depend on the estimator."))
    return fig


def information_table(info: pd.DataFrame) -> pd.DataFrame:
    """Per estimator, layer and network, mean over trials at the end of training."""
    end = info[info.iteration == info.iteration.max()]
    return end.groupby(["estimator", "layer", "network"])[["I(X;T)", "I(T;Y)"]].mean().round(3)


def recipe_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per recipe at each pruned level: mean test accuracy at early stop (%) and cost."""
    rows = table[table.level > 0]
    out = rows.groupby(["recipe", "level"]).agg(
        percent_remaining=("percent_remaining", "mean"),
        test_acc=("early_stop_test_acc", lambda v: 100 * v.mean()),
        cost_trainings=("cost_trainings", "mean")).reset_index()
    out["recipe"] = out.recipe.map(RECIPE_NAMES)
    return out.round(2)
