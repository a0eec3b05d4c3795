"""The networks of notebook 07's call, named without weights for the estimate."""

from __future__ import annotations

from dataclasses import replace

from lottery.core.experiments import Network, Runner
from lottery.core.store import RunStore
from lottery.core.work import Hparams, Planned, Steps, Work, offline_runner, placeholder, steps
from lottery.studies.cheap.study import CheapStage, sibling


def _chain(runner: Runner, dense: list[Network], label: str) -> Steps:
    """IMP levels of ``runner`` pruned from ``dense`` (as ``CheapStage.imp_chain``)."""
    return [(f"{label} {name}", nets) for name, nets in steps(runner, "imp", dense=dense)[1:]]


def cheap_work(item: Planned, hparams: Hparams, store: RunStore) -> Work:
    """Dense runs, IMP chains, one-shot and one network per cheap method and trial
    (``Session.cheap``); the stop rule's networks are counted, not named."""
    plan = item.detail["plan"]
    hp = hparams(item.preset, **item.overrides, **item.detail.get("hparams", {}))
    stage = CheapStage(offline_runner(hp, store), replace(plan, stop_rule=None))
    trials = stage.hp.trials
    stage.dense_networks = stage.runner.dense_networks(stage.snapshots()
                                                       if not plan.stop_rule else
                                                       _stop_snapshots(stage, plan))
    stage.dense_payloads = [None] * trials
    named = [("dense", stage.dense_networks)]
    chain = _chain(stage.runner, stage.dense_networks, "IMP k=0")
    stage.chain = ({0: stage.dense_networks} | {int(n.labels["level"]): nets
                                               for _, nets in chain for n in nets[:1]}, None)
    named += chain
    if plan.rewind:
        named += _chain(sibling(stage.runner, rewind_iteration=plan.rewind),
                        stage.dense_networks, f"IMP k={plan.rewind}")
    cheap = stage.oneshot_networks() + [stage.network(s, t) for t in range(trials)
                                        for s in stage.specs(t)]
    stops = trials * len(plan.densities) if plan.stop_rule else 0
    cheap += [placeholder("early-bird stop rule", i) for i in range(stops)]
    named.append(("cheap masks", list({n.path: n for n in cheap}.values())))
    notes = ["07: mask scoring (SNIP, GraSP, SynFlow, early-bird distances) not priced"]
    if stops:
        notes.append(f"07: {stops} early-bird stop-rule network(s) counted as to train (their t "
                     f"comes from the dense runs' weights)")
    return Work([(stage.hp, named)], notes=notes)


def _stop_snapshots(stage, plan) -> list[int]:
    """The dense runs' snapshots with the stop rule's checkpoints (the stage keeps them)."""
    t_max = stage.hp.training.iterations
    return sorted(set(stage.snapshots()) | set(plan.stop_rule.checkpoints(t_max)))


KINDS = {"cheap": cheap_work}
