"""Section 2: the fp32 matmul peak that LeNet's achieved GFLOP/s are measured against."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from benchmarks.context import Context
from benchmarks.harness import Stat, repeated
from benchmarks.report import Target
from benchmarks.workloads import LENET_BATCH, LENET_WEIGHTS

LENET_FLOPS = 6 * LENET_WEIGHTS * LENET_BATCH  # dense FLOPs of one network-iteration


@dataclass
class MatmulPeak:
    size: int
    repeats: int
    gflops: Stat

    def achieved(self, seconds_per_network_iteration: Stat) -> Stat:
        """GFLOP/s of LeNet training at the given speed (dense FLOPs)."""
        return seconds_per_network_iteration.inverse(LENET_FLOPS / 1e9)

    def percent(self, seconds_per_network_iteration: Stat) -> float:
        return 100 * self.achieved(seconds_per_network_iteration).median / self.gflops.median

    def render(self) -> list[str]:
        return ["## 2. Achieved GFLOP/s vs fp32 matmul peak", "",
                f"Dense FLOPs per network-iteration: 6 x {LENET_WEIGHTS:,} x {LENET_BATCH} = "
                f"{LENET_FLOPS / 1e6:.1f} MFLOP. Peak: {self.size}x{self.size} fp32 `torch.mm`, "
                f"{self.repeats} repeats: **{self.gflops.fmt(1)} GFLOP/s**. Percent of peak is "
                "in the table above.", ""]

    def targets(self) -> list[Target]:
        return []  # the percent-of-peak targets are section 1's rows


def matmul_gflops(size: int, repeats: int, device: torch.device) -> Stat:
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    out = torch.empty(size, size, device=device)
    seconds = repeated(lambda _: torch.mm(a, b, out=out), repeats, device)
    return seconds.inverse(2 * size**3 / 1e9)


def measure(ctx: Context) -> MatmulPeak:
    size, repeats = ctx.cfg.matmul_size, ctx.cfg.matmul_repeats
    ctx.log(f"[2] fp32 matmul peak, {size}^2 ...")
    return MatmulPeak(size, repeats, matmul_gflops(size, repeats, ctx.device))
