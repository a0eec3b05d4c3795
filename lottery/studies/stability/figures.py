"""Figures of notebook 05: stability, linear mode connectivity, mask overlap, ticket properties.

Every function takes a table of :mod:`lottery.studies.stability.study`,
:mod:`lottery.studies.stability.overlap` or :mod:`lottery.studies.stability.properties` and returns
a matplotlib Figure; error bars are the standard deviation over trials (or pairs);
percent-remaining axes are log-scaled from 100 down as in :mod:`lottery.claims.figures`.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter
from torch import Tensor

from lottery.claims.figures import VARIANT_NAMES, format_remaining_axis
from lottery.engine.analysis import OVERALL, split_by_mask
from lottery.engine.masks import Mask
from lottery.engine.members import State
from lottery.studies.stability.study import VARIANT_ORDER

NAMES = {"dense": "dense", **VARIANT_NAMES}
COLORS = {"dense": "0.35", "ticket": "C0", "reinit": "C1", "random_mask": "C2"}
LABELS = {"data_order_distance": "L2 distance, two data orders",
          "pruning_distance": "L2 distance to the dense net (same mask)",
          "instability_pp": "instability (pp of test error)",
          "early_stop_test_acc": "test accuracy at early stop (%)"}
STABILITY = ("data_order_distance", "pruning_distance", "instability_pp")


def _named(table: pd.DataFrame) -> tuple[pd.DataFrame, list[str], dict[str, str]]:
    """``table`` with a readable ``network`` column, its order and colors."""
    present = [v for v in VARIANT_ORDER if v in set(table.variant)]
    frame = table.assign(network=table.variant.map(NAMES))
    return frame, [NAMES[v] for v in present], {NAMES[v]: COLORS[v] for v in present}


def plot_stability_vs_density(table: pd.DataFrame, k: int = 0, title: str = "") -> Figure:
    """Data-order distance, pruning distance and instability against percent remaining at
    rewind iteration ``k``, one line per network kind (the dense net is the point at 100%)."""
    frame, order, palette = _named(table[table.k == k])
    fig, axes = plt.subplots(1, len(STABILITY), figsize=(4.4 * len(STABILITY), 3.6))
    for ax, metric in zip(axes, STABILITY, strict=True):
        rows = frame.dropna(subset=[metric])
        sns.lineplot(data=rows, x="percent_remaining", y=metric, hue="network",
                     hue_order=[o for o in order if o in set(rows.network)], palette=palette,
                     marker="o", errorbar="sd", err_style="bars", ax=ax, legend=ax is axes[0])
        format_remaining_axis(ax, frame.percent_remaining.unique())
        ax.set_ylabel(LABELS[metric])
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_stability_vs_k(table: pd.DataFrame, level: int, title: str = "") -> Figure:
    """The same three measures against the rewind iteration k at ``level`` (and for the dense
    network restarted at k)."""
    frame, order, palette = _named(table[table.level.isin([0, level])])
    ks = sorted(frame.k.unique())
    fig, axes = plt.subplots(1, len(STABILITY), figsize=(4.4 * len(STABILITY), 3.6))
    for ax, metric in zip(axes, STABILITY, strict=True):
        rows = frame.dropna(subset=[metric])
        sns.lineplot(data=rows, x="k", y=metric, hue="network",
                     hue_order=[o for o in order if o in set(rows.network)], palette=palette,
                     marker="o", errorbar="sd", err_style="bars", ax=ax, legend=ax is axes[0])
        ax.set_xscale("symlog", linthresh=max(1, min([k for k in ks if k] or [1])))
        ax.set_xticks(ks)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.set_xlabel("rewind iteration k")
        ax.set_ylabel(LABELS[metric])
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_error_lines(lines: pd.DataFrame, level: int, title: str = "") -> Figure:
    """Test error along the line between the two copies, one panel per rewind iteration k:
    the networks at ``level`` and the dense net (mean ± std over trials)."""
    frame, order, palette = _named(lines[lines.level.isin([0, level])])
    ks = sorted(frame.k.unique())
    fig, axes = plt.subplots(1, len(ks), figsize=(3.6 * len(ks), 3.4), squeeze=False,
                             sharey=True)
    for ax, k in zip(axes.flat, ks, strict=True):
        sns.lineplot(data=frame[frame.k == k], x="alpha", y="test_error_pct", hue="network",
                     hue_order=order, palette=palette, errorbar="sd", ax=ax,
                     legend=ax is axes.flat[0])
        ax.set_title(f"k = {k}")
        ax.set_xlabel("interpolation α (data order 0 → 1)")
        ax.set_ylabel("test error (%)")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_overlap(overall: pd.DataFrame, title: str = "") -> Figure:
    """Jaccard index of the masks (all prunable layers) and its ratio to chance against percent
    remaining, one line per kind of difference; dashed: two random masks."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    kinds = list(dict.fromkeys(overall.kind))
    for i, kind in enumerate(kinds):
        rows = overall[overall.kind == kind].sort_values("percent_remaining")
        left.plot(rows.percent_remaining, rows.jaccard, marker="o", ms=3, color=f"C{i}",
                  label=kind)
        right.plot(rows.percent_remaining, rows.jaccard_ratio, marker="o", ms=3, color=f"C{i}")
    chance = overall.groupby("level")[["percent_remaining", "chance_jaccard"]].mean()
    chance = chance.sort_values("percent_remaining")
    left.plot(chance.percent_remaining, chance.chance_jaccard, "k--", label="chance")
    right.axhline(1.0, color="k", ls="--")
    for ax, label in ((left, "Jaccard index of the masks"), (right, "Jaccard / chance")):
        format_remaining_axis(ax, overall.percent_remaining.unique())
        ax.set_ylabel(label)
    left.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_overlap_layers(table: pd.DataFrame, title: str = "") -> Figure:
    """Per layer: Jaccard index against percent remaining of the layer's own density, one line
    per kind (mean over pairs); dashed: chance."""
    layers = [name for name in dict.fromkeys(table.layer) if name != OVERALL]
    fig, axes = plt.subplots(1, len(layers), figsize=(4 * len(layers), 3.4), squeeze=False)
    for ax, layer in zip(axes.flat, layers, strict=True):
        rows = table[table.layer == layer].assign(
            layer_percent=lambda d: 100 * d["kept_1"] / d["size"])
        means = rows.groupby(["kind", "level"], sort=False)[
            ["layer_percent", "jaccard", "chance_jaccard"]].mean().reset_index()
        for i, kind in enumerate(dict.fromkeys(means.kind)):
            part = means[means.kind == kind]
            ax.plot(part.layer_percent, part.jaccard, marker="o", ms=3, color=f"C{i}",
                    label=kind)
        chance = means.groupby("level")[["layer_percent", "chance_jaccard"]].mean()
        ax.plot(chance.layer_percent, chance.chance_jaccard, "k--", label="chance")
        format_remaining_axis(ax, means.layer_percent.unique())
        ax.set_xlabel("percent of the layer remaining")
        ax.set_title(layer)
        ax.set_ylabel("Jaccard index")
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_init_distributions(init: State, mask: Mask, title: str = "") -> Figure:
    """Per layer, histograms of the initial values of the weights the ticket keeps and prunes
    (each normalized to unit area)."""
    parts = split_by_mask(init, mask)
    fig, axes = plt.subplots(1, len(parts), figsize=(4 * len(parts), 3.2), squeeze=False)
    for ax, (name, (kept, pruned)) in zip(axes.flat, parts.items(), strict=True):
        values = np.concatenate([kept.numpy(), pruned.numpy()])
        bins = np.linspace(values.min(), values.max(), 60)
        for data, label, color in ((pruned, "pruned", "0.6"), (kept, "kept", "C0")):
            if data.numel():
                ax.hist(data.numpy(), bins=bins, density=True, alpha=0.6, color=color,
                        label=f"{label} ({data.numel():,})")
        ax.set_title(name)
        ax.set_xlabel("initial value")
        ax.legend(fontsize=7)
    axes.flat[0].set_ylabel("density")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_kept_and_signs(table: pd.DataFrame, title: str = "") -> Figure:
    """Kept / pruned mean |init| and the sign agreement of kept weights (init vs final) against
    percent remaining, one line per layer (all layers together for the signs, dashed)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    layers = [name for name in dict.fromkeys(table.layer) if name != OVERALL]
    pruned = table[table.level > 0]
    for i, layer in enumerate(layers):
        rows = pruned[pruned.layer == layer].groupby("level")[
            ["percent_remaining", "mean_ratio"]].mean()
        left.plot(rows.percent_remaining, rows.mean_ratio, marker="o", ms=3, color=f"C{i}",
                  label=layer)
        signs = table[table.layer == layer].groupby("level")[
            ["percent_remaining", "sign_agreement"]].mean()
        right.plot(signs.percent_remaining, signs.sign_agreement, marker="o", ms=3,
                   color=f"C{i}", label=layer)
    left.axhline(1.0, color="k", ls=":")
    right.axhline(0.5, color="k", ls=":", label="independent signs")
    left.set_ylabel("mean |init|: kept / pruned")
    right.set_ylabel("kept weights with their initial sign")
    for ax in (left, right):
        format_remaining_axis(ax, table.percent_remaining.unique())
        ax.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_connectivity(images: Mapping[str, Tensor], title: str = "") -> Figure:
    """Connections kept per input pixel, one image per mask; the sparse masks share one color
    scale from 0."""
    fig, axes = plt.subplots(1, len(images), figsize=(3.6 * len(images), 3.4), squeeze=False)
    sparse = [image for label, image in images.items() if label != "dense"]
    top = max((float(image.max()) for image in sparse), default=None)
    for ax, (label, image) in zip(axes.flat, images.items(), strict=True):
        scale = {} if label == "dense" else {"vmin": 0, "vmax": top}  # the sparse ones shared
        shown = ax.imshow(image.numpy(), cmap="viridis", **scale)
        fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
        ax.set_title(label, fontsize=9)
        ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_information_plane(information: pd.DataFrame, trial: int = 0,
                           title: str = "") -> Figure:
    """I(X;T) against I(T;Y) over training: one row per bin count, one panel per network, one
    path per layer (marker); color: training iteration (light = early)."""
    rows = information[information.trial == trial]
    networks, binnings = list(dict.fromkeys(rows.network)), sorted(set(rows.bins), reverse=True)
    fig, axes = plt.subplots(len(binnings), len(networks), squeeze=False, sharex=True,
                             sharey=True, figsize=(4 * len(networks), 3.3 * len(binnings)))
    markers = dict(zip(dict.fromkeys(rows.layer), "osD^v", strict=False))
    for (i, bins), (j, network) in itertools.product(enumerate(binnings), enumerate(networks)):
        ax = axes[i, j]
        for layer, marker in markers.items():
            path = rows[(rows.network == network) & (rows.layer == layer) & (
                rows.bins == bins)].sort_values("iteration")
            ax.plot(path["I(X;T)"], path["I(T;Y)"], color="0.7", lw=0.8, zorder=1)
            shown = ax.scatter(path["I(X;T)"], path["I(T;Y)"], c=path.iteration,
                               cmap="viridis_r", marker=marker, s=22, zorder=2,
                               vmin=rows.iteration.min(), vmax=rows.iteration.max())
        ax.set_title(f"{network}, {bins} bins", fontsize=9)
        ax.set_xlabel("I(X;T) (bits)" if i == len(binnings) - 1 else "")
        ax.set_ylabel("I(T;Y) (bits)" if j == 0 else "")
    # from 0 on both axes: a saturated estimate shows as points pinned to the top right
    axes[0, 0].set_xlim(0, rows["I(X;T)"].max() * 1.05)
    axes[0, 0].set_ylim(0, rows["I(T;Y)"].max() * 1.08)
    handles = [Line2D([], [], color="0.3", marker=m, ls="", label=layer)
               for layer, m in markers.items()]
    axes[0, 0].legend(handles=handles, fontsize=7)
    fig.colorbar(shown, ax=list(axes.flat), label="iteration")
    fig.suptitle(title)
    return fig
