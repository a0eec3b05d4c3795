"""The same ticket each time? Overlap of IMP masks between runs that differ in one thing only.

Grosse & Backes (2020) report that a network holds several winning tickets: masks of runs that
differ in their training randomness overlap no more than chance, and above chance only when
that randomness is reduced. Here, at every IMP level, the masks of two runs of a
:class:`~lottery.studies.stability.study.StabilityStudy` are compared per layer and overall, beside
two independent random masks with the same per-layer counts
(:func:`lottery.engine.analysis.overlap_table`):

- ``data order``: run A and its twin B of the same trial (same init, data orders 0 and 1);
- ``init seed``: two trials of B (same data order, different inits);
- ``rewind k=K``: run A and the run rewinding to iteration K (same init and data order);
- ``IMP vs one-shot``: run A and one-shot pruning of A's dense network to the same level.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import pandas as pd

from lottery.core.hparams import ExperimentHparams
from lottery.engine.analysis import OVERALL, overlap_table
from lottery.engine.masks import Mask
from lottery.studies.stability.study import A, B, StabilityStudy

DATA_ORDER, INIT_SEED, ONESHOT = "data order", "init seed", "IMP vs one-shot"


@dataclass
class OverlapResult:
    hparams: ExperimentHparams
    table: pd.DataFrame      # one row per kind x pair x level x layer (and the overall row)
    focus: int               # the level the sentence speaks of
    data: str
    synthetic: bool

    @property
    def sentence(self) -> str:
        return overlap_sentence(self.table, self.focus)


def rewind_kind(k: int) -> str:
    return f"rewind k={k}"


def oneshot_mask(study: StabilityStudy, trial: int, level: int) -> Mask:
    """One-shot pruning of run A's dense network of ``trial`` by ``level`` rounds' worth."""
    dense = study.chains()[A].payloads[0][trial]
    return study.base.prune(trial, dense, level, level)


def mask_pairs(study: StabilityStudy) -> Iterator[tuple[dict, Mask, Mask]]:
    """(labels, mask 1, mask 2) of every comparison at every level the runs reach."""
    chains = study.chains()
    a, b, trials = chains[A], chains[B], range(study.hp.trials)
    for level in range(1, a.depth + 1):
        for t in trials:
            yield {"kind": DATA_ORDER, "pair": f"t{t}", "level": level}, a.mask(level, t), \
                b.mask(level, t)
            yield {"kind": ONESHOT, "pair": f"t{t}", "level": level}, a.mask(level, t), \
                oneshot_mask(study, t, level)
        for i, j in itertools.combinations(trials, 2):
            yield {"kind": INIT_SEED, "pair": f"t{i}-t{j}", "level": level}, b.mask(level, i), \
                b.mask(level, j)
    rewinds = sorted(((k, c) for (k, _), c in chains.items() if k), key=lambda kc: kc[0])
    for k, chain in rewinds:
        for level, t in itertools.product(range(1, chain.depth + 1), trials):
            yield {"kind": rewind_kind(k), "pair": f"t{t}", "level": level}, a.mask(level, t), \
                chain.mask(level, t)


def mask_overlap(study: StabilityStudy) -> OverlapResult:
    """Per layer and overall overlap (Jaccard, shared fraction, each against chance) of every
    pair of :func:`mask_pairs`."""
    frames = []
    for labels, first, second in mask_pairs(study):
        table = overlap_table(first, second)
        frames.append(table.assign(percent_remaining=100 * first.density(), **labels))
    table = pd.concat(frames, ignore_index=True)
    front = ["kind", "pair", "level", "percent_remaining", "layer"]
    table = table[front + [c for c in table.columns if c not in front]]
    return OverlapResult(study.hp, table, study.plan.focus, study.data.description,
                         study.data.synthetic)


def overall(table: pd.DataFrame) -> pd.DataFrame:
    """Mean over pairs of the all-layers rows, per kind and level."""
    rows = table[table.layer == OVERALL]
    columns = ["percent_remaining", "jaccard", "chance_jaccard", "jaccard_ratio",
               "shared_fraction", "chance_shared_fraction", "shared_ratio", "z"]
    return rows.groupby(["kind", "level"], sort=False)[columns].mean().reset_index()


def per_layer(table: pd.DataFrame, level: int) -> pd.DataFrame:
    """Jaccard index, its chance value and their ratio per kind and layer at ``level``."""
    rows = table[table.level == level]
    columns = ["jaccard", "chance_jaccard", "jaccard_ratio", "shared_fraction"]
    return rows.groupby(["kind", "layer"], sort=False)[columns].mean().round(3)


def overlap_sentence(table: pd.DataFrame, level: int) -> str:
    """One sentence on the overlap at ``level``, computed from ``table``."""
    at = overall(table)
    at = at[at.level == level].set_index("kind")
    if at.empty:
        return f"No masks at level {level}."
    rewinds = sorted((k for k in at.index if k.startswith("rewind")),
                     key=lambda k: int(k.split("=")[1]))
    kinds = [k for k in (DATA_ORDER, INIT_SEED, *rewinds[-1:], ONESHOT) if k in at.index]
    parts = [f"{at.jaccard[kind]:.2f} ({at.jaccard_ratio[kind]:.1f}x chance) {_phrase(kind)}"
             for kind in kinds]
    listed = ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1]
    ranked = at.loc[kinds].jaccard_ratio.sort_values()
    return (f"At {at.percent_remaining.mean():.1f}% of weights remaining, where two random masks "
            f"of the same layer densities overlap with Jaccard {at.chance_jaccard.mean():.2f}, "
            f"IMP masks overlap with Jaccard {listed}: they are most alike when "
            f"{_short(ranked.index[-1])} and least alike when {_short(ranked.index[0])}.")


def _phrase(kind: str) -> str:
    """How the sentence lists a kind of difference."""
    if kind == ONESHOT:
        return "between IMP and one-shot pruning of the same dense net"
    if kind.startswith("rewind"):
        return f"for runs differing only in the rewind iteration ({kind.split(' ')[1]} vs 0)"
    return f"for runs differing only in {kind}"


def _short(kind: str) -> str:
    if kind == ONESHOT:
        return "IMP is compared with one-shot pruning"
    what = "the rewind iteration" if kind.startswith("rewind") else f"the {kind}"
    return f"only {what} differs"
