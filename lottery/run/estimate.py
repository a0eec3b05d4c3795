"""How long a notebook will take on this device, told before it starts.

A notebook's experiments are its plan (:mod:`lottery.run.plans`). Each experiment is a sequence of
steps (the dense level, then one step per pruning level), and a step trains the networks the
run store lacks together, in one batched call (:meth:`lottery.core.experiments.Runner.train_many`).
So the estimate walks the same networks the runner would build -- their identities only, no
weights -- asks the store which entries exist, and prices each batched call that remains with
the measured costs of :mod:`lottery.core.calibration`:

    call seconds = call cost + iterations x step cost(K) + evaluated examples x example cost(K)

where K is the number of networks the call trains, the iterations run from the call's start
(the rewind point) to the end of training, and the evaluated examples are the validation set
at every evaluation, the test set at every evaluation (or only at the end when the test curve
is off), and the final training-set and early-stop test evaluations. Networks stored already
cost nothing; a network two experiments share (IMP's first level is one-shot's first target,
every rewind point shares the dense runs) is counted once. Booked as a fixed overhead rather
than priced: kernel start, imports, data loading and figures (:data:`NOTEBOOK_OVERHEAD_S`,
measured on the 2-core CPU, the optimizer's compilation included). Not counted: pruning and
store writes, and a dense network already in the store retrained because it lacks a rewind
snapshot (within one notebook this is counted).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch

from lottery.core.experiments import Network
from lottery.core.hparams import ExperimentHparams
from lottery.core.store import RunStore
from lottery.core.training import EVAL_BATCH, members_that_fit
from lottery.core.work import (  # noqa: F401 (what the estimate is priced from)
    Call,
    CostOf,
    Evaluation,
    Planned,
    Work,
    data_sizes,
    duration,
    missing_calls,
    offline_runner,
    sized_data,
    steps,
)
from lottery.engine.data import DATASETS
from lottery.run.registry import KIND_WORK

# kernel start, imports, data loading, figures and store writes of one notebook: smoke notebooks'
# wall time minus their training steps, 6-20 s on the project's shared 2-core CPU
NOTEBOOK_OVERHEAD_S = 10.0
def group_limit(hp: ExperimentHparams, device: str) -> int | None:
    """The most networks of ``hp`` one local training call holds on ``device`` now (what
    :meth:`Runner.group_limit` will find there; None: unknown)."""
    spec = DATASETS[hp.data.dataset]
    largest = max(data_sizes(hp.data))
    return members_that_fit(hp.model, spec.input_shape, spec.num_classes,
                            hp.training.batch_size, min(EVAL_BATCH, largest),
                            torch.device(device))




# --- a notebook ---------------------------------------------------------------------------------

@dataclass
class ExperimentEstimate:
    label: str
    networks: int
    missing: int
    calls: list[Call | Evaluation]
    seconds: float


@dataclass
class NotebookEstimate:
    notebook: str
    profile: str
    device: str
    experiments: list[ExperimentEstimate] = field(default_factory=list)
    overhead_s: float = NOTEBOOK_OVERHEAD_S
    notes: list[str] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return self.overhead_s + sum(e.seconds for e in self.experiments)

    def lines(self) -> list[str]:
        """The estimate as printed: the total, then one line per experiment."""
        out = [f"estimate : {duration(self.seconds)} on {self.device} for {self.notebook} "
               f"({self.profile})"]
        for e in self.experiments:
            stored = e.networks - e.missing
            out.append(f"  {e.label:<28} {e.networks:>4} networks, {stored:>4} stored or "
                       f"shared, {e.missing:>4} to train: {duration(e.seconds)}")
        out.append(f"  {'fixed overhead':<28} kernel, compile, data, figures: "
                   f"{duration(self.overhead_s)}")
        out += [f"  note: {n}" for n in self.notes]
        return out


def planned_steps(item: Planned, hparams: Callable[..., ExperimentHparams], store: RunStore,
                  rewind_points: Callable) -> list[tuple[ExperimentHparams, list]]:
    """(hp, named steps) of the runs one planned call makes, in order."""
    hp = hparams(item.preset, **dict(item.overrides))
    if item.kind in ("imp", "oneshot"):
        return [(hp, steps(offline_runner(hp, store), item.kind))]
    if item.kind == "rewind_sweep":
        ks = rewind_points(hp, item.preset, item.ks)
        dense = offline_runner(hp, store).dense_networks([k for k in ks if k])
        runs = [(hp, [("level 0 (dense, every rewind point)", dense)])]
        for k in ks:
            hk = hp.replace(rewind_iteration=k)
            runs.append((hk, [(f"k={k}: {name}", nets) for name, nets in
                              steps(offline_runner(hk, store), "imp")]))
        return runs
    raise ValueError(f"no estimate for experiment kind {item.kind!r}")


def planned_work(item: Planned, hparams: Callable[..., ExperimentHparams], store: RunStore,
                 rewind_points: Callable) -> Work:
    """The networks, evaluations and notes of one planned call."""
    if item.kind in KIND_WORK:
        return KIND_WORK[item.kind](item, hparams, store)
    return Work(planned_steps(item, hparams, store, rewind_points))


def estimate(notebook: str, profile: str, device: str, planned: list[Planned],
             hparams: Callable[..., ExperimentHparams], store: RunStore, cost_of: CostOf,
             rewind_points: Callable, limit_of: Callable[[ExperimentHparams, str], int | None]
             = group_limit) -> NotebookEstimate:
    """Price ``planned`` against what ``store`` holds with the costs ``cost_of(hp, K)``;
    ``limit_of(hp, device)``: the most networks one call trains (memory)."""
    result = NotebookEstimate(notebook, profile, device)
    # trained by an earlier experiment of the notebook, with the snapshots it kept: a network
    # asked again with a rewind point it lacks is trained again (as train_many does)
    counted: dict[tuple[str, str], set[int]] = {}

    def have(net: Network) -> bool:
        if net.path in counted:
            return set(net.snapshots) <= counted[net.path]
        return store.path(*net.path).exists()

    for item in planned:
        calls, networks, missing = [], 0, 0
        work = planned_work(item, hparams, store, rewind_points)
        for hp, named in work.runs:
            c, n, m = missing_calls(hp, named, have, limit_of(hp, device))
            calls, networks, missing = calls + c, networks + n, missing + m
            for net in (net for _, nets in named for net in nets):
                counted.setdefault(net.path, set()).update(net.snapshots)
        calls += work.evaluations
        result.notes += [note for note in work.notes if note not in result.notes]
        seconds = sum(call.seconds(cost_of(call.hp, call.members)) for call in calls)
        result.experiments.append(ExperimentEstimate(item.label, networks, missing, calls,
                                                     seconds))
    return result


def parse_duration(text: str) -> float | None:
    """Seconds of ``90m``, ``1.5h``, ``3600s``, ``2d``; None for ``none``/``off`` (no limit)."""
    text = text.strip().lower()
    if text in ("none", "off", "inf", "unlimited"):
        return None
    units = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}
    for unit in sorted(units, key=len, reverse=True):
        if text.endswith(unit):
            try:
                value = float(text[: -len(unit)])
            except ValueError:
                break
            if value >= 0:
                return value * units[unit]
    raise ValueError(f"budget {text!r}: give a number with a unit (90m, 1.5h, 3600s, 2d) "
                     f"or none")


def over_budget(estimates: Mapping[str, float | None], budget: float | None
                ) -> tuple[list[str], list[str]]:
    """(run, skipped): in order, each notebook whose estimate fits what is left of ``budget``
    runs; the rest are skipped. An unknown estimate (None) runs and uses nothing."""
    run, skipped, left = [], [], budget
    for name, seconds in estimates.items():
        if left is None or seconds is None or seconds <= left:
            run.append(name)
            left = None if left is None else left - (seconds or 0.0)
        else:
            skipped.append(name)
    return run, skipped
