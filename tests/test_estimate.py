"""The wall-time estimate: its arithmetic on made-up costs, the networks it counts against the
store, the calibration cache, the budget, and the progress runner's time left."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from lottery.core.calibration import Calibration, Cost, NotCalibrated, cost_key, measure
from lottery.core.experiments import Runner
from lottery.core.presets import resolve
from lottery.core.store import RunStore
from lottery.core.training import SpeedOptions
from lottery.engine.data import load
from lottery.run import estimate, plans
from lottery.run.plans import Planned, notebook_defaults
from lottery.run.progress import Steps, reporting
from lottery.run.session import estimate_notebook, experiment_hparams, rewind_points

ROOT = Path(__file__).resolve().parents[1]
LENET = ROOT / "notebooks" / "01_lenet_mnist.ipynb"
EAGER = SpeedOptions(kernel="eager")  # no compile in tests


def per_member(hp, members, *_):
    """Made-up costs: 1 s per call, 1 ms per iteration per network, no evaluation cost."""
    return Cost(step_s=0.001 * members, eval_s=0.0, call_s=1.0)


def lenet_estimate(store: RunStore, cost=per_member) -> estimate.NotebookEstimate:
    parameters = notebook_defaults(LENET) | {"profile": "smoke"}
    return estimate.estimate("01_lenet_mnist", "smoke", "cpu",
                             plans.plan("01_lenet_mnist", parameters),
                             lambda preset, **o: experiment_hparams(
                                 preset, "smoke", synthetic=True, **o),
                             store, lambda hp, k: cost(hp, k), rewind_points)


def test_call_seconds_add_up_iterations_and_evaluations():
    hp = resolve("lenet", "smoke")  # synthetic MNIST: 2500 train, 500 val, 1000 test
    assert estimate.data_sizes(hp.data) == (2500, 500, 1000)
    t = hp.training
    points = t.iterations // t.eval_every + 1  # 0, 10, ..., 60
    examples = points * 500 + (points if t.test_curve else 1) * 1000 + 2500 + 1000
    call = estimate.Call("level 0", hp, members=2, start=0)
    assert call.evaluated_examples() == examples
    cost = Cost(step_s=0.01, eval_s=1e-5, call_s=0.5)
    assert call.seconds(cost) == pytest.approx(0.5 + t.iterations * 0.01 + examples * 1e-5)
    sampled = estimate.Call("level 0", hp.replace(training__final_train_subset=400), 2, 0)
    assert sampled.evaluated_examples() == examples - 2500 + 400  # the final train accuracy
    rewound = estimate.Call("level 1", hp, members=2, start=20)  # trains from the rewind point
    assert rewound.seconds(Cost(0.01, 0.0, 0.0)) == pytest.approx((t.iterations - 20) * 0.01)


def test_notebook_estimate_counts_each_missing_network_once(tmp_path):
    """01 under smoke: IMP trains 2 dense, then 6 (ticket + 2 controls x 2 trials) per level;
    one-shot (ticket + reinit, as notebook 01 calls it) shares the dense runs and its first
    target's ticket and reinit (IMP's level 1), so trains 5 targets x 4."""
    found = lenet_estimate(RunStore(tmp_path))
    imp, oneshot = found.experiments
    iterations = resolve("lenet", "smoke").training.iterations
    assert (imp.networks, imp.missing, len(imp.calls)) == (14, 14, 3)
    assert [c.members for c in imp.calls] == [2, 6, 6]
    assert imp.seconds == pytest.approx(3 * 1.0 + iterations * 0.001 * (2 + 6 + 6))
    assert (oneshot.networks, oneshot.missing) == (26, 20)
    assert oneshot.seconds == pytest.approx(5 * (1.0 + iterations * 0.004))
    assert found.seconds == pytest.approx(imp.seconds + oneshot.seconds
                                          + estimate.NOTEBOOK_OVERHEAD_S)


def test_stored_networks_cost_nothing(tmp_path):
    store = RunStore(tmp_path)
    hp = experiment_hparams("lenet", "smoke", synthetic=True, controls=("reinit", "random_mask"))
    dense = estimate.offline_runner(hp, store).dense_networks()
    for net in dense:  # the store is at the grain of one network: its file is the entry
        store.path(*net.path).parent.mkdir(parents=True, exist_ok=True)
        store.path(*net.path).write_bytes(b"")
    imp = lenet_estimate(store).experiments[0]
    assert imp.missing == 12 and [c.members for c in imp.calls] == [6, 6]


def test_offline_names_match_the_loaded_data():
    """The estimate names networks from the data's sizes alone; they must be the names the
    runner gives them with the data loaded, or stored networks would look missing."""
    for preset in ("lenet", "conv2"):
        hp = resolve(preset, "smoke")
        d = hp.data
        loaded = load(d.dataset, val_size=d.val_size, split_seed=d.split_seed,
                      train_subset=d.train_subset, test_subset=d.test_subset)
        real = Runner(hp, store=RunStore("unused"), device="cpu", data=loaded, progress=False)
        offline = estimate.offline_runner(hp, RunStore("unused"))
        assert [n.path for n in offline.dense_networks()] == \
            [n.path for n in real.dense_networks()]


def test_mnist_sizes_match_the_official_split():
    hp = resolve("lenet", "quick")
    assert estimate.data_sizes(hp.data) == (55_000, 5_000, 10_000)


def test_a_dense_network_without_the_rewind_point_is_trained_again(tmp_path):
    """resnet18 then resnet18_rewind: the second needs its dense runs' snapshot at k, which
    the first did not keep, so they train again (as Runner.train_many does)."""
    store = RunStore(tmp_path)
    found = estimate.estimate(
        "03", "smoke", "cpu", [Planned("imp", "resnet18"), Planned("imp", "resnet18_rewind")],
        lambda preset, **o: experiment_hparams(preset, "smoke", synthetic=True, **o), store,
        per_member, rewind_points)
    first, second = found.experiments
    assert first.missing == first.networks and second.missing == second.networks


def test_plans_follow_the_parameters():
    conv = notebook_defaults(ROOT / "notebooks" / "02_conv_cifar10.ipynb")
    base = [p.preset for p in plans.plan("02_conv_cifar10", conv | {"models": ["conv2"]})]
    assert base == ["conv2"]
    dropout = plans.plan("02_conv_cifar10", conv | {"models": ["conv2"], "dropout": True})
    assert [p.preset for p in dropout] == ["conv2", "conv2_dropout"]
    assert plans.plan("99_unknown", {}) is None


def test_undeclared_calls_are_reported():
    planned = [Planned("imp", "lenet", {"controls": ("reinit",)})]
    same = Planned("imp", "lenet", {"controls": ["reinit"]})  # as read back from JSON
    extra = Planned("oneshot", "lenet")
    assert plans.undeclared(planned, [same, extra]) == [extra]


def test_calibration_measures_once_and_caches(tmp_path):
    calls = []

    def fake(hp, members, device, speed):
        calls.append(members)
        return Cost(0.01 * members, 1e-6, 0.2)

    hp = resolve("lenet", "smoke")
    calibration = Calibration(tmp_path, "cpu", measure_cost=fake)
    assert calibration.cost(hp, 2) == calibration.cost(hp, 2) == Cost(0.02, 1e-6, 0.2)
    assert calls == [2] and calibration.measured == ["lenet x2"]
    reread = Calibration(tmp_path, "cpu", measure_cost=None)
    assert reread.cost(hp, 2).step_s == 0.02
    with pytest.raises(NotCalibrated):
        reread.cost(hp, 3)
    entry = next(iter(json.loads((tmp_path / "calibration.json").read_text()).values()))
    assert entry["key"] == json.loads(json.dumps(cost_key(hp, 2, "cpu")))


def test_measure_returns_positive_costs(single_thread):
    cost = measure(resolve("lenet", "smoke"), 1, "cpu", EAGER)
    assert cost.step_s > 0 and cost.eval_s > 0 and math.isfinite(cost.call_s)


def test_estimate_notebook_uses_cached_costs_only_when_told(tmp_path):
    parameters = notebook_defaults(LENET) | {"profile": "smoke"}
    with pytest.raises(NotCalibrated):
        estimate_notebook("01_lenet_mnist", parameters, "cpu", RunStore(tmp_path),
                          calibrate=False)
    assert estimate_notebook("99_none", parameters, "cpu", RunStore(tmp_path)) is None


@pytest.mark.parametrize(("text", "seconds"), [("90m", 5400), ("1.5h", 5400), ("3600s", 3600),
                                               ("2d", 172800), ("none", None)])
def test_parse_duration(text, seconds):
    assert estimate.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["90", "soon", "-1h"])
def test_parse_duration_refuses(text):
    with pytest.raises(ValueError, match="give a number with a unit"):
        estimate.parse_duration(text)


def test_duration_reads_like_a_person_says_it():
    assert [estimate.duration(s) for s in (0.2, 42, 420, 7800, 3 * 86400)] == \
        ["<1 s", "42 s", "7 min", "2 h 10 min", "3.0 days"]


def test_budget_runs_what_fits_in_order():
    run, skipped = estimate.over_budget({"a": 600, "b": 5000, "c": 1200, "d": None}, 3600)
    assert run == ["a", "c", "d"] and skipped == ["b"]
    assert estimate.over_budget({"a": 1e9}, None) == (["a"], [])


def test_progress_time_left_scales_by_how_the_finished_steps_went():
    steps = Steps([10.0, 20.0, 30.0], [(20.0, 10.0)])
    assert steps.remaining() == pytest.approx((20 + 30) * 2)
    steps.expected = [None, None, None]  # no calibration: the mean step so far
    assert steps.remaining() == pytest.approx(2 * 20.0)


def test_progress_log_lines_per_step(tmp_path, monkeypatch, single_thread):
    monkeypatch.setenv("LOTTERY_PROGRESS", "log")
    hp = resolve("lenet", "smoke", trials=1, levels=1, controls=(), training__iterations=4,
                 training__eval_every=2)
    lines: list[str] = []
    options = reporting("imp lenet", lambda hp, k: Cost(0.01, 0.0, 0.1), lines.append)
    assert options["progress"] is False  # log lines instead of bars
    runner = Runner(hp, store=RunStore(tmp_path), device="cpu", speed=EAGER, **options)
    runner.imp()
    assert [line.split(": ")[1].split(";")[0] for line in lines] == ["1/2 steps", "2/2 steps"]
    assert "1 trained, 0 loaded" in lines[0] and "left" in lines[0] and lines[1].endswith("done")
    again: list[str] = []
    Runner(hp, store=RunStore(tmp_path), device="cpu", speed=EAGER,
           **reporting("imp lenet", say=again.append)).imp()
    assert "0 trained, 1 loaded" in again[0]  # the store had it: nothing trained


def test_the_banner_estimates_with_the_notebooks_own_parameters(tmp_path, monkeypatch):
    from lottery.run.session import setup, validate_parameters

    monkeypatch.setenv("LOTTERY_RUNS", str(tmp_path))
    validate_parameters(profile="smoke", oneshot_rounds=[1, 2], fig3_levels=[0])
    banner = setup("01_lenet_mnist", "mnist", "smoke").banner
    assert "estimate : not calibrated for smoke" in banner  # smoke never calibrates itself
    calibration = Calibration(tmp_path, "cpu", measure_cost=per_member)
    for members in (2, 4, 6):
        calibration.cost(resolve("lenet", "smoke"), members)
    validate_parameters(profile="smoke", oneshot_rounds=[1, 2], fig3_levels=[0])
    banner = setup("01_lenet_mnist", "mnist", "smoke").banner
    oneshot = next(line for line in banner.splitlines() if "oneshot lenet" in line)
    # rounds 1 and 2, not the default; ticket and reinit per target
    assert "10 networks" in oneshot and "4 to train" in oneshot
