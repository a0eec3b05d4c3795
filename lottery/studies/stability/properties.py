"""What winning tickets look like: the IMP run A of a
:class:`~lottery.studies.stability.study.StabilityStudy` seen through its masks and weights.

- kept vs pruned: the initial values of the weights each ticket keeps and prunes, per layer
  (Zhou et al. 2019: magnitude pruning after training keeps weights that started large);
- sign agreement: the fraction of a ticket's kept weights whose sign at the end of training is
  the one they started with (0.5 = independent signs);
- per-layer density of the IMP ticket and of one-shot pruning to the same level;
- first-layer input connectivity (LeNet): how many connections each input pixel keeps, for the
  dense net, a ticket and a random mask of the same per-layer density;
- the information plane (Shwartz-Ziv & Tishby 2017): I(X;T) and I(T;Y) of each LeNet layer
  over training for the dense net, a ticket and its random reinit, from weight snapshots and a
  binning estimator on a fixed subset of test inputs. Saxe et al. (2018) showed that the
  "compression" such plots show depends on the activation function and on the binning: the
  estimate measures how the binned activations spread, not an information the network uses.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import pandas as pd
import torch
from torch import Tensor

from lottery.core.experiments import control_seed, init_seed
from lottery.core.hparams import ExperimentHparams
from lottery.engine import analysis
from lottery.engine.masks import Mask
from lottery.engine.members import State
from lottery.engine.pruning import random_mask_like
from lottery.studies.stability.overlap import oneshot_mask
from lottery.studies.stability.study import A, StabilityStudy


@dataclass
class PropertiesResult:
    hparams: ExperimentHparams
    table: pd.DataFrame               # per trial x level x layer: |init| kept vs pruned, signs
    density: pd.DataFrame             # per level x layer: IMP and one-shot density
    init: State                       # trial 0's initialization
    masks: dict[int, Mask]            # trial 0's ticket mask at each level (0 = dense)
    connectivity: dict[str, Tensor]   # name -> (H, W) connections per input pixel (LeNet)
    information: pd.DataFrame | None  # information plane (LeNet), else None
    focus: int
    data: str
    synthetic: bool


def property_table(study: StabilityStudy) -> pd.DataFrame:
    """Per trial, level and layer: kept and pruned counts and mean / median |init| of each,
    their ratio, and the sign agreement of the kept weights (init vs the ticket's final)."""
    chain, frames = study.chains()[A], []
    for t in range(study.hp.trials):
        init = study.base.fresh_init(init_seed(study.hp, t))
        for level in range(chain.depth + 1):
            mask = chain.mask(level, t)
            signs = analysis.sign_agreement(init, chain.payloads[level][t]["final"], mask)
            table = analysis.kept_vs_pruned_init(init, mask)
            table = pd.concat([table, pd.DataFrame([{"layer": analysis.OVERALL}])])
            frames.append(table.assign(trial=t, level=level, percent_remaining=100 *
                                       mask.density(), sign_agreement=table.layer.map(signs)))
    table = pd.concat(frames, ignore_index=True)
    front = ["trial", "level", "percent_remaining", "layer"]
    return table[front + [c for c in table.columns if c not in front]]


def density_table(study: StabilityStudy) -> pd.DataFrame:
    """Per level and layer, the density of the IMP ticket and of one-shot pruning to the same
    number of rounds (trial 0)."""
    chain, rows = study.chains()[A], []
    for level in range(1, chain.depth + 1):
        imp, oneshot = chain.mask(level, 0), oneshot_mask(study, 0, level)
        for name in imp:
            rows.append({"level": level, "layer": name,
                         "imp_percent": 100 * float(imp[name].float().mean()),
                         "oneshot_percent": 100 * float(oneshot[name].float().mean())})
        rows.append({"level": level, "layer": analysis.OVERALL,
                     "imp_percent": 100 * imp.density(), "oneshot_percent": 100 *
                     oneshot.density()})
    return pd.DataFrame(rows)


def connectivity_images(study: StabilityStudy) -> dict[str, Tensor]:
    """Connections kept per input pixel for the dense net, the ticket at the plan's
    connectivity level and a random mask of the same per-layer density (trial 0); empty when
    the first prunable layer is not a fully connected layer over a one-channel image."""
    name, kind = next(iter(study.base.kinds.items()))
    channels, *image = study.data.input_shape
    if kind == "conv" or channels != 1:
        return {}
    level = study.plan.connectivity
    ticket = study.chains()[A].mask(level, 0)
    random = random_mask_like(ticket, control_seed(study.hp, 0, level, "random_mask"))
    percent = 100 * ticket.density()
    masks = {"dense": study.base.dense_mask, f"ticket ({percent:.1f}%)": ticket,
             f"random pruning ({percent:.1f}%)": random}
    return {label: analysis.input_connectivity(mask, name, image)
            for label, mask in masks.items()}


def information_states(study: StabilityStudy, trial: int) -> dict[str, dict[int, State]]:
    """Weights at the plan's information points and at the end, of the dense net, the ticket at
    the focus level and its random reinit (k = 0)."""
    chain, focus = study.chains()[A], study.plan.focus
    payloads = study.pair_payloads()
    reinit = next(p.copies[0] for p in study.pairs()
                  if (p.k, p.level, p.variant, p.trial) == (0, focus, "reinit", trial))
    sources = {"dense": chain.payloads[0][trial], "ticket": chain.payloads[focus][trial],
               "random reinit": payloads[reinit.path]}
    end = study.hp.training.iterations
    return {label: {**{i: p["snapshots"][i] for i in study.plan.info_points}, end: p["final"]}
            for label, p in sources.items()}


def information_plane(study: StabilityStudy) -> pd.DataFrame | None:
    """(I(X;T), I(T;Y)) in bits per network, iteration, LeNet layer and bin count (each of
    ``plan.info_bins`` equal-width bins over the layer's range) on the first
    ``plan.info_inputs`` test inputs, for trial 0 (a picture, not a statistic); None for
    other models."""
    if not study.information_plane:
        return None
    plan, test = study.plan, study.data.test
    x, y = test.x[:plan.info_inputs].cpu(), test.y[:plan.info_inputs].cpu()
    rows = []
    for network, states in information_states(study, 0).items():
        for iteration, state in sorted(states.items()):
            with torch.no_grad():
                layers = analysis.lenet_activations(state, x)
            for (layer, activations), bins in itertools.product(layers.items(), plan.info_bins):
                ixt, ity = analysis.binned_mutual_information(activations, y, bins)
                rows.append({"network": network, "trial": 0, "iteration": iteration,
                             "layer": layer, "bins": bins, "I(X;T)": ixt, "I(T;Y)": ity})
    return pd.DataFrame(rows)


def ticket_properties(study: StabilityStudy) -> PropertiesResult:
    """Every property above for the study's run A."""
    chain = study.chains()[A]
    return PropertiesResult(
        study.hp, property_table(study), density_table(study),
        study.base.fresh_init(init_seed(study.hp, 0)),
        {level: chain.mask(level, 0) for level in range(chain.depth + 1)},
        connectivity_images(study), information_plane(study), study.plan.focus,
        study.data.description, study.data.synthetic)


def kept_ratio_by_level(table: pd.DataFrame) -> pd.DataFrame:
    """Mean over trials of the kept / pruned mean |init| ratio and of the sign agreement, per
    level (columns: percent remaining, then one per layer)."""
    rows = table[table.level > 0]
    out = {}
    for metric in ("mean_ratio", "sign_agreement"):
        pivot = rows.pivot_table(index="level", columns="layer", values=metric, aggfunc="mean")
        out[metric] = pivot.dropna(axis=1, how="all")
    percent = rows.groupby("level").percent_remaining.mean()
    return pd.concat(out, axis=1).assign(percent_remaining=percent).round(3)


def smallest_kept_ratio(table: pd.DataFrame, level: int) -> float:
    """The smallest per-layer kept / pruned mean |init| ratio at ``level`` (mean over trials)."""
    rows = table[(table.level == level) & (table.layer != analysis.OVERALL)]
    ratios = rows.groupby("layer").mean_ratio.mean()
    return float(ratios.min()) if len(ratios) else math.nan
