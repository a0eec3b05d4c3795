"""Protocol tests of the lottery experiments and the run store."""

from __future__ import annotations

import warnings

import pytest
import torch

from lottery import experiments
from lottery.experiments import LotteryRunner, run_imp, run_oneshot
from lottery.hparams import ExperimentHparams, HparamError
from lottery.masks import Mask
from lottery.presets import resolve
from lottery.store import CorruptEntryWarning, RunStore


def smoke(**overrides) -> ExperimentHparams:
    base = {"trials": 2, "levels": 3, "training__iterations": 40, "training__eval_every": 20}
    return resolve("lenet", "smoke", **(base | overrides))


def table(result):
    return result.results.sort_values(["method", "level", "variant", "trial"]).reset_index(
        drop=True)


def test_imp_masks_nest_with_the_preset_densities(tmp_path):
    result = run_imp(smoke(), store=RunStore(tmp_path), progress=False)
    for trial in range(2):
        for level in range(1, 4):
            mask, previous = result.masks[(trial, level)], result.masks[(trial, level - 1)]
            assert mask.is_subset_of(previous) and mask.alive() < previous.alive()
            density = mask.layer_density()
            assert density["fc1.weight"] == pytest.approx(0.8 ** level, abs=1e-4)
            assert density["fc2.weight"] == pytest.approx(0.8 ** level, abs=1e-3)
            assert density["fc3.weight"] == pytest.approx(0.9 ** level, abs=1e-2)
    rows = result.results
    assert set(rows.variant) == {"ticket", "reinit"}
    assert len(rows) == 2 + 3 * 2 * 2  # dense trials + levels x trials x (ticket, reinit)
    ticket = rows[(rows.level == 3) & (rows.variant == "ticket")]
    assert ticket.percent_remaining.iloc[0] == pytest.approx(100 * result.masks[(0, 3)].density())


def test_ticket_resets_to_init_and_reinit_keeps_the_mask_with_new_values(tmp_path):
    hp = smoke(levels=1, trials=1)
    runner = LotteryRunner(hp, store=RunStore(tmp_path), progress=False)
    dense = runner.dense()
    init = runner.fresh_init(experiments.init_seed(hp, 0))
    mask = runner.next_mask(init, dense["final"][0], runner.dense_mask, rounds=1, seed=0)
    context = experiments.ResetContext(init=init, rewind=init, final=dense["final"][0], mask=mask,
                                       seed=7, fresh_init=runner.fresh_init)
    ticket_state, ticket_mask = experiments.VARIANT_RESETS["ticket"](context)
    reinit_state, reinit_mask = experiments.VARIANT_RESETS["reinit"](context)
    random_state, random_mask = experiments.VARIANT_RESETS["random_mask"](context)
    assert ticket_mask is mask and reinit_mask is mask
    for name in mask:
        assert torch.equal(ticket_state[name], init[name])
        assert not torch.equal(reinit_state[name], init[name])
        assert torch.equal(random_state[name], init[name])
        assert int(random_mask[name].sum()) == int(mask[name].sum())
        assert not torch.equal(random_mask[name], mask[name])
    # the pruned mask keeps the largest trained weights of each layer
    final = dense["final"][0]["fc1.weight"].abs()
    assert final[mask["fc1.weight"]].min() >= final[~mask["fc1.weight"]].max()


def test_rewinding_restores_the_iteration_k_weights(tmp_path):
    hp = smoke(levels=1, trials=1, rewind_iteration=10)
    runner = LotteryRunner(hp, store=RunStore(tmp_path), progress=False)
    dense = runner.dense()
    short = LotteryRunner(smoke(levels=0, trials=1, training__iterations=10,
                                training__eval_every=10), store=RunStore(tmp_path / "short"),
                          progress=False).dense()
    for name, value in short["final"][0].items():
        assert torch.equal(dense["rewind"][0][name], value), name
    result = runner.imp()
    level1 = result.histories[(result.histories.level == 1)]
    assert level1.iteration.min() == 10  # retraining resumes at iteration k


def test_rerun_loads_every_level_from_the_store(tmp_path, monkeypatch):
    first = run_imp(smoke(), store=RunStore(tmp_path), progress=False)

    def no_training(*args, **kwargs):
        raise AssertionError("a finished experiment must not train again")

    monkeypatch.setattr(experiments, "train", no_training)
    again = run_imp(smoke(), store=RunStore(tmp_path), progress=False)
    assert table(again).equals(table(first))
    deeper = smoke(levels=4)  # more levels reuse the finished ones and train only the new one
    monkeypatch.undo()
    calls = []
    original = experiments.train
    monkeypatch.setattr(experiments, "train", lambda *a, **k: calls.append(1) or original(*a, **k))
    run_imp(deeper, store=RunStore(tmp_path), progress=False)
    assert len(calls) == 1


def test_interrupted_experiment_resumes_to_identical_results(tmp_path, monkeypatch):
    reference = run_imp(smoke(), store=RunStore(tmp_path / "a"), progress=False)
    original = experiments.train
    trained = []

    def crash_on_third_level(*args, **kwargs):
        if len(trained) == 2:
            raise RuntimeError("simulated crash")
        trained.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(experiments, "train", crash_on_third_level)
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_imp(smoke(), store=RunStore(tmp_path / "b"), progress=False)
    monkeypatch.setattr(experiments, "train", original)
    resumed = run_imp(smoke(), store=RunStore(tmp_path / "b"), progress=False)
    assert table(resumed).equals(table(reference))
    for key, mask in reference.masks.items():
        assert all(torch.equal(mask[n], resumed.masks[key][n]) for n in mask)


def test_corrupt_entry_is_reported_set_aside_and_recomputed(tmp_path):
    store = RunStore(tmp_path)
    reference = run_imp(smoke(levels=2), store=store, progress=False)
    level_file = next(tmp_path.glob("imp/*/level_02.pt"))
    level_file.write_bytes(level_file.read_bytes()[:100])  # truncated by a crash or a full disk
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = run_imp(smoke(levels=2), store=store, progress=False)
    messages = [str(w.message) for w in caught if issubclass(w.category, CorruptEntryWarning)]
    assert len(messages) == 1 and "level_02.pt" in messages[0]
    assert level_file.with_suffix(".corrupt").exists()  # kept for inspection, never deleted
    assert table(again).equals(table(reference))


def test_store_rejects_an_entry_with_another_key(tmp_path):
    store = RunStore(tmp_path)
    store.save("g", "entry", {"a": 1}, {"value": torch.ones(2)})
    assert torch.equal(store.load("g", "entry", {"a": 1})["value"], torch.ones(2))
    with pytest.warns(CorruptEntryWarning):
        assert store.load("g", "entry", {"a": 2}) is None


def test_oneshot_shares_the_dense_run_and_reaches_the_rounds_density(tmp_path, monkeypatch):
    store = RunStore(tmp_path)
    imp = run_imp(smoke(levels=1), store=store, progress=False)
    calls = []
    original = experiments.train
    monkeypatch.setattr(experiments, "train", lambda *a, **k: calls.append(1) or original(*a, **k))
    oneshot = run_oneshot(smoke(oneshot_rounds=(3,)), store=store, progress=False)
    assert len(calls) == 1  # the dense level came from the store
    metrics = ["trial", "early_stop_iteration", "early_stop_test_acc", "final_train_acc"]
    dense_of = lambda r: r.results[r.results.level == 0][metrics].to_numpy()  # noqa: E731
    assert (dense_of(oneshot) == dense_of(imp)).all()
    density = oneshot.masks[(0, 3.0)].layer_density()
    assert density["fc1.weight"] == pytest.approx(0.8 ** 3, abs=1e-4)


def test_random_mask_control_has_the_ticket_layer_densities(tmp_path):
    result = run_imp(smoke(levels=2, controls=("reinit", "random_mask")), store=RunStore(tmp_path),
                     progress=False)
    level2 = result.results[result.results.level == 2]
    per_variant = level2.groupby("variant")["density:fc1.weight"].first()
    assert per_variant["random_mask"] == per_variant["ticket"] == per_variant["reinit"]


@pytest.mark.parametrize("changes, field", [
    ({"trials": 0}, "trials"),
    ({"rewind_iteration": 10_000}, "rewind_iteration"),
    ({"controls": ("shuffle",)}, "controls"),
    ({"pruning__fc_rate": 1.5}, "pruning.fc_rate"),
    ({"model__name": "alexnet"}, "model.name"),
    ({"data__dataset": "imagenet"}, "data.dataset"),
])
def test_experiment_hparams_reject_bad_values(changes, field):
    with pytest.raises(HparamError, match=field.replace(".", r"\.")):
        smoke(**changes)


def test_masks_survive_a_store_round_trip(tmp_path):
    mask = Mask.dense({"w": (3, 4)})
    mask["w"][0, 0] = False
    store = RunStore(tmp_path)
    store.save("m", "x", {"k": 1}, {"mask": mask.to_state()})
    loaded = Mask.of(store.load("m", "x", {"k": 1})["mask"])
    assert torch.equal(loaded["w"], mask["w"]) and loaded.density() == pytest.approx(11 / 12)


def test_speed_options_are_keyed_only_when_on(tmp_path):
    # results computed without a speed option keep their keys; with one, they are kept apart
    store = RunStore(tmp_path)
    plain = LotteryRunner(smoke(), store=store, progress=False)
    fast = LotteryRunner(smoke(), store=store, data=plain.data, channels_last=True,
                         compile=True, progress=False)
    assert "channels_last" not in plain._dense_key() and "compile" not in plain._dense_key()
    assert fast._dense_key() == plain._dense_key() | {"channels_last": True, "compile": True}
    assert RunStore.key_id(fast._dense_key()) != RunStore.key_id(plain._dense_key())
