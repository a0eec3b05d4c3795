"""A group of networks larger than the device's memory holds trains in parts of the size that
fits (members are independent, so the parts give the batch's results), and the estimate
prices the same parts."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import torch

from lottery.core import experiments
from lottery.core.calibration import Cost
from lottery.core.experiments import Runner
from lottery.core.hparams import ModelHparams
from lottery.core.presets import resolve
from lottery.core.store import RunStore
from lottery.core.training import SpeedOptions, members_that_fit, memory_estimate
from lottery.run.estimate import missing_calls

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/ is not installed
from benchmarks.gpu_check import MEASURED_MEMBERS, ScaledMeasure  # noqa: E402

HP = resolve("lenet", "smoke", trials=2, levels=1, controls=("reinit",),
             training__iterations=20, training__eval_every=10)


def test_members_that_fit_divides_the_free_memory_by_one_members_estimate():
    one = memory_estimate(ModelHparams("lenet"), (1, 28, 28), 10, 1, 60, 5000).total
    fit = members_that_fit(ModelHparams("lenet"), (1, 28, 28), 10, 60, 5000,
                           torch.device("cpu"), free=int(10.5 * one / 0.8))
    assert fit == 10
    assert members_that_fit(ModelHparams("lenet"), (1, 28, 28), 10, 60, 5000,
                            torch.device("cpu"), free=1) == 1  # check_memory says why


def test_a_group_over_the_limit_trains_in_parts_with_the_same_results(
        tmp_path, trained, monkeypatch, single_thread):
    speed = SpeedOptions(sparse="off")
    whole = Runner(HP, store=RunStore(tmp_path / "whole"), progress=False, speed=speed).imp()
    assert trained == [2, 4]  # the dense pair, then ticket and reinit of both trials
    trained.clear()
    monkeypatch.setattr(experiments, "members_that_fit", lambda *args: 3)
    parts = Runner(HP, store=RunStore(tmp_path / "parts"), progress=False, speed=speed).imp()
    assert trained == [2, 3, 1]
    columns = ["level", "variant", "trial"]
    pd.testing.assert_frame_equal(
        whole.results.sort_values(columns).reset_index(drop=True),
        parts.results.sort_values(columns).reset_index(drop=True))


def test_the_estimate_prices_the_same_parts():
    networks = [SimpleNamespace(start=0)] * 7 + [SimpleNamespace(start=5)] * 2
    calls, total, missing = missing_calls(HP, [("level 1", networks)], lambda n: False, 3)
    assert [(c.members, c.start) for c in calls] == [(3, 0), (3, 0), (1, 0), (2, 5)]
    assert (total, missing) == (9, 9)
    assert [c.members for c in missing_calls(HP, [("l", networks)], lambda n: False)[0]] == [7, 2]


def test_the_gpu_check_projection_measures_few_members_and_scales_up():
    measured = []

    def measure(hp, k, device, speed):
        measured.append(k)
        return Cost(step_s=0.1 * k, eval_s=0.01 * k, call_s=2.0)

    scaled = ScaledMeasure(measure)
    big = scaled(HP, 10, "cpu", SpeedOptions())
    assert scaled(HP, 12, "cpu", SpeedOptions()).step_s == 0.1 * MEASURED_MEMBERS * 12 / 4
    assert measured == [MEASURED_MEMBERS]  # measured once, for every larger call
    assert big.step_s == 0.1 * MEASURED_MEMBERS * 10 / 4 and big.call_s == 2.0
    assert scaled(HP, 2, "cpu", SpeedOptions()).step_s == 0.2 and measured[-1] == 2
