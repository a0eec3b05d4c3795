"""Ticket transfer figures in the layout of Morcos et al. (2019): one panel per target, test
accuracy against percent of weights remaining, one line per source of tickets (the target's
own tickets among them), random tickets dashed, the target's dense network as a gray line."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pandas as pd
from matplotlib.figure import Figure

from lottery.claims.figures import plot_metric_vs_remaining
from lottery.studies.transfer.claims import ACC, title


def _tickets(frame: pd.DataFrame, dense: pd.DataFrame, variant: str, label: str) -> pd.DataFrame:
    rows = frame[(frame.variant == variant) & (frame.level > 0)]
    return pd.concat([dense, rows]).assign(series=label, kind=variant)


def panel_frame(target: str, found: pd.DataFrame, transfers: Mapping[str, pd.DataFrame],
                name: Callable[[str], str] = title) -> pd.DataFrame:
    """The lines of one target panel: tickets found on ``target`` (its IMP ``found``), each
    source's transferred tickets and random tickets (``transfers``: source name -> transfer
    results); every line starts at the target's dense network (100% remaining). ``name``
    turns a recipe name into its legend name."""
    dense = found[(found.level == 0) & (found.variant == "ticket")]
    parts = [_tickets(found, dense, "ticket", f"ticket found on {name(target)}")]
    for source, frame in transfers.items():
        parts.append(_tickets(frame, dense, "ticket", f"ticket from {name(source)}"))
    for source, frame in transfers.items():
        label = "random ticket" + (f" ({name(source)} init)" if len(transfers) > 1 else "")
        parts.append(_tickets(frame, dense, "random_mask", label))
    return pd.concat([p for p in parts if len(p)], ignore_index=True)


def plot_transfer(panels: Mapping[str, pd.DataFrame], metric: str = ACC, title_: str = "",
                  ncols: int = 2) -> Figure:
    """One panel per entry of ``panels`` (panel title -> :func:`panel_frame`)."""
    import matplotlib.pyplot as plt

    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.2 * ncols, 3.9 * nrows), squeeze=False)
    for ax, (name, frame) in zip(axes.flat, panels.items(), strict=False):
        plot_metric_vs_remaining(frame, metric, ax=ax, title=name)
        dense = frame[frame.level == 0][metric]
        if len(dense):
            ax.axhline(100 * dense.mean() if metric.endswith("_acc") else dense.mean(),
                       color="0.5", lw=1, ls=":", zorder=0)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    fig.suptitle(title_)
    fig.tight_layout()
    return fig
