"""The cheap ways to score a mask, one registry entry each (used by
:mod:`lottery.studies.cheap.study`).

An entry scores one trial's weights from what :class:`Scoring` offers: the initialization (the
at-init methods of :mod:`lottery.studies.cheap.at_init`: magnitude, SNIP, GraSP, SynFlow), the
dense run's weights after t iterations (early-bird), or nothing but a seed (random pruning, the
floor). Each has named parameters with defaults (:func:`method_params`); they are part of the stored
identity of every network masked by the method, so a changed value is a new network.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from lottery.core.hparams import ExperimentHparams, HparamError, fingerprint
from lottery.engine.data import Split
from lottery.engine.masks import Mask
from lottery.engine.members import State
from lottery.engine.models import LotteryModel
from lottery.studies.cheap import at_init as atinit

AT_INIT = ("magnitude_init", "snip", "grasp", "synflow")

@dataclass(frozen=True)
class Scoring:
    """What a method may read to score one trial's weights."""

    model: LotteryModel               # one member holding the trial's initialization
    train: Split                      # where SNIP and GraSP draw their batches
    input_shape: tuple[int, int, int]
    density: float                    # the target (SynFlow prunes to it itself)
    layers: str | Mapping[str, float]  # "global" or per-layer densities
    snapshot: Callable[[int], State]  # the trial's dense weights after t iterations
    seed: int                         # draws of this trial and these parameters


def sample_batch(split: Split, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``size`` examples of ``split`` drawn without replacement by ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    index = torch.randperm(len(split), generator=generator)[:size].to(split.device)
    return split.x[index], split.y[index]


def synflow_per_layer(model: LotteryModel, densities: Mapping[str, float], *,
                      input_shape: Sequence[int], iterations: int = 100) -> Mask:
    """Iterative SynFlow keeping per-layer densities: round i keeps densities[l] ** (i / n) of
    layer l, ranked within the layer by the scores of round i - 1's mask."""
    mask = Mask.dense({n: w.shape[1:] for n, w in model.prunable_weights().items()})
    for i in range(1, iterations + 1):
        scores = atinit.synflow_scores(model, mask, input_shape=input_shape)
        mask = atinit.mask_at_density(scores, mask, 1.0, strategy={
            name: d ** (i / iterations) for name, d in densities.items()})
    return mask


def _snip(s: Scoring, p: Mapping) -> atinit.Scores:
    return atinit.snip(s.model, sample_batch(s.train, p["batch_size"], s.seed))


def _grasp(s: Scoring, p: Mapping) -> atinit.Scores:
    batches = [sample_batch(s.train, p["batch_size"], s.seed + i) for i in range(p["batches"])]
    return atinit.grasp(s.model, batches, temperature=p["temperature"])


def _synflow(s: Scoring, p: Mapping) -> Mask:
    if s.layers == "global":
        return atinit.synflow(s.model, s.density, input_shape=s.input_shape,
                              iterations=p["iterations"])
    return synflow_per_layer(s.model, s.layers, input_shape=s.input_shape,
                             iterations=p["iterations"])


def _random(s: Scoring, p: Mapping) -> atinit.Scores:
    generator = torch.Generator().manual_seed(s.seed)
    return {n: torch.rand(w.shape[1:], generator=generator)
            for n, w in s.model.prunable_weights().items()}


@dataclass(frozen=True)
class Method:
    """A registry entry: its label, how it scores, and its parameters with their defaults."""

    label: str
    score: Callable[[Scoring, Mapping], atinit.Scores | Mask]
    parameters: tuple[str, ...] = ()
    defaults: Callable[[ExperimentHparams, int], dict] = lambda hp, classes: {}
    cacheable: bool = True  # scores independent of the density (one scoring serves all)


METHODS: dict[str, Method] = {
    "magnitude_init": Method("magnitude at init", lambda s, p: atinit.magnitude_init(s.model)),
    # Lee et al. 2019: one mini-batch (here of the training batch size)
    "snip": Method("SNIP", _snip, ("batch_size", "batch_seed"), lambda hp, classes: {
        "batch_size": hp.training.batch_size, "batch_seed": 0}),
    # Wang et al. 2020, official code: 10 examples per class, temperature 200
    "grasp": Method("GraSP", _grasp, ("batch_size", "batches", "batch_seed", "temperature"),
                    lambda hp, classes: {"batch_size": 10 * classes, "batches": 1,
                                         "batch_seed": 0, "temperature": 200.0}),
    # Tanaka et al. 2020: 100 rounds, data-free
    "synflow": Method("SynFlow", _synflow, ("iterations",), lambda hp, classes: {
        "iterations": 100}, cacheable=False),
    # You et al. 2020: |w_t| of the dense network after t iterations; t has no default
    "early_bird": Method("early-bird", lambda s, p: atinit.early_bird(
        s.snapshot(p["t"]), s.model.prunable), ("t",)),
    "random": Method("random", _random, ("seed",), lambda hp, classes: {"seed": 0}),
}
PARAM_TYPES = {"batch_size": int, "batch_seed": int, "batches": int, "temperature": float,
               "iterations": int, "seed": int, "t": int}
# the least value of each integer parameter (temperature: any positive number); SynFlow with
# no round keeps every weight, and a negative count is no count at all
LEAST = {"batch_size": 1, "batches": 1, "iterations": 1, "batch_seed": 0, "seed": 0, "t": 0}


def check_param(kind: str, name: str, value) -> None:
    """Raise a one-line :class:`HparamError` for a value ``kind``'s ``name`` cannot take."""
    if name == "temperature":
        ok, allowed = isinstance(value, int | float) and not isinstance(value, bool) and \
            math.isfinite(value) and value > 0, "a positive number"
    else:
        ok, allowed = isinstance(value, int) and not isinstance(value, bool) and \
            value >= LEAST.get(name, 0), f"an integer >= {LEAST.get(name, 0)}"
    if not ok:
        raise HparamError(f"{kind}.{name} must be {allowed}; got {value!r}")


def method_params(kind: str, hp: ExperimentHparams, classes: int,
                  overrides: Mapping[str, Any] | None = None) -> dict:
    """The parameters of ``kind``: its defaults, with ``overrides`` (unknown names refused)."""
    if kind not in METHODS:
        raise HparamError(f"method must be one of {', '.join(METHODS)}; got {kind!r}")
    params, allowed = METHODS[kind].defaults(hp, classes), set(METHODS[kind].parameters)
    unknown = set(overrides or {}) - allowed
    if unknown:
        raise HparamError(f"{kind} has no parameter {', '.join(sorted(unknown))}; its "
                          f"parameters: {', '.join(sorted(allowed)) or 'none'}")
    params |= dict(overrides or {})
    if kind == "early_bird" and not (isinstance(params.get("t"), int) and params["t"] >= 0):
        raise HparamError(f"early_bird needs an iteration t >= 0; got {params.get('t')!r}")
    for name, value in params.items():
        check_param(kind, name, value)
    return params


def seed_of(*parts) -> int:
    """A torch seed from any JSON-able parts (trial, method, a parameter's seed ...)."""
    return int(fingerprint(list(parts)), 16) % 2**31
