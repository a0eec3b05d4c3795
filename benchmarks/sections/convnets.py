"""Section 4: Conv-2, Conv-4, ResNet-18 and VGG-19 ms per iteration at the paper's batch
sizes, K = 1 and 2, NCHW and NHWC, on the synthetic CIFAR-10 stand-in (dense)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from benchmarks.context import Config, Context
from benchmarks.harness import Stat, per_iteration
from benchmarks.report import Target
from benchmarks.workloads import PAPER_BATCH, engine_runner, head, members_for, with_splits
from lottery.core.hparams import ModelHparams
from lottery.core.presets import PRESETS
from lottery.core.training import SpeedOptions

MEMBERS = (1, 2)


@dataclass
class ConvNets:
    cfg: Config
    steps: dict[tuple[str, int, bool], Stat]  # (model, K, channels_last) -> s per K-member step

    def step(self, name: str, k: int, channels_last: bool = False) -> Stat:
        """Seconds per step of all K members."""
        return self.steps[(name, k, channels_last)]

    def render(self) -> list[str]:
        lines = ["## 4. Conv nets: ms per iteration at paper batch sizes "
                 "(synthetic CIFAR-10 stand-in, dense)", "",
                 f"{self.cfg.conv_repeats} repeats; iterations (n1, n2) per model: "
                 + ", ".join(f"{m} {v}" for m, v in self.cfg.conv_iters.items()) + ".", "",
                 "NCHW is the default layout; NHWC is `SpeedOptions(channels_last=True)`.", "",
                 "| model | batch | layout | K=1 ms / it | K=2 ms / step | K=2 ms / network-it "
                 "| K=2 batching gain | NHWC speed-up K=1 / K=2 |",
                 "|---|---|---|---|---|---|---|---|"]
        for name, batch in PAPER_BATCH.items():
            lines += [self.row(name, batch, channels_last) for channels_last in (False, True)]
        return lines + [""]

    def row(self, name: str, batch: int, channels_last: bool) -> str:
        one, two = self.step(name, 1, channels_last), self.step(name, 2, channels_last)
        gain = "" if not channels_last else (
            f"{self.step(name, 1).median / one.median:.2f}x / "
            f"{self.step(name, 2).median / two.median:.2f}x")
        return (f"| {name} | {batch} | {'NHWC' if channels_last else 'NCHW'} "
                f"| {one.scaled(1e3).fmt(0)} | {two.scaled(1e3).fmt(0)} "
                f"| {two.scaled(500).fmt(0)} | {one.median / (two.median / 2):.2f}x | {gain} |")

    def targets(self) -> list[Target]:
        return []


def measure(ctx: Context) -> ConvNets:
    cfg, cifar = ctx.cfg, ctx.cifar
    steps = {}
    for name, batch in PAPER_BATCH.items():
        hp = dataclasses.replace(PRESETS[name].training, batch_size=batch)
        # tiny splits: the fixed evaluations train() always runs stay negligible
        data = with_splits(cifar, train=head(cifar.train, 2 * batch), val=head(cifar.val, 8),
                           test=head(cifar.test, 8))
        for k in MEMBERS:
            for channels_last in (False, True):
                ctx.log(f"[4] {name} K={k} batch {batch} channels_last={channels_last}, "
                        f"iterations {cfg.conv_iters[name]} ...")
                run = engine_runner(ModelHparams(name), hp, data, members_for(name, k, None),
                                    ctx.device, SpeedOptions(channels_last=channels_last))
                steps[(name, k, channels_last)] = per_iteration(
                    run, cfg.conv_iters[name], cfg.conv_repeats, ctx.device,
                    warmup=cfg.conv_warmup)
    return ConvNets(cfg, steps)
