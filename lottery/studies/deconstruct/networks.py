"""The networks of notebook 04's calls, named without weights for the estimate."""

from __future__ import annotations

from lottery.core.experiments import Runner
from lottery.core.hparams import ExperimentHparams
from lottery.core.store import RunStore
from lottery.core.work import (
    Evaluation,
    Hparams,
    Planned,
    Work,
    data_sizes,
    merged,
    offline_runner,
    steps,
)
from lottery.studies.deconstruct import supermask
from lottery.studies.deconstruct.study import STARTS


def _deconstruct(hp: ExperimentHparams, store: RunStore, every: int,
                 mask0: str = "zero") -> Runner:
    return offline_runner(hp, store, every=every, mask0=mask0)


def criteria_work(item: Planned, hparams: Hparams, store: RunStore) -> Work:
    """One IMP lineage per criterion, sharing the dense runs (``Session.criteria``)."""
    o = item.options
    hp = hparams(item.preset, **({"controls": ()} | dict(item.overrides)))
    lineages = [steps(_deconstruct(hp.replace(pruning__criterion=c), store, o["every"]), "imp")
                for c in o["criteria"]]
    return Work([(hp, merged(lineages))])


def mask1_work(item: Planned, hparams: Hparams, store: RunStore) -> Work:
    """IMP with the mask-1 actions as controls (``Session.mask1``)."""
    o = item.options
    hp = hparams(item.preset, **item.overrides).replace(controls=tuple(o["actions"]))
    return Work([(hp, steps(_deconstruct(hp, store, o["every"]), "imp"))])


def mask0_work(item: Planned, hparams: Hparams, store: RunStore) -> Work:
    """One IMP lineage per mask-0 action (``Session.mask0``)."""
    o = item.options
    hp = hparams(item.preset, **item.overrides).replace(controls=())
    lineages = [steps(_deconstruct(hp, store, o["every"], a), "imp") for a in o["actions"]]
    return Work([(hp, merged(lineages))])


def untrained_work(item: Planned, hparams: Hparams, store: RunStore) -> Work:
    """The dense runs the masks come from, and the untrained networks' test evaluations."""
    o = item.options
    hp = hparams(item.preset, **item.overrides)
    count = hp.trials * len(o["criteria"]) * len(o["rounds"]) * len(STARTS)
    test = data_sizes(hp.data)[2]
    dense = offline_runner(hp, store).dense_networks()
    return Work([(hp, [("level 0 (dense)", dense)])],
                [Evaluation("untrained supermasks", hp, count, test)])


def supermask_work(item: Planned, hparams: Hparams, store: RunStore) -> Work:
    """Each trial's learned supermask (``Session.learned_supermask``)."""
    o = item.options
    hp = supermask.hparams(hparams(item.preset, **item.overrides),
                           lr=o.get("lr") or supermask.DEFAULT_LR, iterations=o.get("iterations"))
    networks = supermask.supermask_networks(offline_runner(hp, store))
    return Work([(hp, [("learned supermask", networks)])],
                notes=["learned supermasks priced as plain training of the same model"])


KINDS = {"criteria": criteria_work, "mask1": mask1_work, "mask0": mask0_work,
         "untrained": untrained_work, "learned_supermask": supermask_work}
