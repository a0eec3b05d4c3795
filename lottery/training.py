"""The training engine: K masked networks trained together as one batched computation.

``train`` takes the members to train (each: initial weights, mask, data-order seed), trains them
with the same hyperparameters and returns, per member, the evaluation history, the early-stop
summary (iteration of minimum validation loss; test accuracy there) and the final weights.
Member k trained in a batch of K gets the same result as member k trained alone: the members
share no arithmetic, only kernel launches.

Protocol points kept here:
- pruned weights are exactly zero throughout: masks are applied to the weights before the first
  step, to the gradients before every optimizer step (so no momentum builds up on a pruned
  weight) and to the weights after every step (so neither Adam nor weight decay can revive one);
- early stopping selects the evaluation with the lowest *validation* loss, never test accuracy;
  the test accuracy reported for it comes from a device-side copy of the weights at that point;
- the hot loop does no host synchronisation: evaluation results stay on the device until the end.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm.auto import tqdm

from lottery import optimizers
from lottery.data import DataBundle, MemberBatches, Split, evaluation_batches
from lottery.hparams import ModelHparams, TrainingHparams
from lottery.masks import Mask, stack
from lottery.members import State, load_member_state, member_state, use_channels_last
from lottery.models import LotteryModel, build

METRICS = ("val_loss", "val_acc", "test_loss", "test_acc", "train_loss", "train_acc")


@dataclass
class Member:
    """One network to train: its starting weights, its mask (None = dense), its data order."""

    state: State
    mask: Mask | None
    data_seed: int


@dataclass
class TrainResult:
    history: pd.DataFrame          # one row per member x evaluation: iteration + METRICS
    summary: pd.DataFrame          # one row per member: early stop and final metrics
    final_states: list[State]
    snapshots: dict[int, list[State]]


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def make_optimizer(params, hp: TrainingHparams, device: torch.device,
                   fused: bool | None = None) -> torch.optim.Optimizer:
    """Adam or SGD with momentum.

    ``fused=None`` (default): PyTorch's fused kernels on CUDA; on the CPU the exact kernels of
    :mod:`lottery.optimizers`, Adam's update compiled to a single pass. ``fused=False``: those
    exact kernels uncompiled (a sequence of in-place passes; no compiler needed).
    ``fused=True``: PyTorch's fused kernels on the CPU too; faster than eager, but the CPU's
    fused Adam rounds an element differently depending on where it falls in its tensor, so a
    member trained in a batch and alone drift apart by float rounding.
    """
    params = list(params)
    if fused if fused is not None else device.type == "cuda":
        if hp.optimizer == "adam":
            return torch.optim.Adam(params, lr=hp.lr, weight_decay=hp.weight_decay, fused=True)
        return torch.optim.SGD(params, lr=hp.lr, momentum=hp.momentum,
                               weight_decay=hp.weight_decay, fused=True)
    if hp.optimizer == "adam":
        return optimizers.Adam(params, lr=hp.lr, weight_decay=hp.weight_decay,
                               compiled=fused is None)
    return optimizers.SGD(params, lr=hp.lr, momentum=hp.momentum, weight_decay=hp.weight_decay)


def evaluate(model: LotteryModel, split: Split, batch_size: int = 5000,
             autocast: contextlib.AbstractContextManager | None = None) -> tuple[Tensor, Tensor]:
    """Mean loss and accuracy of every member on ``split``: two ``(K,)`` device tensors."""
    was_training = model.training
    model.eval()
    loss = torch.zeros(model.members, device=split.x.device)
    correct = torch.zeros(model.members, device=split.x.device)
    with torch.no_grad(), (autocast or contextlib.nullcontext()):
        for x, y in evaluation_batches(split, batch_size):
            logits = model(x).float()  # (K, B, classes), input shared by all members
            targets = y.expand(model.members, -1)
            loss += F.cross_entropy(logits.flatten(0, 1), targets.flatten(),
                                    reduction="none").view_as(targets).sum(1)
            correct += (logits.argmax(-1) == targets).sum(1)
    model.train(was_training)
    return loss / len(split), correct / len(split)


def keep_improved(best_val: Tensor, val_loss: Tensor, best: dict[str, Tensor],
                  tensors: dict[str, Tensor], improved: Tensor) -> None:
    """Where ``improved`` (per member), copy the validation loss and every tensor into the
    early-stop snapshot ``best``: in place on the device, no host synchronisation."""
    torch.where(improved, val_loss, best_val, out=best_val)
    with torch.no_grad():
        for name, t in tensors.items():
            keep = improved.view(-1, *[1] * (t.dim() - 1))
            torch.where(keep, t, best[name], out=best[name])


def evaluation_iterations(hp: TrainingHparams, start: int) -> list[int]:
    points = {start, hp.iterations}
    first_multiple = start - start % hp.eval_every + hp.eval_every
    points.update(range(first_multiple, hp.iterations, hp.eval_every))
    return sorted(p for p in points if p >= start)


def train(model_hp: ModelHparams, hp: TrainingHparams, data: DataBundle, members: Sequence[Member],
          *, device: torch.device | str | None = None, start_iteration: int = 0,
          snapshot_at: Sequence[int] = (), checkpoint: Path | None = None,
          checkpoint_every: int = 0, bf16: bool = False, fused: bool | None = None,
          channels_last: bool = False, compile: bool = False, eval_batch_size: int = 5000,
          progress: bool = True, desc: str = "train") -> TrainResult:
    """Train ``members`` together from ``start_iteration`` to ``hp.iterations``.

    ``snapshot_at``: iterations whose weights are returned (e.g. the rewind point).
    ``checkpoint``: a file written atomically every ``checkpoint_every`` iterations; when it
    exists at the start, training resumes from it and gives the same result as an
    uninterrupted run. ``bf16``: autocast to bfloat16 (CUDA speed option; off by default so the
    numbers match fp32). ``fused``: the optimizer kernel (see :func:`make_optimizer`).
    ``channels_last``: NHWC convolutions (see :func:`lottery.members.use_channels_last`).
    ``compile``: ``torch.compile`` the forward and backward pass (meant for GPUs: on the
    2-core CPU it measured slower than eager). The last three are speed options that change
    results only by float rounding; ``benchmarks/`` measures what they buy.
    """
    device = torch.device(device) if device is not None else default_device()
    if data.train.x.device.type != device.type:
        raise ValueError(f"data is on {data.train.x.device}, training on {device}")
    if not 0 <= start_iteration < hp.iterations:
        raise ValueError(f"start_iteration must be in [0, {hp.iterations}), got {start_iteration}")
    k_members = len(members)
    model = build(model_hp.name, seeds=[0] * k_members, input_shape=data.input_shape,
                  num_classes=data.num_classes, **model_hp.options()).to(device)
    for k, member in enumerate(members):
        load_member_state(model, k, member.state)
    if channels_last:
        use_channels_last(model)
    params = dict(model.named_parameters())
    dense = Mask.dense({n: params[n].shape[1:] for n in model.prunable})
    mask_tensors = stack([m.mask if m.mask is not None else dense for m in members], device)
    masked_params = [params[n] for n in mask_tensors]
    # each mask in its weight's memory layout, so the masking multiplies run as plain loops
    masks = [torch.empty_like(p).copy_(m) for p, m in zip(masked_params, mask_tensors.values(),
                                                         strict=True)]
    with torch.no_grad():
        torch._foreach_mul_(masked_params, masks)

    optimizer = make_optimizer(model.parameters(), hp, device, fused)
    batches = MemberBatches(data.train, [m.data_seed for m in members], hp.batch_size,
                            augment=data.augment)
    autocast = (torch.autocast(device.type, dtype=torch.bfloat16) if bf16
                else contextlib.nullcontext())

    def forward_backward(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """Per-member mean loss and accuracy on one batch; leaves the gradients in ``.grad``."""
        with autocast:
            logits = model(x)
        per_example = F.cross_entropy(logits.float().flatten(0, 1), y.flatten(), reduction="none")
        member_loss = per_example.view(k_members, -1).mean(1)
        member_loss.sum().backward()  # member k's gradient is that of its own mean loss
        return member_loss.detach(), (logits.argmax(-1) == y).float().mean(1)

    step_fn = torch.compile(forward_backward) if compile else forward_backward
    points = evaluation_iterations(hp, start_iteration)
    history = torch.full((len(points), len(METRICS), k_members), float("nan"), device=device)
    tensors = dict(model.named_parameters()) | dict(model.named_buffers())
    best = {n: t.detach().clone() for n, t in tensors.items()}
    best_val = torch.full((k_members,), float("inf"), device=device)
    best_iteration = torch.full((k_members,), start_iteration, device=device, dtype=torch.long)
    running = torch.zeros(2, k_members, device=device)  # train loss, train acc since last eval
    running_steps = 0
    snapshots: dict[int, list[State]] = {}
    next_point, first = 0, start_iteration

    if checkpoint is not None and Path(checkpoint).exists():
        saved = torch.load(checkpoint, map_location=device, weights_only=True)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        history.copy_(saved["history"])
        for name, t in best.items():
            t.copy_(saved["best"][name])
        best_val.copy_(saved["best_val"])
        best_iteration.copy_(saved["best_iteration"])
        running.copy_(saved["running"])
        running_steps, next_point = saved["running_steps"], saved["next_point"]
        first = saved["iteration"]
        snapshots = {int(i): list(states) for i, states in saved["snapshots"].items()}

    def record(iteration: int) -> None:
        nonlocal running_steps, next_point
        val_loss, val_acc = evaluate(model, data.val, eval_batch_size, autocast)
        row = history[next_point]
        row[0], row[1] = val_loss, val_acc
        if hp.test_curve or iteration == hp.iterations:
            row[2], row[3] = evaluate(model, data.test, eval_batch_size, autocast)
        if running_steps:
            row[4:6] = running / running_steps
            running.zero_()
            running_steps = 0
        improved = val_loss < best_val  # strict: the earliest of equal minima wins
        best_iteration.copy_(torch.where(improved, iteration, best_iteration))
        keep_improved(best_val, val_loss, best, tensors, improved)
        next_point += 1

    bar = tqdm(total=hp.iterations - start_iteration, initial=first - start_iteration,
               desc=desc, disable=not progress, leave=False, unit="it")
    model.train()
    for iteration in range(first, hp.iterations):
        if next_point < len(points) and points[next_point] == iteration:
            record(iteration)
        if iteration in snapshot_at and iteration not in snapshots:
            snapshots[iteration] = [member_state(model, k) for k in range(k_members)]
        if checkpoint is not None and checkpoint_every and iteration > first \
                and iteration % checkpoint_every == 0:
            _save_checkpoint(checkpoint, model, optimizer, history, best, best_val,
                             best_iteration, running, running_steps, next_point, iteration,
                             snapshots)
        x, y = batches.get(iteration)
        lr = hp.lr_at(iteration)
        for group in optimizer.param_groups:
            group["lr"] = lr
        member_loss, member_acc = step_fn(x, y)
        torch._foreach_mul_([p.grad for p in masked_params], masks)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        with torch.no_grad():
            torch._foreach_mul_(masked_params, masks)
            running[0] += member_loss
            running[1] += member_acc
        running_steps += 1
        if (iteration + 1) % hp.eval_every == 0 or iteration + 1 == hp.iterations:
            bar.update(iteration + 1 - bar.n - start_iteration)
    bar.close()
    record(hp.iterations)

    final_states = [member_state(model, k) for k in range(k_members)]
    _, final_train_acc = evaluate(model, data.train, eval_batch_size, autocast)
    with torch.no_grad():  # the weights at the early-stop iteration, evaluated on test
        for name, t in tensors.items():
            t.copy_(best[name])
    es_test_loss, es_test_acc = evaluate(model, data.test, eval_batch_size, autocast)
    if checkpoint is not None:
        Path(checkpoint).unlink(missing_ok=True)
    return _result(points, history.cpu(), best_iteration.cpu(), best_val.cpu(), es_test_loss.cpu(),
                   es_test_acc.cpu(), final_train_acc.cpu(), final_states, snapshots)


def _result(points, history, best_iteration, best_val, es_test_loss, es_test_acc,
            final_train_acc, final_states, snapshots) -> TrainResult:
    rows = []
    for j, iteration in enumerate(points):
        for k in range(history.shape[2]):
            rows.append({"member": k, "iteration": iteration,
                         **{m: float(history[j, i, k]) for i, m in enumerate(METRICS)}})
    frame = pd.DataFrame(rows)
    last = frame[frame.iteration == points[-1]].set_index("member")
    summary = pd.DataFrame({
        "member": range(len(final_states)),
        "early_stop_iteration": best_iteration.tolist(),
        "early_stop_val_loss": best_val.tolist(),
        "early_stop_test_loss": es_test_loss.tolist(),
        "early_stop_test_acc": es_test_acc.tolist(),
        "final_val_loss": last.val_loss.tolist(),
        "final_test_acc": last.test_acc.tolist(),
        "final_train_acc": final_train_acc.tolist(),
    })
    return TrainResult(frame, summary, final_states, snapshots)


def _save_checkpoint(path: Path, model, optimizer, history, best, best_val, best_iteration,
                     running, running_steps, next_point, iteration, snapshots) -> None:
    payload = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
               "history": history, "best": best, "best_val": best_val,
               "best_iteration": best_iteration, "running": running,
               "running_steps": running_steps, "next_point": next_point,
               "iteration": iteration, "snapshots": snapshots}
    atomic_save(payload, Path(path))


def atomic_save(payload, path: Path) -> None:
    """``torch.save`` to a temporary file, then rename: a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)
