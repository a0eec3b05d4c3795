"""The speed benchmark's harness and report, on hand-made measurements with known answers
(nothing here is timed: the clock is a fake one where it matters)."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest
import torch

# benchmarks/ is not an installed package: import it from this checkout (as run.py does)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import harness, report  # noqa: E402
from benchmarks.context import FAST  # noqa: E402
from benchmarks.harness import Stat  # noqa: E402
from benchmarks.sections import evaluation, lenet_engine, projection  # noqa: E402
from benchmarks.sections.convnets import ConvNets  # noqa: E402
from benchmarks.sections.evaluation import EVAL_EVERY, EvalRow, Evaluation  # noqa: E402
from benchmarks.sections.lenet_engine import DEFAULT, EAGER, OPTIONS, LenetEngine  # noqa: E402
from benchmarks.sections.matmul_peak import MatmulPeak  # noqa: E402
from benchmarks.workloads import PAPER_BATCH  # noqa: E402
from lottery.core.presets import PRESETS  # noqa: E402
from lottery.engine.data import DataBundle, Split  # noqa: E402
from lottery.engine.models import build  # noqa: E402


class FakeClock:
    """``time.perf_counter`` stand-in that advances only when a workload says so."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_per_iteration_cancels_fixed_costs(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(harness.time, "perf_counter", clock)

    def run(n: int) -> None:  # 3 s of set-up, then 0.25 s an iteration
        clock.now += 3.0 + 0.25 * n

    stat = harness.per_iteration(run, (4, 12), repeats=3, device=torch.device("cpu"))
    assert stat.values == [0.25, 0.25, 0.25]


def test_repeated_times_only_the_work(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(harness.time, "perf_counter", clock)
    prepared = []

    def setup() -> int:
        clock.now += 100.0  # untimed
        prepared.append(len(prepared))
        return prepared[-1]

    def work(i: int) -> None:
        clock.now += 1.0 + i

    stat = harness.repeated(work, 2, torch.device("cpu"), warmup=1, setup=setup)
    assert prepared == [0, 1, 2] and stat.values == [2.0, 3.0]
    assert stat.fmt(1) == "2.5 [2.0-3.0]"


def test_record_work_is_one_evaluation_point(one_thread):
    torch.manual_seed(0)
    split = Split(torch.randn(30, 1, 28, 28), torch.randint(0, 10, (30,)))
    data = DataBundle("tiny", split, split, split, 10, (1, 28, 28), False, True, "")
    model = build("lenet", seeds=[0, 1])
    for test_curve in (False, True):
        hp = dataclasses.replace(PRESETS["lenet"].training, test_curve=test_curve)
        setup, work = evaluation.record_work(model, data, hp)
        loop = setup()
        work(loop)
        assert bool(loop.history[0, :2].isfinite().all())
        assert bool(loop.history[0, 2:4].isfinite().all()) == test_curve
        assert loop.best_iteration.tolist() == [EVAL_EVERY, EVAL_EVERY]
    with pytest.raises(ValueError, match="before the end"):
        evaluation.record_work(model, data, dataclasses.replace(hp, iterations=EVAL_EVERY))


def fake_sections() -> list[report.Section]:
    """Hand-made measurements: LeNet steps of 2, 5, 8 ms at K = 1, 5, 10 (eager: 10, 20 ms),
    baseline 4 ms, matmul peak 100 GFLOP/s, evaluation points of 0.25 / 0.4 s (test curve)
    and 0.05 / 0.08 s (validation only) at K = 5 / 10."""
    one = lambda s: Stat([s])  # noqa: E731
    steps = {1: {DEFAULT: one(0.002)}}
    for k, default, eager in ((5, 0.005, 0.010), (10, 0.008, 0.020)):
        steps[k] = {DEFAULT: one(default)} | {v: one(0.006) for v in OPTIONS} | {EAGER: one(eager)}
    peak = MatmulPeak(2048, 3, one(100.0))
    lenet = LenetEngine(FAST, 0.21, peak, one(0.004), steps)
    convs = ConvNets(FAST, {(name, k, cl): one(0.1 * k) for name in PAPER_BATCH
                            for k in (1, 2) for cl in (False, True)})
    eval_s = {(1, True): 0.1, (1, False): 0.02, (5, True): 0.25, (5, False): 0.05,
              (10, True): 0.4, (10, False): 0.08}
    rows = [EvalRow("lenet", k, tc, "5000+10000", one(s), lenet.step(k).scaled(EVAL_EVERY), 60)
            for (k, tc), s in eval_s.items()]
    rows += [EvalRow("conv2", k, tc, "500+1000 scaled", one(1.0),
                     convs.step("conv2", k).scaled(EVAL_EVERY), 60)
             for k in (1, 2) for tc in (True, False)]
    evals = Evaluation(rows)
    return [lenet, peak, evals, convs, projection.derive(lenet, evals)]


def targets_of(text: str) -> dict[str, tuple[str, str]]:
    table = text.split("## Targets")[1].splitlines()[4:]
    return {cells[0]: (cells[1], cells[2]) for cells in
            ([c.strip() for c in line.strip("|").split("|")] for line in table if line)}


def test_report_derives_the_known_figures():
    text = report.render("fast", {"CPU": "test"}, 12.0, fake_sections())
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert [h[:5] for h in headings] == ["## Ma", "## 1.", "## 2.", "## 3.", "## 4.", "## 5.",
                                         "## Ta"]
    # 8 ms / 10 members = 0.8 ms a network; 95.8 MFLOP in 0.8 ms = 119.8 GFLOP/s
    assert "| (c) engine K=10 | 0.800 [0.800-0.800] | 5.00x | 119.8 [119.8-119.8] | 119.8% |" \
        in text
    # eval 0.25 s over 100 x 5 ms of training
    assert "| lenet | 5 | True | 5000+10000 | 0.250 [0.250-0.250] | 0.500 [0.500-0.500] " \
           "| 50.0% | 83.3% |" in text
    targets = targets_of(text)
    assert targets["(b) K=1 >= 2x faster than (a)"] == ("2.00x", "met")
    assert targets["(c) K=5 >= 5x faster per network-iteration than (a)"] == ("4.00x", "NOT met")
    assert targets["(c) K=5 >= 80% of fp32 matmul peak"] == ("95.8%", "met")
    # 50,000 x (5 ms x 1.5 + 18 x 8 ms x 1.5) = 11,175 s; validation only: 8,195 s
    assert targets["projected Fig. 4 <= 2 h (test_curve=True)"] == ("3.10 h", "NOT met")
    assert targets["projected Fig. 4 <= 2 h (test_curve=False)"] == ("2.28 h", "NOT met")
    # eager: 50,000 x (10 ms x 1.25 + 18 x 20 ms x 1.2) = 22,225 s
    assert targets["projected Fig. 4 <= 2 h (test_curve=True, eager Adam)"] == ("6.17 h",
                                                                                 "NOT met")
    overhead = sorted(name for name in targets if name.startswith("eval overhead"))
    assert len(overhead) == 8 and not any("lenet K=5" in name for name in overhead)


def test_every_option_variant_has_a_row_at_every_k():
    lines = fake_sections()[0].render()
    rows = [line for line in lines if line.startswith(("| 5 |", "| 10 |"))]
    assert len(rows) == 2 * (1 + len(OPTIONS))
    # the projection's eager row is one of the measured variants
    assert lenet_engine.EAGER in OPTIONS


def test_whole_jobs_alternate_checkouts_and_judge_the_speedup(monkeypatch, tmp_path):
    from benchmarks.context import FULL, Context
    from benchmarks.sections import whole_jobs

    calls, stores = [], {}

    def fake_probe(root, args, data_root, env):  # before: 30 s a level; after: 10 s (+5 paper)
        calls.append((root, args))
        stores.setdefault(root, set()).add(env[whole_jobs.RUNS_ENV])
        levels = int(args[args.index("--levels") + 1]) + 1 if "--levels" in args else 0
        after = root == whole_jobs.HERE
        total = levels * (10 + 5 * ("--training.test_curve" in args) if after else 30)
        return {"total": float(total), "phases": {p: total / 6 for p in whole_jobs.PHASES}}

    monkeypatch.setattr(whole_jobs, "probe", fake_probe)
    monkeypatch.setenv(whole_jobs.BEFORE_ENV, str(tmp_path))
    ctx = Context(FULL, torch.device("cpu"), log=lambda _: None)
    jobs = whole_jobs.measure(ctx)
    sides = [root for root, args in calls[2:6]]
    assert sides == [tmp_path, whole_jobs.HERE, whole_jobs.HERE, tmp_path]  # alternating
    assert len(calls) == 2 + 2 * 3 + 1 * 3  # two warm-ups, 2 repeats of the short job, 1 long
    assert all(args[args.index("--levels") + 1] == "12" for _, args in calls[:2])  # crossovers
    assert [len(s) for s in stores.values()] == [1, 1]  # one store a checkout, kept throughout
    assert stores[tmp_path] != stores[whole_jobs.HERE]
    short = "dense + 1 level"
    assert jobs.total(short, whole_jobs.BEFORE) == 60 and jobs.total(short, whole_jobs.PAPER) == 30
    targets = {t.name: (t.value, t.ok) for t in jobs.targets()}
    assert targets[f"whole CLI job '{short}' >= 1.8x faster than before"] == ("3.00x", True)
    assert targets["whole CLI job 'IMP to 6.9% (12 levels)' >= 3x faster than before"] == \
        ("3.00x", True)
    text = "\n".join(jobs.render())
    assert "| dense + 1 level | this checkout, paper's evaluation |" in text and "| 2.00x |" in text
    monkeypatch.delenv(whole_jobs.BEFORE_ENV)
    assert whole_jobs.measure(ctx).targets() == []  # nothing to compare with
