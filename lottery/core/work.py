"""What an experiment would train, named without weights: its steps, the batched calls the
store still lacks, evaluations without training, and the sizes of the data they run on.

The estimate (:mod:`lottery.run.estimate`), the progress lines (:mod:`lottery.run.progress`)
and each study's network listing (``networks.py`` of each study folder) all walk these, so a
network is named the same way wherever it is priced.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from lottery.core.calibration import Cost
from lottery.core.experiments import Network, Runner
from lottery.core.hparams import DataHparams, ExperimentHparams, fingerprint, to_dict
from lottery.core.presets import PROFILES, SYNTHETIC_STAND_IN, experiment_hparams
from lottery.core.store import RunStore
from lottery.core.training import evaluation_iterations
from lottery.engine.data import DATASETS

# (train, test) examples of the official splits; validation is held out of train
OFFICIAL_SIZES = {"mnist": (60_000, 10_000), "fashion_mnist": (60_000, 10_000),
                  "kmnist": (60_000, 10_000), "cifar10": (50_000, 10_000),
                  "cifar100": (50_000, 10_000), "emnist_letters": (124_800, 20_800)}


def data_sizes(d: DataHparams) -> tuple[int, int, int]:
    """(train, validation, test) examples :func:`lottery.engine.data.load` gives for ``d``."""
    spec = DATASETS[d.dataset]
    if spec.synthetic:
        total, test, val = spec.synthetic_train, spec.synthetic_test, min(
            d.val_size, spec.synthetic_train // 6)
    else:
        (total, test), val = OFFICIAL_SIZES[d.dataset], d.val_size
    train = total - val if d.train_subset is None else min(d.train_subset, total - val)
    return train, val, test if d.test_subset is None else min(d.test_subset, test)


@dataclass(frozen=True)
class _Split:
    """A split's size, which is all a network's identity needs of it."""

    size: int

    def __len__(self) -> int:
        return self.size


@dataclass(frozen=True)
class SizedData:
    """What :class:`~lottery.core.experiments.Runner` reads of a dataset to name its networks."""

    name: str
    train: _Split
    val: _Split
    test: _Split
    input_shape: tuple[int, int, int]
    num_classes: int
    augment: bool
    synthetic: bool
    description: str = "sizes only"


@lru_cache(maxsize=16)
def sized_data(d: DataHparams) -> SizedData:
    spec = DATASETS[d.dataset]
    train, val, test = data_sizes(d)
    return SizedData(spec.name, _Split(train), _Split(val), _Split(test), spec.input_shape,
                     spec.num_classes, spec.augment, spec.synthetic)


def offline_runner(hp: ExperimentHparams, store: RunStore, **values) -> Runner:
    """A runner that can name its networks without loading data (it must not train);
    ``values``: the runner's own (``order``, ``mask0``, ``every``)."""
    return Runner(hp, store=store, device="cpu", data=sized_data(hp.data), progress=False,
                  **values)


# --- the networks an experiment trains ---------------------------------------------------------

def steps(runner: Runner, method: str, snapshots: Sequence[int] = (),
          dense: list[Network] | None = None) -> list[tuple[str, list[Network]]]:
    """(step name, networks) in the order ``runner.run(method)`` trains them (``dense``: the
    dense networks when a stage names them itself)."""
    dense = dense or runner.dense_networks(snapshots)
    nets, out = {0: dense}, [("level 0 (dense)", dense)]
    none = [None] * runner.hp.trials  # payloads: only needed to build weights, never here
    for level, parent, rounds in runner.schedule(method):
        nets[level] = runner.level_networks(level, rounds, nets[parent][: runner.hp.trials],
                                            none, dense, none)
        out.append((f"{method} level {level:g}", nets[level]))
    return out


@dataclass(frozen=True)
class Call:
    """One batched training call: ``members`` networks of ``hp`` trained from ``start``."""

    step: str
    hp: ExperimentHparams
    members: int
    start: int

    def evaluated_examples(self) -> int:
        t = self.hp.training
        train, val, test = data_sizes(self.hp.data)
        points = len(evaluation_iterations(t, self.start))
        final_train = train if t.final_train_subset is None else min(train, t.final_train_subset)
        return points * val + (points if t.test_curve else 1) * test + final_train + test

    def seconds(self, cost: Cost) -> float:
        iterations = self.hp.training.iterations - self.start
        return cost.call_s + iterations * cost.step_s + self.evaluated_examples() * cost.eval_s


def missing_calls(hp: ExperimentHparams, named_steps: list[tuple[str, list[Network]]],
                  have: Callable[[Network], bool], limit: int | None = None
                  ) -> tuple[list[Call], int, int]:
    """(calls, networks, missing): the batched calls that train what ``have`` lacks, grouped
    by step and start iteration as :meth:`Runner.train_many` groups them, and cut into parts
    of at most ``limit`` networks as :meth:`Runner.group_limit` cuts them (None: uncut)."""
    calls, total, missing = [], 0, 0
    for name, networks in named_steps:
        total += len(networks)
        lacking = [n for n in networks if not have(n)]
        missing += len(lacking)
        for start in sorted({n.start for n in lacking}):
            count = sum(n.start == start for n in lacking)
            part = limit or count
            calls += [Call(name, hp, min(part, count - done), start)
                      for done in range(0, count, part)]
    return calls, total, missing


@dataclass(frozen=True)
class Evaluation:
    """Evaluation without training: ``networks`` networks of ``hp`` on ``examples`` each."""

    step: str
    hp: ExperimentHparams
    networks: int
    examples: int
    members: int = 1  # priced with one network's per-example cost (no batching assumed)

    def seconds(self, cost: Cost) -> float:
        return self.networks * self.examples * cost.eval_s


@dataclass
class Work:
    """What one planned call costs: its runs (hp, named steps), evaluations, and notes on what
    is priced by count or not at all."""

    runs: list[tuple[ExperimentHparams, list]]
    evaluations: list[Evaluation] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# --- a notebook's calls ----------------------------------------------------------------------

@dataclass(frozen=True)
class Planned:
    """One experiment call: the ``Session`` method, the preset and its overrides."""

    kind: str
    preset: str
    overrides: Mapping = field(default_factory=dict)
    ks: tuple[int, ...] = ()  # rewind sweep: the paper iterations to rewind to
    options: Mapping = field(default_factory=dict)  # the call's other arguments, as recorded
    # what the estimate needs beyond the recorded call (recipes, a cheap plan): not compared
    detail: Mapping = field(default_factory=dict, compare=False)

    @classmethod
    def from_record(cls, entry: Mapping) -> Planned:
        """The call a notebook's record lists (see ``Session._ran``)."""
        rest = {k: v for k, v in entry.items() if k not in ("kind", "preset", "overrides", "ks")}
        return cls(entry["kind"], entry["preset"], entry.get("overrides", {}),
                   tuple(entry.get("ks", ())), rest)

    @property
    def label(self) -> str:
        return f"{self.kind} {self.preset}"

    def signature(self) -> tuple:
        """What identifies the call when comparing a plan with what a notebook ran."""
        return (self.kind, self.preset, _sorted(self.overrides), tuple(self.ks),
                _sorted(self.options))


def _sorted(mapping: Mapping) -> tuple:
    return tuple(sorted((k, repr(_tuples(v))) for k, v in mapping.items()))


def _tuples(value):
    """Lists as tuples, dicts sorted, recursively (a call read back from JSON compares equal)."""
    if isinstance(value, Mapping):
        return tuple(sorted((k, _tuples(v)) for k, v in value.items()))
    return tuple(_tuples(v) for v in value) if isinstance(value, list | tuple) else value


def notebook_hparams(p: Mapping, preset: str, overrides: Mapping):
    """``preset`` with ``overrides`` as the notebook's session resolves it."""
    given = {"trials": p.get("trials"), "seed": p.get("seed", 0)} | dict(overrides)
    return experiment_hparams(preset, p["profile"], synthetic=PROFILES[p["profile"]].synthetic,
                              **given)


def on_dataset(p: Mapping, dataset: str) -> dict:
    """The override that moves a preset to ``dataset`` (``Session.on``)."""
    synthetic = PROFILES[p["profile"]].synthetic
    return {"data__dataset": SYNTHETIC_STAND_IN[dataset] if synthetic else dataset}


def recipe_id(hp) -> str:
    """A recipe's fingerprint, as a call that takes hyperparameters (transfer) is recorded."""
    return fingerprint(to_dict(hp))


def merged(lineages: list[Steps]) -> Steps:
    """Steps of lineages trained level by level together, each network once (as a sweep)."""
    out: dict[str, dict] = {}
    for named in lineages:
        for name, nets in named:
            out.setdefault(name, {}).update({n.path: n for n in nets})
    return [(name, list(nets.values())) for name, nets in out.items()]


def placeholder(step: str, index: int, start: int = 0) -> Network:
    """A network that cannot be named before training: priced as missing, never stored."""
    return Network(("(named after training)", f"{step}-{index}"), {},
                   {"trial": index, "level": 0, "variant": "ticket"}, lambda: None, start=start)


Hparams = Callable[..., ExperimentHparams]
Steps = list[tuple[str, list[Network]]]
# one planned call -> the networks, evaluations and notes it would cost
NetworksOf = Callable[[Planned, Hparams, RunStore], Work]


CostOf = Callable[[ExperimentHparams, int], Cost]


def duration(seconds: float) -> str:
    """``seconds`` rounded the way a person says it: 40 s, 7 min, 2 h 10 min, 3.5 days."""
    if seconds < 0.5:
        return "<1 s"
    if seconds < 60:
        return f"{round(seconds)} s"
    if seconds < 3600:
        return f"{round(seconds / 60)} min"
    if seconds < 48 * 3600:
        hours, minutes = divmod(round(seconds / 60), 60)
        return f"{hours} h {minutes:02d} min"
    return f"{seconds / 86400:.1f} days"
