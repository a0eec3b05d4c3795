"""Reference figures for notebooks this machine cannot run: the paper's numbers alone.

Notebooks 02 and 03 need CIFAR-10 (and, under ``paper``, a GPU). Until they run, their figure
files hold these: the same axes and series colours as the notebook's figures, with only the
paper's numbers (:mod:`lottery.claims.paper_values`) and a note saying how to get our curves. A
notebook run on CIFAR-10 writes its own figures over them under the same names. Run
``python -m lottery.claims.reference_figures`` to rewrite them.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from lottery.claims import figures, paper_values
from lottery.core.presets import PRESETS
from lottery.core.provenance import project_root

ES = paper_values.ES
NOTE = ("NO RESULTS OF OURS HERE: these are the paper's numbers only. Our curves need CIFAR-10: "
        "`make data`, then `make reproduce NB={nb}` (PROFILE=quick: hours on a 2-core CPU, "
        "minutes on a GPU; PROFILE=paper needs a GPU).\n`python -m lottery.run.reproduce --only "
        "{nb} --estimate-only` estimates the time on your machine; the run writes its figures "
        "over this one.")


def _paper_dense(preset: str, metric: str) -> float | None:
    found = [p.value for p in paper_values.points_for(preset, metric)
             if p.percent == 100.0 and not p.relative]
    return found[0] if found else None


def _short(p: paper_values.PaperPoint, value: float) -> str:
    """A star's label: the number as the paper states it ([~]: read from a plot)."""
    if p.metric == ES:
        text = f"{1 / p.value:.1f}x earlier"
    elif p.relative:
        sign = "≥ " if p.at_least else ""
        text = f"{sign}dense {p.value:+g} pp" if p.value else f"{sign or '= '}dense"
    else:
        text = f"{value:g}%"
    return text + (" [~]" if p.approximate else "")


def paper_only_panel(ax: plt.Axes, presets: Mapping[str, str], metric: str,
                     colours: Mapping[str, tuple]) -> None:
    """The paper's numbers of ``presets`` ({series label: preset}) for ``metric``, as labelled
    stars; early stops relative to the dense network's."""
    percents = [100.0]
    for i, (label, preset) in enumerate(presets.items()):
        dense = 1.0 if metric == ES else _paper_dense(preset, metric)
        for p in paper_values.points_for(preset, metric):
            value = p.resolve(dense) if not p.relative.startswith("ticket") else None
            if value is None:
                continue
            ax.plot([p.percent], [value], ls="none", marker="*", ms=13, color=colours[label],
                    mec="k", mew=0.5, gid=figures.PAPER)
            ax.annotate(_short(p, value), (p.percent, value), textcoords="offset points",
                        xytext=(7, -3 + 9 * (i - 1)), fontsize=7, color=colours[label])
            percents.append(p.percent)
    if metric == ES:
        ax.plot([100.0], [1.0], ls="none", marker="*", ms=13, color="0.4", mec="k", mew=0.5)
        ax.annotate("dense", (100.0, 1.0), textcoords="offset points", xytext=(7, -3),
                    fontsize=7)
    figures.format_remaining_axis(ax, percents)
    ax.set_xlim(115, min(percents) / 2.5)  # room for the labels
    ax.set_ylabel("early-stop iteration / dense's" if metric == ES
                  else figures.LABELS.get(metric, metric))
    ax.margins(y=0.25)


def reference_figure(notebook: str, presets: Mapping[str, str], metrics: list[str],
                     title: str, extra: str = "") -> Figure:
    """One panel per metric of the paper's numbers, the legend keyed like the notebook's."""
    colours = figures.series_colours(list(presets))
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.2 * len(metrics) + 1.5, 3.9),
                             squeeze=False)
    for ax, metric in zip(axes.flat, metrics, strict=True):
        paper_only_panel(ax, presets, metric, colours)
    handles = [plt.Line2D([], [], ls="none", marker="*", ms=11, color=colours[label], mec="k",
                          mew=0.5, label=f"{label}: paper") for label in presets]
    fig.suptitle(f"{title} -- the paper's numbers ({paper_values.SOURCE})")
    fig.tight_layout(rect=(0, 0, 0.8, 1))
    fig.legend(handles=handles, loc="center left", bbox_to_anchor=(0.8, 0.5), fontsize=8,
               frameon=False)
    fig.text(0.01, 0.0, NOTE.format(nb=notebook) + (f"\n{extra}" if extra else ""),
             ha="left", va="top", fontsize=8, color="firebrick", wrap=True)
    return fig


def sweep_reference(notebook: str, preset: str = "resnet18") -> Figure:
    """The rewind sweep's axes with the paper's rewind point and dense accuracy."""
    k = PRESETS[f"{preset}_rewind"].rewind_iteration
    dense = _paper_dense(preset, paper_values.FINAL)
    fig, ax = plt.subplots(figsize=(6.4, 3.9))
    ax.axhline(dense, color="k", ls=":", lw=1.2, gid=figures.PAPER_LINE,
               label=f"paper: dense {dense:g}% (lr 0.1)")
    ax.axvline(k, color="k", ls="--", lw=0.8, gid=figures.PAPER_LINE,
               label=f"paper's rewind point k = {k}")
    ks = [0, 100, 500, 1000, 2000]
    ax.set_xscale("symlog", linthresh=100)
    ax.set_xticks(ks)
    ax.set_xlim(-30, 2800)
    ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_ylim(dense - 3, dense + 2)
    ax.set_xlabel("rewind iteration k (0 = reset to init; paper iterations)")
    ax.set_ylabel(figures.LABELS[paper_values.FINAL])
    fig.suptitle(f"Rewind sweep ({preset}) -- the paper's numbers")
    fig.tight_layout(rect=(0, 0, 0.72, 1))
    ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=8, frameon=False)
    fig.text(0.01, 0.0, NOTE.format(nb=notebook) + "\nStabilizing the LTH: tickets rewound to "
             f"k = {k} beat the dense network at every sparsity; at k = 0 they do not.",
             ha="left", va="top", fontsize=8, color="firebrick", wrap=True)
    return fig


def reference_figures() -> dict[tuple[str, str], Figure]:
    """{(notebook, figure name): figure} for notebooks 02 and 03."""
    convs = {m: m for m in ("conv2", "conv4", "conv6")}
    vgg = {"lr 0.1": "vgg19", "lr 0.01": "vgg19_lr0.01", "lr 0.1 + warmup": "vgg19_warmup"}
    resnet = {"lr 0.1": "resnet18", "lr 0.01": "resnet18_lr0.01",
              "lr 0.03 + warmup": "resnet18_warmup"}
    es_acc, final = paper_values.ES_ACC, paper_values.FINAL
    nb2, nb3 = "02_conv_cifar10", "03_vgg_resnet_rewinding"
    return {
        (nb2, "fig1_conv_random_pruning"): reference_figure(
            nb2, convs, [ES, es_acc], "Fig. 1 (Conv): tickets vs random pruning",
            "The paper: random sparse networks are worse than tickets at every level (no "
            "number given)."),
        (nb2, "fig5_conv_iterative"): reference_figure(
            nb2, convs, [ES, es_acc], "Fig. 5: Conv-2/4/6, tickets vs random reinit",
            "The paper: tickets stay above the dense accuracy while more than 2% of weights "
            "remain."),
        (nb3, "fig7_vgg19"): reference_figure(
            nb3, vgg, [final], "Fig. 7: VGG-19",
            "The paper: at lr 0.1 (no warmup) IMP finds no winning tickets."),
        (nb3, "fig8_resnet18"): reference_figure(
            nb3, resnet, [final], "Fig. 8: ResNet-18",
            "The paper: at lr 0.1 no winning tickets; at lr 0.01 the best tickets reach 89.5%."),
        (nb3, "rewind_vs_reset"): reference_figure(
            nb3, {"VGG-19, lr 0.1": "vgg19", "ResNet-18, lr 0.1": "resnet18"}, [final],
            "Late resetting vs reset to init (lr 0.1)",
            "Stabilizing the LTH: rewinding to iteration k = 100 (VGG-19) or 500 (ResNet-18) "
            "gives tickets that beat the dense network at every sparsity."),
        (nb3, "rewind_sweep_resnet18"): sweep_reference(nb3),
    }


def main() -> int:
    root = project_root() / "figures"
    for (notebook, name), fig in reference_figures().items():
        for path in figures.save_figure(fig, notebook, name, root):
            print(path.relative_to(project_root()))
        plt.close(fig)
    return 0


if __name__ == "__main__":
    sys.exit(main())
