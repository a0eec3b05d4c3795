"""Section 3: evaluation overhead, the time of one evaluation point over that of the training
iterations between two points.

One point is one ``lottery.core.training.record`` call (validation, test when ``test_curve``, the
early-stop copy of every tensor), timed on a fresh ``LoopState``. LeNet runs on real MNIST
(5K val + 10K test); Conv-2 on the synthetic CIFAR-10 stand-in, scaled per example to 5K + 10K.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from benchmarks.context import Context
from benchmarks.harness import Stat, repeated
from benchmarks.report import Target
from benchmarks.sections.convnets import ConvNets
from benchmarks.sections.lenet_engine import LenetEngine
from benchmarks.workloads import LENET_BATCH, PAPER_BATCH, head, with_splits
from lottery.core.hparams import TrainingHparams
from lottery.core.presets import PRESETS
from lottery.core.training import LoopState, record
from lottery.engine.data import DataBundle
from lottery.engine.models import LotteryModel, build

EVAL_EVERY = 100  # training iterations between two evaluation points (the presets' interval)
EVAL_VAL, EVAL_TEST = 5_000, 10_000
CONV_MEMBERS = (1, 2)


@dataclass
class EvalRow:
    model: str
    k: int
    test_curve: bool
    examples: str      # the split sizes evaluated, e.g. "5000+10000"
    eval_s: Stat       # seconds per evaluation point (5K + 10K examples)
    train_s: Stat      # seconds of EVAL_EVERY steps of the K members
    batch: int         # training batch size

    @property
    def ratio(self) -> float:
        return self.eval_s.median / self.train_s.median

    @property
    def flop_bound(self) -> float:
        """The ratio if both ran at the same FLOP rate: 2 x evaluated / (6 x batch x steps)."""
        evaluated = EVAL_VAL + (EVAL_TEST if self.test_curve else 0)
        return 2 * evaluated / (6 * self.batch * EVAL_EVERY)


@dataclass
class Evaluation:
    rows: list[EvalRow]

    def seconds(self, model: str, k: int, test_curve: bool) -> Stat:
        """Seconds per evaluation point of ``model`` with K members."""
        return next(r.eval_s for r in self.rows
                    if (r.model, r.k, r.test_curve) == (model, k, test_curve))

    def render(self) -> list[str]:
        lines = ["## 3. Evaluation overhead (one evaluation every 100 iterations)", "",
                 "eval = one `lottery.core.training.record` call on a fresh `LoopState`: "
                  "validation "
                 "(+ test when test_curve) + the early-stop weight copy (batch 5000); train = "
                 "100 x the K-member step of sections 1 / 4. FLOP bound = 2 x evaluated examples "
                 "/ (6 x batch x 100). Conv-2 uses the synthetic stand-in (val + test sizes in the "
                 "examples column), its eval time scaled per example to 5K + 10K.", "",
                 "| model | K | test_curve | examples | eval s / point | train s / 100 it "
                 "| ratio | FLOP bound |", "|---|---|---|---|---|---|---|---|"]
        lines += [f"| {r.model} | {r.k} | {r.test_curve} | {r.examples} | {r.eval_s.fmt(3)} "
                  f"| {r.train_s.fmt(3)} | {100 * r.ratio:.1f}% | {100 * r.flop_bound:.1f}% |"
                  for r in self.rows]
        return lines + [""]

    def targets(self) -> list[Target]:
        """Every Conv-2 row; LeNet at its smallest and largest K."""
        lenet_ks = [r.k for r in self.rows if r.model == "lenet"]
        shown = [r for r in self.rows
                 if r.model != "lenet" or r.k in (min(lenet_ks), max(lenet_ks))]
        return [Target(f"eval overhead <= 15%: {r.model} K={r.k} test_curve={r.test_curve}",
                       f"{100 * r.ratio:.1f}%", r.ratio <= 0.15) for r in shown]


def record_work(model: LotteryModel, data: DataBundle, hp: TrainingHparams,
                eval_batch_size: int = 5000) -> tuple[Callable[[], LoopState],
                                                      Callable[[LoopState], None]]:
    """``(setup, work)``: a fresh loop state, and one mid-training evaluation point of ``train``
    on it (the test set is evaluated only when ``hp.test_curve``)."""
    if hp.iterations <= EVAL_EVERY:
        raise ValueError("the point must come before the end, where test is always evaluated")

    def setup() -> LoopState:
        return LoopState.fresh(model, [EVAL_EVERY], 0)

    def work(loop: LoopState) -> None:
        record(model, data, hp, loop, EVAL_EVERY, eval_batch_size)
    return setup, work


def point_seconds(ctx: Context, model: LotteryModel, data: DataBundle, hp: TrainingHparams,
                  test_curve: bool, repeats: int) -> Stat:
    setup, work = record_work(model, data, dataclasses.replace(hp, test_curve=test_curve))
    return repeated(work, repeats, ctx.device, setup=setup)


def lenet_rows(ctx: Context, lenet: LenetEngine) -> list[EvalRow]:
    ctx.log("[3] LeNet evaluation (real MNIST, 5K val + 10K test) ...")
    mnist = ctx.mnist
    data = with_splits(mnist, val=head(mnist.val, EVAL_VAL), test=head(mnist.test, EVAL_TEST))
    rows = []
    for k in (1, *ctx.cfg.lenet_members):
        model = build("lenet", seeds=range(k)).to(ctx.device)
        for test_curve in (True, False):
            seconds = point_seconds(ctx, model, data, PRESETS["lenet"].training, test_curve,
                                    ctx.cfg.eval_repeats)
            rows.append(EvalRow("lenet", k, test_curve, f"{len(data.val)}+{len(data.test)}",
                                seconds, lenet.step(k).scaled(EVAL_EVERY), LENET_BATCH))
    return rows


def conv2_rows(ctx: Context, convs: ConvNets) -> list[EvalRow]:
    ctx.log("[3] Conv-2 evaluation (synthetic stand-in, scaled to 5K + 10K) ...")
    data = ctx.cifar
    if ctx.cfg.conv_eval_examples is not None:
        n_val, n_test = ctx.cfg.conv_eval_examples
        data = with_splits(data, val=head(data.val, n_val), test=head(data.test, n_test))
    rows = []
    for k in CONV_MEMBERS:
        model = build("conv2", seeds=range(k)).to(ctx.device)
        for test_curve in (True, False):
            seconds = point_seconds(ctx, model, data, PRESETS["conv2"].training, test_curve,
                                    max(2, ctx.cfg.eval_repeats // 2))
            measured = len(data.val) + (len(data.test) if test_curve else 0)
            real = EVAL_VAL + (EVAL_TEST if test_curve else 0)
            rows.append(EvalRow("conv2", k, test_curve, f"{len(data.val)}+{len(data.test)} scaled",
                                seconds.scaled(real / measured),
                                convs.step("conv2", k).scaled(EVAL_EVERY), PAPER_BATCH["conv2"]))
    return rows


def measure(ctx: Context, lenet: LenetEngine, convs: ConvNets) -> Evaluation:
    return Evaluation(lenet_rows(ctx, lenet) + conv2_rows(ctx, convs))
