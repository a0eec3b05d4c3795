"""The cheap-ticket stage (lottery.studies.cheap.study): store keys, masks, the early-bird
snapshot, costs.

The methods' own defining properties are tested in tests/test_atinit.py; here, what the stage
adds: each network's identity (a rerun loads, a changed parameter recomputes), that the member
trained is exactly the method's mask on the trial's init, the "IMP layers" variants' per-layer
counts, and that an early-bird mask at t reads the dense run's weights at t.
"""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from lottery.core.experiments import Runner, init_seed
from lottery.core.hparams import HparamError, PruningHparams
from lottery.core.presets import resolve
from lottery.core.store import RunStore
from lottery.core.training import SpeedOptions
from lottery.engine.models import build
from lottery.run import cli
from lottery.studies.cheap import at_init as atinit
from lottery.studies.cheap import claims as cheap_claims
from lottery.studies.cheap import methods as cheap_methods
from lottery.studies.cheap import study as cheap
from lottery.studies.cheap import tables as cheap_tables
from lottery.studies.cheap.study import CheapStage, Plan, Spec, StopRule

pytestmark = pytest.mark.usefixtures("one_thread")

EAGER = SpeedOptions(kernel="eager")  # no compile step: seconds, not tens of seconds
# levels 1 and 2 of LeNet's schedule (fc 20%, output 10% per round): 80.0% and 64.1%
TARGETS = (0.8, 0.64)
FEW_ROUNDS = {"synflow": {"iterations": 10}}  # SynFlow's 100 rounds are seconds here
PLAN = Plan(densities=TARGETS, imp_layers=(0.64,), shuffle=(0.64,), early_bird=(4, 8),
            stop_rule=StopRule(every=0.1, until=0.5, window=2), rewind=4, params=FEW_ROUNDS)


def smoke_hp(**overrides):
    base = {"trials": 1, "training__iterations": 20, "training__eval_every": 10,
            "training__test_curve": False}
    return resolve("lenet", "smoke", **(base | overrides))


def runner(root, **overrides) -> Runner:
    return Runner(smoke_hp(**overrides), store=RunStore(root), speed=EAGER, progress=False)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One full plan run into a store: (root, result)."""
    root = tmp_path_factory.mktemp("cheap")
    return root, cheap.run(runner(root), PLAN)


def loaded_stage(root, plan: Plan = PLAN) -> CheapStage:
    """A stage whose dense runs and IMP chain are read back from the store."""
    stage = CheapStage(runner(root), plan)
    stage.train_dense()
    stage.chain = stage.imp_chain(0)
    return stage


def rows(result, method, variant="ticket"):
    frame = result.results
    return frame[(frame.method == method) & (frame.variant == variant)]


# ---------------------------------------------------------------------------------------------
# targets and identities


def test_targets_snap_to_the_imp_levels():
    hp = resolve("lenet", "paper")
    model = build("lenet")
    sizes = {n: w[0].numel() for n, w in model.prunable_weights().items()}
    levels = [cheap.imp_level(hp, sizes, model.prunable, d) for d in (0.211, 0.07, 0.036, 0.019)]
    assert levels == [7, 12, 15, 18]  # LTH: 21.1 / 7.0 / 3.6 / 1.9% after those rounds
    curve = cheap.level_densities(hp, sizes, model.prunable, 18)
    assert [round(100 * curve[lv], 1) for lv in (3, 7, 9, 12, 15, 18)] == [
        51.3, 21.1, 13.5, 7.0, 3.6, 1.9]


def test_every_method_sits_at_the_imp_tickets_density(store):
    _, result = store
    frame = result.results[result.results.level > 0]
    imp = frame[frame.method == "IMP (reset to init)"].set_index("level").percent_remaining
    at_init = frame[frame.layers.isin(["global", "imp"])]
    assert set(at_init.level) == {1, 2}
    for _, row in at_init.iterrows():
        assert row.percent_remaining == pytest.approx(imp[row.level], abs=1e-9)


def test_rerun_loads_every_network(store, trained, monkeypatch):
    root, first = store
    again = cheap.run(runner(root), PLAN)
    assert trained == []
    key = ["method", "variant", "trial", "level"]
    a, b = (r.results.sort_values(key).reset_index(drop=True) for r in (first, again))
    pd.testing.assert_frame_equal(a, b)


def test_a_changed_method_parameter_recomputes_only_that_method(store, trained):
    root, first = store
    plan = Plan(densities=TARGETS, imp_layers=(0.64,), shuffle=(0.64,), early_bird=(4, 8),
                stop_rule=PLAN.stop_rule, rewind=4,
                params=FEW_ROUNDS | {"snip": {"batch_seed": 1}})
    again = cheap.run(runner(root), plan)
    # SNIP at both targets, with IMP's layers at 64% and shuffled at 64%
    assert trained == [4]
    old, new = first.masks[("SNIP", "ticket", 0, 2)], again.masks[("SNIP", "ticket", 0, 2)]
    assert old.alive() == new.alive() and any(not torch.equal(old[n], new[n]) for n in old)
    kept, loaded = first.masks[("GraSP", "ticket", 0, 2)], again.masks[("GraSP", "ticket", 0, 2)]
    assert all(torch.equal(kept[n], loaded[n]) for n in kept)


# ---------------------------------------------------------------------------------------------
# what is trained


def test_the_member_is_the_methods_mask_on_the_trials_init(store):
    root, result = store
    stage = loaded_stage(root)
    hp = stage.hp
    spec = Spec("snip", stage.params("snip"), "global", 2, label="SNIP")
    member = stage.network(spec, 0).build()
    model = build("lenet", seeds=[init_seed(hp, 0)], input_shape=stage.shape)
    batch = cheap_methods.sample_batch(stage.runner.data.train, hp.training.batch_size,
                               cheap_methods.seed_of(hp.seed, 0, "snip", dict(spec.params)))
    expected = atinit.mask_at_density(atinit.snip(model, batch), stage.dense_mask,
                                      stage.curve[2])
    assert all(torch.equal(member.mask[n], expected[n]) for n in expected)
    assert all(torch.equal(result.masks[("SNIP", "ticket", 0, 2)][n], expected[n])
               for n in expected)
    init = stage.runner.fresh_init(init_seed(hp, 0))
    assert set(member.state) == set(init)
    assert all(torch.equal(member.state[n], init[n]) for n in init)


def test_imp_layer_variants_keep_the_tickets_per_layer_counts(store):
    root, result = store
    stage = loaded_stage(root)
    ticket_net, ticket = stage.ticket(0, 2)
    for method in ["random (IMP layers)", "SNIP (IMP layers)", "GraSP (IMP layers)",
                   "SynFlow (IMP layers)", "magnitude at init (IMP layers)"]:
        mask = result.masks[(method, "ticket", 0, 2)]
        assert {n: int(m.sum()) for n, m in mask.items()} == {
            n: int(m.sum()) for n, m in ticket.items()}, method
    spec = Spec("snip", stage.params("snip"), "imp", 2, label="SNIP (IMP layers)")
    layers = stage.network(spec, 0).key["mask"]["layers"]
    assert layers == {"densities_of": stage.runner.store.key_id(ticket_net.key)}
    # as published, SNIP splits the same total differently across layers
    global_snip = result.masks[("SNIP", "ticket", 0, 2)]
    assert global_snip.alive() == ticket.alive()
    assert global_snip.layer_density() != pytest.approx(ticket.layer_density())


def test_early_bird_at_t_reads_the_dense_weights_at_t(store):
    root, result = store
    stage = loaded_stage(root)
    snapshots = stage.dense_payloads[0]["snapshots"]
    mask = result.masks[("early-bird t=4", "ticket", 0, 2)]
    assert all(torch.equal(mask[n], stage.early_bird_mask(0, 2, snapshots[4])[n]) for n in mask)
    other = stage.early_bird_mask(0, 2, snapshots[8])
    assert any(not torch.equal(mask[n], other[n]) for n in mask)
    spec = Spec("early_bird", stage.params("early_bird", t=4), "preset", 2)
    key = stage.network(spec, 0).key["mask"]
    assert key["params"] == {"t": 4}
    assert key["snapshot_of"] == stage.runner.store.key_id(stage.dense_networks[0].key)
    # magnitude of the weights at the end of training with the same policy is one-shot's mask
    final = stage.early_bird_mask(0, 2, stage.dense_payloads[0]["final"])
    oneshot = result.masks[("one-shot magnitude", "ticket", 0, 2)]
    assert all(torch.equal(final[n], oneshot[n]) for n in final)


def test_shuffled_masks_keep_each_layers_count_at_new_positions(store):
    _, result = store
    for method in cheap_claims.AT_INIT_LABELS:
        kept = result.masks[(method, "ticket", 0, 2)]
        moved = result.masks[(method, "shuffled", 0, 2)]
        for name in kept:
            assert int(kept[name].sum()) == int(moved[name].sum())
        assert any(not torch.equal(kept[n], moved[n]) for n in kept)


def test_synflow_per_layer_keeps_the_given_layer_densities():
    model = build("lenet", seeds=[3], input_shape=(1, 4, 4), num_classes=3)
    densities = {"fc1.weight": 0.3, "fc2.weight": 0.5, "fc3.weight": 1.0}
    mask = cheap_methods.synflow_per_layer(model, densities, input_shape=(1, 4, 4), iterations=5)
    weights = model.prunable_weights()
    for name, density in densities.items():
        assert int(mask[name].sum()) == int(density * weights[name][0].numel() + 0.5)


# ---------------------------------------------------------------------------------------------
# the stopping rule and costs


def test_stop_rule_fires_when_the_window_fills_and_never_at_threshold_zero(store):
    root, _ = store
    for threshold, expected, settled in ((1.0, 6, True), (0.0, 10, False)):
        stage = loaded_stage(root, Plan(densities=TARGETS, stop_rule=StopRule(
            every=0.1, until=0.5, window=2, threshold=threshold)))
        # checkpoints 2, 4, 6, 8, 10: two distances below 1.0 close at the third checkpoint
        assert stage.stop(0, 2) == expected
        assert stage.settled[(0, 2)] is settled


def test_costs_count_the_training_before_the_final_one(store):
    root, _ = store
    stage = loaded_stage(root)
    t_max, batch, flops = 20, stage.hp.training.batch_size, stage.flops
    assert flops == 2 * (784 * 300 + 300 * 100 + 100 * 10)
    assert stage.cost("imp", 3)["iterations"] == 3 * t_max
    assert stage.cost("imp", 3, k=4)["iterations"] == t_max + 2 * (t_max - 4)
    assert stage.cost("oneshot", 3)["iterations"] == t_max
    assert stage.cost("early_bird", 3, {"t": 8}) == {"iterations": 8,
                                                     "flops": 3 * flops * batch * 8}
    snip = stage.cost("snip", 2, stage.params("snip"))
    assert snip == {"iterations": 0, "flops": 3 * flops * batch}
    # layer-wise schedule: IMP's layer densities are known without training
    assert stage.cost("snip", 2, stage.params("snip"), layers="imp") == snip
    assert stage.cost("random", 2, {"seed": 0}, layers="imp") == {"iterations": 0,
                                                                  "flops": 0.0}


def test_imp_layers_cost_imp_under_global_pruning(tmp_path):
    stage = CheapStage(runner(tmp_path, pruning=PruningHparams("global", global_rate=0.2)),
                       Plan(densities=(0.64,)))
    snip = stage.cost("snip", 2, stage.params("snip"))
    with_imp = stage.cost("snip", 2, stage.params("snip"), layers="imp")
    assert with_imp["iterations"] == 2 * 20
    assert with_imp["flops"] == pytest.approx(snip["flops"] + stage.cost("imp", 2)["flops"])


# ---------------------------------------------------------------------------------------------
# tables, parameters, command line (the claims: test_cheap_claims.py)


def _frame(values):
    return pd.DataFrame([{"method": m, "variant": v, "trial": 0, "level": lv,
                          "percent_remaining": p, "early_stop_test_acc": a,
                          "cost_iterations": it, "cost_flops": f}
                         for m, v, lv, p, a, it, f in values])


def test_pareto_marks_methods_nothing_beats_for_less():
    frame = _frame([("a", "ticket", 3, 5.0, 0.90, 0, 0.0), ("b", "ticket", 3, 5.0, 0.95, 10, 1e9),
                    ("c", "ticket", 3, 5.0, 0.94, 20, 2e9), ("d", "ticket", 3, 5.0, 0.90, 0, 0.0)])
    result = cheap.CheapResult(None, frame, frame, {}, pd.DataFrame(), {0.05: 3}, 1, "", True)
    table = cheap_tables.pareto(result, [0.05]).set_index("method")
    assert table.pareto.to_dict() == {"a": True, "b": True, "c": False, "d": True}
    assert table.loc["b", "target"] == 5.0


@pytest.mark.parametrize(("change", "message"), [
    ({"preset": "vgg19"}, "preset"), ({"densities": [0.5, 1.5]}, "densities"),
    ({"focus_densities": [0.3]}, "focus_densities"), ({"early_bird_ts": [-1]}, "early_bird"),
    ({"rewind_k": 1.5}, "rewind_k")])
def test_notebook_parameters_are_checked_in_one_line(change, message):
    good = {"preset": "lenet", "densities": [0.2, 0.07], "focus_densities": [0.07],
            "early_bird_ts": [2000], "rewind_k": 500}
    cheap.check_parameters(**good)
    with pytest.raises(HparamError, match=message):
        cheap.check_parameters(**(good | change))


def test_method_parameters_are_checked():
    hp = smoke_hp()
    assert cheap_methods.method_params("grasp", hp, 10)["batch_size"] == 100
    with pytest.raises(HparamError, match="no parameter"):
        cheap_methods.method_params("snip", hp, 10, {"temperature": 2.0})
    with pytest.raises(HparamError, match="early_bird needs"):
        cheap_methods.method_params("early_bird", hp, 10)
    with pytest.raises(HparamError, match="early-bird iterations"):
        CheapStage(runner("/nonexistent"), Plan(densities=(0.8,), early_bird=(20,))).snapshots()


CLI = ["atinit", "--preset", "lenet", "--profile", "smoke", "--trials", "1", "--iterations",
       "10", "--no-progress", "--kernel", "eager", "--densities", "0.8"]


def test_cli_trains_once_and_a_method_flag_makes_a_new_network(tmp_path, capsys, trained):
    argv = [*CLI, "--method", "snip", "--runs", str(tmp_path)]
    assert cli.main(argv) == 0
    assert "SNIP" in capsys.readouterr().out
    assert trained == [1]
    assert cli.main(argv) == 0 and trained == [1]
    assert cli.main([*argv, "--snip.batch_seed", "3"]) == 0 and trained == [1, 1]


def test_cli_refuses_a_bad_mix_in_one_line(tmp_path, capsys):
    assert cli.main([*CLI, "--method", "early_bird", "--runs", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error:") and "--t" in err and err.count("\n") == 1


def test_masks_of_a_residual_net_with_batch_norm_keep_the_snapped_count(tmp_path):
    hp = resolve("resnet18", "smoke")
    stage = CheapStage(Runner(hp, store=RunStore(tmp_path), speed=EAGER, progress=False),
                       Plan(densities=(0.21,), params={"synflow": {"iterations": 3},
                                                       "snip": {"batch_size": 8}}))
    level = stage.levels[0.21]
    for kind in ("snip", "synflow", "magnitude_init"):
        mask = stage.mask(Spec(kind, stage.params(kind), "global", level), 0)
        assert mask.alive() == round(stage.curve[level] * stage.dense_mask.size()), kind
        assert set(mask) == set(stage.dense_mask)  # shortcuts and fc are not prunable
