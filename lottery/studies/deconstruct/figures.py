"""The figures of Zhou et al. 2019 (Deconstructing lottery tickets), drawn from our results.

Curves are against percent of weights remaining (log scale, 100 on the left) through
:func:`lottery.claims.figures.plot_metric_vs_remaining`; line styles reuse its three kinds: solid
for the ticket and the criteria, dashed for alternatives, dotted for the random floor. The LTH's
numbers (the stars :mod:`lottery.claims.figures` draws on LTH curves) are left off: these are Zhou
et al.'s comparisons, whose numbers are in the paper-vs-ours table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure

from lottery.claims import figures
from lottery.core.results import ExperimentResult

SOLID, DASHED, DOTTED = "ticket", "reinit", "random_mask"  # figures.VARIANT_DASHES keys
ACTION_NAMES = {"ticket": "rewind to init (ticket)", "reinit": "random reinit",
                "reshuffle": "reshuffle", "signed_constant": "signed constant",
                "random_signs": "init magnitudes, random signs",
                "random_magnitudes": "random magnitudes, init signs",
                "zero": "zero (ticket)", "freeze_init": "freeze at init",
                "freeze_shrunk_to_zero": "moved toward zero → 0, others at init"}


def _zhou(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` without the preset column, so no LTH numbers are drawn on Zhou's curves."""
    return frame.drop(columns=["preset"], errors="ignore")


def colours(labels) -> dict[str, tuple]:
    """One colour per label, from 20 (eleven criteria would repeat tab10's)."""
    cycle = colormaps["tab20"].colors
    return {label: cycle[i % len(cycle)] for i, label in enumerate(dict.fromkeys(labels))}


def _style(label: str) -> str:
    if label == "random":
        return DOTTED
    return DASHED if label.endswith("_same_sign") else SOLID


def criteria_frame(results: Mapping[str, ExperimentResult]) -> pd.DataFrame:
    """One long frame of every criterion's tickets (the shared dense net included)."""
    return _zhou(figures.combine(*[figures.series(r, c).assign(kind=_style(c))
                                   for c, r in results.items()]))


def plot_criteria(by_model: Mapping[str, Mapping[str, ExperimentResult]],
                  title: str = "") -> Figure:
    """Zhou Fig. 2: per model, test accuracy at early stop and the early-stop iteration against
    percent remaining, one line per mask criterion (random dotted, ``_same_sign`` dashed)."""
    metrics = ["early_stop_test_acc", "early_stop_iteration"]
    fig, axes = plt.subplots(len(by_model), 2, figsize=(10, 3.9 * len(by_model)),
                             squeeze=False)
    for row, (model, results) in zip(axes, by_model.items(), strict=True):
        frame = criteria_frame(results)
        for i, (ax, metric) in enumerate(zip(row, metrics, strict=True)):
            figures.plot_metric_vs_remaining(frame, metric, ax=ax, legend=i == 0, title=model,
                                             colours=colours(frame.series))
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def actions_frame(result: ExperimentResult | Mapping[str, ExperimentResult],
                  variants: Sequence[str]) -> pd.DataFrame:
    """Curves of ``variants``: controls of one result, or one lineage per result (mask-0)."""
    parts = []
    for v in variants:
        if isinstance(result, Mapping):
            part = figures.series(result[v], ACTION_NAMES.get(v, v))
        else:
            part = figures.series(result, ACTION_NAMES.get(v, v), v)
        parts.append(part.assign(kind=SOLID if v in ("ticket", "zero") else DASHED))
    return _zhou(figures.combine(*parts))


def plot_actions(panels: Mapping[str, pd.DataFrame], metric: str = "early_stop_test_acc",
                 title: str = "") -> Figure:
    """One panel per ``{panel title: actions_frame}``, ``metric`` against percent remaining."""
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 3.9), squeeze=False)
    for ax, (name, frame) in zip(axes.flat, panels.items(), strict=True):
        figures.plot_metric_vs_remaining(frame, metric, ax=ax, title=name)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


START_NAMES = {"init": "original init", "signed_constant": "signed constant init"}


def plot_untrained(table: pd.DataFrame, title: str = "", chance: float = 10.0) -> Figure:
    """Zhou Fig. 7 (supermasks): test accuracy of the untrained masked network against percent
    remaining, one line per criterion, a panel per start (original init, signed constant)."""
    starts = list(dict.fromkeys(table.start))
    fig, axes = plt.subplots(1, len(starts), figsize=(5.2 * len(starts), 3.9), squeeze=False,
                             sharey=True)
    for ax, start in zip(axes.flat, starts, strict=True):
        rows = table[table.start == start]
        frame = rows.assign(series=rows.criterion, kind=rows.criterion.map(_style))
        figures.plot_metric_vs_remaining(frame, "test_acc", ax=ax,
                                         title=START_NAMES.get(start, start),
                                         colours=colours(table.criterion))
        ax.axhline(chance, color="0.5", lw=1, ls=":")
        ax.set_ylabel("test accuracy, untrained (%)")
    fig.suptitle(title)
    fig.tight_layout()
    return fig
