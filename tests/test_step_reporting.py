"""Every stage reports its steps: runners derived from a notebook's runner (the cheap-ticket
stage), a stability study's runners and the learned supermasks print one line per training
step under reproduce, through the observer the runner is given (no runner subclass)."""

from __future__ import annotations

import pytest

from lottery.core.calibration import Cost
from lottery.core.experiments import Runner
from lottery.core.presets import resolve
from lottery.core.store import RunStore
from lottery.core.training import SpeedOptions
from lottery.engine.data import load
from lottery.run import estimate
from lottery.run.progress import StepReporter, reporting
from lottery.studies.cheap.study import sibling
from lottery.studies.deconstruct import supermask
from lottery.studies.stability.study import StabilityStudy, make_plan

pytestmark = pytest.mark.usefixtures("one_thread")
EAGER = SpeedOptions(kernel="eager")


def tiny(**overrides):
    base = {"trials": 1, "levels": 1, "controls": (), "training__iterations": 4,
            "training__eval_every": 2}
    return resolve("lenet", "smoke", **(base | overrides))


def test_a_derived_runner_keeps_values_store_and_observer_but_not_the_old_steps(tmp_path):
    lines: list[str] = []
    hp = tiny(levels=2)
    reporter = StepReporter("cheap lenet", say=lines.append)
    runner = Runner(hp, store=RunStore(tmp_path), device="cpu", mask0="freeze_init",
                    data=estimate.sized_data(hp.data), observer=reporter, order=1)
    reporter.steps(runner).done.append((1.0, None))
    other = sibling(runner, levels=4, rewind_iteration=0)
    assert type(other) is Runner and other.store is runner.store
    assert other.executor is runner.executor and other.observer is reporter
    assert (other.order, other.mask0, other.every) == (1, "freeze_init", 1)
    assert (other.hp.levels, runner.hp.levels) == (4, 2)
    assert reporter.steps(other).done == [] and reporter.steps(runner).done == [(1.0, None)]


def test_a_derived_runner_refuses_another_model_or_dataset(tmp_path):
    hp = tiny()
    runner = Runner(hp, store=RunStore(tmp_path), device="cpu",
                    data=estimate.sized_data(hp.data), progress=False)
    with pytest.raises(ValueError, match="keeps its model and data"):
        runner.derived(data__dataset="synthetic_cifar10")
    with pytest.raises(ValueError, match="levels must be at most"):  # schedule checked again
        runner.derived(levels=10_000)


def test_steps_asked_one_by_one_are_numbered_without_a_total(tmp_path, monkeypatch):
    monkeypatch.setenv("LOTTERY_PROGRESS", "log")
    lines: list[str] = []
    runner = Runner(tiny(), store=RunStore(tmp_path), device="cpu", speed=EAGER,
                    **reporting("stage", lambda hp, k: Cost(0.01, 0.0, 0.1), lines.append))
    runner.train_many(runner.dense_networks(), "dense")
    assert lines[0].startswith("[stage] dense: step 1; 1 trained, 0 loaded")
    assert "left" not in lines[0] and "done" not in lines[0]


def test_a_stability_study_reports_every_step_through_its_observer(tmp_path, monkeypatch):
    monkeypatch.setenv("LOTTERY_PROGRESS", "log")
    lines: list[str] = []
    hp = tiny(trials=2, levels=1, training__iterations=10, training__eval_every=5)
    plan = make_plan(hp, 50_000, levels=[1], focus=1, connectivity=1, rewind_ks=[0],
                     points=3, info_inputs=100, info_bins=(10, 3))
    study = StabilityStudy(hp, plan, data=load("synthetic_mnist", device="cpu", val_size=200),
                           store=RunStore(tmp_path), speed=EAGER,
                           **reporting("stability lenet", say=lines.append))
    reporter = study.base.observer
    assert isinstance(reporter, StepReporter) and study.runner(order=1).observer is reporter
    assert study.runner(order=1).order == 1 and not study.base.progress  # lines, no bars
    study.chains()
    assert lines and all(line.startswith("[stability lenet] ") for line in lines)
    assert any("trained" in line for line in lines)
    plain = StabilityStudy(hp, plan, data=study.data, store=RunStore(tmp_path / "plain"))
    assert plain.runner().observer is None  # the default stays silent


def test_learned_supermasks_report_their_step(tmp_path, monkeypatch):
    monkeypatch.setenv("LOTTERY_PROGRESS", "log")
    lines: list[str] = []
    hp = supermask.hparams(tiny(trials=2), iterations=4)
    runner = Runner(hp, store=RunStore(tmp_path), device="cpu", speed=EAGER,
                    **reporting("supermask", say=lines.append))
    supermask.run(runner, samples=1)
    supermask.run(runner, samples=1)
    assert len(lines) == 2
    assert lines[0].startswith("[supermask] learned supermask: step 1; 2 trained, 0 loaded")
    assert lines[1].startswith("[supermask] learned supermask: step 2; 0 trained, 2 loaded")
