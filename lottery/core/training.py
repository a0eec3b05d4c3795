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
  a member may instead hold its pruned weights at fixed values (``Member.frozen``, Zhou et al.
  2019's mask-0 actions): their gradients are masked like a zero's, and whatever the step does
  to them (weight decay pulls on a nonzero value) is undone by adding them back after the mask
  multiply, so they stay exact and, the updates being elementwise, reach no trainable weight;
- early stopping selects the evaluation with the lowest *validation* loss, never test accuracy;
  the test accuracy reported for it comes from a device-side copy of the weights at that point;
- the hot loop does no host synchronisation: evaluation results stay on the device until the end.

A :class:`Parameterisation` trains something else in place of the weights through the same loop
(optimizer, batches, evaluation points, early stopping, checkpoints): a learned supermask's
scores over frozen weights (Zhou et al. 2019, :mod:`lottery.studies.deconstruct.supermask`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from lottery.core import crossover
from lottery.core.hparams import ModelHparams, TrainingHparams
from lottery.core.store import atomic_save, describe, set_aside
from lottery.engine import sparse
from lottery.engine.data import DataBundle, MemberBatches, Split, evaluation_batches
from lottery.engine.masks import Mask, stack
from lottery.engine.members import State, load_member_state, member_state, use_channels_last
from lottery.engine.models import LotteryModel, build
from lottery.engine.optimizers import make_optimizer  # noqa: F401 (callers import it here)

METRICS = ("val_loss", "val_acc", "test_loss", "test_acc", "train_loss", "train_acc")
KERNELS = ("auto", "eager", "torch_fused")
SPARSE = sparse.MODES
EVAL_BATCH = 5000  # examples per evaluation forward (no gradient: only memory depends on it)


@dataclass(frozen=True)
class SpeedOptions:
    """How the arithmetic runs; none changes the protocol, some change results by rounding.

    ``bf16``: bfloat16 autocast (GPUs with bf16 tensor cores). ``channels_last``: NHWC
    convolutions. ``compile``: ``torch.compile`` of forward and backward (GPUs; slower on the
    2-core CPU). ``kernel``: the optimizer update -- ``auto`` (PyTorch's fused kernel on CUDA;
    on the CPU our exact Adam in one C pass, :mod:`lottery.engine.adam_kernel`), ``eager`` (the
    exact update as PyTorch elementwise passes, no compiler needed), ``torch_fused`` (PyTorch's
    fused kernel on the CPU too: faster, but it rounds an element differently depending on where it
    sits, so batching is no longer exact).
    ``sparse``: masked fc layers computed on their kept weights only (:mod:`lottery.engine.sparse`)
    -- ``auto`` (where the measured crossover density says it is faster; never with ``bf16`` or
    ``compile``), ``on`` (every masked fc layer), ``off``; differs from dense by rounding.
    """

    bf16: bool = False
    channels_last: bool = False
    compile: bool = False
    kernel: str = "auto"
    sparse: str = "auto"

    def __post_init__(self):
        if self.kernel not in KERNELS:
            raise ValueError(f"speed.kernel must be one of {KERNELS}; got {self.kernel!r}")
        if self.sparse not in SPARSE:
            raise ValueError(f"speed.sparse must be one of {SPARSE}; got {self.sparse!r}")
        if self.sparse == "on" and (self.bf16 or self.compile):
            raise ValueError("speed.sparse='on' works with neither bf16 nor compile")

    def key(self) -> dict:
        """The options that differ from the defaults: what a stored result is keyed by (so a
        result computed with the defaults keeps its key when an option is added)."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if getattr(self, f.name) != f.default}


DEFAULT_SPEED = SpeedOptions()


@dataclass
class Member:
    """One network to train: its starting weights, its mask (None = dense), its data order, the
    fixed values its pruned weights hold (None = zeros; entries under kept weights are
    ignored), and the seed of its own random draws beyond the data order (a learned
    supermask's mask samples)."""

    state: State
    mask: Mask | None
    data_seed: int
    frozen: State | None = None
    sample_seed: int = 0


@dataclass
class TrainResult:
    history: pd.DataFrame          # one row per member x evaluation: iteration + METRICS
    summary: pd.DataFrame          # one row per member: early stop and final metrics
    final_states: list[State]
    snapshots: dict[int, list[State]]
    # per member, the mask training chose (a learned supermask's sample; None: the members'
    # own) and what else the store keeps of it (its scores)
    masks: list[Mask] | None = None
    extras: list[dict] = field(default_factory=list)


class Parameterisation(Protocol):
    """What :func:`train` optimises in place of the members' weights: the module it trains
    (built around the K-member model holding the members' weights, its parameters that take a
    gradient the ones trained), what happens before each evaluation point, and the result
    it ends with (from the early-stop snapshot in ``loop``). Hashable and picklable: a
    :class:`~lottery.core.executors.GroupTask` carries it to a worker."""

    def module(self, model: LotteryModel, members: Sequence[Member]) -> nn.Module: ...

    def before_record(self, module: nn.Module) -> None: ...

    def finish(self, module: nn.Module, data: DataBundle, loop: LoopState,
               eval_batch_size: int, autocast) -> TrainResult: ...


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


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


def model_tensors(model: LotteryModel) -> dict[str, Tensor]:
    return dict(model.named_parameters()) | dict(model.named_buffers())


@dataclass
class LoopState:
    """Everything of a run in progress besides model and optimizer: what a checkpoint holds
    with them and what resuming restores."""

    points: list[int]             # the evaluation iterations
    history: Tensor               # (points, METRICS, K), NaN until recorded
    best: dict[str, Tensor]       # every model tensor at each member's early-stop iteration
    best_val: Tensor              # (K,) validation loss there
    best_iteration: Tensor        # (K,)
    running: Tensor               # (2, K) train loss and accuracy summed since the last record
    running_steps: int = 0
    next_point: int = 0
    iteration: int = 0            # the next iteration to run
    snapshots: dict[int, list[State]] = field(default_factory=dict)

    @classmethod
    def fresh(cls, model: LotteryModel, points: list[int], start: int) -> LoopState:
        k, device = model.members, next(model.parameters()).device
        return cls(points=points,
                   history=torch.full((len(points), len(METRICS), k), float("nan"),
                                      device=device),
                   best={n: t.detach().clone() for n, t in model_tensors(model).items()},
                   best_val=torch.full((k,), float("inf"), device=device),
                   best_iteration=torch.full((k,), start, device=device, dtype=torch.long),
                   running=torch.zeros(2, k, device=device), iteration=start)

    def state_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def load_state_dict(self, saved: dict) -> None:
        for name, value in saved.items():
            current = getattr(self, name)
            if isinstance(current, Tensor):
                current.copy_(value)
            elif isinstance(current, dict) and name == "best":
                for key, t in current.items():
                    t.copy_(value[key])
            elif name == "snapshots":
                self.snapshots = {int(i): list(states) for i, states in value.items()}
            else:
                setattr(self, name, value)


def record(model: LotteryModel, data: DataBundle, hp: TrainingHparams, loop: LoopState,
           iteration: int, eval_batch_size: int = 5000,
           autocast: contextlib.AbstractContextManager | None = None) -> None:
    """One evaluation point: validation (and test when the curve is kept or at the end),
    the mean training metrics since the last point, and the early-stop snapshot."""
    val_loss, val_acc = evaluate(model, data.val, eval_batch_size, autocast)
    row = loop.history[loop.next_point]
    row[0], row[1] = val_loss, val_acc
    if hp.test_curve or iteration == hp.iterations:
        row[2], row[3] = evaluate(model, data.test, eval_batch_size, autocast)
    if loop.running_steps:
        row[4:6] = loop.running / loop.running_steps
        loop.running.zero_()
        loop.running_steps = 0
    improved = val_loss < loop.best_val  # strict: the earliest of equal minima wins
    loop.best_iteration.copy_(torch.where(improved, iteration, loop.best_iteration))
    keep_improved(loop.best_val, val_loss, loop.best, model_tensors(model), improved)
    loop.next_point += 1


class TooLarge(ValueError):
    """A training call that would not fit in the device's memory (refused before allocating)."""


# copies of the parameters a training call holds: weights, gradients, two Adam moments, the
# early-stop copy and the masks
STATE_COPIES = 6


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes a training call of K members allocates beyond its data: the parameter copies, the
    activations one training step keeps for its backward pass, and the evaluation forward's
    largest pair of consecutive activations (no gradient: one layer's input and output)."""

    state: int
    training: int
    evaluation: int

    @property
    def total(self) -> int:
        return self.state + max(self.training, self.evaluation)


@lru_cache(maxsize=32)
def _activation_sizes(model_hp: ModelHparams, input_shape: tuple, num_classes: int
                      ) -> tuple[int, tuple[int, ...]]:
    """(parameters, output elements of every leaf module for one example) of one member: one
    forward of a single example, once per process and model (the meta device would allocate
    nothing, but its first use imports seconds of torch)."""
    one = build(model_hp.name, seeds=[0], input_shape=input_shape, num_classes=num_classes,
                **model_hp.options())
    sizes: list[int] = []
    hooks = [m.register_forward_hook(lambda _m, _a, out: sizes.append(out.numel()))
             for m in one.modules() if not any(True for _ in m.children())]
    try:
        with torch.no_grad():
            one.eval()(torch.zeros(1, 1, *input_shape))
    finally:
        for hook in hooks:
            hook.remove()
    return sum(p.numel() for p in one.parameters()), tuple(sizes)


def memory_estimate(model_hp: ModelHparams, input_shape, num_classes: int, k_members: int,
                    batch_size: int, eval_batch: int) -> MemoryEstimate:
    """What :func:`train` allocates for ``k_members`` members (float32; bf16 autocast keeps
    less); ``eval_batch``: the largest evaluation batch it will run."""
    params, sizes = _activation_sizes(model_hp, tuple(input_shape), num_classes)
    largest = max(sizes, default=0)
    # saved activations, plus the gradients of the largest layer's input and output
    training = (sum(sizes) + 2 * largest) * batch_size
    evaluation = 2 * largest * eval_batch
    return MemoryEstimate(STATE_COPIES * 4 * params * k_members, 4 * training * k_members,
                          4 * evaluation * k_members)


def check_memory(model_hp: ModelHparams, data: DataBundle, k_members: int,
                 device: torch.device, batch_size: int = 1, eval_batch: int = EVAL_BATCH) -> None:
    """Refuse, with the estimate, K members whose parameter copies and activations
    (:func:`memory_estimate`) exceed the free memory."""
    largest_split = max(len(data.train), len(data.val), len(data.test))
    need = memory_estimate(model_hp, data.input_shape, data.num_classes, k_members,
                           batch_size, min(eval_batch, largest_split)).total
    free = free_memory(device)
    if free is not None and need > free:
        raise TooLarge(f"{k_members} members of {model_hp.name} need about {need / 2**30:.1f} "
                       f"GiB for weights, optimizer state and activations; "
                       f"{free / 2**30:.1f} GiB is free on {device}: train fewer trials or "
                       f"controls at once")


# of the free memory a group of members is sized to fill: the rest for fragmentation, the
# data's own copies and what the estimate leaves out
FILL = 0.8


def members_that_fit(model_hp: ModelHparams, input_shape, num_classes: int, batch_size: int,
                     eval_batch: int, device: torch.device, free: int | None = None
                     ) -> int | None:
    """The most members one training call should hold on ``device`` (at least 1: a single
    member that does not fit is refused by :func:`check_memory` with the numbers); None when
    the free memory is unknown. A group larger than this trains in parts of this size."""
    free = free_memory(torch.device(device)) if free is None else free
    if free is None:
        return None
    one = memory_estimate(model_hp, input_shape, num_classes, 1, batch_size, eval_batch).total
    return max(1, int(FILL * free) // max(one, 1))


def free_memory(device: torch.device) -> int | None:
    """Bytes a new allocation can use on ``device`` (None: unknown). On CUDA, memory PyTorch's
    caching allocator holds but no tensor uses counts as free: it is reused before the
    device is asked for more (an earlier training call of this process leaves it cached)."""
    if device.type == "cuda":
        free = torch.cuda.mem_get_info(device)[0]
        return free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
    try:
        import psutil
    except ImportError:
        return None
    return psutil.virtual_memory().available


def _build(model_hp: ModelHparams, data: DataBundle, members: Sequence[Member],
           device: torch.device, speed: SpeedOptions):
    """The K-member model holding the members' starting weights, masked, and its masks."""
    model = build(model_hp.name, seeds=[0] * len(members), input_shape=data.input_shape,
                  num_classes=data.num_classes, **model_hp.options()).to(device)
    for k, member in enumerate(members):
        load_member_state(model, k, member.state)
    if speed.channels_last:
        use_channels_last(model)
    params = dict(model.named_parameters())
    dense = Mask.dense({n: params[n].shape[1:] for n in model.prunable})
    mask_tensors = stack([m.mask if m.mask is not None else dense for m in members], device)
    masked = [params[n] for n in mask_tensors]
    # each mask in its weight's memory layout, so the masking multiplies run as plain loops
    masks = [torch.empty_like(p).copy_(m) for p, m in zip(masked, mask_tensors.values(),
                                                         strict=True)]
    frozen = _frozen_values(members, mask_tensors, masks)
    with torch.no_grad():
        torch._foreach_mul_(masked, masks)
        if frozen is not None:
            torch._foreach_add_(masked, frozen)
    return model, masked, masks, frozen


def _frozen_values(members: Sequence[Member], mask_tensors: dict[str, Tensor],
                   masks: list[Tensor]) -> list[Tensor] | None:
    """Per masked weight, the members' frozen values where pruned and 0 where kept (so one add
    after the mask multiply restores them), in the weight's layout; None when no member has any
    (the hot loop then skips the add)."""
    if all(m.frozen is None for m in members):
        return None
    values = []
    for (name, mask), layout in zip(mask_tensors.items(), masks, strict=True):
        stacked = torch.stack([m.frozen[name] if m.frozen is not None else
                               torch.zeros(mask.shape[1:]) for m in members]).to(mask)
        values.append(torch.empty_like(layout).copy_(stacked * (1 - mask)))
    return values


def _forward_backward(model: LotteryModel, autocast):
    """The step's differentiable part: per-member mean loss and accuracy on one batch, leaving
    each member's gradient (that of its own mean loss) in ``.grad``."""
    def step(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        with autocast:
            logits = model(x)
        per_example = F.cross_entropy(logits.float().flatten(0, 1), y.flatten(), reduction="none")
        member_loss = per_example.view(model.members, -1).mean(1)
        member_loss.sum().backward()
        return member_loss.detach(), (logits.argmax(-1) == y).float().mean(1)
    return step


def train(model_hp: ModelHparams, hp: TrainingHparams, data: DataBundle, members: Sequence[Member],
          *, device: torch.device | str | None = None, start_iteration: int = 0,
          snapshot_at: Sequence[int] = (), checkpoint: Path | None = None,
          checkpoint_every: int = 0, speed: SpeedOptions = DEFAULT_SPEED,
          eval_batch_size: int = EVAL_BATCH, progress: bool = True, desc: str = "train",
          parameterisation: Parameterisation | None = None,
          crossovers: crossover.Crossovers | None = None) -> TrainResult:
    """Train ``members`` together from ``start_iteration`` to ``hp.iterations``.

    ``snapshot_at``: iterations whose weights are returned (e.g. rewind points).
    ``checkpoint``: a file written atomically every ``checkpoint_every`` iterations; when it
    exists at the start, training resumes from it and gives the same result as an
    uninterrupted run (the caller deletes it once the result is stored).
    ``speed``: see :class:`SpeedOptions`; ``benchmarks/`` measures what each buys.
    ``parameterisation``: train that instead of the weights (see :class:`Parameterisation`).
    ``crossovers``: where sparse training's measured crossovers are kept (None: the default
    run store's, :func:`lottery.core.crossover.default_crossovers`).
    """
    device = torch.device(device) if device is not None else default_device()
    if data.train.x.device.type != device.type:
        raise ValueError(f"data is on {data.train.x.device}, training on {device}")
    if not 0 <= start_iteration < hp.iterations:
        raise ValueError(f"start_iteration must be in [0, {hp.iterations}), got {start_iteration}")
    check_memory(model_hp, data, len(members), device, hp.batch_size, eval_batch_size)
    model, masked_params, masks, frozen, sparse_layers, optimizer = _setup(
        model_hp, hp, data, members, device, speed, parameterisation, crossovers, eval_batch_size)
    batches = MemberBatches(data.train, [m.data_seed for m in members], hp.batch_size,
                            augment=data.augment)
    autocast = (torch.autocast(device.type, dtype=torch.bfloat16) if speed.bf16
                else contextlib.nullcontext())
    step_fn = _forward_backward(model, autocast)
    if speed.compile:
        step_fn = torch.compile(step_fn)
    loop = LoopState.fresh(model, evaluation_iterations(hp, start_iteration), start_iteration)
    if checkpoint is not None and Path(checkpoint).exists():
        try:
            _load_checkpoint(checkpoint, model, optimizer, loop, device)
        except CheckpointError as error:  # set it aside and start afresh (it moved away)
            set_aside(Path(checkpoint), f"checkpoint unusable ({error})",
                      then="training from the start of this run")
            return train(model_hp, hp, data, members, device=device,
                         start_iteration=start_iteration, snapshot_at=snapshot_at,
                         checkpoint=checkpoint, checkpoint_every=checkpoint_every, speed=speed,
                         eval_batch_size=eval_batch_size, progress=progress, desc=desc,
                         parameterisation=parameterisation, crossovers=crossovers)
    snapshot_at, resumed_at = set(snapshot_at), loop.iteration

    bar = tqdm(total=hp.iterations - start_iteration, initial=loop.iteration - start_iteration,
               desc=desc, disable=not progress, leave=False, unit="it")
    model.train()
    for iteration in range(loop.iteration, hp.iterations):
        loop.iteration = iteration
        if loop.next_point < len(loop.points) and loop.points[loop.next_point] == iteration:
            _record_at(iteration, model, data, hp, loop, sparse_layers, parameterisation,
                       eval_batch_size, autocast)
        if iteration in snapshot_at and iteration not in loop.snapshots:
            sparse_layers.to_dense()
            loop.snapshots[iteration] = [member_state(model, k) for k in range(model.members)]
        if checkpoint is not None and checkpoint_every and iteration > resumed_at \
                and iteration % checkpoint_every == 0:
            sparse_layers.to_dense()
            _save_checkpoint(checkpoint, model, optimizer, loop)
        x, y = batches.get(iteration)
        for group in optimizer.param_groups:
            group["lr"] = hp.lr_at(iteration)
        member_loss, member_acc = step_fn(x, y)
        _masked_update(optimizer, masked_params, masks, frozen)
        with torch.no_grad():
            loop.running[0] += member_loss
            loop.running[1] += member_acc
        loop.running_steps += 1
        if (iteration + 1) % hp.eval_every == 0 or iteration + 1 == hp.iterations:
            bar.update(iteration + 1 - bar.n - start_iteration)
    bar.close()
    _record_at(hp.iterations, model, data, hp, loop, sparse_layers, parameterisation,
               eval_batch_size, autocast)
    if parameterisation is not None:
        return parameterisation.finish(model, data, loop, eval_batch_size, autocast)
    return _finish(model, data, hp, loop, eval_batch_size, autocast)


def _setup(model_hp: ModelHparams, hp: TrainingHparams, data: DataBundle,
           members: Sequence[Member], device: torch.device, speed: SpeedOptions,
           parameterisation: Parameterisation | None, crossovers, eval_batch_size: int):
    """The batched model, what the loop masks (none under a parameterisation: the weights stay
    as built), the layers the sparse path takes over, and the optimizer of what trains."""
    model, masked_params, masks, frozen = _build(model_hp, data, members, device, speed)
    if parameterisation is not None:
        model = parameterisation.module(model, members)
        masked_params, masks, frozen = [], [], None
    sparse_layers = sparse.setup(model, masked_params, masks, frozen, speed, hp,
                                 data.input_shape, device,
                                 crossover.provider(crossovers, hp, device, speed.kernel),
                                 eval_batch=eval_batch_size)
    masked_params, masks, frozen = sparse_layers.dense_rest(masked_params, masks, frozen)
    optimizer = make_optimizer([p for p in sparse_layers.parameters(model) if p.requires_grad],
                               hp, device, speed.kernel)
    return model, masked_params, masks, frozen, sparse_layers, optimizer


def _record_at(iteration: int, model: LotteryModel, data: DataBundle, hp: TrainingHparams,
               loop: LoopState, sparse_layers, parameterisation: Parameterisation | None,
               eval_batch_size: int, autocast) -> None:
    """One evaluation point: the reads see the dense weights (and a parameterisation's)."""
    sparse_layers.to_dense()
    if parameterisation is not None:
        parameterisation.before_record(model)
    record(model, data, hp, loop, iteration, eval_batch_size, autocast)


def _masked_update(optimizer: torch.optim.Optimizer, masked: list[Tensor], masks: list[Tensor],
                   frozen: list[Tensor] | None) -> None:
    """The optimizer step with pruned weights held where they are: gradients masked, weights
    masked again after the step, fixed pruned values restored (sparse layers need none of it:
    their pruned weights do not exist, so ``masked`` may be empty)."""
    if masked:
        torch._foreach_mul_([p.grad for p in masked], masks)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    with torch.no_grad():
        if masked:
            torch._foreach_mul_(masked, masks)
        if frozen is not None:  # fixed pruned values: back after whatever the step did
            torch._foreach_add_(masked, frozen)


def final_train_examples(train: Split, hp: TrainingHparams) -> Split:
    """The training examples the final training accuracy is measured on (all, or the first
    ``hp.final_train_subset`` of the shuffled split: a fixed random sample)."""
    n = hp.final_train_subset
    return train if n is None or n >= len(train) else Split(train.x[:n], train.y[:n])


def _finish(model: LotteryModel, data: DataBundle, hp: TrainingHparams, loop: LoopState,
            eval_batch_size: int, autocast) -> TrainResult:
    """Final weights and training accuracy, then the early-stop weights evaluated on test."""
    final_states = [member_state(model, k) for k in range(model.members)]
    _, final_train_acc = evaluate(model, final_train_examples(data.train, hp),
                                  eval_batch_size, autocast)
    with torch.no_grad():
        for name, t in model_tensors(model).items():
            t.copy_(loop.best[name])
    es_test_loss, es_test_acc = evaluate(model, data.test, eval_batch_size, autocast)
    return _result(loop, es_test_loss.cpu(), es_test_acc.cpu(), final_train_acc.cpu(),
                   final_states)


def history_frame(loop: LoopState) -> pd.DataFrame:
    """The evaluation history: one row per member x evaluation point, iteration + METRICS."""
    history = loop.history.cpu()
    rows = []
    for j, iteration in enumerate(loop.points):
        for k in range(history.shape[2]):
            rows.append({"member": k, "iteration": iteration,
                         **{m: float(history[j, i, k]) for i, m in enumerate(METRICS)}})
    return pd.DataFrame(rows)


def _result(loop: LoopState, es_test_loss, es_test_acc, final_train_acc,
            final_states) -> TrainResult:
    frame = history_frame(loop)
    last = frame[frame.iteration == loop.points[-1]].set_index("member")
    summary = pd.DataFrame({
        "member": range(len(final_states)),
        "early_stop_iteration": loop.best_iteration.cpu().tolist(),
        "early_stop_val_loss": loop.best_val.cpu().tolist(),
        "early_stop_test_loss": es_test_loss.tolist(),
        "early_stop_test_acc": es_test_acc.tolist(),
        "final_val_loss": last.val_loss.tolist(),
        "final_test_acc": last.test_acc.tolist(),
        "final_train_acc": final_train_acc.tolist(),
    })
    return TrainResult(frame, summary, final_states, loop.snapshots)


def _save_checkpoint(path: Path, model, optimizer, loop: LoopState) -> None:
    atomic_save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                 "loop": loop.state_dict()}, Path(path))


def _load_checkpoint(path: Path, model, optimizer, loop: LoopState, device) -> None:
    """Restore a run in progress. An unreadable or foreign checkpoint raises
    :class:`CheckpointError`; the caller sets it aside and starts the run afresh."""
    try:
        saved = torch.load(path, map_location=device, weights_only=True)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        sparse.check_optimizer_state(optimizer)
        loop.load_state_dict(saved["loop"])
    except Exception as error:
        raise CheckpointError(describe(error)) from error


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be resumed from."""
