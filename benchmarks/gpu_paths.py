"""The GPU paths of the engine, each run for a few iterations on a tiny workload and compared
with its float32 reference (``make gpu-check``; the table is drawn by ``gpu_check.py``).

What each path must agree with, and to what tolerance (:data:`TOLERANCE`), measured as the
relative difference of the weights' training updates, ``||(a - w0) - (b - w0)|| / ||b - w0||``
over every float tensor of every member (the updates, not the weights: a weight that barely
moved would hide a wrong update behind its initial value):

- members trained together == each member trained alone (the engine's defining property,
  Frankle & Carbin's trials and controls share one batched call), float32 and under bf16;
- bf16 autocast, channels_last, ``torch.compile``, PyTorch's fused Adam == the float32 eager
  reference;
- the sparse path of masked fc layers == the dense path;
- VGG-19 / ResNet-18 pruned globally (Frankle & Carbin 2019, Sec. 4: 20% per round over the
  convolutions): the pruned fraction is the rate over all layers together, not per layer, and
  pruned weights stay exactly zero through training.

Float32 on CUDA convolves in TF32 where PyTorch allows it (``cudnn.allow_tf32``, on by
default), so conv nets there get the TF32 tolerance. The tolerances are wide because Adam
amplifies rounding: its first steps move every weight by about the learning rate whatever
its gradient's size, so a rounding that flips a tiny gradient's sign flips a whole step (on
the CPU, float32 rounding of 1e-7 shows as up to 2e-5 here; bf16 against float32 as about
0.2). What they catch is a wrong update: an unrelated one scores about 1.4, none at all 1.0.
Every check uses random data of the dataset's shape: agreement and speed do not depend on
the pixels.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path as FilePath

import torch

from lottery.core import crossover
from lottery.core.executors import GPU_SHARE, RayExecutor
from lottery.core.experiments import Runner
from lottery.core.hparams import ModelHparams, TrainingHparams
from lottery.core.presets import resolve
from lottery.core.store import RunStore
from lottery.core.training import (
    EVAL_BATCH,
    Member,
    SpeedOptions,
    TooLarge,
    check_memory,
    free_memory,
    members_that_fit,
    memory_estimate,
    train,
)
from lottery.engine import sparse
from lottery.engine.data import DATASETS, DataBundle, Split
from lottery.engine.masks import Mask
from lottery.engine.members import member_state
from lottery.engine.models import build
from lottery.engine.pruning import next_mask

# the largest relative update difference each comparison may show
TOLERANCE = {"fp32": 1e-3, "tf32": 0.2, "bf16 batched": 0.1, "bf16 vs fp32": 0.5}
# float32 without the sparse chooser (its timing would write <runs>/sparse_crossover.json)
FP32 = SpeedOptions(sparse="off")


@dataclass(frozen=True)
class Size:
    """How big each tiny workload is: members, iterations, batch, examples per split."""

    members: int = 3
    iterations: int = 10
    batch: int = 32
    examples: int = 256
    big_batch: int = 16   # VGG-19 / ResNet-18
    timing: bool = True   # time a second, longer run (else ms from the whole call)
    convs: tuple[str, ...] = ("conv2", "conv4", "conv6")


GPU_SIZE = Size()
# seconds on a 2-core CPU: the evaluation of VGG-19 dominates, so few examples
CPU_SIZE = Size(members=2, iterations=2, batch=4, examples=8, big_batch=2, timing=False,
                convs=("conv2",))


@dataclass
class Outcome:
    """One path's result: ``agreement`` (name -> (measured, tolerance)), the timing and memory
    of its batched run, and notes."""

    agreement: dict[str, tuple[float, float]] = dataclasses.field(default_factory=dict)
    ms_per_network_iteration: float | None = None
    peak_bytes: int | None = None
    estimate_bytes: int | None = None
    notes: list[str] = dataclasses.field(default_factory=list)

    def failures(self) -> list[str]:
        return [f"{name} {value:.2g} > {tol:g}" for name, (value, tol) in self.agreement.items()
                if not value <= tol]


@dataclass
class Context:
    device: torch.device
    size: Size

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"


# --- workloads ---------------------------------------------------------------------------------

def random_data(dataset: str, examples: int, device: torch.device) -> DataBundle:
    spec = DATASETS[dataset]
    generator = torch.Generator().manual_seed(0)

    def split() -> Split:
        x = torch.randn(examples, *spec.input_shape, generator=generator)
        return Split(x.to(device), torch.randint(spec.num_classes, (examples,),
                                                 generator=generator).to(device))

    return DataBundle(dataset, split(), split(), split(), spec.num_classes, spec.input_shape,
                      False, True, "random")


def initial_members(model: ModelHparams, data: DataBundle, k: int,
                    masks: list[Mask | None] | None = None) -> list[Member]:
    net = build(model.name, seeds=list(range(k)), input_shape=data.input_shape,
                num_classes=data.num_classes, **model.options())
    masks = masks or [None] * k
    return [Member(member_state(net, i), masks[i], i) for i in range(k)]


def schedule(hp: TrainingHparams, iterations: int, batch: int) -> TrainingHparams:
    """``hp`` cut to ``iterations`` with one evaluation at the end, constant learning rate."""
    return dataclasses.replace(hp, iterations=iterations, eval_every=iterations, batch_size=batch,
                               milestones=(), warmup=0, test_curve=False)


def run(model: ModelHparams, hp: TrainingHparams, data: DataBundle, members: list[Member],
        ctx: Context, speed: SpeedOptions = FP32):
    return train(model, hp, data, members, device=ctx.device, speed=speed, progress=False,
                 eval_batch_size=len(data.val))


def update_difference(a: list[dict], b: list[dict], start: list[dict]) -> float:
    """``||(a - w0) - (b - w0)|| / ||b - w0||`` over every float tensor of every member."""
    num = den = 0.0
    for sa, sb, s0 in zip(a, b, start, strict=True):
        for name, t0 in s0.items():
            if not t0.is_floating_point():
                continue
            moved = sb[name].double().cpu() - t0.double().cpu()
            num += float((sa[name].double().cpu() - sb[name].double().cpu()).pow(2).sum())
            den += float(moved.pow(2).sum())
    return math.sqrt(num / den) if den > 0 else (0.0 if num == 0 else math.inf)


def fp32_tolerance(ctx: Context, conv: bool) -> float:
    tf32 = ctx.cuda and conv and torch.backends.cudnn.allow_tf32
    return TOLERANCE["tf32" if tf32 else "fp32"]


def _sync(ctx: Context) -> None:
    if ctx.cuda:
        torch.cuda.synchronize(ctx.device)


def timed_batch(model: ModelHparams, hp: TrainingHparams, data: DataBundle,
                members: list[Member], ctx: Context, speed: SpeedOptions, out: Outcome):
    """The batched run, with its peak memory (CUDA) against the estimate, then the same run
    3x longer: ms per network-iteration from the difference, so set-up cancels."""
    if ctx.cuda:
        torch.cuda.reset_peak_memory_stats(ctx.device)
        base = torch.cuda.memory_allocated(ctx.device)
    _sync(ctx)
    began = time.perf_counter()
    result = run(model, hp, data, members, ctx, speed)
    _sync(ctx)
    short = time.perf_counter() - began
    if ctx.cuda:
        out.peak_bytes = torch.cuda.max_memory_allocated(ctx.device) - base
    out.estimate_bytes = memory_estimate(model, data.input_shape, data.num_classes,
                                         len(members), hp.batch_size, len(data.val)).total
    if not ctx.size.timing:  # the whole call, set-up and evaluation included
        out.ms_per_network_iteration = 1000 * short / hp.iterations / len(members)
        return result
    longer = dataclasses.replace(hp, iterations=3 * hp.iterations, eval_every=3 * hp.iterations)
    _sync(ctx)
    began = time.perf_counter()
    run(model, longer, data, members, ctx, speed)
    _sync(ctx)
    long = time.perf_counter() - began
    per = (long - short) / (2 * hp.iterations) if long > short else long / longer.iterations
    out.ms_per_network_iteration = 1000 * per / len(members)
    return result


def batched_vs_alone(preset: str, speed: SpeedOptions, ctx: Context, out: Outcome,
                     tolerance: float, label: str = "batched == alone",
                     masks: list[Mask | None] | None = None):
    """Train K members together (timed) and each alone; record their agreement."""
    hp = resolve(preset, "smoke")
    big = preset.startswith(("vgg", "resnet"))
    data = random_data(hp.data.dataset, ctx.size.examples, ctx.device)
    training = schedule(hp.training, ctx.size.iterations,
                        ctx.size.big_batch if big else ctx.size.batch)
    members = initial_members(hp.model, data, ctx.size.members, masks)
    together = timed_batch(hp.model, training, data, members, ctx, speed, out)
    alone = [run(hp.model, training, data, [m], ctx, speed).final_states[0] for m in members]
    out.agreement[label] = (update_difference(together.final_states, alone,
                                              [m.state for m in members]), tolerance)
    return hp, training, data, members, together


def against_reference(preset: str, speed: SpeedOptions, reference: SpeedOptions, ctx: Context,
                      out: Outcome, tolerance: float, label: str) -> None:
    """The batched run under ``speed`` against the same members under ``reference``."""
    hp = resolve(preset, "smoke")
    data = random_data(hp.data.dataset, ctx.size.examples, ctx.device)
    training = schedule(hp.training, ctx.size.iterations, ctx.size.batch)
    members = initial_members(hp.model, data, ctx.size.members)
    fast = timed_batch(hp.model, training, data, members, ctx, speed, out)
    ref = run(hp.model, training, data, members, ctx, reference)
    out.agreement[label] = (update_difference(fast.final_states, ref.final_states,
                                              [m.state for m in members]), tolerance)


# --- the paths -----------------------------------------------------------------------------------

def fp32_members(ctx: Context) -> Outcome:
    out = Outcome()
    batched_vs_alone("lenet", FP32, ctx, out, fp32_tolerance(ctx, conv=False))
    return out


def bf16_autocast(ctx: Context) -> Outcome:
    out, bf16 = Outcome(), SpeedOptions(bf16=True, sparse="off")
    batched_vs_alone("lenet", bf16, ctx, out, TOLERANCE["bf16 batched"],
                     "lenet batched == alone")
    against_reference("conv2", bf16, FP32, ctx, out, TOLERANCE["bf16 vs fp32"], "conv2 == fp32")
    return out


def channels_last(ctx: Context) -> Outcome:
    out = Outcome()
    against_reference("conv2", SpeedOptions(channels_last=True, sparse="off"), FP32, ctx, out,
                      fp32_tolerance(ctx, conv=True), "conv2 NHWC == NCHW")
    return out


def compiled(ctx: Context) -> Outcome:
    out = Outcome()
    against_reference("lenet", SpeedOptions(compile=True, sparse="off"), FP32, ctx, out,
                      fp32_tolerance(ctx, conv=False), "compile == eager")
    return out


def fused_adam(ctx: Context) -> Outcome:
    """PyTorch's fused Adam (the CUDA default) against the eager exact update."""
    out = Outcome()
    against_reference("lenet", SpeedOptions(kernel="torch_fused", sparse="off"),
                      SpeedOptions(kernel="eager", sparse="off"), ctx, out,
                      fp32_tolerance(ctx, conv=False), "fused == eager")
    return out


def conv_members(ctx: Context) -> Outcome:
    out = Outcome()
    times = []
    for preset in ctx.size.convs:
        batched_vs_alone(preset, FP32, ctx, out, fp32_tolerance(ctx, conv=True),
                         f"{preset} batched == alone")
        times.append(out.ms_per_network_iteration)
    out.notes.append(f"ms: {' / '.join(ctx.size.convs)} = "
                     + " / ".join(f"{t:.2f}" for t in times))
    return out


def global_pruning(preset: str) -> Callable[[Context], Outcome]:
    def check(ctx: Context) -> Outcome:
        """Dense members, pruned globally by one round, then their tickets trained together
        and alone: the kept fraction is 1 - rate over all layers, pruned weights stay 0."""
        out = Outcome()
        hp, training, data, members, dense = batched_vs_alone(
            preset, FP32, ctx, out, fp32_tolerance(ctx, conv=True), "dense batched == alone")
        net = build(hp.model.name, seeds=[0], input_shape=data.input_shape,
                    num_classes=data.num_classes, **hp.model.options())
        kinds = dict(net.prunable)
        full = Mask.dense({n: p.shape[1:] for n, p in net.prunable_weights().items()})
        masks = [next_mask(hp.pruning, kinds, m.state, final, full, 1.0, i)
                 for i, (m, final) in enumerate(zip(members, dense.final_states, strict=True))]
        kept = masks[0].density()
        layers = set(round(d, 3) for d in masks[0].layer_density().values())
        out.agreement["kept - (1 - rate)"] = (abs(kept - (1 - hp.pruning.global_rate)),
                                              1 / masks[0].size())
        out.agreement["layers pruned alike (0 = global)"] = (float(len(layers) == 1), 0.0)
        tickets = [Member(m.state, mask, m.data_seed) for m, mask in zip(members, masks,
                                                                          strict=True)]
        result = run(hp.model, training, data, tickets, ctx)
        leaked = max(float(final[n][~mask[n]].abs().sum()) for final, mask in
                     zip(result.final_states, masks, strict=True) for n in mask)
        out.agreement["pruned weights after training"] = (leaked, 0.0)
        out.notes.append(f"{kept:.1%} kept, layer densities {min(layers):.0%}-{max(layers):.0%}")
        return out
    return check


def sparse_path(ctx: Context) -> Outcome:
    """LeNet's fc layers at 5% density: sparse == dense, sparse batched == alone, and the
    crossover density measured on this device (in memory: nothing is written)."""
    out = Outcome()
    hp = resolve("lenet", "smoke")
    data = random_data(hp.data.dataset, ctx.size.examples, ctx.device)
    net = build("lenet", seeds=[0], input_shape=data.input_shape, num_classes=10)
    generator = torch.Generator().manual_seed(1)
    masks = [Mask.of({n: torch.rand(p.shape[1:], generator=generator) < 0.05
                      for n, p in net.prunable_weights().items()})
             for _ in range(ctx.size.members)]
    on = SpeedOptions(sparse="on")
    _, training, data, members, together = batched_vs_alone(
        "lenet", on, ctx, out, fp32_tolerance(ctx, conv=False), "sparse batched == alone", masks)
    dense = run(hp.model, training, data, members, ctx, FP32)
    out.agreement["sparse == dense"] = (update_difference(
        together.final_states, dense.final_states, [m.state for m in members]),
        fp32_tolerance(ctx, conv=False))
    work = sparse.LayerWork(784, 300, sparse.CROSSOVER_MEMBERS, hp.training.batch_size, False)
    found = crossover.Crossovers(None, crossover.measure_crossover).get(
        work, hp.training, ctx.device, "auto")
    out.agreement["crossover in [0, ladder top]"] = (
        0.0 if 0 <= found <= sparse.LADDER[0] else 1.0, 0.0)
    out.notes.append(f"fc1 training crossover {found:.1%} density")
    return out


def memory_check(ctx: Context) -> Outcome:
    """The refusal before allocating: an impossible member count is refused in one line, a
    possible one is not; on CUDA the peak of a VGG-19 call against the estimate."""
    out = Outcome()
    hp = resolve("vgg19", "smoke")
    data = random_data(hp.data.dataset, ctx.size.examples, ctx.device)
    free = free_memory(ctx.device)
    refused = 0.0
    try:
        check_memory(hp.model, data, 100_000, ctx.device, ctx.size.big_batch, len(data.val))
    except TooLarge as error:
        refused = 1.0
        out.notes.append(str(error).split(":")[0])
    out.agreement["100,000 VGG-19 refused (1 = yes)"] = (1.0 - refused, 0.0)
    check_memory(hp.model, data, 1, ctx.device, ctx.size.big_batch, len(data.val))
    if ctx.cuda:
        training = schedule(hp.training, 2, ctx.size.big_batch)
        members = initial_members(hp.model, data, 2)
        timed_batch(hp.model, training, data, members, ctx, FP32, out)
        # the estimate is what refuses: it must not be below what the call really takes
        out.agreement["peak / estimate"] = (out.peak_bytes / out.estimate_bytes, 1.0)
    out.notes.append(f"free {free / 2**30:.1f} GiB" if free else "free memory unknown")
    paper = resolve("vgg19", "paper")
    limit = members_that_fit(paper.model, data.input_shape, data.num_classes,
                             paper.training.batch_size, EVAL_BATCH, ctx.device)
    out.notes.append(f"paper VGG-19 calls train in parts of {limit} networks here")
    return out


def ray_gpu_shares(ctx: Context) -> Outcome:
    """A LeNet IMP level on a local Ray instance with one GPU: tasks ask for GPU_SHARE of it,
    train on CUDA, and give the local path's numbers."""
    import ray  # the cluster extra: only this path needs it

    out = Outcome()
    hp = resolve("lenet", "smoke", trials=2, levels=1, controls=("reinit",),
                 training__iterations=20, training__eval_every=10)
    started = not ray.is_initialized()
    if started:
        ray.init(num_gpus=int(ctx.cuda), num_cpus=4, include_dashboard=False,
                 logging_level="ERROR")
    try:
        executor = RayExecutor(device=ctx.device.type)  # the CPU: only to try this code
        with tempfile.TemporaryDirectory() as local_dir, tempfile.TemporaryDirectory() as ray_dir:
            began = time.perf_counter()
            remote = Runner(hp, store=RunStore(ray_dir), device=ctx.device, speed=FP32,
                            progress=False, executor=executor).imp().results
            out.notes.append(f"ray run {time.perf_counter() - began:.1f} s; "
                             f"lenet share {GPU_SHARE['lenet']} GPU")
            devices = {json.loads(p.read_text()).get("provenance", {}).get("device")
                       for p in FilePath(ray_dir).rglob("*.json")} - {None}
            local = Runner(hp, store=RunStore(local_dir), device=ctx.device, speed=FP32,
                           progress=False).imp().results
        cols = ["level", "variant", "trial"]
        a, b = (r.sort_values(cols).reset_index(drop=True) for r in (remote, local))
        out.agreement["ray == local (test acc)"] = (
            float((a.early_stop_test_acc - b.early_stop_test_acc).abs().max()), 0.02)
        if ctx.cuda:
            on_cpu = not executor.gpus or not devices or any(d.endswith(" CPU") for d in devices)
            out.agreement["tasks trained on the GPU (0 = yes)"] = (float(on_cpu), 0.0)
        out.notes.append(f"workers trained on {', '.join(sorted(devices))}")
    finally:
        if started:
            ray.shutdown()
    return out


@dataclass(frozen=True)
class Path:
    name: str
    check: Callable[[Context], Outcome]
    cuda_only: bool = False
    needs: str | None = None  # an optional module the path needs


PATHS = [
    Path("fp32 members (LeNet, reference)", fp32_members),
    Path("bf16 autocast", bf16_autocast),
    Path("channels_last", channels_last),
    Path("torch.compile", compiled, cuda_only=True),
    Path("torch fused Adam", fused_adam),
    Path("member-batched conv nets", conv_members),
    Path("VGG-19 global pruning", global_pruning("vgg19")),
    Path("ResNet-18 global pruning", global_pruning("resnet18")),
    Path("Ray with GPU shares", ray_gpu_shares, cuda_only=True, needs="ray"),
    Path("sparse path + crossover", sparse_path),
    Path("memory check", memory_check),
]
