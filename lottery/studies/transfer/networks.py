"""The networks of notebook 06's calls (dense runs, transfers, the SGD sweep), named without
weights."""

from __future__ import annotations

from lottery.core.experiments import Runner
from lottery.core.hparams import ExperimentHparams
from lottery.core.store import RunStore
from lottery.core.work import Hparams, Planned, Steps, Work, offline_runner, steps
from lottery.studies.transfer.study import SourceTicket, source_levels, transfer_networks


def _recipe(hparams: Hparams, recipe) -> ExperimentHparams:
    preset, overrides = recipe
    return hparams(preset, **overrides)


def dense_work(item: Planned, hparams: Hparams, store: RunStore) -> Work:
    """The dense runs of a recipe, keeping ``snapshots`` (``runner.dense(snapshots=...)``)."""
    hp = hparams(item.preset, **item.overrides)
    dense = offline_runner(hp, store).dense_networks(item.options.get("snapshots", ()))
    return Work([(hp, [("level 0 (dense)", dense)])])


def source_steps(source: Runner, levels) -> tuple[Steps, dict]:
    """The source tickets' steps up to the deepest transferred level, and the tickets."""
    wanted = set(source_levels(source.hp) if levels is None else levels)
    named, tickets = steps(source, "imp"), {}
    out, parents = named[:1], named[0][1]
    for (level, _, _), (name, nets) in zip(source.schedule("imp"), named[1:], strict=True):
        if level > max(wanted, default=0):
            break
        ticket = [n for n in nets if n.labels["variant"] == "ticket"]
        out.append((f"source {name}", ticket))
        if level in wanted:
            tickets[level] = [SourceTicket(n, p, None) for n, p in zip(ticket, parents,
                                                                      strict=True)]
        parents = ticket
    return out, tickets


def transfer_work(item: Planned, hparams: Hparams, store: RunStore) -> Work:
    """Source tickets, target dense runs and the transferred networks (``Session.transfer``)."""
    source = offline_runner(_recipe(hparams, item.detail["source"]), store)
    target = offline_runner(_recipe(hparams, item.detail["target"]), store)
    named, tickets = source_steps(source, item.options["levels"])
    moved = transfer_networks(source, target, tickets, None, item.options["controls"])
    return Work([(source.hp, named), (target.hp, [("target level 0 (dense)",
                                                   target.dense_networks()),
                                                  ("transfer", moved)])])


def sweep_lr_work(item: Planned, hparams: Hparams, store: RunStore) -> Work:
    """The dense runs of each learning rate (``Session.sweep_lr``)."""
    hp = _recipe(hparams, item.detail["recipe"])
    runs = []
    for lr in item.options["lrs"]:
        hk = hp.replace(training__lr=float(lr))
        runs.append((hk, [(f"lr {lr:g} (dense)", offline_runner(hk, store).dense_networks())]))
    return Work(runs)


KINDS = {"dense": dense_work, "transfer": transfer_work, "sweep_lr": sweep_lr_work}
