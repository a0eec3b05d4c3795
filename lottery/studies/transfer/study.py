"""Ticket transfer (Morcos et al. 2019): a ticket found in one setting, trained in another.

A source experiment (IMP of a :class:`~lottery.core.experiments.Runner`) yields, at each level and
trial, a winning ticket: a mask and the weights it starts from -- its initialization, or the
weights at iteration k of its dense run under late resetting. The transfer stage trains that
ticket under a *target recipe*, another Runner (other data, or other training hyperparameters
such as the optimizer), beside controls built the way the experiment's controls are
(:data:`lottery.engine.variants.VARIANTS`): ``random_mask`` is the *random ticket*, a random mask
with the ticket's per-layer densities and the same starting weights.

Each transferred network is keyed by the source ticket's identity
(``store.key_id(source_network.key)``, which names the source recipe, mask lineage and start)
plus the target recipe, and lives under the target recipe's folder of the run store. So it
composes with IMP results already computed on either side: the source tickets are loaded, not
retrained, and the target's own tickets and dense networks (the references) are the target
Runner's ordinary IMP.

An output layer the target cannot take over (another number of classes, e.g. EMNIST letters'
26 to MNIST's 10) is re-initialized from the target's initialization of that trial and kept
dense; every other tensor comes from the source ticket.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pandas as pd

from lottery.core.experiments import Network, Runner, data_seed, init_seed, mask_of
from lottery.core.hparams import ExperimentHparams, HparamError
from lottery.core.results import ExperimentResult, experiment_tables
from lottery.core.training import Member
from lottery.engine.masks import Mask
from lottery.engine.members import State
from lottery.engine.variants import VARIANTS, ResetContext

__all__ = ["SourceTicket", "check_compatible", "fit_output", "source_tickets", "sweep_lr",
           "transfer", "transfer_networks", "transfer_seed"]


@dataclass(frozen=True)
class SourceTicket:
    """One trial's ticket at one level of a source experiment: its network (identity), its
    parent (whose trained weights its mask was pruned from) and its stored mask."""

    network: Network
    parent: Network
    mask: Mask


def source_tickets(source: Runner, levels: Sequence[float] | None = None
                   ) -> tuple[dict[float, list[SourceTicket]], list[dict]]:
    """The tickets of ``source``'s IMP at ``levels`` (None: all), and its dense payloads.

    Walks the IMP schedule as :meth:`Runner.run` does, through the store: what it holds is
    loaded, what is missing is trained -- tickets only (the transfer needs no controls; an
    IMP run with controls later trains only those). Payloads stay in memory only where a
    ticket's network can rebuild its start from them (its parent's, the dense runs').
    """
    schedule = source.schedule("imp")
    wanted = set(source_levels(source.hp) if levels is None else levels)
    missing = sorted(wanted - {level for level, _, _ in schedule})
    if missing:
        raise HparamError(f"transfer levels {missing} are not IMP levels of the source "
                          f"(1 to {source.hp.levels})")
    dense = source.dense_networks()
    dense_payloads = source.train_many(dense, "source level 0 (dense)")
    parents, parent_payloads = dense, dense_payloads
    tickets: dict[float, list[SourceTicket]] = {}
    for level, _, rounds in schedule:
        if level > max(wanted, default=0):
            break
        networks = [n for n in source.level_networks(level, rounds, parents, parent_payloads,
                                                     dense, dense_payloads)
                    if n.labels["variant"] == "ticket"]
        payloads = source.train_many(networks, f"source level {level:g}")
        if level in wanted:
            tickets[level] = [SourceTicket(n, p, mask_of(payload, source.dense_mask))
                              for n, p, payload in zip(networks, parents, payloads, strict=True)]
        parents, parent_payloads = networks, payloads
    return tickets, dense_payloads


def source_levels(hp: ExperimentHparams, every: int = 1) -> list[int]:
    """Every ``every``-th IMP level of ``hp`` (``every`` = 2: levels 2, 4, 6 ...)."""
    return list(range(every, hp.levels + 1, every))


def check_compatible(source: Runner, target: Runner) -> None:
    """Refuse, before any training, a target the source's tickets cannot be placed in."""
    s, t = source.hp, target.hp
    if s.model != t.model:
        raise HparamError(f"transfer needs one architecture: source {s.model.name} "
                          f"{s.model.options()}, target {t.model.name} {t.model.options()}")
    if source.data.input_shape != target.data.input_shape:
        raise HparamError(f"transfer needs one input shape: source {source.data.name} "
                          f"{source.data.input_shape}, target {target.data.name} "
                          f"{target.data.input_shape}")
    if s.rewind_iteration >= t.training.iterations:
        raise HparamError(f"the source rewinds to iteration {s.rewind_iteration}; the target "
                          f"trains only {t.training.iterations} iterations")


def fit_output(state: State, mask: Mask, target_init: State, dense: Mask) -> tuple[State, Mask]:
    """``state`` and ``mask`` with every tensor whose shape the target does not share (the
    output layer when the classes differ) taken from ``target_init`` and kept dense."""
    if set(state) != set(target_init):
        raise ValueError("source and target networks hold different tensors")
    differs = {n for n, t in target_init.items() if state[n].shape != t.shape}
    fitted = {n: target_init[n] if n in differs else t for n, t in state.items()}
    return fitted, Mask({n: dense[n] if n in differs else m for n, m in mask.items()})


def transfer_seed(hp: ExperimentHparams, trial: int, level: float, variant: str) -> int:
    """The seed of a transferred control (a random ticket's mask, a reinit's values)."""
    return 3_000_000 + hp.seed * 100_000 + trial * 1_000 + int(level * 10) * 7 + \
        list(VARIANTS).index(variant)


def ticket_start(source: Runner, dense_payloads: list[dict], trial: int) -> State:
    """The weights a source ticket starts from: its init, or iteration k of its dense run."""
    k = source.hp.rewind_iteration
    return dense_payloads[trial]["snapshots"][k] if k else source.fresh_init(
        init_seed(source.hp, trial))


def transfer_networks(source: Runner, target: Runner, tickets: dict[float, list[SourceTicket]],
                      dense_payloads: list[dict],
                      controls: Sequence[str] = ("random_mask",)) -> list[Network]:
    """The transferred ticket and ``controls`` of every trial at every level of ``tickets``,
    as networks of the target recipe, keyed by the source ticket's identity."""
    differs = source.data.num_classes != target.data.num_classes
    k, store = source.hp.rewind_iteration, source.store

    def build(ticket: SourceTicket, t: int, variant: str, seed: int) -> Member:
        start = ticket_start(source, dense_payloads, t)
        parent = store.load(*ticket.parent.path, ticket.parent.key)
        context = ResetContext(init=source.fresh_init(init_seed(source.hp, t)), rewind=start,
                               final=parent["final"], mask=ticket.mask, seed=seed,
                               fresh_init=target.fresh_init)
        state, mask = VARIANTS[variant](context)
        state, mask = fit_output(state, mask, target.fresh_init(init_seed(target.hp, t)),
                                 target.dense_mask)
        return Member(state, mask, data_seed(target.hp, t))

    networks = []
    for level, level_tickets in tickets.items():
        for variant in ("ticket", *controls):
            for t, ticket in enumerate(level_tickets):
                seed = transfer_seed(target.hp, t, level, variant)
                identity = {"transfer_of": store.key_id(ticket.network.key),
                            "start_iteration": k, "variant": variant, "seed": seed,
                            "data_seed": data_seed(target.hp, t),
                            "output": {"init_seed": init_seed(target.hp, t)} if differs
                            else "source"}
                networks.append(target.network(
                    f"transfer-{level:g}", identity, {"trial": t, "level": level,
                                                      "variant": variant},
                    lambda n=ticket, t=t, v=variant, s=seed: build(n, t, v, s), start=k,
                    keep_final=False))
    return networks


def describe(runner: Runner) -> str:
    """A recipe as the tables name it: dataset and optimizer (``mnist/adam``)."""
    return f"{runner.data.name}/{runner.hp.training.optimizer}"


def transfer(source: Runner, target: Runner, levels: Sequence[float] | None = None,
             controls: Sequence[str] = ("random_mask",)) -> ExperimentResult:
    """The tickets of ``source``'s IMP at ``levels`` (None: every level) trained under the
    ``target`` recipe with ``controls``, plus the target's dense networks as level 0.

    The table's ``source`` and ``target`` columns name the two recipes; the result's masks are
    the transferred tickets' (output layer as trained on the target).
    """
    check_compatible(source, target)
    if levels is not None and not len(levels):
        raise HparamError(f"no level to transfer: the source has {source.hp.levels} IMP levels")
    bad = [c for c in controls if c not in VARIANTS or c == "ticket"]
    if bad:
        raise HparamError(f"transfer controls must be drawn from "
                          f"{[v for v in VARIANTS if v != 'ticket']}; got {list(controls)}")
    if target.hp.trials != source.hp.trials:
        raise HparamError(f"source and target need the same trials (trial t goes to trial t); "
                          f"got {source.hp.trials} and {target.hp.trials}")
    tickets, dense_payloads = source_tickets(source, levels)
    dense = target.dense_networks()
    networks = transfer_networks(source, target, tickets, dense_payloads, controls)
    payloads = target.train_many(dense, "target level 0 (dense)") + target.train_many(
        networks, f"transfer {describe(source)} -> {describe(target)}")
    labels = {"method": "transfer", "source": describe(source), "target": describe(target)}
    results, histories = experiment_tables(
        [(labels | n.labels, p) for n, p in zip(dense + networks, payloads, strict=True)])
    masks = {(n.labels["trial"], n.labels["level"]): mask_of(p, target.dense_mask)
             for n, p in zip(networks, payloads[len(dense):], strict=True)
             if n.labels["variant"] == "ticket"}
    return ExperimentResult(target.hp, results, histories, masks, target.data.description,
                            source.data.synthetic or target.data.synthetic)


def sweep_lr(runner: Callable[[ExperimentHparams], Runner], hp: ExperimentHparams,
             lrs: Sequence[float]) -> tuple[float, pd.DataFrame]:
    """The learning rate of ``lrs`` whose dense networks of ``hp`` reach the lowest mean
    validation loss (at early stop; the test set plays no part), and the sweep's table.

    The dense networks are the ones IMP of the chosen recipe starts from, so the sweep's
    winner is not trained twice.
    """
    if not lrs:
        raise HparamError("the learning-rate sweep needs at least one learning rate")
    rows = []
    for lr in lrs:
        for t, payload in enumerate(runner(hp.replace(training__lr=float(lr))).dense()):
            rows.append({"lr": float(lr), "trial": t, **payload["summary"]})
    table = pd.DataFrame(rows)
    means = table.groupby("lr").early_stop_val_loss.mean().dropna()
    if means.empty:
        raise HparamError(f"every learning rate of the sweep {list(lrs)} diverged")
    return float(means.idxmin()), table
