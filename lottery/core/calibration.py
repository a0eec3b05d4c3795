"""Measured training costs on this device: a short timed run per model and member count.

The estimate (:mod:`lottery.run.estimate`) needs, for K members of a model trained together, the
seconds of one training iteration, of evaluating one example, and the fixed cost of one
training call. :func:`measure` times :func:`lottery.core.training.train` itself, twice on random
data of the dataset's shape (the difference of a short and a longer run is the per-iteration
cost, so set-up and final evaluation cancel), and :func:`lottery.core.training.evaluate` once.
:class:`Calibration` keeps the results in ``<runs>/calibration.json``, keyed by everything that
changes them (device, threads, torch version, model, input, batch size, optimizer, members), so
each is measured once per machine.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from lottery.core.crossover import Crossovers, crossovers_in
from lottery.core.hparams import ExperimentHparams, fingerprint, to_dict
from lottery.core.provenance import device_name, versions
from lottery.core.store import atomic_write_text, claim
from lottery.core.training import DEFAULT_SPEED, Member, SpeedOptions, evaluate, train
from lottery.engine.data import DATASETS, DataBundle, Split
from lottery.engine.members import member_state
from lottery.engine.models import build

CALIBRATION_FILE = "calibration.json"
TARGET_SECONDS = 0.5  # how long the extra iterations of the longer run aim to take
MAX_ITERATIONS = 2000  # of the longer run
LONGEST_SECONDS = 10.0  # what the longer run may take at most (about)


@dataclass(frozen=True)
class Cost:
    """Seconds for K members trained together: per iteration, per evaluated example, per call."""

    step_s: float
    eval_s: float
    call_s: float = 0.0
    startup_s: float = 0.0  # the first call's extra time in the calibrating process (a record)


def machine_key(device: str) -> dict:
    """What a cost depends on besides the work: the device, threads and torch version."""
    return {"device": str(torch.device(device)), "device_name": device_name(device),
            "threads": torch.get_num_threads(), "torch": versions()["torch"]}


def cost_key(hp: ExperimentHparams, members: int, device: str,
             speed: SpeedOptions = DEFAULT_SPEED) -> dict:
    """Everything a measured cost depends on (its cache key)."""
    spec = DATASETS[hp.data.dataset]
    t = hp.training
    return {**machine_key(device), "model": to_dict(hp.model), "input": list(spec.input_shape),
            "classes": spec.num_classes, "augment": spec.augment, "optimizer": t.optimizer,
            "batch_size": t.batch_size, "members": members, "speed": speed.key()}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _random_bundle(hp: ExperimentHparams, device: torch.device, examples: int) -> DataBundle:
    """Random images of the dataset's shape: speed does not depend on the pixel values."""
    spec = DATASETS[hp.data.dataset]
    generator = torch.Generator().manual_seed(0)

    def split(n: int) -> Split:
        x = torch.randn(n, *spec.input_shape, generator=generator)
        y = torch.randint(spec.num_classes, (n,), generator=generator)
        return Split(x.to(device), y.to(device))

    train_n = max(4 * hp.training.batch_size, 256)
    return DataBundle("calibration", split(train_n), split(examples), split(examples),
                      spec.num_classes, spec.input_shape, spec.augment, True, "random")


def _timed_train(hp: ExperimentHparams, data: DataBundle, members: list[Member],
                 iterations: int, device: torch.device, speed: SpeedOptions,
                 crossovers: Crossovers | None = None) -> float:
    training = dataclasses.replace(hp.training, iterations=iterations, eval_every=iterations,
                                   milestones=(), warmup=0, test_curve=False)
    _sync(device)
    began = time.perf_counter()
    train(hp.model, training, data, members, device=device, speed=speed, progress=False,
          crossovers=crossovers)
    _sync(device)
    return time.perf_counter() - began


def _eval_seconds(hp: ExperimentHparams, members: int, device: torch.device,
                  target_seconds: float = TARGET_SECONDS, most: int = 10_000) -> float:
    """Seconds to evaluate one example on ``members`` networks (batches of 5000, as training)."""
    spec = DATASETS[hp.data.dataset]
    model = build(hp.model.name, seeds=[0] * members, input_shape=spec.input_shape,
                  num_classes=spec.num_classes, **hp.model.options()).to(device)
    examples, seconds = 64, 0.0
    for _ in range(3):  # grow the split until one evaluation takes long enough to time
        split = _random_bundle(hp, device, examples).val
        _sync(device)
        began = time.perf_counter()
        evaluate(model, split)
        _sync(device)
        seconds = time.perf_counter() - began
        if seconds > target_seconds / 4 or examples >= most:
            break
        examples = min(most, int(examples * target_seconds / max(seconds, 1e-3)))
    return seconds / examples


def measure(hp: ExperimentHparams, members: int, device: str | torch.device,
            speed: SpeedOptions = DEFAULT_SPEED, crossovers: Crossovers | None = None, *,
            target_seconds: float = TARGET_SECONDS, longest_seconds: float = LONGEST_SECONDS,
            max_eval_examples: int = 10_000) -> Cost:
    """Time ``members`` networks of ``hp``'s model trained together on ``device``
    (``crossovers``: where sparse training's are kept, the store's); the keywords shorten the
    timed runs (``benchmarks/gpu_check.py`` projects every notebook from a few iterations a
    model)."""
    device = torch.device(device)
    data = _random_bundle(hp, device, 64)
    model = build(hp.model.name, seeds=list(range(members)), input_shape=data.input_shape,
                  num_classes=data.num_classes, **hp.model.options())
    batch = [Member(member_state(model, k), None, k) for k in range(members)]

    def timed(iterations: int) -> float:
        """The faster of two runs when they are short: other load only ever adds time."""
        first = _timed_train(hp, data, batch, iterations, device, speed, crossovers)
        if first > 2 * target_seconds:
            return first
        return min(first, _timed_train(hp, data, batch, iterations, device, speed, crossovers))

    warm = _timed_train(hp, data, batch, 2, device, speed, crossovers)  # compiles what it can
    short, longer = timed(2), 4
    # an iteration costs at most short / 2, so no run below takes much over LONGEST_SECONDS
    # however noisy the difference that chose its length
    most = min(MAX_ITERATIONS, 2 + int(longest_seconds / max(short / 2, 1e-4)))
    for _ in range(4):  # lengthen the longer run until its extra iterations take long enough
        long = timed(longer)
        if long - short >= target_seconds or longer >= most:
            break
        rate = max(long - short, 1e-3) / (longer - 2)
        longer = min(most, 2 + max(2 * (longer - 2), int(1.2 * target_seconds / rate)))
    step = (long - short) / (longer - 2)
    if step <= 0:  # timing noise swamped the difference: take the longer run's average
        step = long / longer
    return Cost(step_s=step, eval_s=_eval_seconds(hp, members, device, target_seconds,
                                                  max_eval_examples),
                call_s=max(0.0, short - 2 * step), startup_s=max(0.0, warm - short))


class NotCalibrated(LookupError):
    """A cost that is not in the cache, asked of a calibration that may not measure."""


class Calibration:
    """Measured costs, cached in ``folder/calibration.json`` (one measurement per key);
    ``measure_cost`` None: the cache only (a missing cost raises :class:`NotCalibrated`)."""

    def __init__(self, folder: str | Path, device: str, speed: SpeedOptions = DEFAULT_SPEED,
                 measure_cost: Callable[..., Cost] | None = measure,
                 say: Callable[[str], None] | None = None):
        self.path = Path(folder) / CALIBRATION_FILE
        if measure_cost is measure:  # sparse crossovers go beside calibration.json
            measure_cost = functools.partial(measure, crossovers=crossovers_in(folder))
        self.device, self.speed, self._measure, self.say = device, speed, measure_cost, say
        self.measured: list[str] = []  # what this instance had to time (for the report)

    def _read(self) -> dict:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}

    def cost(self, hp: ExperimentHparams, members: int) -> Cost:
        """The cost of ``members`` networks of ``hp`` trained together: cached or measured."""
        key = cost_key(hp, members, self.device, self.speed)
        name = fingerprint(key)
        entry = self._read().get(name)
        if entry is None:
            if self._measure is None:
                raise NotCalibrated(f"{hp.model.name} x{members} on {self.device}")
            if self.say:
                self.say(f"calibrating: {hp.model.name}, {members} network"
                         f"{'s' * (members != 1)} at once, on {self.device} (a few timed "
                         f"iterations, once per machine)")
            cost = self._measure(hp, members, self.device, self.speed)
            self.measured.append(f"{hp.model.name} x{members}")
            entry = {"key": key, **dataclasses.asdict(cost)}
            table = self._read() | {name: entry}
            claim(self.path.parent)  # calibration.json lives at a run store's top
            atomic_write_text(json.dumps(table, indent=1, sort_keys=True), self.path)
        return Cost(**{f.name: entry[f.name] for f in dataclasses.fields(Cost)})
