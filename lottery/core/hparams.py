"""Typed hyperparameters, validated on construction.

Each dataclass is frozen and hashable; :func:`fingerprint` hashes everything that changes a
result, which is how the run store names its entries. A bad value raises
:class:`HparamError` naming the field and what it accepts, before any work starts.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field

from lottery.engine.data import DATASETS
from lottery.engine.errors import HparamError
from lottery.engine.init_schemes import SCHEMES
from lottery.engine.models import REGISTRY, WIDTH_MODELS
from lottery.engine.pruning import CRITERIA
from lottery.engine.variants import CONTROLS

OPTIMIZERS = ("adam", "sgd")
STRATEGIES = ("layerwise", "global")
MAX_SEED = 1_000_000   # seeds derive per trial as seed * 1000 + trial: keep them distinct
MAX_TRIALS = 100       # and valid torch seeds
MAX_ITERATIONS = 10**8  # 900x the longest schedule of the papers (VGG-19, 112K)
MAX_EVALUATIONS = 100_000


def _check(ok: bool, name: str, allowed: str, value) -> None:
    if not ok:
        raise HparamError(f"{name} must be {allowed}; got {value!r}")


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _finite(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class ModelHparams:
    name: str
    dropout: float = 0.0
    # hidden layer sizes x width (LeNet and the Conv nets; notebook 08); the initialization
    # scheme (lottery.engine.init_schemes). Both out of stored keys at their defaults, so results
    # stored before them keep their keys
    width: float = field(default=1.0, metadata={"omit_default": True})
    init: str = field(default="glorot_normal", metadata={"omit_default": True})

    def __post_init__(self):

        _check(self.name in REGISTRY, "model.name", f"one of {', '.join(REGISTRY)}", self.name)
        _check(0.0 <= self.dropout < 1.0, "model.dropout", "in [0, 1)", self.dropout)
        _check(_finite(self.width) and 0 < self.width <= 64, "model.width",
               "a number in (0, 64]", self.width)
        _check(self.width == 1.0 or self.name in WIDTH_MODELS, "model.width",
               f"1 for {self.name} (a width multiplier exists for {', '.join(WIDTH_MODELS)})",
               self.width)
        _check(self.init in SCHEMES, "model.init", f"one of {', '.join(SCHEMES)}", self.init)
        object.__setattr__(self, "width", float(self.width))

    def options(self) -> dict:
        """The keyword arguments of :func:`lottery.engine.models.build` that differ from its
        defaults."""
        options = {"dropout": self.dropout} if self.dropout else {}
        options |= {"width": self.width} if self.width != 1.0 else {}
        return options | ({"init": self.init} if self.init != "glorot_normal" else {})


@dataclass(frozen=True)
class DataHparams:
    dataset: str
    val_size: int = 5000              # held out of the training set for early stopping
    split_seed: int = 0               # which examples are held out
    train_subset: int | None = None   # keep the first n training examples (None: all)
    test_subset: int | None = None    # keep the first n test examples (None: all)
    # random flips and 4-pixel pad-and-crop of training batches; None: the dataset's default
    # (on for CIFAR). Out of stored keys while None, so results stored before it keep their keys
    augment: bool | None = field(default=None, metadata={"omit_default": True})

    def __post_init__(self):

        _check(self.dataset in DATASETS, "data.dataset", f"one of {', '.join(DATASETS)}",
               self.dataset)
        _check(_whole(self.val_size) and self.val_size > 0, "data.val_size",
               "a positive integer", self.val_size)
        _check(_whole(self.split_seed) and 0 <= self.split_seed < MAX_SEED, "data.split_seed",
               f"an integer in [0, {MAX_SEED})", self.split_seed)
        for name in ("train_subset", "test_subset"):
            value = getattr(self, name)
            _check(value is None or (_whole(value) and value > 0), f"data.{name}",
                   "None or a positive integer", value)
        _check(self.augment is None or isinstance(self.augment, bool), "data.augment",
               "True, False or None (the dataset's default)", self.augment)


@dataclass(frozen=True)
class TrainingHparams:
    optimizer: str
    lr: float
    iterations: int
    batch_size: int
    momentum: float = 0.9
    weight_decay: float = 0.0
    milestones: tuple[int, ...] = ()
    gamma: float = 0.1
    warmup: int = 0
    eval_every: int = 100
    test_curve: bool = True  # evaluate the test set at every evaluation (paper Fig. 3), else only
    #                          at the early-stop iteration and the end
    # the final training accuracy over the first n examples of the (shuffled) training split;
    # None: all of it. Out of stored keys while None, so results stored before it keep theirs
    final_train_subset: int | None = field(default=None, metadata={"omit_default": True})

    def __post_init__(self):
        object.__setattr__(self, "milestones", tuple(int(m) for m in self.milestones))
        _check(self.optimizer in OPTIMIZERS, "training.optimizer", f"one of {OPTIMIZERS}",
               self.optimizer)
        _check(_whole(self.iterations) and 0 < self.iterations <= MAX_ITERATIONS,
               "training.iterations", f"an integer in [1, {MAX_ITERATIONS:,}]", self.iterations)
        _check(_finite(self.lr) and self.lr > 0, "training.lr", "a finite positive number",
               self.lr)
        _check(self.batch_size > 0, "training.batch_size", "a positive integer", self.batch_size)
        _check(0 <= self.momentum < 1, "training.momentum", "in [0, 1)", self.momentum)
        _check(self.weight_decay >= 0, "training.weight_decay", ">= 0", self.weight_decay)
        _check(all(0 < m < self.iterations for m in self.milestones), "training.milestones",
               f"iterations inside (0, {self.iterations})", self.milestones)
        _check(list(self.milestones) == sorted(self.milestones), "training.milestones",
               "increasing", self.milestones)
        _check(0 < self.gamma <= 1, "training.gamma", "in (0, 1]", self.gamma)
        _check(0 <= self.warmup < self.iterations, "training.warmup",
               f"in [0, {self.iterations}) (shorter than training)", self.warmup)
        _check(_whole(self.eval_every) and 0 < self.eval_every <= self.iterations,
               "training.eval_every", f"in (0, {self.iterations}]", self.eval_every)
        _check(self.iterations // self.eval_every <= MAX_EVALUATIONS, "training.eval_every",
               f"at least iterations / {MAX_EVALUATIONS:,} (the history is kept in memory)",
               self.eval_every)
        _check(self.final_train_subset is None
               or (_whole(self.final_train_subset) and self.final_train_subset > 0),
               "training.final_train_subset", "None or a positive integer",
               self.final_train_subset)

    def lr_at(self, iteration: int) -> float:
        """Learning rate of the step at ``iteration``: linear warmup, then ÷ at milestones."""
        lr = self.lr * min(1.0, (iteration + 1) / self.warmup) if self.warmup else self.lr
        return lr * self.gamma ** sum(iteration >= m for m in self.milestones)


@dataclass(frozen=True)
class PruningHparams:
    """``layerwise``: each layer loses its kind's rate per round; ``global``: ``global_rate`` of
    all prunable survivors ranked together. ``criterion`` is a score from
    :data:`lottery.engine.pruning.CRITERIA` (``large_final`` = magnitude pruning)."""

    strategy: str = "layerwise"
    conv_rate: float = 0.0
    fc_rate: float = 0.0
    output_rate: float = 0.0
    global_rate: float = 0.0
    criterion: str = "large_final"

    def __post_init__(self):

        _check(self.strategy in STRATEGIES, "pruning.strategy", f"one of {STRATEGIES}",
               self.strategy)
        names = ("conv_rate", "fc_rate", "output_rate") if self.strategy == "layerwise" \
            else ("global_rate",)
        for name in names:
            value = getattr(self, name)
            _check(0.0 <= value < 1.0, f"pruning.{name}", "a fraction in [0, 1)", value)
        rates = [getattr(self, n) for n in names]
        _check(any(r > 0 for r in rates), "pruning rates", "positive for at least one kind", rates)
        base = self.criterion.removesuffix("_same_sign")
        _check(base in CRITERIA or self.criterion == "random", "pruning.criterion",
               f"one of {sorted(CRITERIA)} (optionally + '_same_sign') or 'random'", self.criterion)

    def rate_of(self, kind: str) -> float:
        return {"conv": self.conv_rate, "fc": self.fc_rate, "output": self.output_rate}[kind]


@dataclass(frozen=True)
class ExperimentHparams:
    """One lottery experiment: what to train, how to prune, how many levels, trials, controls.

    ``rewind_iteration`` = 0 resets survivors to their initialization (Frankle & Carbin);
    k > 0 rewinds them to iteration k of the dense run (late resetting, Frankle et al. 2019).
    ``controls`` train beside each ticket on the same level: ``reinit`` (same mask, fresh init)
    and ``random_mask`` (random mask of the same per-layer density, original init).
    """

    model: ModelHparams
    data: DataHparams
    training: TrainingHparams
    pruning: PruningHparams
    levels: int = 5
    trials: int = 1
    seed: int = 0
    rewind_iteration: int = 0
    controls: tuple[str, ...] = ("reinit",)
    oneshot_rounds: tuple[float, ...] = ()
    name: str = field(default="", compare=False)

    def __post_init__(self):
        object.__setattr__(self, "controls", tuple(self.controls))
        object.__setattr__(self, "oneshot_rounds", tuple(float(r) for r in self.oneshot_rounds))

        _check(_whole(self.levels) and self.levels >= 0, "levels", "a non-negative integer",
               self.levels)
        _check(_whole(self.trials) and 1 <= self.trials <= MAX_TRIALS, "trials",
               f"an integer in [1, {MAX_TRIALS}]", self.trials)
        _check(_whole(self.seed) and 0 <= self.seed < MAX_SEED, "seed",
               f"an integer in [0, {MAX_SEED})", self.seed)
        _check(_whole(self.rewind_iteration)
               and 0 <= self.rewind_iteration < self.training.iterations, "rewind_iteration",
               f"in [0, {self.training.iterations}) (inside training)", self.rewind_iteration)
        bad = [c for c in self.controls if c not in CONTROLS]
        _check(not bad, "controls", f"a subset of {CONTROLS}", self.controls)
        _check(len(set(self.controls)) == len(self.controls), "controls",
               "a list without repeats", self.controls)
        _check(all(_finite(r) and 0 < r <= 1000 for r in self.oneshot_rounds), "oneshot_rounds",
               "finite positive numbers (at most 1000)", self.oneshot_rounds)

    def replace(self, **changes) -> ExperimentHparams:
        """A copy with top-level fields or nested ones (``training__iterations=...``) changed."""
        nested: dict[str, dict] = {}
        for key in [k for k in changes if "__" in k]:
            part, name = key.split("__", 1)
            nested.setdefault(part, {})[name] = changes.pop(key)
        for part, fields in nested.items():
            changes[part] = dataclasses.replace(getattr(self, part), **fields)
        return dataclasses.replace(self, **changes)


def to_dict(hparams) -> dict:
    """The fields as plain values, nested dataclasses included; a field marked
    ``omit_default`` is left out while it holds its default (so adding one keeps every key)."""
    out = {}
    for f in dataclasses.fields(hparams):
        value = getattr(hparams, f.name)
        if f.metadata.get("omit_default") and value == f.default:
            continue
        out[f.name] = to_dict(value) if dataclasses.is_dataclass(value) else copy.deepcopy(value)
    return out


def fingerprint(*parts) -> str:
    """A short stable hash of dataclasses / JSON-able values."""
    payload = [to_dict(p) if dataclasses.is_dataclass(p) else p for p in parts]
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
