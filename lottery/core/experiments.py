"""Lottery experiments: iterative magnitude pruning (IMP), one-shot pruning and their controls.

IMP (Frankle & Carbin 2019, Sec. 1): train the dense network, prune a fraction of the surviving
weights, reset the survivors, train again; repeat for ``levels`` rounds. Survivors are reset to
their initialization (``rewind_iteration`` = 0) or rewound to their values at iteration k of the
dense run (late resetting, Frankle et al. 2019), and retrained from iteration k. One-shot
pruning is the same schedule with every level pruned straight from the dense network.

The grain is one trained network. Each has a stored identity -- the recipe (model, data,
training, speed options), how it starts (an init seed, or the dense run and k), how its mask
came about (the parent network, criterion, strategy, rates, rounds), its variant and data
order -- and three stages build them: :meth:`Runner.dense`, :meth:`Runner.level` and the
pruning policy (:func:`lottery.engine.pruning.next_mask`). :meth:`Runner.train_many` loads the
networks the store holds and trains the missing ones together as one batched call, so adding a
trial or a control trains only the new members, and IMP, one-shot and a rewind sweep share the
dense runs.

A runner is specialised by values, not subclasses: ``order`` (every network trained on another
data order: Frankle et al. 2019's copies), ``mask0`` (the pruned weights of every level frozen by
a mask-0 action, Zhou et al. 2019), ``every`` (IMP pruning that many rounds per trained level),
and ``observer`` (told of each experiment and step: the progress lines of
:mod:`lottery.run.progress`).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

import torch
from tqdm.auto import tqdm

from lottery.core.crossover import crossovers_in
from lottery.core.executors import Executor, GroupTask, Keep, LocalExecutor
from lottery.core.hparams import ExperimentHparams, fingerprint, to_dict
from lottery.core.results import ExperimentResult, experiment_tables
from lottery.core.store import OMITTED, RunStore
from lottery.core.training import (
    DEFAULT_SPEED,
    EVAL_BATCH,
    Member,
    Parameterisation,
    SpeedOptions,
    default_device,
    members_that_fit,
)
from lottery.engine import pruning
from lottery.engine.data import DataBundle, load, with_augmentation
from lottery.engine.errors import HparamError
from lottery.engine.mask0_actions import MASK0
from lottery.engine.mask0_actions import check as check_mask0
from lottery.engine.masks import Mask
from lottery.engine.members import State, member_state
from lottery.engine.models import build
from lottery.engine.variants import VARIANTS, ResetContext

__all__ = ["ExperimentResult", "Network", "RunObserver", "Runner", "run_imp",
           "run_oneshot"]

ORDER_BASE = 10**12  # data-order copy seeds live far from the init, data and control seeds


def init_seed(hp: ExperimentHparams, trial: int) -> int:
    return hp.seed * 1_000 + trial


def data_seed(hp: ExperimentHparams, trial: int) -> int:
    return 1_000_000 + hp.seed * 1_000 + trial


def control_seed(hp: ExperimentHparams, trial: int, level: float, variant: str) -> int:
    return 2_000_000 + hp.seed * 100_000 + trial * 1_000 + int(level * 10) * 7 + \
        list(VARIANTS).index(variant)


def order_seed(hp: ExperimentHparams, order: int) -> int:
    """The data-order seed of copy ``order`` >= 1: the same for every trial of ``hp``."""
    return ORDER_BASE + hp.seed * 1_000 + order


@dataclass(frozen=True)
class Network:
    """One network to load or train: where it is stored, its identity, its table labels, and
    how to build its starting weights and mask (called only when it must be trained)."""

    path: tuple[str, str]          # (folder, name) in the store
    key: dict
    labels: dict                   # trial, level, variant
    build: Callable[[], Member] = field(compare=False)
    start: int = 0                 # the iteration training starts from
    snapshots: tuple[int, ...] = ()
    keep_final: bool = True
    # what training optimises instead of the weights (a learned supermask); None: the weights
    parameterisation: Parameterisation | None = None

    @property
    def identity(self) -> dict:
        """What its key holds beyond the shared recipe."""
        return {k: v for k, v in self.key.items() if k != "recipe"}

    @property
    def stage(self) -> str:
        return self.path[0].rsplit("/", 1)[-1]


class RunObserver(Protocol):
    """Watches a runner (e.g. :class:`lottery.run.progress.StepReporter`): told when an
    experiment starts and after each step (one :meth:`Runner.train_many`) how many of its
    networks were trained (the others loaded) and how long it took."""

    def on_run_start(self, runner: Runner, method: str) -> None: ...

    def on_step(self, runner: Runner, desc: str, networks: Sequence[Network], lacking: int,
                seconds: float) -> None: ...


class Restorable(dict):
    """A stored payload whose weights an imported archive left out (:mod:`lottery.core.archive`):
    the tables read it as it is; reading a weight it lacks trains the network again from its
    seeds, once, and stores it whole."""

    def __init__(self, payload: dict, restore: Callable[[dict], dict]):
        super().__init__(payload)
        self._restore = restore

    def __missing__(self, key):
        if key not in (self.get(OMITTED) or {}):
            raise KeyError(key)
        whole = self._restore(dict(self))
        self.clear()
        self.update(whole)
        return self[key]


def omitted(payload: dict | None) -> dict:
    """The weights an imported archive left out of ``payload``: {"final": bool, "snapshots":
    [iterations]}."""
    return (payload or {}).get(OMITTED) or {}


class Runner:
    """The stages of one experiment against a run store; every stage is idempotent.

    ``order``: the data order every network trains on (0: each trial's own; see
    :meth:`reordered`). ``mask0``: the mask-0 action of every pruned level (``zero``: the
    lottery ticket's, no key change). ``every``: IMP prunes ``every`` rounds per trained level
    (a divisor of ``hp.levels``). ``observer``: see :class:`RunObserver`."""

    def __init__(self, hp: ExperimentHparams, *, store: RunStore | None = None,
                 device: str | torch.device | None = None, data_root: str | Path | None = None,
                 data: DataBundle | None = None, checkpoint_every: int = 0,
                 speed: SpeedOptions = DEFAULT_SPEED, progress: bool = True,
                 executor: Executor | None = None, observer: RunObserver | None = None,
                 order: int = 0, mask0: str = "zero", every: int = 1):
        self.hp, self.speed, self.progress, self.observer = hp, speed, progress, observer
        self.order, self.mask0, self.every = order, mask0, every
        self.executor = executor or LocalExecutor()  # where groups train (core.executors)
        self.store = store or RunStore()
        self.device = torch.device(device) if device is not None else default_device()
        d = hp.data
        self.data = with_augmentation(data or load(
            d.dataset, root=data_root, device=self.device, val_size=d.val_size,
            split_seed=d.split_seed, train_subset=d.train_subset, test_subset=d.test_subset),
            d.augment)
        self.checkpoint_every = checkpoint_every
        self.crossovers = crossovers_in(self.store.root)  # sparse training's, in this store
        self._inits: dict[int, State] = {}
        model = self._model([0])
        self.kinds = dict(model.prunable)
        self.dense_mask = Mask.dense({n: p.shape[1:] for n, p in model.prunable_weights().items()})
        self.check_schedule()

    def derived(self, **changes) -> Runner:
        """This runner (its store, data, device, speed, executor, values and observer) for
        ``hp.replace(**changes)``; the model and data must stay those of this runner."""
        if any(name.split("__")[0] in ("model", "data") for name in changes):
            raise ValueError("a derived runner keeps its model and data; build a new Runner")
        other = copy.copy(self)
        other.hp = self.hp.replace(**changes)
        other.check_schedule()
        return other

    def check_schedule(self) -> None:
        """Refuse, before any training, levels or rounds that would empty a layer, and values
        this experiment cannot take."""
        check_mask0(self.mask0)
        hp, every = self.hp, self.every
        if not (isinstance(every, int) and every >= 1 and hp.levels % every == 0):
            raise HparamError(f"every must be a positive integer dividing levels ({hp.levels});"
                              f" got {every!r}")
        if self.mask0 != "zero" and hp.controls:
            raise HparamError(f"mask0 {self.mask0!r} freezes the ticket's pruned weights; train "
                              f"it without controls (got controls {hp.controls})")
        if not (isinstance(self.order, int) and self.order >= 0):
            raise HparamError(f"data order must be a non-negative integer; got {self.order!r}")
        p, sizes = self.hp.pruning, {n: m.numel() for n, m in self.dense_mask.items()}
        if p.strategy == "global":
            sizes, rates = {"the prunable layers": sum(sizes.values())}, {
                "the prunable layers": p.global_rate}
        else:
            rates = {name: p.rate_of(kind) for name, kind in self.kinds.items()}
        pruning.check_schedule(sizes, rates, self.hp.levels, self.hp.oneshot_rounds)

    # --- identities -------------------------------------------------------------------------
    def recipe(self) -> dict:
        """What every network of this experiment shares: model, data, training, speed."""
        hp, data = self.hp, self.data
        identity = {"name": data.name, "sizes": [len(data.train), len(data.val), len(data.test)]}
        recipe = {"model": to_dict(hp.model), "data": to_dict(hp.data), "dataset": identity,
                  "training": to_dict(hp.training)}
        return recipe | ({"speed": self.speed.key()} if self.speed.key() else {})

    def network(self, stage: str, identity: dict, labels: dict, build: Callable[[], Member],
                **options) -> Network:
        """A network of this recipe on this runner's data order; its file is named by its
        stage, labels and key hash."""
        return self.reordered(self._named(stage, identity, labels, build, **options), self.order)

    def _named(self, stage: str, identity: dict, labels: dict, build: Callable[[], Member],
               **options) -> Network:
        recipe = self.recipe()
        key = {"recipe": recipe, **identity}
        folder = f"{self.hp.model.name}-{self.data.name}/{fingerprint(recipe)}/{stage}"
        name = f"{labels['variant']}-t{labels['trial']}-{self.store.key_id(key)}"
        return Network((folder, name), key, labels, build, **options)

    def reordered(self, net: Network, order: int) -> Network:
        """``net`` trained on data order ``order`` instead (a *copy*, Frankle et al. 2019): the
        same start, mask and variant, the data-order seed of copy ``order`` (shared by every
        trial) and ``data_order`` in its identity; ``net`` itself when ``order`` is 0, which
        keeps every existing key."""
        if order == 0:
            return net
        seed = order_seed(self.hp, order)

        def build() -> Member:
            return replace(net.build(), data_seed=seed)

        named = self._named(net.stage, net.identity | {"data_seed": seed, "data_order": order},
                            net.labels, build)
        return replace(net, path=named.path, key=named.key, build=build)

    # --- building blocks --------------------------------------------------------------------
    def _model(self, seeds):
        return build(self.hp.model.name, seeds=seeds, input_shape=self.data.input_shape,
                     num_classes=self.data.num_classes, **self.hp.model.options())

    def fresh_init(self, seed: int) -> State:
        """The initialization of ``seed`` (memoized: a level asks for each several times)."""
        if seed not in self._inits:
            self._inits[seed] = member_state(self._model([seed]), 0)
        return self._inits[seed]

    def prune(self, trial: int, parent: dict, rounds: float, level: float) -> Mask:
        """The ticket mask of ``trial`` at ``level``: ``parent``'s mask pruned by ``rounds``."""
        return pruning.next_mask(self.hp.pruning, self.kinds,
                                 self.fresh_init(init_seed(self.hp, trial)), parent["final"],
                                 mask_of(parent, self.dense_mask), rounds,
                                 control_seed(self.hp, trial, level, "ticket"))

    # --- the one place that trains ----------------------------------------------------------
    def train_many(self, networks: Sequence[Network], desc: str) -> list[dict]:
        """Each network's stored payload: loaded when the store has it, else trained, the
        missing ones together (one batched call per start iteration and parameterisation) and
        stored; then the observer hears of the step."""
        began = time.perf_counter()
        payloads: list[dict | None] = []
        wanted = list(networks)
        for i, net in enumerate(wanted):
            payload = self.store.load(*net.path, net.key)
            if omitted(payload):
                payload = Restorable(payload, lambda stored, net=net: self.restore(net, stored))
            have = set(payload.get("snapshots", {})) | set(omitted(payload).get(
                "snapshots", ())) if payload else set()
            if payload is not None and not set(net.snapshots) <= have:
                # a rewind point this run did not keep: retrain it once, keeping the union
                wanted[i], payload = replace(net, snapshots=tuple(sorted(have | set(
                    net.snapshots)))), None
            elif payload is not None and net.keep_final and "final" not in payload and \
                    not omitted(payload).get("final"):
                payload = None
            payloads.append(payload)
        lacking = [i for i, p in enumerate(payloads) if p is None]
        kinds = dict.fromkeys((wanted[i].start, wanted[i].parameterisation) for i in lacking)
        for start, how in sorted(kinds, key=lambda kind: kind[0]):
            group = [i for i in lacking
                     if (wanted[i].start, wanted[i].parameterisation) == (start, how)]
            for i, payload in zip(group, self._train_group([wanted[i] for i in group], desc),
                                  strict=True):
                payloads[i] = payload
        for folder in {net.path[0] for net in wanted}:  # checkpoints a kill left behind
            self.store.sweep_finished_groups(folder)
        if self.observer is not None:
            self.observer.on_step(self, desc, networks, len(lacking), time.perf_counter() - began)
        return payloads

    def restore(self, net: Network, stored: dict) -> dict:
        """``net`` trained again, whole, for the weights its imported entry lacks (its tables
        are the same up to the rounding of the batch it trained in)."""
        gone = omitted(stored)
        snapshots = {*net.snapshots, *stored.get("snapshots", {}), *gone.get("snapshots", ())}
        whole = replace(net, snapshots=tuple(sorted(snapshots)),
                        keep_final=net.keep_final or bool(gone.get("final")))
        return self._train_group([whole], f"{net.path[1]}: weights not in the archive")[0]

    def group_limit(self) -> int | None:
        """The most networks one local training call holds in this device's free memory
        (None: no limit known, or an executor that sizes its own tasks)."""
        if not isinstance(self.executor, LocalExecutor):
            return None
        largest = max(len(self.data.train), len(self.data.val), len(self.data.test))
        return members_that_fit(self.hp.model, self.data.input_shape, self.data.num_classes,
                                self.hp.training.batch_size, min(EVAL_BATCH, largest),
                                self.device)

    def _train_group(self, networks: list[Network], desc: str) -> list[dict]:
        """Train ``networks`` through the executor, in parts that fit the device's memory
        (members are independent, so parts give the batch's results); this process alone
        stores each result, as it arrives."""
        limit = self.group_limit()
        if limit is not None and len(networks) > limit:
            return [payload for start in range(0, len(networks), limit)
                    for payload in self._train_part(networks[start:start + limit], desc)]
        return self._train_part(networks, desc)

    def _train_part(self, networks: list[Network], desc: str) -> list[dict]:
        members = [n.build() for n in networks]
        folder = networks[0].path[0]
        ids = sorted(self.store.key_id(n.key) for n in networks)
        group = "train-" + fingerprint(ids)
        checkpoint = self.store.checkpoint_path(folder, group)
        if self.checkpoint_every:
            self.store.begin_group(folder, group, ids)
        data = self.data
        task = GroupTask(self.hp.model, self.hp.training, self.hp.data,
                         (len(data.train), len(data.val), len(data.test)),
                         {name: tuple(m.shape) for name, m in self.dense_mask.items()},
                         tuple(members), tuple(Keep(n.snapshots, n.keep_final) for n in networks),
                         tuple(n.labels["trial"] for n in networks), networks[0].start,
                         self.speed, desc, networks[0].parameterisation)
        payloads: list[dict | None] = [None] * len(networks)

        def deliver(indices: list[int], results: list[dict], record: dict) -> None:
            for i, payload in zip(indices, results, strict=True):
                self.store.save(*networks[i].path, networks[i].key, payload, record)
                payloads[i] = payload

        self.executor.train(self, task, deliver,
                            checkpoint if self.checkpoint_every else None)
        self.store.end_group(folder, group)  # only once every entry is safely stored
        return payloads

    # --- stages -----------------------------------------------------------------------------
    def dense_networks(self, snapshots: Sequence[int] = ()) -> list[Network]:
        hp = self.hp
        snapshots = tuple(sorted({*snapshots, *([hp.rewind_iteration] * bool(
            hp.rewind_iteration))}))

        def one(t: int) -> Network:
            seed, order = init_seed(hp, t), data_seed(hp, t)
            return self.network("dense", {"start": {"init_seed": seed}, "mask": "dense",
                                          "variant": "ticket", "data_seed": order},
                                {"trial": t, "level": 0, "variant": "ticket"},
                                lambda: Member(self.fresh_init(seed), None, order),
                                snapshots=snapshots)
        return [one(t) for t in range(hp.trials)]

    def dense(self, snapshots: Sequence[int] = ()) -> list[dict]:
        """Level 0: every trial's dense network, keeping the weights at ``snapshots`` and at the
        rewind iteration (shared by IMP, one-shot and every rewind point)."""
        return self.train_many(self.dense_networks(snapshots), "level 0 (dense)")

    def level_networks(self, level: float, rounds: float, parents: list[Network],
                       parent_payloads: list[dict], dense: list[Network],
                       dense_payloads: list[dict]) -> list[Network]:
        """The ticket and controls of every trial at ``level``, pruned from ``parents``."""
        hp, k = self.hp, self.hp.rewind_iteration
        pruned = to_dict(hp.pruning) | {"rounds": float(rounds)}  # IMP 1 == one-shot 1.0
        masks: dict[int, Mask] = {}

        def ticket_mask(t: int) -> Mask:
            if t not in masks:
                masks[t] = self.prune(t, parent_payloads[t], rounds, level)
            return masks[t]

        def build_member(t: int, variant: str, seed: int) -> Member:
            init = self.fresh_init(init_seed(hp, t))
            context = ResetContext(init=init, rewind=dense_payloads[t]["snapshots"][k] if k
                                   else init, final=parent_payloads[t]["final"],
                                   mask=ticket_mask(t), seed=seed, fresh_init=self.fresh_init)
            state, mask = VARIANTS[variant](context)
            # the pruned weights' values, decided from the init and the weights the mask was
            # pruned from (None: zeros)
            frozen = MASK0[self.mask0](init, parent_payloads[t]["final"], mask)
            return Member(state, mask, data_seed(hp, t), frozen)

        networks = []
        for variant in ("ticket", *hp.controls):
            for t in range(hp.trials):
                seed = control_seed(hp, t, level, variant)
                start = {"init_seed": init_seed(hp, t)} if not k else {
                    "rewind_of": self.store.key_id(dense[t].key), "iteration": k}
                mask = {"pruned_from": self.store.key_id(parents[t].key), **pruned}
                identity = {"start": start, "mask": mask, "variant": variant, "seed": seed,
                            "data_seed": data_seed(hp, t)} | (
                    {"mask0": self.mask0} if self.mask0 != "zero" else {})
                networks.append(self.network(
                    f"rounds-{level:g}", identity,
                    {"trial": t, "level": level, "variant": variant},
                    lambda t=t, v=variant, s=seed: build_member(t, v, s), start=k,
                    keep_final=variant == "ticket"))
        return networks

    def schedule(self, method: str) -> list[tuple[float, float, float]]:
        """(level, parent level, rounds) of each pruning step: IMP prunes each ``every``-th
        level from the one trained before by ``every`` rounds; one-shot prunes each target
        straight from the dense net."""
        if method == "imp":
            e = self.every
            return [(level, level - e, e) for level in range(e, self.hp.levels + 1, e)]
        return [(rounds, 0, rounds) for rounds in self.hp.oneshot_rounds]

    def run(self, method: str) -> ExperimentResult:
        """The experiment ``method`` ("imp" or "oneshot"): the dense level, then the schedule."""
        if self.observer is not None:
            self.observer.on_run_start(self, method)
        dense = self.dense_networks()
        networks, payloads = {0: dense}, {0: self.train_many(dense, "level 0 (dense)")}
        # under ray the executor's bar counts this experiment's networks instead
        steps = tqdm(self.schedule(method), desc=f"{method} levels",
                     disable=not self.progress or self.executor.name != "local")
        for level, parent, rounds in steps:
            tickets = networks[parent][: self.hp.trials]
            level_nets = self.level_networks(level, rounds, tickets,
                                             payloads[parent][: self.hp.trials], dense,
                                             payloads[0])
            networks[level] = level_nets
            payloads[level] = self.train_many(level_nets, f"{method} level {level:g}")
        return self._result(method, networks, payloads)

    def imp(self) -> ExperimentResult:
        return self.run("imp")

    def oneshot(self) -> ExperimentResult:
        """Train once, prune once to each of ``oneshot_rounds`` rounds' density, reset, train."""
        return self.run("oneshot")

    def _result(self, method: str, networks: dict, payloads: dict) -> ExperimentResult:
        pairs = [({"method": method, **n.labels}, p) for level in networks
                 for n, p in zip(networks[level], payloads[level], strict=True)]
        results, histories = experiment_tables(pairs)
        masks = {(n.labels["trial"], level): mask_of(p, self.dense_mask)
                 for level in networks for n, p in zip(networks[level], payloads[level],
                                                       strict=True)
                 if n.labels["variant"] == "ticket"}
        return ExperimentResult(self.hp, results, histories, masks, self.data.description,
                                self.data.synthetic)


def mask_of(payload: dict, dense: Mask) -> Mask:
    """The mask a stored network was trained with."""
    return Mask.unpack(payload["mask"]) if payload.get("mask") is not None else dense


def run_imp(hp: ExperimentHparams, **options) -> ExperimentResult:
    """Iterative magnitude pruning with the experiment's controls; see :class:`Runner`."""
    return Runner(hp, **options).imp()


def run_oneshot(hp: ExperimentHparams, **options) -> ExperimentResult:
    """One-shot pruning to each of ``hp.oneshot_rounds``; see :class:`Runner`."""
    return Runner(hp, **options).oneshot()
