"""Section 8: whole CLI jobs, this checkout against the engine before issue #19, by phase.

The two jobs of the issue's targets, LeNet on real MNIST, 5 trials, 1,000 iterations a level,
one thread, each a fresh process with a cold run store (``benchmarks/fixed_cost_probe.py``
times the phases): dense + 1 pruning level, and IMP to 6.9% remaining (12 levels). Rows: the
checkout named by ``$LOTTERY_BENCH_BEFORE`` (``make bench`` makes one at ``BENCH_BEFORE``);
this checkout with the CLI's evaluation defaults (no test curve, final training accuracy on a
10K sample); this checkout with the paper's whole evaluation, as the notebooks run it. Both
evaluate the validation set every 100 iterations and pick the early stop there, as the paper.
Before and after alternate, so a change in the machine's load falls on both.
"""

from __future__ import annotations

import os
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path

from benchmarks.context import Context
from benchmarks.harness import load_average
from benchmarks.report import Target
from benchmarks.sections.fixed_cost import BEFORE_ENV, HERE, PHASES, probe
from lottery.core.store import RUNS_ENV

COMMON = ["imp", "--preset", "lenet", "--profile", "paper", "--iterations", "1000",
          "--training.eval_every", "100", "--trials", "5", "--controls=", "--no-progress"]
JOBS = {"dense + 1 level": (["--levels", "1"], 1.8),
        "IMP to 6.9% (12 levels)": (["--levels", "12"], 3.0)}
PAPER_EVALUATION = ["--training.test_curve", "true", "--training.final_train_subset", "none"]
FAST_JOB = ["--iterations", "40", "--training.eval_every", "20"]  # --fast: the harness only
WARM_UP = ["--iterations", "20", "--training.eval_every", "20"]
BEFORE, DEFAULTS, PAPER = "before", "this checkout", "this checkout, paper's evaluation"


@dataclass
class JobRow:
    job: str
    label: str
    phases: dict[str, float]
    total: float


@dataclass
class WholeJobs:
    rows: list[JobRow]
    load: str

    def total(self, job: str, label: str) -> float | None:
        return next((r.total for r in self.rows if r.job == job and r.label == label), None)

    def speedup(self, row: JobRow) -> str:
        before = self.total(row.job, BEFORE)
        return f"{before / row.total:.2f}x" if before else "-"

    def render(self) -> list[str]:
        lines = ["## 8. Whole CLI jobs against the engine before issue #19", "",
                 f"`python -m lottery {' '.join(COMMON)} --levels N`, real MNIST, one thread, "
                 f"its own process, cold run store; median seconds per phase (load average "
                 f"{self.load}). CLI evaluation defaults: test set at the early stop and the "
                 "end only, final training accuracy on 10K examples; the paper's evaluation "
                 f"adds `{' '.join(PAPER_EVALUATION)}`. Evaluation = the evaluation points + "
                 "the final training- and test-set accuracy; optimizer = every Adam update "
                 "(loading its C kernel included).", "",
                 "| job | checkout | " + " | ".join(PHASES) + " | total | vs before |",
                 "|---|---|" + "---|" * (len(PHASES) + 2)]
        lines += [f"| {r.job} | {r.label} | " + " | ".join(f"{r.phases[p]:.2f}" for p in PHASES)
                  + f" | {r.total:.2f} | {self.speedup(r)} |" for r in self.rows]
        return lines + [""]

    def targets(self) -> list[Target]:
        out = []
        for job, (_, goal) in JOBS.items():
            before, after = self.total(job, BEFORE), self.total(job, DEFAULTS)
            if before and after:
                out.append(Target(f"whole CLI job '{job}' >= {goal:g}x faster than before",
                                  f"{before / after:.2f}x", before / after >= goal))
        return out


def _median_row(job: str, label: str, runs: list[dict]) -> JobRow:
    phases = {p: statistics.median(r["phases"][p] for r in runs) for p in PHASES}
    return JobRow(job, label, phases, statistics.median(r["total"] for r in runs))


def measure(ctx: Context) -> WholeJobs:
    before = os.environ.get(BEFORE_ENV)
    sides = ([(BEFORE, Path(before), [])] if before else []) + [
        (DEFAULTS, HERE, []), (PAPER, HERE, PAPER_EVALUATION)]
    fast = ctx.cfg.repeats < 3
    with tempfile.TemporaryDirectory() as tmp:
        # a runs root per checkout: the sparse crossovers this checkout measures on first use
        # are measured once, in the warm-up (which also fills the compiler and data caches)
        roots = {root: {RUNS_ENV: str(Path(tmp) / str(i))} for i, (_, root, _) in
                 enumerate(sides[:2])}
        for root, env in roots.items():
            probe(root, [*COMMON, "--levels", "12", *WARM_UP], ctx.data_root, env)
        rows = []
        for job, (levels, _) in JOBS.items():
            repeats = 1 if fast or levels[-1] != "1" else 2
            ctx.log(f"[8] whole CLI job '{job}' x {repeats}, {len(sides)} checkouts ...")
            runs: dict[str, list[dict]] = {label: [] for label, _, _ in sides}
            for _ in range(repeats):  # alternate the sides: load changes hit all of them
                for label, root, extra in sides:
                    args = [*COMMON, *levels, *extra, *(FAST_JOB if fast else [])]
                    runs[label].append(probe(root, args, ctx.data_root, roots[root]))
            rows += [_median_row(job, label, runs[label]) for label, _, _ in sides]
    return WholeJobs(rows, load_average())
