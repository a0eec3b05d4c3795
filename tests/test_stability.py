"""Notebook 05's stages: copies that differ only in data order, stability to data order and to
pruning, linear mode connectivity, mask overlap against chance, ticket properties and the
``stability`` subcommand -- each on a case with a known answer (the claims:
test_stability_claims.py)."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from lottery.core import executors
from lottery.core.experiments import Runner, data_seed, order_seed
from lottery.core.hparams import HparamError
from lottery.core.presets import resolve
from lottery.core.store import RunStore
from lottery.engine.analysis import OVERALL, overlap_table
from lottery.engine.data import load
from lottery.engine.pruning import random_mask_like
from lottery.run.cli import main
from lottery.run.session import setup
from lottery.studies.stability.overlap import (
    DATA_ORDER,
    INIT_SEED,
    ONESHOT,
    mask_overlap,
    overlap_sentence,
    rewind_kind,
)
from lottery.studies.stability.properties import ticket_properties
from lottery.studies.stability.study import (
    A,
    B,
    Pair,
    StabilityStudy,
    make_plan,
    measure_pair,
    scaled_ks,
    summary,
    validate_study,
    versus_paper,
)

pytestmark = pytest.mark.usefixtures("one_thread")

PAPER = 50_000  # LeNet's paper iterations: rewind point 20,000 scales to 12 of 30


def lenet_hp(**overrides):
    base = {"trials": 2, "levels": 2, "training__iterations": 30, "training__eval_every": 10}
    return resolve("lenet", "smoke", **(base | overrides))


def lenet_plan(hp):
    return make_plan(hp, PAPER, levels=[1, 2], focus=2, connectivity=2, rewind_ks=[0, 20_000],
                     points=5, info_inputs=200, info_bins=(30, 3))


@pytest.fixture(scope="module")
def data():
    return load("synthetic_mnist", device="cpu", val_size=500)


@pytest.fixture(scope="module")
def study(tmp_path_factory, data):
    hp = lenet_hp()
    built = StabilityStudy(hp, lenet_plan(hp), data=data,
                           store=RunStore(tmp_path_factory.mktemp("runs")))
    built.result = built.stability()
    return built


def _states_equal(a, b) -> bool:
    return set(a) == set(b) and all(torch.equal(a[n], b[n]) for n in a)


# ------------------------------------------------------------------------------ the plan


def test_plan_cuts_levels_to_the_profile_and_scales_the_rewind_points():
    hp = lenet_hp()
    plan = make_plan(hp, PAPER, levels=[3, 7, 10, 15], focus=10, connectivity=12,
                     rewind_ks=[0, 100, 20_000, 40_000])
    assert plan.levels == (2,) and plan.focus == 2 and plan.connectivity == 2
    assert plan.ks == (0, 1, 12, 24)  # 100 -> at least 1; each scaled by 30 / 50,000
    assert plan.info_points[0] == 0 and max(plan.info_points) < 30
    assert scaled_ks([500, 2000], 2500, PAPER) == (0, 25, 100)  # the quick cut
    assert scaled_ks([0, 60_000], 30, PAPER) == (0,)  # past the end: dropped


def test_session_study_cuts_training_and_scales_the_rewind_points(tmp_path, monkeypatch):
    monkeypatch.setenv("LOTTERY_RUNS", str(tmp_path))
    session = setup("05_stability_and_overlap", "mnist", "smoke", output_dir=str(tmp_path))
    study = session.stability_study("lenet", levels=[3, 7], focus_level=10, connectivity_level=12,
                                    rewind_ks=[0, 500, 2000], iterations=100, info_bins=[5])
    assert study.hp.training.iterations == 100 and not study.hp.training.test_curve
    assert study.plan.ks == (0, 1, 4) and study.plan.levels == (2,)  # smoke: two levels
    assert study.plan.info_bins == (5,) and study.base.store.root == tmp_path
    assert study.data.synthetic


@pytest.mark.parametrize("bad", [{"preset": "lenet5"}, {"focus_level": 0},
                                 {"line_points": 2}, {"info_bins": []},
                                 {"quick_iterations": 2.5}])
def test_validate_study_rejects(bad):
    good = {"preset": "lenet", "focus_level": 10, "connectivity_level": 12, "line_points": 11,
            "quick_iterations": 2500, "info_inputs": 2000, "info_bins": [30, 4]}
    validate_study(**good)
    with pytest.raises(HparamError):
        validate_study(**(good | bad))


# ------------------------------------------------------------------------------ the copies


def test_data_order_zero_keeps_every_existing_key(tmp_path, data):
    hp = lenet_hp()
    plain, ordered = (Runner(hp, **order, data=data, store=RunStore(tmp_path), progress=False)
                      for order in ({}, {"order": 0}))
    assert [n.key for n in plain.dense_networks()] == [n.key for n in ordered.dense_networks()]
    net = plain.dense_networks()[0]
    assert plain.reordered(net, 0) is net


def test_a_copy_differs_from_its_twin_only_in_data_order(study):
    pair = next(p for p in study.pairs() if (p.k, p.level, p.variant) == (0, 2, "ticket"))
    first, second = pair.copies
    assert second.identity == first.identity | {
        "data_seed": order_seed(study.hp, 1), "data_order": 1}
    one, two = first.build(), second.build()
    assert _states_equal(one.state, two.state)
    assert all(torch.equal(one.mask[n], two.mask[n]) for n in one.mask)
    assert one.data_seed == data_seed(study.hp, pair.trial) != two.data_seed
    payloads = study.pair_payloads()
    row = study.result.table.set_index(["k", "level", "variant", "trial"]).loc[(0, 2, "ticket",
                                                                                pair.trial)]
    assert not _states_equal(payloads[first.path]["final"], payloads[second.path]["final"])
    assert row.data_order_distance > 0


def test_runs_a_and_b_differ_in_data_order_only_and_b_trials_in_init_only(study):
    chains = study.chains()
    for t in range(study.hp.trials):
        a, b = chains[A].networks[0][t].build(), chains[B].networks[0][t].build()
        assert _states_equal(a.state, b.state) and a.data_seed != b.data_seed
    first, second = (n.build() for n in chains[B].networks[0])
    assert first.data_seed == second.data_seed == order_seed(study.hp, 1)
    assert not _states_equal(first.state, second.state)


def test_identical_copies_are_at_distance_zero_and_flat_along_the_line(study):
    net = study.chains()[A].networks[2][0]
    row, line = measure_pair(study, Pair(0, 2, "ticket", 0, (net, net), net),
                             study.pair_payloads() | {net.path: study.train([net], "")[0]})
    assert row["data_order_distance"] == 0.0 and row["pruning_distance"] == 0.0
    assert row["instability_pp"] == pytest.approx(0.0, abs=1e-9)
    assert len({round(r["test_error_pct"], 9) for r in line}) == 1


def test_companions_are_the_dense_networks_the_copies_start_inside(study):
    chains = study.chains()
    for pair in study.pairs():
        if pair.variant in ("ticket", "random_mask"):  # the trial's own dense run
            assert pair.companion.path == chains[A].networks[0][pair.trial].path
        elif pair.variant == "reinit":  # a dense net from the reinit's own fresh init
            sparse, dense = pair.copies[0].build(), pair.companion.build()
            assert dense.mask is None and _states_equal(sparse.state, dense.state)
            assert pair.companion.start == pair.copies[0].start == pair.k


def test_dense_copies_at_k_restart_from_the_iteration_k_weights(study):
    k = max(study.plan.ks)
    dense = study.chains()[A].payloads[0]
    pairs = [p for p in study.pairs() if p.k == k and p.variant == "dense"]
    assert len(pairs) == study.hp.trials
    for pair in pairs:
        first, second = (n.build() for n in pair.copies)
        assert all(n.start == k for n in pair.copies)
        assert _states_equal(first.state, dense[pair.trial]["snapshots"][k])
        assert _states_equal(second.state, first.state) and first.data_seed != second.data_seed


def test_stability_table_covers_the_plan(study):
    table, trials = study.result.table, study.hp.trials
    at_zero = table[table.k == 0]
    assert sorted(set(at_zero.level)) == [0, 1, 2]
    assert len(at_zero) == trials * (1 + 2 * 3)  # dense, then 3 kinds at 2 levels
    later = table[table.k == 12]
    assert sorted(set(later.level)) == [0, 2] and len(later) == trials * 4
    assert len(study.result.lines) == len(table) * study.plan.points
    dense = table[table.variant == "dense"]
    assert dense.pruning_distance.isna().all() and (dense.percent_remaining == 100).all()
    ticket = table[(table.variant == "ticket") & (table.level == 2)]
    assert (ticket.percent_remaining < 70).all() and (ticket.pruning_distance > 0).all()
    means = summary(table)
    assert means.index.get_level_values("variant")[0] == "dense"
    assert list(versus_paper(table, 2).columns)[:2] == ["paper: ticket", "paper: random reinit"]


def test_a_rerun_loads_everything_from_the_store(study, monkeypatch):
    calls = []
    monkeypatch.setattr(executors, "train", lambda *a, **k: calls.append(1))
    again = StabilityStudy(study.hp, study.plan, data=study.data,
                           store=study.base.store).stability()
    assert calls == []
    pd.testing.assert_frame_equal(again.table, study.result.table)


# ------------------------------------------------------------------------------- overlap


def test_overlap_is_one_where_the_masks_are_the_same_by_construction(study):
    table = mask_overlap(study).table
    whole = table[table.layer == OVERALL]
    level_one = whole[(whole.level == 1) & whole.kind.isin([ONESHOT, rewind_kind(12)])]
    assert len(level_one) == 2 * study.hp.trials
    assert (level_one.jaccard == 1.0).all()  # one round from the same dense net, both ways
    assert set(whole.kind) == {DATA_ORDER, INIT_SEED, ONESHOT, rewind_kind(12)}
    assert "Jaccard" in overlap_sentence(table, 2)


def test_independent_random_masks_overlap_at_chance(study):
    ticket = study.chains()[A].mask(2, 0)
    one, two = random_mask_like(ticket, 1), random_mask_like(ticket, 2)
    whole = overlap_table(one, two).set_index("layer").loc[OVERALL]
    assert whole.jaccard_ratio == pytest.approx(1.0, abs=0.01)
    assert abs(whole.z) < 4


# ---------------------------------------------------------------------------- properties


def test_ticket_properties(study):
    props = ticket_properties(study)
    depth = study.plan.depth
    assert sorted(set(props.table.level)) == list(range(depth + 1))
    dense = props.table[(props.table.level == 0) & (props.table.layer != OVERALL)]
    assert (dense.pruned == 0).all() and dense.mean_ratio.isna().all()
    level_one = props.density[props.density.level == 1]
    assert (level_one.imp_percent == level_one.oneshot_percent).all()
    assert (props.connectivity["dense"] == 300).all()
    ticket = next(v for k, v in props.connectivity.items() if k.startswith("ticket"))
    random = next(v for k, v in props.connectivity.items() if k.startswith("random"))
    assert ticket.sum() == random.sum() == int(props.masks[study.plan.connectivity][
        "fc1.weight"].sum())


def test_information_plane_reads_the_snapshots_and_the_final_weights(study):
    info = ticket_properties(study).information
    points = (*study.plan.info_points, study.hp.training.iterations)
    assert sorted(set(info.iteration)) == sorted(points)
    assert set(info.network) == {"dense", "ticket", "random reinit"}
    chain = study.chains()[A]
    assert set(chain.payloads[study.plan.focus][0]["snapshots"]) == set(study.plan.info_points)
    assert chain.payloads[study.plan.focus][1]["snapshots"] == {}  # trial 0 only
    assert len(info) == 3 * len(points) * 3 * 2  # trial 0: networks x layers x bins
    ceiling = math.log2(study.plan.info_inputs)
    assert (info["I(X;T)"] <= ceiling + 1e-9).all() and (info["I(T;Y)"] >= -1e-9).all()


def test_conv2_runs_on_the_cifar_stand_in(tmp_path):
    hp = resolve("conv2", "smoke", training__iterations=4, training__batch_size=8,
                 data__train_subset=96, data__val_size=32, data__test_subset=32)
    plan = make_plan(hp, 20_000, levels=[1], focus=1, connectivity=1, rewind_ks=[0], points=3)
    data = load(hp.data.dataset, device="cpu", val_size=hp.data.val_size,
                train_subset=hp.data.train_subset, test_subset=hp.data.test_subset)
    conv = StabilityStudy(hp, plan, data=data, store=RunStore(tmp_path))
    table = conv.stability().table
    assert set(table.variant) == {"dense", "ticket", "reinit", "random_mask"}
    assert (table.data_order_distance > 0).all()
    props = ticket_properties(conv)
    assert props.connectivity == {} and props.information is None
    assert set(mask_overlap(conv).table.kind) == {DATA_ORDER, ONESHOT}  # one trial: no init pair


# ----------------------------------------------------------------------------------- CLI


def test_stability_subcommand(tmp_path, capsys):
    code = main(["stability", "--preset", "lenet", "--profile", "smoke", "--iterations", "20",
                 "--levels", "1", "--at", "1", "--focus", "1", "--connectivity-level", "1",
                 "--ks", "0", "--points", "3", "--runs", str(tmp_path / "runs"), "--no-progress",
                 "--csv", str(tmp_path / "table.csv")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "data_order_distance" in out and "Jaccard" in out
    table = pd.read_csv(tmp_path / "table.csv")
    assert set(table.variant) == {"dense", "ticket", "reinit", "random_mask"}
    assert main(["stability", "--preset", "lenet", "--profile", "smoke", "--points", "1",
                 "--runs", str(tmp_path / "runs")]) == 1
    assert "parameter line_points must be an integer >= 3" in capsys.readouterr().err


def test_the_notebook_and_the_command_reject_a_bad_value_with_the_same_line(capsys):
    """One parameters dataclass: notebook 05's check, reproduce's check (the registry) and
    the stability command name the field the same way."""
    from lottery.run.registry import CHECKS
    from lottery.studies.stability.params import StabilityParams

    with pytest.raises(HparamError) as notebook:
        CHECKS["05_stability_and_overlap"]({"preset": "lenet", "rewind_ks": [0, -100]})
    code = main(["stability", "--preset", "lenet", "--profile", "smoke", "--ks", "0,-100"])
    assert code == 1
    assert capsys.readouterr().err.strip() == f"error: {notebook.value}"
    assert "rewind_ks" in str(notebook.value)
    assert StabilityParams.from_mapping({"rewind_ks": [0, 500]}).rewind_ks == (0, 500)
    with pytest.raises(HparamError, match="focus_level must be an integer; got 2.5"):
        StabilityParams(focus_level=2.5)
