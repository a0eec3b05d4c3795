"""Protocol tests of the lottery experiments: IMP, one-shot, rewinding, controls, and the run
store at the grain of one trained network."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from lottery.core import executors, experiments
from lottery.core.experiments import Runner, init_seed, run_imp, run_oneshot
from lottery.core.hparams import ExperimentHparams, HparamError
from lottery.core.presets import resolve
from lottery.core.store import RunStore
from lottery.core.training import SpeedOptions
from lottery.engine.variants import VARIANTS, ResetContext

FIXTURE = Path(__file__).parent / "fixtures" / "regression_lenet_smoke.json"
PINNED = ["early_stop_iteration", "early_stop_val_loss", "early_stop_test_loss",
          "early_stop_test_acc", "final_val_loss", "final_test_acc", "final_train_acc",
          "density"]


def smoke(**overrides) -> ExperimentHparams:
    base = {"trials": 2, "levels": 3, "training__iterations": 40, "training__eval_every": 20}
    return resolve("lenet", "smoke", **(base | overrides))


def table(result):
    return result.results.sort_values(["method", "level", "variant", "trial"]).reset_index(
        drop=True)


def pinned_rows(result) -> list[dict]:
    rows = []
    for _, row in result.results.sort_values(["level", "variant", "trial"]).iterrows():
        rows.append({"level": float(row.level), "variant": row.variant, "trial": int(row.trial),
                     **{c: float(row[c]).hex() for c in PINNED}})
    return rows


def test_numbers_are_bit_identical_to_the_engine_before_the_core_rewrite(tmp_path, one_thread):
    # pinned on one thread with the previous experiment core (tests/fixtures): the rewrite of
    # the store, the stages and the training loop state must not change a single bit
    pinned = json.loads(FIXTURE.read_text())
    base = {"trials": 2, "levels": 3, "training__iterations": 60, "training__eval_every": 10,
            "controls": ("reinit", "random_mask")}
    cases = {"imp": lambda: run_imp(resolve("lenet", "smoke", **base), store=RunStore(
                 tmp_path / "a"), progress=False),
             "imp_rewind10": lambda: run_imp(resolve("lenet", "smoke", **base,
                                                     rewind_iteration=10),
                                             store=RunStore(tmp_path / "b"), progress=False),
             "oneshot": lambda: run_oneshot(resolve("lenet", "smoke", **(base | {
                 "oneshot_rounds": (1, 3), "controls": ("reinit",)})),
                 store=RunStore(tmp_path / "c"), progress=False)}
    for name, run in cases.items():
        assert pinned_rows(run()) == pinned[name]["rows"], name


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
    runner = Runner(hp, store=RunStore(tmp_path), progress=False)
    dense = runner.dense()[0]
    init = runner.fresh_init(init_seed(hp, 0))
    mask = runner.prune(0, dense, rounds=1, level=1)
    context = ResetContext(init=init, rewind=init, final=dense["final"], mask=mask, seed=7,
                           fresh_init=runner.fresh_init)
    ticket_state, ticket_mask = VARIANTS["ticket"](context)
    reinit_state, reinit_mask = VARIANTS["reinit"](context)
    random_state, random_mask = VARIANTS["random_mask"](context)
    assert ticket_mask is mask and reinit_mask is mask
    for name in mask:
        assert torch.equal(ticket_state[name], init[name])
        assert not torch.equal(reinit_state[name], init[name])
        assert torch.equal(random_state[name], init[name])
        assert int(random_mask[name].sum()) == int(mask[name].sum())
        assert not torch.equal(random_mask[name], mask[name])
    # the pruned mask keeps the largest trained weights of each layer
    final = dense["final"]["fc1.weight"].abs()
    assert final[mask["fc1.weight"]].min() >= final[~mask["fc1.weight"]].max()


def test_rewinding_restores_the_iteration_k_weights(tmp_path):
    hp = smoke(levels=1, trials=1, rewind_iteration=10)
    dense = Runner(hp, store=RunStore(tmp_path), progress=False).dense()[0]
    short = Runner(smoke(levels=0, trials=1, training__iterations=10, training__eval_every=10),
                   store=RunStore(tmp_path / "short"), progress=False).dense()[0]
    for name, value in short["final"].items():
        assert torch.equal(dense["snapshots"][10][name], value), name
    result = run_imp(hp, store=RunStore(tmp_path), progress=False)
    level1 = result.histories[(result.histories.level == 1)]
    assert level1.iteration.min() == 10  # retraining resumes at iteration k


def test_rerun_loads_every_network_and_masks_are_read_back(tmp_path, trained, monkeypatch):
    first = run_imp(smoke(), store=RunStore(tmp_path), progress=False)
    calls = len(trained)
    monkeypatch.setattr(experiments.pruning, "next_mask", lambda *a, **k: pytest.fail(
        "a stored level's mask must be read back, not recomputed"))
    again = run_imp(smoke(), store=RunStore(tmp_path), progress=False)
    assert len(trained) == calls  # nothing trained again
    assert table(again).equals(table(first))
    for key, mask in first.masks.items():
        assert all(torch.equal(mask[n], again.masks[key][n]) for n in mask)


def test_more_levels_train_only_the_new_level(tmp_path, trained):
    run_imp(smoke(), store=RunStore(tmp_path), progress=False)
    trained.clear()
    run_imp(smoke(levels=4), store=RunStore(tmp_path), progress=False)
    assert trained == [4]  # level 4: two trials x (ticket, reinit)


def test_an_added_trial_or_control_trains_only_the_new_members(tmp_path, trained):
    store = RunStore(tmp_path)
    reference = run_imp(smoke(), store=store, progress=False)
    trained.clear()
    with_control = run_imp(smoke(controls=("reinit", "random_mask")), store=store,
                           progress=False)
    assert trained == [2, 2, 2]  # per level: the random masks of the two trials
    trained.clear()
    run_imp(smoke(trials=3, controls=("reinit", "random_mask")), store=store, progress=False)
    assert trained == [1, 3, 3, 3]  # trial 2's dense net, then its ticket and two controls
    old = table(reference)
    new = table(with_control)
    new = new[new.variant != "random_mask"].reset_index(drop=True)
    assert new[old.columns].equals(old)


def test_a_rewind_sweep_trains_each_dense_network_once(tmp_path, trained):
    store = RunStore(tmp_path)
    base = smoke(levels=1)
    Runner(base, store=store, progress=False).dense(snapshots=[5, 10, 20])
    assert trained == [2]
    for k in (0, 5, 10, 20):
        run_imp(base.replace(rewind_iteration=k), store=store, progress=False)
    assert trained == [2] + [4] * 4  # the dense nets once; each k only its own level
    trained.clear()
    run_imp(base.replace(rewind_iteration=15), store=store, progress=False)
    assert trained == [2, 4]  # a k the dense run did not keep: retrained once, with the union
    dense = Runner(base, store=store, progress=False).dense()
    assert set(dense[0]["snapshots"]) == {5, 10, 15, 20}


def test_interrupted_experiment_resumes_to_identical_results(tmp_path, monkeypatch):
    reference = run_imp(smoke(), store=RunStore(tmp_path / "a"), progress=False)
    original = executors.train
    done = []

    def crash_on_third_level(*args, **kwargs):
        if len(done) == 3:
            raise RuntimeError("simulated crash")
        done.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(executors, "train", crash_on_third_level)
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_imp(smoke(), store=RunStore(tmp_path / "b"), progress=False)
    monkeypatch.setattr(executors, "train", original)
    resumed = run_imp(smoke(), store=RunStore(tmp_path / "b"), progress=False)
    assert table(resumed).equals(table(reference))
    for key, mask in reference.masks.items():
        assert all(torch.equal(mask[n], resumed.masks[key][n]) for n in mask)


def test_corrupt_entry_is_reported_in_one_line_set_aside_and_recomputed(tmp_path, capsys):
    store = RunStore(tmp_path)
    reference = run_imp(smoke(levels=2), store=store, progress=False)
    entry = next(tmp_path.glob("lenet-*/*/rounds-2/ticket-t0-*.pt"))
    entry.write_bytes(entry.read_bytes()[:100])  # truncated by a crash or a full disk
    capsys.readouterr()
    again = run_imp(smoke(levels=2), store=store, progress=False)
    lines = [line for line in capsys.readouterr().err.splitlines() if "run store" in line]
    assert len(lines) == 1 and entry.name in lines[0] and "set aside" in lines[0]
    assert entry.with_name(entry.name + ".corrupt").exists()  # kept, never deleted
    assert table(again).equals(table(reference))


def test_oneshot_shares_the_dense_run_and_reaches_the_rounds_density(tmp_path, trained):
    store = RunStore(tmp_path)
    imp = run_imp(smoke(levels=1), store=store, progress=False)
    trained.clear()
    oneshot = run_oneshot(smoke(oneshot_rounds=(1, 3)), store=store, progress=False)
    assert trained == [4]  # the dense level and the 1-round level (= IMP level 1) were stored
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


def test_checkpoint_is_removed_only_after_the_entries_are_stored(tmp_path, monkeypatch):
    store = RunStore(tmp_path)
    runner = Runner(smoke(levels=0, trials=1), store=store, checkpoint_every=10, progress=False)
    saved = []
    original = RunStore.save

    def save(self, folder, name, key, payload, provenance=None):
        saved.append(list(tmp_path.rglob("*.ckpt")))  # the checkpoint is still there
        return original(self, folder, name, key, payload, provenance)

    monkeypatch.setattr(RunStore, "save", save)
    runner.dense()
    assert saved and all(len(found) == 1 for found in saved)
    assert not list(tmp_path.rglob("*.ckpt"))


@pytest.mark.parametrize("changes, field", [
    ({"trials": 0}, "trials"),
    ({"trials": 10**9}, "trials"),
    ({"seed": -1}, "seed"),
    ({"seed": 10**30}, "seed"),
    ({"rewind_iteration": 10_000}, "rewind_iteration"),
    ({"controls": ("shuffle",)}, "controls"),
    ({"controls": ("reinit", "reinit")}, "controls"),
    ({"oneshot_rounds": (float("inf"),)}, "oneshot_rounds"),
    ({"pruning__fc_rate": 1.5}, "pruning.fc_rate"),
    ({"model__name": "alexnet"}, "model.name"),
    ({"data__dataset": "imagenet"}, "data.dataset"),
    ({"data__test_subset": 0}, "data.test_subset"),
    ({"training__iterations": 10**12}, "training.iterations"),
])
def test_experiment_hparams_reject_bad_values(changes, field):
    with pytest.raises(HparamError, match=field.replace(".", r"\.")):
        smoke(**changes)


def test_speed_options_are_keyed_only_when_they_differ_from_the_defaults(tmp_path):
    store = RunStore(tmp_path)
    plain = Runner(smoke(), store=store, progress=False)
    fast = Runner(smoke(), store=store, data=plain.data,
                  speed=SpeedOptions(channels_last=True, compile=True), progress=False)
    assert "speed" not in plain.recipe()
    assert fast.recipe() == plain.recipe() | {"speed": {"channels_last": True, "compile": True}}
    assert SpeedOptions(kernel="eager").key() == {"kernel": "eager"}
    assert SpeedOptions().key() == {}


def test_the_data_cut_is_part_of_every_key(tmp_path):
    full = Runner(smoke(), store=RunStore(tmp_path), progress=False)
    cut = Runner(smoke(data__train_subset=500, data__test_subset=200), store=RunStore(tmp_path),
                 progress=False)
    assert len(cut.data.train) == 500 and len(cut.data.test) == 200
    assert full.dense_networks()[0].key != cut.dense_networks()[0].key


def test_a_checkpoint_left_behind_is_removed_by_a_rerun_without_checkpointing(tmp_path,
                                                                               interrupt_at):
    interrupt_at(25)
    with pytest.raises(KeyboardInterrupt):
        Runner(smoke(levels=0), store=RunStore(tmp_path), checkpoint_every=10,
               progress=False).dense()
    assert len(list(tmp_path.rglob("*.ckpt"))) == 1
    interrupt_at(None)
    Runner(smoke(levels=0), store=RunStore(tmp_path), progress=False).dense()
    assert not list(tmp_path.rglob("*.ckpt")) and not list(tmp_path.rglob("*.tmp"))


def test_a_checkpoint_whose_entries_got_stored_before_a_kill_is_removed(tmp_path, monkeypatch):
    """Issue 30 class 3: the kill falls after the group's first entry is stored; the rerun
    trains the rest as another group, and the first group's checkpoint goes too."""
    original, stored = RunStore.save, []

    def save_then_die(self, *args, **kwargs):
        if stored:
            raise KeyboardInterrupt  # as kill -9 would: nothing after this runs
        stored.append(original(self, *args, **kwargs))
        return stored[-1]

    monkeypatch.setattr(RunStore, "save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        Runner(smoke(levels=0), store=RunStore(tmp_path), checkpoint_every=10,
               progress=False).dense()
    assert len(list(tmp_path.rglob("*.ckpt"))) == 1 and len(stored) == 1
    monkeypatch.setattr(RunStore, "save", original)
    Runner(smoke(levels=0), store=RunStore(tmp_path), checkpoint_every=10,
           progress=False).dense()
    assert len(list(tmp_path.rglob("*.pt"))) == 2
    assert not list(tmp_path.rglob("*.ckpt")) and not list(tmp_path.rglob("*.group"))


def test_a_checkpoint_left_after_every_entry_was_stored_goes_on_the_next_load(tmp_path):
    store = RunStore(tmp_path)
    Runner(smoke(levels=0), store=store, checkpoint_every=10, progress=False).dense()
    [entry] = {p.parent for p in tmp_path.rglob("*.pt")}  # the kill fell just before end_group
    ids = sorted(p.stem.rsplit("-", 1)[1] for p in entry.glob("*.pt"))
    store.begin_group(str(entry.relative_to(tmp_path)), "train-x", ids)
    (entry / "train-x.ckpt").write_bytes(b"a checkpoint")
    Runner(smoke(levels=0), store=RunStore(tmp_path), progress=False).dense()  # loads only
    assert not list(tmp_path.rglob("*.ckpt")) and not list(tmp_path.rglob("*.group"))
