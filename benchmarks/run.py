"""Speed benchmark of the training engine (``make bench``).

    .venv/bin/python benchmarks/run.py                 # full run (< 15 min on 2 CPU cores)
    .venv/bin/python benchmarks/run.py --fast          # smoke test of the harness (~2-3 min)
    .venv/bin/python benchmarks/run.py --check         # self-check of the harness (seconds)
    options: --device cpu|cuda  --out benchmarks/RESULTS.md  --data MNIST_ROOT  --threads N

Sections (every figure: median of several repeats after a warm-up, spread = min-max):

1. LeNet-300-100 (Adam 1.2e-3, batch 60, ~21% density) ms per network-iteration:
   (a) the plain reference loop of ``benchmarks/baseline.py``; (b) ``lottery.training.train``
   with K = 1; (c) the engine with K = 5 and K = 10 members batched. Evaluation is effectively
   off (``eval_every = iterations``, ``test_curve = False``), and fixed costs (setup, the few
   evaluations ``train`` always does) cancel by timing two iteration counts n1 < n2:
   ms/iteration = (T(n2) - T(n1)) / (n2 - n1).
2. Achieved GFLOP/s of (c) (dense FLOPs 6 x 266,200 x 60 per network-iteration) against a large
   fp32 square matmul measured in the same run.
3. Evaluation overhead: the work of one evaluation point (validation, + test when ``test_curve``,
   + the early-stop weight copy), timed directly, over the training time of 100 iterations;
   LeNet on real MNIST (5K val + 10K test), Conv-2 on the synthetic CIFAR-10 stand-in scaled per
   example to 5K + 10K. Plus the FLOP lower bound of the ratio.
4. Conv-2, Conv-4, ResNet-18, VGG-19 ms per iteration at the paper's batch sizes, K = 1 and 2.
5. Projected wall time of the paper-scale LeNet Fig. 4 from 1-3.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from baseline import train_baseline  # noqa: E402

from lottery import optimizers, pruning  # noqa: E402
from lottery.data import DataBundle, Split, load  # noqa: E402
from lottery.hparams import ModelHparams, TrainingHparams  # noqa: E402
from lottery.masks import Mask  # noqa: E402
from lottery.members import member_state  # noqa: E402
from lottery.models import build, weight_counts  # noqa: E402
from lottery.presets import PRESETS  # noqa: E402
from lottery.training import Member, evaluate, keep_improved, train  # noqa: E402

LENET_WEIGHTS = 266_200
LENET_BATCH = 60
EVAL_VAL, EVAL_TEST = 5_000, 10_000
PAPER_BATCH = {"conv2": 60, "conv4": 60, "resnet18": 128, "vgg19": 64}
FIG4 = {"trials": 5, "levels": 18, "iterations": 50_000, "eval_every": 100}
TARGET_HOURS = 2.0


@dataclass(frozen=True)
class Config:
    repeats: int            # LeNet training repeats (each: one n1 run and one n2 run)
    lenet_iters: tuple[int, int]
    lenet_train: int        # training examples used for the training-speed runs
    matmul_size: int
    matmul_repeats: int
    eval_repeats: int
    conv_repeats: int
    conv_iters: dict[str, tuple[int, int]]
    lenet_members: tuple[int, ...] = (5, 10)
    conv_warmup: int = 1    # warm-up runs before the conv-net repeats
    conv_eval_examples: tuple[int, int] | None = None  # (val, test) subset of the stand-in
    option_repeats: int = 3  # repeats of the section 1b variants


FULL = Config(repeats=5, lenet_iters=(100, 300), lenet_train=12_000, matmul_size=4096,
              matmul_repeats=5, eval_repeats=5, conv_repeats=3,
              conv_iters={"conv2": (1, 3), "conv4": (1, 3), "resnet18": (1, 3), "vgg19": (1, 2)})
FAST = Config(repeats=2, lenet_iters=(20, 60), lenet_train=6_000, matmul_size=2048,
              matmul_repeats=3, eval_repeats=2, conv_repeats=1,
              conv_iters={"conv2": (1, 2), "conv4": (1, 2), "resnet18": (1, 2), "vgg19": (1, 2)},
              conv_warmup=0, conv_eval_examples=(100, 200), option_repeats=1)


# ----------------------------------------------------------------------------- measurement


@dataclass
class Stat:
    """Median of repeated measurements and their min-max spread."""

    values: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def scaled(self, factor: float) -> Stat:
        return Stat([v * factor for v in self.values])

    def fmt(self, digits: int = 2) -> str:
        lo, hi = min(self.values), max(self.values)
        return f"{self.median:.{digits}f} [{lo:.{digits}f}-{hi:.{digits}f}]"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], object], device: torch.device) -> float:
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def per_iteration(run: Callable[[int], object], iters: tuple[int, int], repeats: int,
                  device: torch.device, warmup: int = 1) -> Stat:
    """Seconds per iteration by differencing: (T(n2) - T(n1)) / (n2 - n1), one value a repeat."""
    n1, n2 = iters
    for _ in range(warmup):
        run(n1)
    values = []
    for r in range(repeats):
        order = (n1, n2) if r % 2 == 0 else (n2, n1)  # alternate so drift hits both alike
        t = {n: timed(lambda n=n: run(n), device) for n in order}
        values.append((t[n2] - t[n1]) / (n2 - n1))
    return Stat(values)


def repeated(fn: Callable[[], object], repeats: int, device: torch.device,
             warmup: int = 1) -> Stat:
    for _ in range(warmup):
        fn()
    return Stat([timed(fn, device) for _ in range(repeats)])


# ----------------------------------------------------------------------------- set-up


def machine(device: torch.device) -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"CPU": cpu, "cores (os.cpu_count)": str(os.cpu_count()),
            "torch threads": str(torch.get_num_threads()), "torch": torch.__version__,
            "python": platform.python_version(), "device": str(device)}
    if device.type == "cuda":
        info["GPU"] = torch.cuda.get_device_name(device)
    try:
        load1 = os.getloadavg()
        info["load average at start"] = " ".join(f"{v:.2f}" for v in load1)
        if load1[0] > (os.cpu_count() or 1) * 0.75:
            info["WARNING"] = ("machine busy at start: with more runnable threads than cores, "
                               "multi-threaded torch ops slow down many-fold; rerun when quiet")
    except OSError:
        pass
    return info


def lenet_mask() -> Mask:
    """Layerwise magnitude pruning of LeNet to 7 rounds (fc 20%, output 10% a round): ~21%."""
    state = member_state(build("lenet", seeds=[0]), 0)
    weights = {n: state[n] for n in ("fc1.weight", "fc2.weight", "fc3.weight")}
    dense = Mask.dense({n: w.shape for n, w in weights.items()})
    rates = {"fc1.weight": 0.2, "fc2.weight": 0.2, "fc3.weight": 0.1}
    return pruning.prune_layerwise(pruning.scores("large_final", weights, weights), dense,
                                   rates, rounds=7)


def members_for(name: str, k: int, mask: Mask | None) -> list[Member]:
    """K members: weights from seed k, a random mask of ``mask``'s per-layer density."""
    out = []
    for i in range(k):
        state = member_state(build(name, seeds=[i]), 0)
        member_mask = None if mask is None else pruning.random_mask_like(mask, seed=100 + i)
        out.append(Member(state, member_mask, data_seed=i))
    return out


def with_splits(bundle: DataBundle, train: Split | None = None, val: Split | None = None,
                test: Split | None = None) -> DataBundle:
    return dataclasses.replace(bundle, train=bundle.train if train is None else train,
                               val=bundle.val if val is None else val,
                               test=bundle.test if test is None else test)


def head(split: Split, n: int) -> Split:
    return Split(split.x[:n], split.y[:n])


def engine_runner(model_hp: ModelHparams, hp: TrainingHparams, data: DataBundle,
                  members: Sequence[Member], device: torch.device,
                  **options) -> Callable[[int], object]:
    """``run(n)``: ``train`` for n iterations with evaluation effectively off; ``options``
    are ``train``'s speed options (``fused``, ``channels_last``, ``compile``)."""
    def run(n: int):
        hp_n = dataclasses.replace(hp, iterations=n, eval_every=n, test_curve=False,
                                   milestones=(), warmup=0)
        return train(model_hp, hp_n, data, members, device=device, progress=False, **options)
    return run


@contextlib.contextmanager
def pytorch_sqrt():
    """The eager Adam with PyTorch's own CPU square root (what the engine used before)."""
    saved = optimizers.ieee_sqrt_
    optimizers.ieee_sqrt_ = lambda source, out: torch.sqrt(source, out=out)
    try:
        yield
    finally:
        optimizers.ieee_sqrt_ = saved


EAGER = "eager Adam update (`fused=False`)"
# label -> (train() speed options, context): the LeNet variants of section 1b
LENET_OPTIONS = {
    "eager Adam with PyTorch's MKL sqrt (the engine before this change)": ({"fused": False},
                                                                          pytorch_sqrt),
    EAGER: ({"fused": False}, contextlib.nullcontext),
    "PyTorch's fused Adam (`fused=True`, not exact batched vs alone)": ({"fused": True},
                                                                       contextlib.nullcontext),
    "`compile=True` (torch.compile of forward + backward)": ({"compile": True},
                                                           contextlib.nullcontext),
}


def record_work(model, data: DataBundle, test_curve: bool, eval_batch_size: int = 5000):
    """The work of one evaluation point of ``train`` (its ``record``): validation, test when
    ``test_curve``, and the device-side early-stop copy of every parameter and buffer."""
    tensors = dict(model.named_parameters()) | dict(model.named_buffers())
    best = {n: t.detach().clone() for n, t in tensors.items()}
    best_val = torch.full((model.members,), float("inf"), device=data.val.x.device)

    def work():
        val_loss, _ = evaluate(model, data.val, eval_batch_size)
        if test_curve:
            evaluate(model, data.test, eval_batch_size)
        keep_improved(best_val, val_loss, best, tensors, val_loss < best_val)
    return work


def matmul_peak(size: int, repeats: int, device: torch.device) -> Stat:
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    out = torch.empty(size, size, device=device)
    seconds = repeated(lambda: torch.mm(a, b, out=out), repeats, device)
    return Stat([2 * size**3 / s / 1e9 for s in seconds.values])


# ----------------------------------------------------------------------------- the benchmark


def mark(ok: bool) -> str:
    return "met" if ok else "NOT met"


def run_benchmark(cfg: Config, device: torch.device, log: Callable[[str], None],
                  data_root: Path | None = None) -> dict:
    results: dict = {"machine": machine(device), "config": cfg}
    lenet = PRESETS["lenet"]
    lenet_hp = lenet.training  # Adam 1.2e-3, batch 60, 50K iterations
    model_hp = ModelHparams("lenet")
    assert weight_counts(build("lenet"))["weights"] == LENET_WEIGHTS

    log("loading MNIST ...")
    mnist = load("mnist", root=data_root, device=device, download=False)
    train_split = head(mnist.train, cfg.lenet_train)
    tiny = Split(mnist.val.x[:500], mnist.val.y[:500])
    speed_data = with_splits(mnist, train=train_split, val=tiny, test=tiny)
    mask = lenet_mask()
    results["density"] = mask.density()
    results["layer_density"] = mask.layer_density()

    # ---- 1. LeNet ms per network-iteration
    timings: dict[str, Stat] = {}
    log(f"[1] baseline, iterations {cfg.lenet_iters} ...")
    x_cpu, y_cpu = train_split.x, train_split.y
    base_masks = {n: m.to(device) for n, m in pruning.random_mask_like(mask, seed=100).items()}
    timings["(a) baseline nn.Module + DataLoader"] = per_iteration(
        lambda n: train_baseline(x_cpu, y_cpu, base_masks, n, lr=lenet_hp.lr,
                                 batch_size=lenet_hp.batch_size),
        cfg.lenet_iters, cfg.repeats, device)
    for k in (1, *cfg.lenet_members):
        log(f"[1] engine K={k} ...")
        run = engine_runner(model_hp, lenet_hp, speed_data, members_for("lenet", k, mask), device)
        step = per_iteration(run, cfg.lenet_iters, cfg.repeats, device)
        label = "(b) engine K=1" if k == 1 else f"(c) engine K={k}"
        timings[label] = step.scaled(1.0 / k)  # per network-iteration
        results.setdefault("step", {})[k] = step  # whole K-member step
    results["lenet"] = timings
    results["lenet_options"] = {}
    for k in cfg.lenet_members:
        members = members_for("lenet", k, mask)
        variants = {"default (compiled Adam update)": timings[f"(c) engine K={k}"]}
        for label, (options, context) in LENET_OPTIONS.items():
            log(f"[1b] engine K={k}, {label} ...")
            with context():
                run = engine_runner(model_hp, lenet_hp, speed_data, members, device, **options)
                variants[label] = per_iteration(run, cfg.lenet_iters, cfg.option_repeats,
                                                device).scaled(1.0 / k)
        results["lenet_options"][k] = variants

    # ---- 2. matmul peak
    log(f"[2] fp32 matmul peak, {cfg.matmul_size}^2 ...")
    results["peak"] = matmul_peak(cfg.matmul_size, cfg.matmul_repeats, device)

    # ---- 3. evaluation overhead
    eval_rows = []
    log("[3] LeNet evaluation (real MNIST, 5K val + 10K test) ...")
    lenet_eval_data = with_splits(mnist, val=head(mnist.val, EVAL_VAL),
                                  test=head(mnist.test, EVAL_TEST))
    for k in (1, *cfg.lenet_members):
        model = build("lenet", seeds=range(k)).to(device)
        for test_curve in (True, False):
            ev = repeated(record_work(model, lenet_eval_data, test_curve), cfg.eval_repeats,
                          device)
            eval_rows.append({"model": "lenet", "K": k, "test_curve": test_curve,
                              "eval_s": ev, "scale": 1.0,
                              "sizes": f"{len(lenet_eval_data.val)}+{len(lenet_eval_data.test)}"})
    results["eval_rows"] = eval_rows

    # ---- 4. conv nets (synthetic CIFAR-10 stand-in)
    log("loading synthetic CIFAR-10 stand-in ...")
    cifar = load("synthetic_cifar10", device=device)
    conv = {}
    for name, batch in PAPER_BATCH.items():
        preset = PRESETS[name]
        hp = dataclasses.replace(preset.training, batch_size=batch)
        # tiny splits: the fixed evaluations train() always runs stay negligible
        data = with_splits(cifar, train=head(cifar.train, 2 * batch), val=head(cifar.val, 8),
                           test=head(cifar.test, 8))
        for k in (1, 2):
            for channels_last in (False, True):
                log(f"[4] {name} K={k} batch {batch} channels_last={channels_last}, "
                    f"iterations {cfg.conv_iters[name]} ...")
                run = engine_runner(ModelHparams(name), hp, data, members_for(name, k, None),
                                    device, channels_last=channels_last)
                conv[(name, k, channels_last)] = per_iteration(
                    run, cfg.conv_iters[name], cfg.conv_repeats, device, warmup=cfg.conv_warmup)
    results["conv"] = conv

    # ---- 3 (cont.). Conv-2 evaluation on the stand-in, scaled per example to 5K + 10K
    log("[3] Conv-2 evaluation (synthetic stand-in, scaled to 5K + 10K) ...")
    if cfg.conv_eval_examples is not None:
        n_val, n_test = cfg.conv_eval_examples
        cifar = with_splits(cifar, val=head(cifar.val, n_val), test=head(cifar.test, n_test))
    for k in (1, 2):
        model = build("conv2", seeds=range(k)).to(device)
        for test_curve in (True, False):
            ev = repeated(record_work(model, cifar, test_curve), max(2, cfg.eval_repeats // 2),
                          device)
            n_measured = len(cifar.val) + (len(cifar.test) if test_curve else 0)
            n_real = EVAL_VAL + (EVAL_TEST if test_curve else 0)
            eval_rows.append({"model": "conv2", "K": k, "test_curve": test_curve,
                              "eval_s": ev.scaled(n_real / n_measured),
                              "scale": n_real / n_measured,
                              "sizes": f"{len(cifar.val)}+{len(cifar.test)} scaled"})
    return results


def analyse(results: dict) -> dict:
    """Derived figures: speed-ups, GFLOP/s, eval ratios, the Fig. 4 projection, targets."""
    t = results["lenet"]
    base = t["(a) baseline nn.Module + DataLoader"].median
    out: dict = {"speedup": {label: base / s.median for label, s in t.items()}}
    flops_per_net_iter = 6 * LENET_WEIGHTS * LENET_BATCH
    peak = results["peak"].median
    out["gflops"] = {label: Stat([flops_per_net_iter / v / 1e9 for v in s.values])
                     for label, s in t.items()}
    out["pct_peak"] = {label: 100 * g.median / peak for label, g in out["gflops"].items()}

    ratios = []
    for row in results["eval_rows"]:
        if row["model"] == "lenet":
            step = results["step"][row["K"]]
        else:
            step = results["conv"][("conv2", row["K"], False)]
        train_100 = step.scaled(100)
        evals = EVAL_VAL + (EVAL_TEST if row["test_curve"] else 0)
        bound = 2 * evals / (6 * LENET_BATCH * 100) if row["model"] == "lenet" else \
            2 * evals / (6 * PAPER_BATCH["conv2"] * 100)
        ratios.append({**row, "train_100_s": train_100,
                       "ratio": row["eval_s"].median / train_100.median, "bound": bound})
    out["eval"] = ratios

    # ---- 5. Fig. 4 projection
    def eval_ratio(k: int, test_curve: bool) -> float:
        return next(r["ratio"] for r in ratios if r["model"] == "lenet" and r["K"] == k
                    and r["test_curve"] == test_curve)

    def projection(step5: float, step10: float) -> dict:
        proj = {}
        for test_curve in (True, False):  # eval time measured directly, over this step time
            e5 = eval_ratio(5, test_curve) * results["step"][5].median / step5
            e10 = eval_ratio(10, test_curve) * results["step"][10].median / step10
            seconds = FIG4["iterations"] * (step5 * (1 + e5)
                                            + FIG4["levels"] * step10 * (1 + e10))
            proj[test_curve] = {"e5": e5, "e10": e10, "seconds": seconds,
                                "step5": step5, "step10": step10}
        return proj

    out["projection"] = projection(results["step"][5].median, results["step"][10].median)
    options = results["lenet_options"]
    out["projection_eager"] = projection(5 * options[5][EAGER].median,
                                         10 * options[10][EAGER].median)

    targets = []
    for k in results["config"].lenet_members:
        label = f"(c) engine K={k}"
        targets.append((f"(c) K={k} >= 5x faster per network-iteration than (a)",
                        f"{out['speedup'][label]:.2f}x", out["speedup"][label] >= 5))
    targets.append(("(b) K=1 >= 2x faster than (a)",
                    f"{out['speedup']['(b) engine K=1']:.2f}x",
                    out["speedup"]["(b) engine K=1"] >= 2))
    for k in results["config"].lenet_members:
        label = f"(c) engine K={k}"
        targets.append((f"(c) K={k} >= 80% of fp32 matmul peak",
                        f"{out['pct_peak'][label]:.1f}%", out["pct_peak"][label] >= 80))
    for r in ratios:
        if r["K"] in (1, 10) or r["model"] == "conv2":
            targets.append((f"eval overhead <= 15%: {r['model']} K={r['K']} "
                            f"test_curve={r['test_curve']}", f"{100 * r['ratio']:.1f}%",
                            r["ratio"] <= 0.15))
    for name, proj in (("", out["projection"]), (", eager Adam", out["projection_eager"])):
        for test_curve, p in proj.items():
            targets.append((f"projected Fig. 4 <= {TARGET_HOURS:g} h (test_curve={test_curve}"
                            f"{name})", f"{p['seconds'] / 3600:.2f} h",
                            p["seconds"] <= TARGET_HOURS * 3600))
    out["targets"] = targets
    return out


def report(results: dict, derived: dict, mode: str, wall: float) -> str:
    cfg: Config = results["config"]
    lines = [f"# Engine speed benchmark ({mode} mode)", "",
             "Generated by `benchmarks/run.py`. Every figure: median of repeats after a warm-up,",
             "with the min-max spread in brackets. The machine may be shared: check the load.",
             "", "## Machine", "", "| | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in results["machine"].items()]
    lines += [f"| load average at end | {' '.join(f'{v:.2f}' for v in os.getloadavg())} |",
              f"| benchmark wall time | {wall:.0f} s |", ""]

    n1, n2 = cfg.lenet_iters
    lines += ["## 1. LeNet-300-100 training, ms per network-iteration", "",
              f"Adam lr 1.2e-3, batch 60, real MNIST (first {cfg.lenet_train:,} training "
              f"examples), masks at {100 * results['density']:.1f}% density (layerwise "
              "magnitude pruning to 7 rounds, then `random_mask_like` per member). "
              f"ms/iteration = (T({n2}) - T({n1})) / {n2 - n1}; engine runs with "
              "`eval_every = iterations`, `test_curve = False`. "
              f"{cfg.repeats} repeats.", "",
              "| implementation | ms / network-iteration | speed-up vs (a) | GFLOP/s | % of peak |",
              "|---|---|---|---|---|"]
    for label, s in results["lenet"].items():
        lines.append(f"| {label} | {s.scaled(1e3).fmt(3)} | {derived['speedup'][label]:.2f}x "
                     f"| {derived['gflops'][label].fmt(1)} | {derived['pct_peak'][label]:.1f}% |")
    base = results["lenet"]["(a) baseline nn.Module + DataLoader"].median
    lines += ["", "### 1b. Optimizer kernels and speed options (same members and masks)", "",
              f"Each variant timed as in the table above, {cfg.option_repeats} repeats. The "
              "default row is the table's (c) row.", "",
              "| K | variant | ms / network-iteration | vs (a) | vs default |",
              "|---|---|---|---|---|"]
    for k, variants in results["lenet_options"].items():
        default = next(iter(variants.values())).median
        for label, s in variants.items():
            lines.append(f"| {k} | {label} | {s.scaled(1e3).fmt(3)} | {base / s.median:.2f}x "
                         f"| {default / s.median:.2f}x |")
    lines += ["", "## 2. Achieved GFLOP/s vs fp32 matmul peak", "",
              f"Dense FLOPs per network-iteration: 6 x {LENET_WEIGHTS:,} x {LENET_BATCH} = "
              f"{6 * LENET_WEIGHTS * LENET_BATCH / 1e6:.1f} MFLOP. Peak: "
              f"{cfg.matmul_size}x{cfg.matmul_size} fp32 `torch.mm`, {cfg.matmul_repeats} repeats: "
              f"**{results['peak'].fmt(1)} GFLOP/s**. Percent of peak is in the table above.", ""]

    lines += ["## 3. Evaluation overhead (one evaluation every 100 iterations)", "",
              "eval = validation (+ test when test_curve) + the early-stop weight copy, timed "
              "directly with `lottery.training.evaluate` (batch 5000); train = 100 x the "
              "K-member step of sections 1 / 4. FLOP bound = 2 x evaluated examples / "
              "(6 x batch x 100). Conv-2 uses the synthetic stand-in (val 500, test 1000), "
              "its eval time scaled per example to 5K + 10K (timed at batch <= 1000).", "",
              "| model | K | test_curve | examples | eval s / point | train s / 100 it "
              "| ratio | FLOP bound |", "|---|---|---|---|---|---|---|---|"]
    for r in derived["eval"]:
        lines.append(f"| {r['model']} | {r['K']} | {r['test_curve']} | {r['sizes']} "
                     f"| {r['eval_s'].fmt(3)} | {r['train_100_s'].fmt(3)} "
                     f"| {100 * r['ratio']:.1f}% | {100 * r['bound']:.1f}% |")

    lines += ["", "## 4. Conv nets: ms per iteration at paper batch sizes "
              "(synthetic CIFAR-10 stand-in, dense)", "",
              f"{cfg.conv_repeats} repeats; iterations (n1, n2) per model: "
              + ", ".join(f"{m} {v}" for m, v in cfg.conv_iters.items()) + ".", "",
              "NCHW is the default layout; NHWC is `channels_last=True`.", "",
              "| model | batch | layout | K=1 ms / it | K=2 ms / step | K=2 ms / network-it "
              "| K=2 batching gain | NHWC speed-up K=1 / K=2 |",
              "|---|---|---|---|---|---|---|---|"]
    for name, batch in PAPER_BATCH.items():
        for channels_last in (False, True):
            one = results["conv"][(name, 1, channels_last)]
            two = results["conv"][(name, 2, channels_last)]
            gain = "" if not channels_last else (
                f"{results['conv'][(name, 1, False)].median / one.median:.2f}x / "
                f"{results['conv'][(name, 2, False)].median / two.median:.2f}x")
            lines.append(f"| {name} | {batch} | {'NHWC' if channels_last else 'NCHW'} "
                         f"| {one.scaled(1e3).fmt(0)} | {two.scaled(1e3).fmt(0)} "
                         f"| {two.scaled(500).fmt(0)} | {one.median / (two.median / 2):.2f}x "
                         f"| {gain} |")

    lines += ["", "## 5. Projected paper-scale LeNet Fig. 4", "",
              f"{FIG4['trials']} trials batched; level 0: 5 members, levels 1-{FIG4['levels']}: "
              f"10 members (5 tickets + 5 reinit); {FIG4['iterations']:,} iterations; "
              f"evaluation every {FIG4['eval_every']}.", "",
              "T = iterations x [step(K=5) x (1 + e5) + 18 x step(K=10) x (1 + e10)]", ""]
    for name, key in (("default", "projection"), ("eager Adam (fused=False)", "projection_eager")):
        for test_curve, p in derived[key].items():
            lines.append(f"- {name}, test_curve={test_curve}: T = {FIG4['iterations']:,} x "
                         f"[{p['step5'] * 1e3:.2f} ms x (1 + {p['e5']:.3f}) + 18 x "
                         f"{p['step10'] * 1e3:.2f} ms x (1 + {p['e10']:.3f})] = "
                         f"**{p['seconds'] / 3600:.2f} h**")
    lines += ["", "(Excludes per-level fixed costs: final train-set and early-stop evaluations, "
              "pruning, storage.)", "", "## Targets", "", "| target | value | status |",
              "|---|---|---|"]
    lines += [f"| {name} | {value} | {mark(ok)} |" for name, value, ok in derived["targets"]]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- self-check


def self_check(device: torch.device) -> None:
    """Seconds-long sanity checks of the harness (no pytest needed)."""
    torch.manual_seed(0)
    assert weight_counts(build("lenet"))["weights"] == LENET_WEIGHTS
    mask = lenet_mask()
    assert 0.15 < mask.density() < 0.25, mask.density()
    # the baseline and the engine compute the same network from the same weights
    engine_model = build("lenet", seeds=[3])
    state = member_state(engine_model, 0)
    from baseline import LeNet300100
    plain = LeNet300100()
    plain.load_state_dict(state)
    x = torch.randn(7, 1, 28, 28)
    assert torch.allclose(plain(x), engine_model(x)[0], atol=1e-5)
    # the baseline keeps pruned weights at zero and learns
    data = load("synthetic_mnist", device=device)
    masks = {n: m.to(device) for n, m in pruning.random_mask_like(mask, seed=1).items()}
    model = train_baseline(data.train.x, data.train.y, masks, 60)
    params = dict(model.named_parameters())
    for name, m in masks.items():
        assert bool((params[name][~m.bool()] == 0).all()), name
    with torch.no_grad():
        acc = (model(data.test.x).argmax(1) == data.test.y).float().mean().item()
    assert acc > 0.3, acc
    # the engine runner trains K members and keeps their masks
    members = members_for("lenet", 2, mask)
    run = engine_runner(ModelHparams("lenet"), PRESETS["lenet"].training, data, members, device)
    result = run(30)
    for k, member in enumerate(members):
        for name, m in member.mask.items():
            assert bool((result.final_states[k][name][~m] == 0).all()), (k, name)
    # the differencing timer recovers a known per-iteration cost
    stat = per_iteration(lambda n: time.sleep(0.01 + 0.002 * n), (2, 12), 2, device, warmup=0)
    assert 0.0015 < stat.median < 0.004, stat.values
    assert matmul_peak(256, 2, device).median > 0
    print("self-check passed")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fast", action="store_true", help="tiny repeats: smoke the harness")
    parser.add_argument("--check", action="store_true", help="run the self-check and exit")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "RESULTS.md")
    parser.add_argument("--data", type=Path, default=None,
                        help="MNIST folder (default: $LOTTERY_DATA, else ./data)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if args.check:
        self_check(device)
        return
    cfg = FAST if args.fast else FULL
    mode = "fast (smoke, noisy)" if args.fast else "full"
    start = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - start:6.1f}s] {msg}", flush=True)

    results = run_benchmark(cfg, device, log, args.data)
    derived = analyse(results)
    text = report(results, derived, mode, time.perf_counter() - start)
    print()
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
