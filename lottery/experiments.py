"""Lottery experiments: iterative magnitude pruning (IMP), one-shot pruning and their controls.

IMP (Frankle & Carbin 2019, Sec. 1): train the dense network, prune a fraction of the surviving
weights, reset the survivors, train again; repeat for ``levels`` rounds. Survivors are reset to
their initialization (``rewind_iteration`` = 0) or rewound to their values at iteration k of the
dense run (late resetting, Frankle et al. 2019), and retrained from iteration k.

Each level trains, in one batched call, every trial's ticket and its controls (the variants of
:data:`VARIANT_RESETS`), all on the ticket's mask of that level. A variant is a reset step: a
function of the init, rewind and final weights, the ticket mask and a seed, so further variants
(Zhou et al. 2019) are one entry each.

Every level is stored as it finishes; rerunning an experiment loads finished levels and trains
only what is missing (a long level also resumes from its periodic checkpoint).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from tqdm.auto import tqdm

from lottery import pruning
from lottery.data import DataBundle, load
from lottery.hparams import ExperimentHparams, to_dict
from lottery.masks import Mask
from lottery.members import State, member_state
from lottery.models import build
from lottery.store import RunStore
from lottery.training import METRICS, Member, TrainResult, default_device, train


@dataclass(frozen=True)
class ResetContext:
    """What a variant's reset step may use to produce its starting weights and mask."""

    init: State        # the trial's weights at iteration 0
    rewind: State      # the trial's weights at the rewind iteration (= init when k = 0)
    final: State       # the trial's trained weights at the previous level
    mask: Mask         # the ticket's mask at this level
    seed: int          # a seed of this trial, level and variant
    fresh_init: Callable[[int], State]  # a new initialization from a seed


VARIANT_RESETS: dict[str, Callable[[ResetContext], tuple[State, Mask]]] = {
    # the winning ticket: the mask, and the original (rewound) values of the survivors
    "ticket": lambda c: (c.rewind, c.mask),
    # random reinitialization: the same mask, values from a fresh init (LTH Figs. 3-5)
    "reinit": lambda c: (c.fresh_init(c.seed), c.mask),
    # random pruning: a random mask of the same per-layer density, original values (LTH Fig. 1)
    "random_mask": lambda c: (c.rewind, pruning.random_mask_like(c.mask, c.seed)),
}


@dataclass
class ExperimentResult:
    hparams: ExperimentHparams
    results: pd.DataFrame     # one row per trial x level x variant
    histories: pd.DataFrame   # one row per trial x level x variant x evaluation
    masks: dict[tuple[int, int], Mask]  # (trial, level) -> ticket mask
    data: str                 # the dataset's one-line description
    synthetic: bool


def init_seed(hp: ExperimentHparams, trial: int) -> int:
    return hp.seed * 1_000 + trial


def data_seed(hp: ExperimentHparams, trial: int) -> int:
    return 1_000_000 + hp.seed * 1_000 + trial


def control_seed(hp: ExperimentHparams, trial: int, level: float, variant: str) -> int:
    return 2_000_000 + hp.seed * 100_000 + trial * 1_000 + int(level * 10) * 7 + \
        list(VARIANT_RESETS).index(variant)


class LotteryRunner:
    """Runs the stages of one experiment against a store; the stages are idempotent."""

    def __init__(self, hp: ExperimentHparams, *, store: RunStore | None = None,
                 device: str | torch.device | None = None, data_root: str | Path | None = None,
                 data: DataBundle | None = None, checkpoint_every: int = 0, bf16: bool = False,
                 channels_last: bool = False, compile: bool = False, progress: bool = True):
        self.hp = hp
        self.store = store or RunStore()
        self.device = torch.device(device) if device is not None else default_device()
        self.data = data or load(hp.data.dataset, root=data_root, device=self.device,
                                 val_size=hp.data.val_size, split_seed=hp.data.split_seed,
                                 train_subset=hp.data.train_subset)
        self.checkpoint_every, self.bf16, self.progress = checkpoint_every, bf16, progress
        self.channels_last, self.compile = channels_last, compile
        self._inits: dict[int, State] = {}
        model = self._model([0])
        self.kinds = dict(model.prunable)
        self.dense_mask = Mask.dense({n: p.shape[1:] for n, p in model.prunable_weights().items()})

    # --- keys -------------------------------------------------------------------------------
    def _dense_key(self) -> dict:
        hp = self.hp
        identity = {"name": self.data.name, "sizes": [len(self.data.train), len(self.data.val),
                                                      len(self.data.test)]}
        return {"stage": "dense", "model": to_dict(hp.model), "data": to_dict(hp.data),
                "dataset": identity, "training": to_dict(hp.training), "seed": hp.seed,
                "trials": hp.trials, "rewind_iteration": hp.rewind_iteration,
                "bf16": self.bf16} | self._speed_options()

    def _speed_options(self) -> dict:
        """Speed options that change results by float rounding: keyed only when switched on,
        so results computed without them keep their keys."""
        return {name: True for name in ("channels_last", "compile") if getattr(self, name)}

    def _pruned_key(self, method: str) -> dict:
        return self._dense_key() | {"stage": method, "pruning": to_dict(self.hp.pruning),
                                    "controls": list(self.hp.controls)}

    # --- building blocks --------------------------------------------------------------------
    def _model(self, seeds):
        return build(self.hp.model.name, seeds=seeds, input_shape=self.data.input_shape,
                     num_classes=self.data.num_classes, **self.hp.model.options())

    def fresh_init(self, seed: int) -> State:
        """The initialization of ``seed`` (memoized: a level asks for each several times)."""
        if seed not in self._inits:
            self._inits[seed] = member_state(self._model([seed]), 0)
        return self._inits[seed]

    def _train(self, members: list[Member], group: str, name: str, desc: str,
               start: int) -> TrainResult:
        checkpoint = self.store.checkpoint_path(group, name) if self.checkpoint_every else None
        snapshot_at = [self.hp.rewind_iteration] if self.hp.rewind_iteration and not start else []
        return train(self.hp.model, self.hp.training, self.data, members, device=self.device,
                     start_iteration=start, snapshot_at=snapshot_at, checkpoint=checkpoint,
                     checkpoint_every=self.checkpoint_every, bf16=self.bf16,
                     channels_last=self.channels_last, compile=self.compile,
                     progress=self.progress, desc=desc)

    def next_mask(self, init: State, final: State, mask: Mask, rounds: float, seed: int) -> Mask:
        """Prune ``mask`` given the trained weights, with the preset's strategy and criterion."""
        p = self.hp.pruning
        scores = pruning.scores(p.criterion, init, final, seed)
        if p.strategy == "global":
            return pruning.prune_global(scores, mask, p.global_rate, rounds)
        rates = {name: p.rate_of(kind) for name, kind in self.kinds.items()}
        return pruning.prune_layerwise(scores, mask, rates, rounds)

    # --- stages -----------------------------------------------------------------------------
    def dense(self) -> dict:
        """Level 0: every trial's dense network (shared by IMP and one-shot)."""
        key = self._dense_key()
        group, name = "dense", self.store.key_id(key)
        payload = self.store.load(group, name, key)
        if payload is None:
            hp = self.hp
            members = [Member(self.fresh_init(init_seed(hp, t)), None, data_seed(hp, t))
                       for t in range(hp.trials)]
            result = self._train(members, group, name, desc="level 0 (dense)", start=0)
            payload = _payload(result, ["ticket"] * hp.trials, list(range(hp.trials)),
                               [self.dense_mask] * hp.trials)
            payload["final"] = result.final_states[: hp.trials]
            if hp.rewind_iteration:
                payload["rewind"] = result.snapshots[hp.rewind_iteration]
            self.store.save(group, name, key, payload)
        return payload

    def pruned_level(self, method: str, level: float, masks: list[Mask], dense: dict) -> dict:
        """Train each trial's ticket and controls on ``masks`` (one per trial)."""
        base = self._pruned_key(method)
        group = f"{method}/{self.store.key_id(base)}"
        name = f"level_{level:05.1f}" if method == "oneshot" else f"level_{int(level):02d}"
        key = base | {"level": level}
        payload = self.store.load(group, name, key)
        if payload is not None:
            return payload
        hp = self.hp
        variants = ["ticket", *hp.controls]
        members, tags, trials = [], [], []
        for variant in variants:
            for t in range(hp.trials):
                init = self.fresh_init(init_seed(hp, t))
                context = ResetContext(
                    init=init, rewind=dense["rewind"][t] if hp.rewind_iteration else init,
                    final=dense["final"][t], mask=masks[t],
                    seed=control_seed(hp, t, level, variant), fresh_init=self.fresh_init)
                state, mask = VARIANT_RESETS[variant](context)
                members.append(Member(state, mask, data_seed(hp, t)))
                tags.append(variant)
                trials.append(t)
        result = self._train(members, group, name, desc=f"{method} level {level:g}",
                             start=hp.rewind_iteration)
        payload = _payload(result, tags, trials, [m.mask for m in members])
        payload["final"] = result.final_states[: hp.trials]
        payload["masks"] = [m.to_state() for m in masks]
        self.store.save(group, name, key, payload)
        return payload

    def imp(self) -> ExperimentResult:
        hp = self.hp
        payloads = {0: self.dense()}
        masks = {(t, 0): self.dense_mask for t in range(hp.trials)}
        levels = tqdm(range(1, hp.levels + 1), desc="IMP levels", disable=not self.progress)
        for level in levels:
            previous = payloads[level - 1]
            current = []
            for t in range(hp.trials):
                init = self.fresh_init(init_seed(hp, t))
                current.append(self.next_mask(init, previous["final"][t], masks[(t, level - 1)],
                                              rounds=1, seed=control_seed(hp, t, level, "ticket")))
            for t, mask in enumerate(current):
                masks[(t, level)] = mask
            payloads[level] = self.pruned_level("imp", level, current, payloads[0])
        return self._result(payloads, masks, method="imp")

    def oneshot(self) -> ExperimentResult:
        """Train once, prune once to each of ``oneshot_rounds`` rounds' density, reset, train."""
        hp = self.hp
        dense = self.dense()
        payloads, masks = {0: dense}, {(t, 0): self.dense_mask for t in range(hp.trials)}
        for rounds in tqdm(hp.oneshot_rounds, desc="one-shot targets", disable=not self.progress):
            current = [self.next_mask(self.fresh_init(init_seed(hp, t)), dense["final"][t],
                                      self.dense_mask, rounds=rounds,
                                      seed=control_seed(hp, t, rounds, "ticket"))
                       for t in range(hp.trials)]
            for t, mask in enumerate(current):
                masks[(t, rounds)] = mask
            payloads[rounds] = self.pruned_level("oneshot", rounds, current, dense)
        return self._result(payloads, masks, method="oneshot")

    def _result(self, payloads: dict, masks: dict, method: str) -> ExperimentResult:
        results, histories = [], []
        for level, payload in payloads.items():
            summary = pd.DataFrame(payload["summary"]).assign(level=level, method=method)
            results.append(summary)
            histories.append(pd.DataFrame(payload["history"]).assign(level=level, method=method))
        results = pd.concat(results, ignore_index=True)
        results["percent_remaining"] = 100 * results["density"]
        front = ["method", "trial", "level", "variant", "percent_remaining"]
        results = results[front + [c for c in results.columns if c not in front]]
        return ExperimentResult(self.hp, results, pd.concat(histories, ignore_index=True),
                                masks, self.data.description, self.data.synthetic)


def _payload(result: TrainResult, variants: list[str], trials: list[int],
             masks: list[Mask | None] | None = None) -> dict:
    """The storable part of a level: summary and history as plain lists."""
    summary = result.summary.copy()
    summary["trial"] = [trials[m] for m in summary.member]
    summary["variant"] = [variants[m] for m in summary.member]
    densities = [1.0 if m is None else m.density() for m in (masks or [None] * len(variants))]
    summary["density"] = [densities[m] for m in summary.member]
    if masks and masks[0] is not None:
        for layer in masks[0]:
            summary[f"density:{layer}"] = [masks[m].layer_density()[layer] for m in summary.member]
    history = result.history.copy()
    history["trial"] = [trials[m] for m in history.member]
    history["variant"] = [variants[m] for m in history.member]
    columns = ["trial", "variant", "iteration", *METRICS]
    return {"summary": summary.drop(columns="member").to_dict("list"),
            "history": history[columns].to_dict("list")}


def run_imp(hp: ExperimentHparams, **options) -> ExperimentResult:
    """Iterative magnitude pruning with the experiment's controls; see :class:`LotteryRunner`."""
    return LotteryRunner(hp, **options).imp()


def run_oneshot(hp: ExperimentHparams, **options) -> ExperimentResult:
    """One-shot pruning to each of ``hp.oneshot_rounds``; see :class:`LotteryRunner`."""
    return LotteryRunner(hp, **options).oneshot()
