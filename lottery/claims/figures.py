"""The papers' figures, drawn from experiment results, with the papers' numbers beside ours.

Every function takes results (an :class:`~lottery.core.experiments.ExperimentResult` or its
``results`` / ``histories`` DataFrames) and returns a matplotlib Figure (or draws on an Axes).
Conventions, as in Frankle & Carbin (2019): lines are means over trials and error bars (bands
for curves over training) run from the minimum to the maximum trial; "percent of weights
remaining" axes are log-scaled and run from 100 down. Colour keys the series (one colour per
series, or per Pm, in every panel of a figure), line style and marker key the variant (solid:
ticket, dashed: random reinit, dotted: random pruning), and the legend shows both. Stars are
the paper's numbers (:mod:`lottery.claims.paper_values`): filled where the paper states the value,
hollow where it states a change from its dense network, drawn from ours. A triangle marks an
early-stop iteration equal to the training length: censored, the minimum may lie later. Each
figure's caption (:func:`caption`) says what the bars are. :func:`save_figure` writes PNG and
PDF.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter, NullLocator

from lottery.claims import paper_values
from lottery.core.experiments import ExperimentResult
from lottery.core.presets import PRESETS

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
STYLES = {"ticket": ("-", "o"), "reinit": ("--", "s"), "random_mask": (":", "^")}
# artist gids: what the caption and the legend explain, and what tests look for
PAPER, PAPER_RELATIVE, CENSORED = "paper", "paper-relative", "censored"
PAPER_LINE, PAPER_BAND = "paper-line", "paper-band"


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
    dense network (level 0), which they share with the ticket, unless ``include_dense`` is off.
    From an ExperimentResult the rows also carry its training length (for censored early
    stops) and its preset when it ran on the paper's dataset (for the paper's numbers: none on
    the synthetic stand-in, none for a LeNet ticket transferred to Fashion-MNIST)."""
    frame = _results(data)
    if isinstance(data, ExperimentResult):
        frame = frame.assign(preset=data.hparams.name if _paper_data(data.hparams) else "",
                             iterations=data.hparams.training.iterations)
    rows = frame[frame.variant == variant]
    if rows.empty:
        return rows.assign(series=label, kind=variant)
    if include_dense and variant != "ticket":
        rows = pd.concat([frame[(frame.level == 0) & (frame.variant == "ticket")], rows])
    return rows.assign(series=label, kind=variant)


def _paper_data(hp) -> bool:
    return hp.name in PRESETS and hp.data.dataset == PRESETS[hp.name].data.dataset


def labelled(results: Mapping[str, ExperimentResult | pd.DataFrame],
             variants: Sequence[str] = ("ticket",)) -> pd.DataFrame:
    """One long frame of each labelled result's ``variants`` (absent variants are skipped)."""
    return combine(*[series(result, label, variant) for label, result in results.items()
                     for variant in variants])


def combine(*parts: pd.DataFrame) -> pd.DataFrame:
    """One long frame of several :func:`series` for the plot functions."""
    return pd.concat([p for p in parts if len(p)], ignore_index=True)


# --- axes -------------------------------------------------------------------------------------

def spaced_ticks(values: Sequence[float], width_in: float, label_in: float = 0.45) -> list[float]:
    """From the largest down, the values at least ``label_in`` inches apart on a log axis
    ``width_in`` wide spanning them (so their labels never overlap)."""
    ticks = sorted({round(float(v), 1) for v in values if v > 0}, reverse=True)
    if len(ticks) < 2:
        return ticks
    span = np.log10(ticks[0] * 1.15) - np.log10(ticks[-1] / 1.15)
    gap = span * label_in / max(width_in, 0.5)
    kept = [ticks[0]]
    for value in ticks[1:]:
        if np.log10(kept[-1]) - np.log10(value) >= gap:
            kept.append(value)
    if kept[-1] != ticks[-1] and len(kept) > 1 and \
            np.log10(kept[-2]) - np.log10(ticks[-1]) >= gap:
        kept[-1] = ticks[-1]  # prefer ending on the sparsest level measured
    return kept


def format_remaining_axis(ax: plt.Axes, values: Sequence[float]) -> None:
    """Log-scaled percent-remaining axis, 100 on the left, ticks at measured levels spaced so
    their labels do not overlap."""
    values = [float(v) for v in values if v > 0]
    ax.set_xscale("log")
    width = ax.get_position().width * ax.figure.get_figwidth()
    ax.xaxis.set_major_locator(FixedLocator(spaced_ticks(values, width)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlim(max(values) * 1.15, min(values) / 1.15)
    ax.set_xlabel("percent of weights remaining")


def series_colours(labels: Sequence[str]) -> dict[str, tuple]:
    """One colour per series label, in order of first appearance."""
    cycle = colormaps["tab10"].colors
    return {label: cycle[i % len(cycle)] for i, label in enumerate(dict.fromkeys(labels))}


# --- one metric against percent remaining ----------------------------------------------------

def trial_stats(frame: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per series, variant and percent remaining: mean, min, max and count of ``metric`` over
    trials, and whether any trial's early stop is the last iteration (censored)."""
    frame = frame.assign(_censored=_censored(frame))
    grouped = frame.groupby(["series", "kind", "percent_remaining"], sort=False)
    stats = grouped[metric].agg(["mean", "min", "max", "count"])
    stats["censored"] = grouped["_censored"].any()
    return stats.reset_index()


def _censored(frame: pd.DataFrame) -> pd.Series:
    if {"early_stop_iteration", "iterations"} <= set(frame.columns):
        return frame.early_stop_iteration >= frame.iterations
    return pd.Series(False, index=frame.index)


def _label(series_name: str, kind: str, kinds_of: Mapping[str, set]) -> str:
    if len(kinds_of[series_name]) < 2:
        return series_name
    return f"{series_name}, {VARIANT_NAMES.get(kind, kind)}"


def series_handles(frame: pd.DataFrame, colours: Mapping) -> list[Line2D]:
    """A legend entry per series and variant, showing both its colour and its line style."""
    pairs = frame[["series", "kind"]].drop_duplicates()
    kinds_of = pairs.groupby("series", sort=False).kind.agg(set).to_dict()
    return [Line2D([], [], color=colours[name], ls=STYLES.get(kind, ("-", "o"))[0],
                   marker=STYLES.get(kind, ("-", "o"))[1], ms=4, lw=1.4,
                   label=_label(name, kind, kinds_of))
            for name, kind in pairs.itertuples(index=False)]


def _draw_series(ax: plt.Axes, stats: pd.DataFrame, metric: str, colours: Mapping) -> None:
    for (name, kind), rows in stats.groupby(["series", "kind"], sort=False):
        rows = rows.sort_values("percent_remaining", ascending=False)
        line, marker = STYLES.get(kind, ("-", "o"))
        spread = [rows["mean"] - rows["min"], rows["max"] - rows["mean"]]
        bars = ax.errorbar(rows.percent_remaining, rows["mean"], spread if rows["count"].max()
                           > 1 else None, color=colours[name], ls=line, marker=marker, ms=4,
                           lw=1.4, capsize=2, elinewidth=0.8)
        bars.lines[0].set_gid(f"series:{name}:{kind}")
        cut = rows[rows.censored]
        if metric == "early_stop_iteration" and len(cut):
            ax.scatter(cut.percent_remaining, cut["mean"], marker="^", s=70, zorder=5,
                       facecolors="none", edgecolors="k", linewidths=1.0, gid=CENSORED)


def _anchor(frame: pd.DataFrame, metric: str, percent: float | None) -> float | None:
    """Mean ``metric`` of ``frame``'s rows at ``percent`` (dense: None), within 20%."""
    rows = frame[frame.level == 0] if percent is None else frame[frame.level > 0]
    if percent is not None and len(rows):
        gap = (rows.percent_remaining - percent).abs() / percent
        rows = rows[gap == gap.min()] if gap.min() <= 0.2 else rows.iloc[:0]
    return float(rows[metric].mean()) if len(rows) else None


def paper_points(frame: pd.DataFrame, metric: str) -> list[tuple[float, float, str, bool]]:
    """(percent, value, series, relative) of each paper number for the IMP series of
    ``frame`` (in percent), anchored on our dense network or ticket where it is relative."""
    if "preset" not in frame.columns or "method" not in frame.columns:
        return []
    drawn, seen = [], set()
    for name, kind, preset in frame[frame.method == "imp"].groupby(
            ["series", "kind", "preset"], sort=False).groups:
        own = frame[(frame.preset == preset) & (frame.method == "imp")]
        dense = _anchor(own[own.variant == "ticket"], metric, None)
        for p in paper_values.points_for(preset, metric, kind):
            ticket = _anchor(own[own.variant == "ticket"], metric, p.percent)
            value = p.resolve(dense, ticket)
            if value is not None and (p, preset) not in seen:
                seen.add((p, preset))
                drawn.append((p.percent, value, name, bool(p.relative)))
    return drawn


def _draw_paper(ax: plt.Axes, frame: pd.DataFrame, metric: str, colours: Mapping) -> list:
    points = paper_points(frame, metric)
    for percent, value, name, relative in points:
        ax.plot([percent], [value], ls="none", marker="*", ms=12, zorder=6,
                mfc="white" if relative else colours[name], mec=colours[name], mew=1.3,
                gid=PAPER_RELATIVE if relative else PAPER)
    return [p[0] for p in points]


def key_handles(ax: plt.Axes) -> list[Line2D]:
    """Legend entries for the paper stars and censored marks drawn on ``ax``."""
    gids = {artist.get_gid() for artist in ax.get_children()}
    handles = []
    if PAPER in gids:
        handles.append(Line2D([], [], ls="none", marker="*", ms=10, color="0.2",
                              label=f"paper ({paper_values.SOURCE})"))
    if PAPER_RELATIVE in gids:
        handles.append(Line2D([], [], ls="none", marker="*", ms=10, mfc="white", mec="0.2",
                              label="paper's change, from our dense"))
    if CENSORED in gids:
        handles.append(Line2D([], [], ls="none", marker="^", ms=7, mfc="none", mec="k",
                              label="early stop = last iteration"))
    return handles


def trials_in(frame: pd.DataFrame) -> int:
    if "trial" not in frame.columns or frame.empty:
        return 1
    return int(frame.groupby("series").trial.nunique().max())


def plot_metric_vs_remaining(frame: pd.DataFrame, metric: str, ax: plt.Axes | None = None,
                             title: str | None = None, legend: bool = True,
                             colours: Mapping[str, tuple] | None = None) -> plt.Axes:
    """``metric`` (mean over trials, bars min to max) against percent of weights remaining,
    one line per ``series``, line style by variant, the paper's numbers as stars."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.6))
    frame = _percent(frame)
    colours = colours or series_colours(frame.series)
    _draw_series(ax, trial_stats(frame, metric), metric, colours)
    extra = _draw_paper(ax, frame, metric, colours)
    format_remaining_axis(ax, [*frame.percent_remaining.unique(), *extra])
    ax.set_ylabel(LABELS.get(metric, metric))
    if title:
        ax.set_title(title)
    if legend:
        ax.legend(handles=series_handles(frame, colours) + key_handles(ax), fontsize=7,
                  title=f"mean of {trials_in(frame)}; bars min-max", title_fontsize=7)
    return ax


def caption(fig: Figure, frame: pd.DataFrame | None = None, text: str = "",
            trials: int | None = None, spread: str = "error bars") -> None:
    """A caption under the figure: what the lines and ``spread`` are, what the paper's marks
    and the triangles mean (for those drawn), then ``text``."""
    gids = {a.get_gid() for ax in fig.axes for a in ax.get_children()}
    n = trials if trials is not None else (trials_in(frame) if frame is not None else None)
    parts = [f"Lines: mean over {n} trials; {spread}: minimum to maximum over trials (as in "
             f"the paper)." if n and n > 1 else "Lines: one trial (no spread to show)."]
    if PAPER in gids or PAPER_RELATIVE in gids:
        parts.append("Stars: the paper's numbers (docs/PAPERS.md)" + (
            "; hollow: a change the paper states against its dense network, drawn from our "
            "dense network." if PAPER_RELATIVE in gids else "."))
    if PAPER_BAND in gids:
        parts.append(f"Gray band: the paper's dense network ({paper_values.SOURCE}).")
    if PAPER_LINE in gids:
        parts.append(f"Black dotted and dashed lines: the paper's values ({paper_values.SOURCE}; "
                     f"docs/PAPERS.md).")
    if CENSORED in gids:
        parts.append("Triangles: a trial's early stop at the last iteration (censored: the "
                     "minimum may lie later).")
    fig.text(0.01, 0.0, "\n".join(p for p in [*parts, text] if p), ha="left", va="top",
             fontsize=7.5, color="0.25")


def plot_panels(frame: pd.DataFrame, metrics: Sequence[str], title: str = "",
                ncols: int | None = None) -> Figure:
    """One panel per metric, against percent remaining, sharing colours and one legend."""
    ncols = ncols or len(metrics)
    nrows = int(np.ceil(len(metrics) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.7 * nrows), squeeze=False)
    colours = series_colours(frame.series)
    for ax, metric in zip(axes.flat, metrics, strict=False):
        plot_metric_vs_remaining(frame, metric, ax=ax, legend=False, colours=colours)
    shared = [*frame.percent_remaining.unique(),
              *[p[0] for metric in metrics for p in paper_points(_percent(frame), metric)]]
    for ax in list(axes.flat)[: len(metrics)]:  # the same ticks and range in every panel
        format_remaining_axis(ax, shared)
    for ax in list(axes.flat)[len(metrics):]:
        ax.set_visible(False)
    handles = {h.get_label(): h for h in series_handles(frame, colours)}
    keys = {h.get_label(): h for ax in axes.flat for h in key_handles(ax)}
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0, 0.8 if ncols < 3 else 0.86, 1))
    fig.legend(handles=[*handles.values(), *keys.values()], loc="center left", fontsize=7.5,
               bbox_to_anchor=(0.8 if ncols < 3 else 0.86, 0.5), frameon=False)
    caption(fig, frame)
    return fig


FIG4_METRICS = ("early_stop_iteration", "early_stop_test_acc", "final_test_acc",
                "final_train_acc")


def plot_fig4_panels(frame: pd.DataFrame, title: str = "") -> Figure:
    """LTH Fig. 4: early-stop iteration, test accuracy at early stop, test and train accuracy at
    the end of training, against percent remaining (2 x 2 panels)."""
    return plot_panels(frame, FIG4_METRICS, title=title, ncols=2)


# --- curves over training (Fig. 3) -----------------------------------------------------------

def level_percent(data: ExperimentResult | pd.DataFrame) -> dict[float, float]:
    """level -> percent of weights remaining of the ticket at that level."""
    frame = _results(data)
    rows = frame[frame.variant == "ticket"]
    return rows.groupby("level").percent_remaining.mean().to_dict()


def level_colours(levels: Sequence[float], palette: str = "plasma") -> dict[float, tuple]:
    """One colour per level, evenly spaced along ``palette`` by rank (dense first), leaving
    out the palette's light end for contrast on white."""
    ordered = sorted(set(levels))
    cmap = colormaps[palette]
    return {lv: cmap(0.85 * i / max(1, len(ordered) - 1)) for i, lv in enumerate(ordered)}


def plot_accuracy_curves(result: ExperimentResult, levels: Sequence[int], variant: str = "ticket",
                         metric: str = "test_acc", ax: plt.Axes | None = None,
                         title: str | None = None, palette: str = "plasma",
                         colours: Mapping[float, tuple] | None = None) -> plt.Axes:
    """LTH Fig. 3: ``metric`` over training iterations for the tickets (or a control) at
    ``levels``: colour = the level's percent remaining (Pm; pass ``colours`` to keep them
    across panels), dashed = random reinit; band = min to max over trials. Levels not in the
    result are skipped."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.6))
    percent = level_percent(result)
    colour = colours or level_colours([lv for lv in levels if lv in percent], palette)
    hist = _percent(result.histories)
    keep = [lv for lv in levels if lv in percent]
    line = STYLES.get(variant, ("-", "o"))[0]
    for lv in keep:
        kind = "ticket" if lv == 0 else variant
        rows = hist[(hist.level == lv) & (hist.variant == kind)]
        if rows.empty:
            continue
        curve = rows.groupby("iteration")[metric].agg(["mean", "min", "max"])
        suffix = "" if kind == "ticket" else f" ({VARIANT_NAMES.get(kind, kind)})"
        ax.plot(curve.index, curve["mean"], color=colour[lv],
                ls="-" if kind == "ticket" else line, lw=1.4, label=f"{percent[lv]:.1f}{suffix}")
        ax.fill_between(curve.index, curve["min"], curve["max"], color=colour[lv],
                        alpha=0.18, lw=0)
    if variant == "ticket":
        _paper_band(ax, result, metric)
    _zoom(ax, hist[hist.level.isin(keep)], metric)
    ax.set_ylabel(LABELS.get(metric, metric))
    ax.set_xlabel("training iterations")
    ax.legend(fontsize=7, title="Pm (%)", title_fontsize=7)
    if title:
        ax.set_title(title)
    return ax


def _paper_band(ax: plt.Axes, result: ExperimentResult, metric: str) -> None:
    band = paper_values.BANDS.get((result.hparams.name, metric))
    if band and _paper_data(result.hparams):
        ax.axhspan(band[0], band[1], color="0.6", alpha=0.25, lw=0, zorder=0, label=band[2],
                   gid=PAPER_BAND)


def _zoom(ax: plt.Axes, hist: pd.DataFrame, metric: str) -> None:
    """The interesting range, as the paper shows it: from the lower curves' middle to the top."""
    means = hist.groupby(["level", "variant", "iteration"])[metric].mean()
    if len(means):
        low, high = ax.get_ylim()
        ax.set_ylim(max(low, means.quantile(0.15) - 2), min(100.5, max(high, means.max() + 1)))


def plot_fig3(result: ExperimentResult, panels: Sequence[Sequence[int]],
              reinit_levels: Sequence[int] = (), title: str = "") -> Figure:
    """LTH Fig. 3: one panel per group of ``panels`` levels (tickets), plus a panel of tickets
    (solid) against their random reinit (dashed) at ``reinit_levels`` when the result has
    them; a Pm has one colour in every panel."""
    has_reinit = bool(reinit_levels) and (result.results.variant == "reinit").any()
    count = len(panels) + has_reinit
    fig, axes = plt.subplots(1, count, figsize=(4.7 * count, 3.7), squeeze=False, sharey=True)
    shown = [lv for group in [*panels, [0, *reinit_levels]] for lv in group]
    colours = level_colours([lv for lv in shown if lv in level_percent(result)])
    for ax, levels in zip(axes.flat, panels, strict=False):
        plot_accuracy_curves(result, levels, ax=ax, colours=colours)
    if has_reinit:
        ax = axes.flat[-1]
        plot_accuracy_curves(result, [0, *reinit_levels], ax=ax, colours=colours)
        plot_accuracy_curves(result, [lv for lv in reinit_levels if lv], variant="reinit", ax=ax,
                             colours=colours)
        ax.set_title("tickets (solid) vs random reinit (dashed)", fontsize=9)
    fig.suptitle(title)
    fig.tight_layout()
    caption(fig, trials=int(result.results.trial.nunique()), spread="bands",
            text="Colour: percent of weights remaining (Pm), the same in every panel.")
    return fig


# --- rewinding -------------------------------------------------------------------------------

def plot_rewind_sweep(results: Mapping[int, ExperimentResult], metric: str = "final_test_acc",
                      title: str = "") -> Figure:
    """Stabilizing the LTH: ``metric`` of the tickets against the rewind iteration k, one line
    per pruning level (colour = Pm), bars min to max over trials; gray band: the dense network
    (min to max), dotted: the paper's dense accuracy."""
    rows = []
    for k, result in results.items():
        frame = _percent(result.results)
        rows.append(frame[frame.variant == "ticket"].assign(k=k))
    frame = pd.concat(rows, ignore_index=True)
    fig, ax = plt.subplots(figsize=(6.4, 3.9))
    pruned = frame[frame.level > 0]
    colours = level_colours(list(pruned.level.unique()))
    for level, group in pruned.groupby("level"):
        stats = group.groupby("k")[metric].agg(["mean", "min", "max"])
        ax.errorbar(stats.index, stats["mean"], [stats["mean"] - stats["min"],
                                                 stats["max"] - stats["mean"]],
                    color=colours[level], marker="o", ms=4, capsize=2,
                    label=f"{group.percent_remaining.mean():.1f}")
    dense = frame[frame.level == 0][metric]
    ax.axhspan(dense.min(), dense.max(), color="0.85", zorder=0, label="ours, dense (min-max)")
    ax.axhline(dense.mean(), color="0.4", lw=1)
    _paper_sweep_marks(ax, next(iter(results.values())), metric)
    ks = sorted(results)
    linthresh = max(1, min([k for k in ks if k] or [1]))
    ax.set_xscale("symlog", linthresh=linthresh)
    ax.set_xticks(ks)
    ax.set_xlim(-0.3 * linthresh, max(ks) * 1.4 if max(ks) else 1)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("rewind iteration k (0 = reset to init)")
    ax.set_ylabel(LABELS.get(metric, metric))
    ax.set_title(title, fontsize=9)
    fig.tight_layout(rect=(0, 0, 0.72, 1))
    ax.legend(fontsize=7, title="Pm (%)", title_fontsize=7, loc="center left",
              bbox_to_anchor=(1.02, 0.5), frameon=False)
    caption(fig, trials=int(frame.trial.nunique()),
            text="Gray band and line: our dense network (minimum to maximum, mean).")
    return fig


def _paper_sweep_marks(ax: plt.Axes, result: ExperimentResult, metric: str) -> None:
    """The paper's dense accuracy (dotted) and its rewind point scaled to our training."""
    hp = result.hparams
    if not _paper_data(hp):
        return
    for p in paper_values.points_for(hp.name, metric):
        if p.percent == 100.0 and not p.relative:
            ax.axhline(p.value, color="k", ls=":", lw=1.2, gid=PAPER_LINE,
                       label=f"paper: dense {p.value:g}%")
    rewind = PRESETS.get(f"{hp.name}_rewind")
    if rewind is not None and hp.name in PRESETS:
        scale = hp.training.iterations / PRESETS[hp.name].training.iterations
        k = max(1, round(rewind.rewind_iteration * scale))
        ax.axvline(k, color="k", ls="--", lw=0.8, gid=PAPER_LINE,
                   label=f"paper's k = {rewind.rewind_iteration} (here {k})")


def save_figure(fig: Figure, notebook: str, name: str,
                root: str | Path = "figures") -> list[Path]:
    """Write ``fig`` to ``root/notebook/name.png`` and ``.pdf``; returns both paths."""
    folder = Path(root) / notebook
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{name}.png", folder / f"{name}.pdf"]
    fig.savefig(paths[0], dpi=150, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight")
    return paths
