"""The training loop of :mod:`lottery.studies.own_model.search`: a group of members, the user's
optimizer, a budget in iterations, masks held, and the paper's early-stopping criterion.

As in Frankle & Carbin (2019), the validation loss is measured every ``eval_every`` iterations;
the early-stop iteration is the one of its minimum, and the test accuracy reported "at early
stop" is that of the weights at that iteration (kept, not retrained). Without a validation set
the early stop is the last iteration. Pruned weights are held at exactly zero by
:func:`lottery.studies.own_model.masks.hold_pruned` at every step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import torch
from torch import Tensor
from tqdm.auto import tqdm

from lottery.engine.masks import Mask
from lottery.studies.own_model.data import LoaderData, TensorData
from lottery.studies.own_model.masks import hold_pruned
from lottery.studies.own_model.members import Group, State


@dataclass(frozen=True)
class Budget:
    """How long and how to train: ``iterations`` steps of ``batch_size`` (tensor data),
    validation every ``eval_every`` steps (0: only at the end), evaluation chunks of
    ``eval_batch`` examples."""

    iterations: int
    batch_size: int = 64
    eval_every: int = 0
    eval_batch: int = 1000

    def points(self, start: int) -> list[int]:
        every = self.eval_every or self.iterations
        return sorted({i for i in range(start, self.iterations, every)} | {self.iterations})


@dataclass(frozen=True)
class Member:
    """One network to train: where it starts, its mask, and its data order."""

    start: State
    mask: Mask
    order_seed: int


@dataclass(frozen=True)
class Trained:
    """What training one member produced."""

    final: State                 # the weights at the end of training
    snapshot: State | None       # the weights at the asked-for iteration (a rewind point)
    metrics: dict[str, float]    # early stop, accuracies, losses
    curve: list[list[float]]     # [iteration, val loss, val acc] at each evaluation


class _Best:
    """Per member: the lowest validation loss so far, its iteration and its weights."""

    def __init__(self, group: Group):
        k = group.size
        self.loss = torch.full((k,), torch.inf)
        self.iteration = torch.zeros(k, dtype=torch.long)
        self.state = group.snapshot()

    def update(self, group: Group, loss: Tensor, iteration: int) -> None:
        better = loss < self.loss
        if not bool(better.any()):
            return
        self.loss = torch.where(better, loss, self.loss)
        self.iteration = torch.where(better, torch.tensor(iteration), self.iteration)
        on = better.to(next(iter(group.params.values())).device)
        for saved, now in zip(self.state, group.snapshot(), strict=True):
            for name, t in now.items():
                pick = on.view(-1, *([1] * (t.dim() - 1)))
                saved[name] = torch.where(pick, t, saved[name])


def _batches(data, members: Sequence[Member], budget: Budget, start: int, device):
    """(x, y, shared) per iteration from ``start``: per-member draws from tensors, the
    loader's batch for every member."""
    if isinstance(data, LoaderData):
        for x, y in data.batches(members[0].order_seed, start):
            yield x.to(device), y.to(device), True
        return
    for iteration in range(start, budget.iterations):
        index = torch.stack([data.indices(m.order_seed, iteration, budget.batch_size)
                             for m in members])
        yield data.x[index].to(device), data.y[index].to(device), False


def train_group(group: Group, members: Sequence[Member], make_optimizer: Callable,
                data: TensorData | LoaderData, budget: Budget, *, start: int = 0,
                val=None, test=None, snapshot_at: int | None = None, device="cpu",
                desc: str = "train", progress: bool = True) -> list[Trained]:
    """Train the group's members from iteration ``start`` to ``budget.iterations``."""
    masks = {name: torch.stack([m.mask[name] for m in members]).to(device, torch.float32)
             for name in members[0].mask}
    held = [group.params[name] for name in masks]
    optimizer = make_optimizer(list(group.params.values()))
    best, curve = _Best(group), []
    points, snapshot = set(budget.points(start)), None
    evaluate = partial(_evaluate, group, val, budget.eval_batch, device)
    with torch.no_grad():  # a member starts pruned: its pruned weights are zero from step 0
        torch._foreach_mul_(held, list(masks.values()))
    bar = tqdm(total=budget.iterations - start, desc=desc, disable=not progress, leave=False)
    batches = _batches(data, members, budget, start, device)
    for iteration in range(start, budget.iterations):
        if val is not None and iteration in points:
            loss, acc = evaluate()
            best.update(group, loss, iteration)
            curve.append((iteration, loss, acc))
        if iteration == snapshot_at:
            snapshot = group.snapshot()
        x, y, shared = next(batches)
        loss, _ = group.step_loss(x, y, shared)
        loss.sum().backward()
        hold_pruned(held, list(masks.values()), optimizer.step)
        optimizer.zero_grad(set_to_none=True)
        bar.update(1)
    bar.close()
    return _finish(group, members, best, curve, snapshot, evaluate, val, test, budget, device)


def _evaluate(group: Group, split, size: int, device, state=None) -> tuple[Tensor, Tensor]:
    return group.evaluate(split.chunks(size), device, state)


def _finish(group, members, best, curve, snapshot, evaluate, val, test, budget,
            device) -> list[Trained]:
    """The last evaluation, the early stop's test accuracy, and each member's record."""
    end = budget.iterations
    metrics = {}
    if val is not None:
        loss, acc = evaluate()
        best.update(group, loss, end)
        curve.append((end, loss, acc))
        metrics.update(final_val_loss=loss, final_val_acc=acc, early_stop_val_loss=best.loss)
    if test is not None:
        metrics["final_test_loss"], metrics["final_test_acc"] = group.evaluate(
            test.chunks(budget.eval_batch), device)
        metrics["early_stop_test_loss"], metrics["early_stop_test_acc"] = (
            group.evaluate(test.chunks(budget.eval_batch), device, best.state)
            if val is not None else (metrics["final_test_loss"], metrics["final_test_acc"]))
    stop = best.iteration if val is not None else torch.full((group.size,), end)
    out = []
    for k in range(group.size):
        values = {name: float(v[k]) for name, v in metrics.items()}
        values["early_stop_iteration"] = int(stop[k])
        out.append(Trained(group.member_state(k), None if snapshot is None else
                           group.member_state(k, snapshot), values,
                           [[float(i), float(lo[k]), float(a[k])] for i, lo, a in curve]))
    return out
