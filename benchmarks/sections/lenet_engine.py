"""Section 1: LeNet-300-100 training speed, ms per network-iteration.

(a) the plain reference loop of ``benchmarks/baseline.py``; (b) the engine with K = 1; (c) the
engine with K members batched; 1b: the optimizer kernels and speed options at the same K.
Evaluation is effectively off and fixed costs cancel by differencing two iteration counts.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

from benchmarks.baseline import train_baseline
from benchmarks.context import Config, Context
from benchmarks.harness import Stat, per_iteration
from benchmarks.report import Target
from benchmarks.sections.matmul_peak import MatmulPeak
from benchmarks.workloads import (
    LENET_WEIGHTS,
    engine_runner,
    head,
    lenet_mask,
    members_for,
    with_splits,
)
from lottery.core.hparams import ModelHparams
from lottery.core.presets import PRESETS
from lottery.core.training import DEFAULT_SPEED, Member, SpeedOptions
from lottery.engine import optimizers, pruning
from lottery.engine.data import DataBundle
from lottery.engine.masks import Mask
from lottery.engine.models import build, weight_counts


@contextlib.contextmanager
def pytorch_sqrt() -> Iterator[None]:
    """The eager Adam with PyTorch's own CPU square root (what the engine used before)."""
    saved = optimizers.ieee_sqrt_
    optimizers.ieee_sqrt_ = lambda source, out: torch.sqrt(source, out=out)
    try:
        yield
    finally:
        optimizers.ieee_sqrt_ = saved


@dataclass(frozen=True)
class Variant:
    """One way of running the engine: its speed options, inside ``context``."""

    label: str
    speed: SpeedOptions = DEFAULT_SPEED
    context: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext


DEFAULT = Variant("default (Adam update as one C pass)")
EAGER = Variant('eager Adam update (`kernel="eager"`)', SpeedOptions(kernel="eager"))
OPTIONS = (
    Variant("eager Adam with PyTorch's MKL sqrt (the engine before this change)",
            SpeedOptions(kernel="eager"), pytorch_sqrt),
    EAGER,
    Variant("PyTorch's fused Adam (`kernel=\"torch_fused\"`, not exact batched vs alone)",
            SpeedOptions(kernel="torch_fused")),
    Variant("`compile=True` (torch.compile of forward + backward)", SpeedOptions(compile=True)),
)
BASELINE = "(a) baseline nn.Module + DataLoader"


@dataclass
class LenetEngine:
    cfg: Config
    density: float                          # of the masks every run trains
    peak: MatmulPeak                        # section 2, for the GFLOP/s columns
    baseline: Stat                          # seconds per iteration of (a)
    steps: dict[int, dict[Variant, Stat]]   # K -> variant -> seconds per K-member step

    def step(self, k: int, variant: Variant = DEFAULT) -> Stat:
        """Seconds per step of all K members."""
        return self.steps[k][variant]

    def per_network(self, k: int, variant: Variant = DEFAULT) -> Stat:
        return self.step(k, variant).scaled(1.0 / k)

    def speedup(self, seconds: Stat) -> float:
        return self.baseline.median / seconds.median

    def rows(self) -> list[tuple[str, Stat]]:
        """The main table: label and seconds per network-iteration."""
        return [(BASELINE, self.baseline), ("(b) engine K=1", self.per_network(1))] + \
            [(f"(c) engine K={k}", self.per_network(k)) for k in self.cfg.lenet_members]

    def render(self) -> list[str]:
        return self.render_engines() + self.render_options()

    def render_engines(self) -> list[str]:
        n1, n2 = self.cfg.lenet_iters
        lines = ["## 1. LeNet-300-100 training, ms per network-iteration", "",
                 f"Adam lr 1.2e-3, batch 60, real MNIST (first {self.cfg.lenet_train:,} training "
                 f"examples), masks at {100 * self.density:.1f}% density (layerwise "
                 "magnitude pruning to 7 rounds, then `random_mask_like` per member). "
                 f"ms/iteration = (T({n2}) - T({n1})) / {n2 - n1}; engine runs with "
                 "`eval_every = iterations`, `test_curve = False`. "
                 f"{self.cfg.repeats} repeats.", "",
                 "| implementation | ms / network-iteration | speed-up vs (a) | GFLOP/s "
                 "| % of peak |", "|---|---|---|---|---|"]
        for label, s in self.rows():
            lines.append(f"| {label} | {s.scaled(1e3).fmt(3)} | {self.speedup(s):.2f}x "
                         f"| {self.peak.achieved(s).fmt(1)} | {self.peak.percent(s):.1f}% |")
        return lines + [""]

    def render_options(self) -> list[str]:
        lines = ["### 1b. Optimizer kernels and speed options (same members and masks)", "",
                 f"Each variant timed as in the table above, {self.cfg.option_repeats} repeats. "
                 "The default row is the table's (c) row.", "",
                 "| K | variant | ms / network-iteration | vs (a) | vs default |",
                 "|---|---|---|---|---|"]
        for k in self.cfg.lenet_members:
            default = self.per_network(k).median
            for variant in (DEFAULT, *OPTIONS):
                s = self.per_network(k, variant)
                lines.append(f"| {k} | {variant.label} | {s.scaled(1e3).fmt(3)} "
                             f"| {self.speedup(s):.2f}x | {default / s.median:.2f}x |")
        return lines + [""]

    def targets(self) -> list[Target]:
        members = self.cfg.lenet_members
        speedups = {k: self.speedup(self.per_network(k)) for k in (1, *members)}
        out = [Target(f"(c) K={k} >= 5x faster per network-iteration than (a)",
                      f"{speedups[k]:.2f}x", speedups[k] >= 5) for k in members]
        out.append(Target("(b) K=1 >= 2x faster than (a)", f"{speedups[1]:.2f}x",
                          speedups[1] >= 2))
        for k in members:
            percent = self.peak.percent(self.per_network(k))
            out.append(Target(f"(c) K={k} >= 80% of fp32 matmul peak", f"{percent:.1f}%",
                              percent >= 80))
        return out


def engine_step(ctx: Context, data: DataBundle, members: list[Member], variant: Variant,
                repeats: int) -> Stat:
    """Seconds per step of ``train`` on ``members`` run as ``variant``."""
    with variant.context():
        run = engine_runner(ModelHparams("lenet"), PRESETS["lenet"].training, data, members,
                            ctx.device, variant.speed)
        return per_iteration(run, ctx.cfg.lenet_iters, repeats, ctx.device)


def baseline_iteration(ctx: Context, data: DataBundle, mask: Mask) -> Stat:
    """Seconds per iteration of the reference loop, masks as member 0's."""
    ctx.log(f"[1] baseline, iterations {ctx.cfg.lenet_iters} ...")
    hp = PRESETS["lenet"].training  # Adam 1.2e-3, batch 60
    masks = {n: m.to(ctx.device) for n, m in pruning.random_mask_like(mask, seed=100).items()}
    x, y = data.train.x, data.train.y
    return per_iteration(lambda n: train_baseline(x, y, masks, n, lr=hp.lr,
                                                  batch_size=hp.batch_size),
                         ctx.cfg.lenet_iters, ctx.cfg.repeats, ctx.device)


def measure(ctx: Context, peak: MatmulPeak) -> LenetEngine:
    cfg = ctx.cfg
    assert weight_counts(build("lenet"))["weights"] == LENET_WEIGHTS
    mnist, mask = ctx.mnist, lenet_mask()
    tiny = head(mnist.val, 500)  # the two evaluations train() always runs stay negligible
    data = with_splits(mnist, train=head(mnist.train, cfg.lenet_train), val=tiny, test=tiny)
    baseline = baseline_iteration(ctx, data, mask)
    steps: dict[int, dict[Variant, Stat]] = {}
    for k in (1, *cfg.lenet_members):
        ctx.log(f"[1] engine K={k} ...")
        steps[k] = {DEFAULT: engine_step(ctx, data, members_for("lenet", k, mask), DEFAULT,
                                         cfg.repeats)}
    for k in cfg.lenet_members:
        members = members_for("lenet", k, mask)
        for variant in OPTIONS:
            ctx.log(f"[1b] engine K={k}, {variant.label} ...")
            steps[k][variant] = engine_step(ctx, data, members, variant, cfg.option_repeats)
    return LenetEngine(cfg, mask.density(), peak, baseline, steps)
