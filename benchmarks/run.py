"""Speed benchmark of the training engine (``make bench``).

    .venv/bin/python benchmarks/run.py                 # full run (< 15 min on 2 CPU cores)
    .venv/bin/python benchmarks/run.py --fast          # smoke test of the harness (~2-3 min)
    .venv/bin/python benchmarks/run.py --check         # self-check of the harness (seconds)
    .venv/bin/python benchmarks/run.py --only sparse   # one section (+ what it needs) alone
    options: --device cpu|cuda  --out benchmarks/RESULTS.md  --data MNIST_ROOT  --threads N

Sections (every figure: median of several repeats after a warm-up, spread = min-max), one
module each under ``benchmarks/sections/``:

1. ``lenet_engine``: LeNet-300-100 (Adam 1.2e-3, batch 60, ~21% density) ms per
   network-iteration: (a) the plain reference loop of ``benchmarks/baseline.py``;
   (b) ``lottery.core.training.train`` with K = 1; (c) the engine with K = 5 and K = 10 members
   batched; 1b: the optimizer kernels and speed options. Evaluation is effectively off
   (``eval_every = iterations``, ``test_curve = False``), and fixed costs (setup, the few
   evaluations ``train`` always does) cancel by timing two iteration counts n1 < n2:
   ms/iteration = (T(n2) - T(n1)) / (n2 - n1).
2. ``matmul_peak``: achieved GFLOP/s of (c) (dense FLOPs 6 x 266,200 x 60 per
   network-iteration) against a large fp32 square matmul measured in the same run.
3. ``evaluation``: the work of one evaluation point (one ``lottery.core.training.record`` call:
   validation, + test when ``test_curve``, + the early-stop weight copy), timed directly, over
   the training time of 100 iterations; LeNet on real MNIST (5K val + 10K test), Conv-2 on the
   synthetic CIFAR-10 stand-in scaled per example to 5K + 10K. Plus the FLOP lower bound.
4. ``convnets``: Conv-2, Conv-4, ResNet-18, VGG-19 ms per iteration at the paper's batch
   sizes, K = 1 and 2, NCHW and NHWC.
5. ``projection``: projected wall time of the paper-scale LeNet Fig. 4 from 1 and 3;
   5b: level by level from 6, dense path before and the sparse chooser after.
6. ``sparse``: the sparse path of masked fc layers: LeNet ms per network-iteration with the
   dense path, the sparse path and the chooser at every IMP level's density, K = 1, 5, 10.
7. ``fixed_cost``: seconds by phase of a 20-iteration CLI job in its own process
   (``$LOTTERY_BENCH_BEFORE``: another checkout to compare with).
8. ``whole_jobs``: the issue's two whole CLI jobs (5 trials, dense + 1 level and IMP to 6.9%,
   1,000 iterations a level) by phase, against ``$LOTTERY_BENCH_BEFORE``, with the CLI's
   evaluation defaults and with the paper's whole evaluation.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch

# run as a script: import the benchmark and the ``lottery`` of this checkout
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import report  # noqa: E402
from benchmarks.check import self_check  # noqa: E402
from benchmarks.context import FAST, FULL, Context  # noqa: E402
from benchmarks.harness import machine  # noqa: E402
from benchmarks.sections import (  # noqa: E402
    convnets,
    evaluation,
    fixed_cost,
    lenet_engine,
    matmul_peak,
    projection,
    sparse,
    whole_jobs,
)


def sparse_sections(ctx: Context) -> list[report.Section]:
    """Section 6 and the per-level projection it feeds: what ``--only sparse`` runs."""
    levels = sparse.measure(ctx)
    return [levels, projection.derive_levels(levels)]


ONLY = {"sparse": sparse_sections, "fixed_cost": lambda ctx: [fixed_cost.measure(ctx)],
        "whole_jobs": lambda ctx: [whole_jobs.measure(ctx)]}


def run_sections(ctx: Context) -> list[report.Section]:
    """Measure every section, each after the ones whose numbers it uses; report order."""
    peak = matmul_peak.measure(ctx)
    lenet = lenet_engine.measure(ctx, peak)
    convs = convnets.measure(ctx)
    evals = evaluation.measure(ctx, lenet, convs)
    fig4 = projection.derive(lenet, evals)
    levels = sparse.measure(ctx)
    fixed = fixed_cost.measure(ctx)
    jobs = whole_jobs.measure(ctx)
    return [lenet, peak, evals, convs, fig4, projection.derive_levels(levels), levels, fixed,
            jobs]


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fast", action="store_true", help="tiny repeats: smoke the harness")
    parser.add_argument("--check", action="store_true", help="run the self-check and exit")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "RESULTS.md")
    parser.add_argument("--data", type=Path, default=None,
                        help="MNIST folder (default: $LOTTERY_DATA, else ./data)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--only", choices=sorted(ONLY), default=None,
                        help="run one section alone (with --fast: a few minutes)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if args.check:
        self_check(device)
        return
    start = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - start:6.1f}s] {msg}", flush=True)

    info = machine(device)
    ctx = Context(FAST if args.fast else FULL, device, log, args.data)
    sections = ONLY[args.only](ctx) if args.only else run_sections(ctx)
    mode = "fast (smoke, noisy)" if args.fast else "full"
    text = report.render(mode, info, time.perf_counter() - start, sections)
    print()
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
