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
pruning policy (:func:`lottery.pruning.next_mask`). :meth:`Runner.train_many` loads the
networks the store holds and trains the missing ones together as one batched call, so adding a
trial or a control trains only the new members, and IMP, one-shot and a rewind sweep share the
dense runs.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from tqdm.auto import tqdm

from lottery import pruning
from lottery.data import DataBundle, load, with_augmentation
from lottery.executors import Executor, GroupTask, Keep, LocalExecutor
from lottery.hparams import ExperimentHparams, fingerprint, to_dict
from lottery.masks import Mask
from lottery.members import State, member_state
from lottery.models import build
from lottery.provenance import provenance
from lottery.results import ExperimentResult, experiment_tables
from lottery.sparse import Crossovers, crossovers_in
from lottery.store import RunStore
from lottery.training import DEFAULT_SPEED, Member, SpeedOptions, TrainResult, default_device, train
from lottery.variants import VARIANTS, ResetContext

__all__ = ["ExperimentResult", "LotteryRunner", "Network", "Runner", "run_imp", "run_oneshot"]


def init_seed(hp: ExperimentHparams, trial: int) -> int:
    return hp.seed * 1_000 + trial


def data_seed(hp: ExperimentHparams, trial: int) -> int:
    return 1_000_000 + hp.seed * 1_000 + trial


def control_seed(hp: ExperimentHparams, trial: int, level: float, variant: str) -> int:
    return 2_000_000 + hp.seed * 100_000 + trial * 1_000 + int(level * 10) * 7 + \
        list(VARIANTS).index(variant)


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


class Runner:
    """The stages of one experiment against a run store; every stage is idempotent."""

    def __init__(self, hp: ExperimentHparams, *, store: RunStore | None = None,
                 device: str | torch.device | None = None, data_root: str | Path | None = None,
                 data: DataBundle | None = None, checkpoint_every: int = 0,
                 speed: SpeedOptions = DEFAULT_SPEED, progress: bool = True,
                 executor: Executor | None = None):
        self.hp, self.speed, self.progress = hp, speed, progress
        self.executor = executor or LocalExecutor()  # where groups train; see lottery.executors
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
        """This runner (its class, store, data, device, speed, executor and reporting) for
        ``hp.replace(**changes)``; the model and data must stay those of this runner."""
        if any(name.split("__")[0] in ("model", "data") for name in changes):
            raise ValueError("a derived runner keeps its model and data; build a new Runner")
        other = copy.copy(self)
        other.hp = self.hp.replace(**changes)
        other.check_schedule()
        return other

    def check_schedule(self) -> None:
        """Refuse, before any training, levels or rounds that would empty a layer."""
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
        """A network of this recipe; its file is named by its stage, labels and key hash."""
        recipe = self.recipe()
        key = {"recipe": recipe, **identity}
        folder = f"{self.hp.model.name}-{self.data.name}/{fingerprint(recipe)}/{stage}"
        name = f"{labels['variant']}-t{labels['trial']}-{self.store.key_id(key)}"
        return Network((folder, name), key, labels, build, **options)

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
        missing ones together (one batched call per start iteration) and stored."""
        payloads: list[dict | None] = []
        wanted = list(networks)
        for i, net in enumerate(wanted):
            payload = self.store.load(*net.path, net.key)
            have = set(payload.get("snapshots", {})) if payload else set()
            if payload is not None and not set(net.snapshots) <= have:
                # a rewind point this run did not keep: retrain it once, keeping the union
                wanted[i], payload = replace(net, snapshots=tuple(sorted(have | set(
                    net.snapshots)))), None
            elif payload is not None and net.keep_final and "final" not in payload:
                payload = None
            payloads.append(payload)
        for start in sorted({n.start for n, p in zip(wanted, payloads, strict=True) if p is None}):
            group = [i for i, (n, p) in enumerate(zip(wanted, payloads, strict=True))
                     if p is None and n.start == start]
            for i, payload in zip(group, self._train_group([wanted[i] for i in group], desc),
                                  strict=True):
                payloads[i] = payload
        for folder in {net.path[0] for net in wanted}:  # checkpoints a kill left behind
            self.store.sweep_finished_groups(folder)
        return payloads

    def _train_group(self, networks: list[Network], desc: str) -> list[dict]:
        """Train ``networks`` through the executor; this process alone stores each result, as
        it arrives."""
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
                         self.speed, desc)
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
            return Member(state, mask, data_seed(hp, t))

        networks = []
        for variant in ("ticket", *hp.controls):
            for t in range(hp.trials):
                seed = control_seed(hp, t, level, variant)
                start = {"init_seed": init_seed(hp, t)} if not k else {
                    "rewind_of": self.store.key_id(dense[t].key), "iteration": k}
                mask = {"pruned_from": self.store.key_id(parents[t].key), **pruned}
                identity = {"start": start, "mask": mask, "variant": variant, "seed": seed,
                            "data_seed": data_seed(hp, t)}
                networks.append(self.network(
                    f"rounds-{level:g}", identity,
                    {"trial": t, "level": level, "variant": variant},
                    lambda t=t, v=variant, s=seed: build_member(t, v, s), start=k,
                    keep_final=variant == "ticket"))
        return networks

    def schedule(self, method: str) -> list[tuple[float, float, float]]:
        """(level, parent level, rounds) of each pruning step: IMP prunes each level from the
        one before by one round; one-shot prunes each target straight from the dense net."""
        if method == "imp":
            return [(level, level - 1, 1) for level in range(1, self.hp.levels + 1)]
        return [(rounds, 0, rounds) for rounds in self.hp.oneshot_rounds]

    def run(self, method: str) -> ExperimentResult:
        """The experiment ``method`` ("imp" or "oneshot"): the dense level, then the schedule."""
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


LotteryRunner = Runner  # the name earlier sessions used


def mask_of(payload: dict, dense: Mask) -> Mask:
    """The mask a stored network was trained with."""
    return Mask.unpack(payload["mask"]) if payload.get("mask") is not None else dense


def train_payloads(task: GroupTask, data: DataBundle, device: torch.device, *,
                   checkpoint: Path | None = None, checkpoint_every: int = 0,
                   progress: bool = False, crossovers: Crossovers | None = None,
                   ) -> tuple[list[dict], dict]:
    """Train one group and return what the store keeps of each member, with the provenance
    record: the unit of work an executor runs, in this process or on a worker."""
    began = time.perf_counter()
    result = train(task.model, task.training, data, list(task.members), device=device,
                   start_iteration=task.start, snapshot_at=task.snapshot_at,
                   checkpoint=checkpoint, checkpoint_every=checkpoint_every, speed=task.speed,
                   progress=progress, desc=task.desc, crossovers=crossovers)
    record = provenance(device, time.perf_counter() - began) | {
        "trained_together": len(task.members)}
    dense = task.dense_mask()
    return [network_payload(result, k, keep, member.mask, dense)
            for k, (keep, member) in enumerate(zip(task.keeps, task.members, strict=True))
            ], record


def network_payload(result: TrainResult, k: int, net: Network | Keep, mask: Mask | None,
                    dense: Mask) -> dict:
    """What the store keeps of member ``k``: its summary, history, mask, final weights (when
    a later stage needs them) and the snapshots it asked for."""
    summary = result.summary[result.summary.member == k].drop(columns="member")
    row = {c: summary[c].iloc[0].item() for c in summary.columns}
    used = mask if mask is not None else dense
    row["density"] = used.density()
    row |= {f"density:{name}": value for name, value in used.layer_density().items()}
    history = result.history[result.history.member == k].drop(columns="member")
    payload = {"summary": row, "history": history.to_dict("list"),
               "mask": None if mask is None else mask.pack(),
               "snapshots": {i: states[k] for i, states in result.snapshots.items()
                             if i in net.snapshots}}
    if net.keep_final:
        payload["final"] = result.final_states[k]
    return payload


def run_imp(hp: ExperimentHparams, **options) -> ExperimentResult:
    """Iterative magnitude pruning with the experiment's controls; see :class:`Runner`."""
    return Runner(hp, **options).imp()


def run_oneshot(hp: ExperimentHparams, **options) -> ExperimentResult:
    """One-shot pruning to each of ``hp.oneshot_rounds``; see :class:`Runner`."""
    return Runner(hp, **options).oneshot()
