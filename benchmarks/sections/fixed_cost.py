"""Section 7: the fixed cost of a short CLI job, seconds by phase.

A 20-iteration LeNet ``imp`` job on real MNIST (one level, one trial, one thread), run as its
own process by ``benchmarks/fixed_cost_probe.py``: imports, data, the Adam update (building or
loading its C kernel included), training steps, evaluation (the points and the final training and
test accuracy), other. Run in this checkout and, when ``$LOTTERY_BENCH_BEFORE`` names another
checkout (e.g. the main branch before a change), there too; the first run of each fills the
caches (the Adam kernel's, the decoded dataset's) and is not counted.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from benchmarks.context import Context
from benchmarks.harness import load_average
from benchmarks.report import Target

HERE = Path(__file__).resolve().parents[2]
PROBE = HERE / "benchmarks" / "fixed_cost_probe.py"
BEFORE_ENV = "LOTTERY_BENCH_BEFORE"
JOB = ["imp", "--preset", "lenet", "--iterations", "20", "--levels", "0", "--trials", "1",
       "--no-progress"]
PHASES = ("imports", "data", "optimizer", "training", "evaluation", "other")
TARGET_S = 3.0
HERE_LABEL = "this checkout"


@dataclass
class Row:
    label: str
    phases: dict[str, float]   # median seconds per phase
    total: float               # median seconds of the whole job


@dataclass
class FixedCost:
    rows: list[Row]
    load: str

    def render(self) -> list[str]:
        lines = ["## 7. Fixed cost of a short CLI job", "",
                 f"`python -m lottery {' '.join(JOB)}` on real MNIST, one thread, its own "
                 f"process; median seconds per phase (load average {self.load}). optimizer = "
                 "every Adam update (loading its C kernel included); evaluation = "
                 "the evaluation points + the final training- and test-set accuracy.", "",
                 "| checkout | " + " | ".join(PHASES) + " | total |",
                 "|---|" + "---|" * (len(PHASES) + 1)]
        return lines + [f"| {r.label} | " + " | ".join(f"{r.phases[p]:.2f}" for p in PHASES)
                        + f" | {r.total:.2f} |" for r in self.rows] + [""]

    def targets(self) -> list[Target]:
        here = next(r for r in self.rows if r.label == HERE_LABEL)
        return [Target(f"fixed cost of a 20-iteration CLI job <= {TARGET_S:g} s",
                       f"{here.total:.2f} s", here.total <= TARGET_S)]


def probe(root: Path, args: list[str], data_root: Path | None,
          env_extra: dict[str, str] | None = None) -> dict:
    """One job in a fresh process in checkout ``root`` (a cold store; ``env_extra`` added to
    its environment): its phases and total seconds."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env_extra or {})}
    if data_root is not None:
        env["LOTTERY_DATA"] = str(data_root)
    with tempfile.TemporaryDirectory() as runs:
        out = subprocess.run([sys.executable, str(PROBE), *args, "--runs", runs], cwd=root,
                             env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def row(label: str, root: Path, args: list[str], ctx: Context, repeats: int) -> Row:
    probe(root, args, ctx.data_root)  # fills the caches
    runs = [probe(root, args, ctx.data_root) for _ in range(repeats)]
    phases = {p: statistics.median(r["phases"][p] for r in runs) for p in PHASES}
    return Row(label, phases, statistics.median(r["total"] for r in runs))


def measure(ctx: Context) -> FixedCost:
    repeats = max(2, ctx.cfg.repeats)
    ctx.log(f"[7] fixed cost of a 20-iteration CLI job ({repeats} runs per row) ...")
    rows = []
    before = os.environ.get(BEFORE_ENV)
    if before:
        rows.append(row(f"before ({Path(before).name})", Path(before), JOB, ctx, repeats))
    rows.append(row(HERE_LABEL, HERE, JOB, ctx, repeats))
    rows.append(row(f"{HERE_LABEL}, --training.test_curve false", HERE,
                    [*JOB, "--training.test_curve", "false"], ctx, repeats))
    return FixedCost(rows, load_average())
