"""Ticket transfer (Morcos et al. 2019): the stage's keys in the run store, what a transferred
member starts from, the random ticket, the output layer across class counts, the learning-rate
sweep, the second dataset of a notebook session and the command line (the claims:
test_transfer_claims.py)."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest
import torch

from lottery.core.experiments import Runner, data_seed, init_seed
from lottery.core.hparams import HparamError
from lottery.core.presets import resolve
from lottery.core.store import RunStore
from lottery.engine.data import DataUnavailable, load
from lottery.run import cli
from lottery.run.session import setup, validate_parameters
from lottery.studies.transfer import command as transfer_command
from lottery.studies.transfer.study import source_tickets, sweep_lr, transfer, transfer_networks

SGD = {"training__optimizer": "sgd", "training__lr": 0.05}
pytestmark = pytest.mark.usefixtures("one_thread")  # tiny networks: threads only add sync


def smoke(**overrides):
    base = {"trials": 2, "levels": 2, "controls": (), "training__iterations": 20,
            "training__eval_every": 10}
    return resolve("lenet", "smoke", **(base | overrides))


def runner(hp, store, data=None) -> Runner:
    return Runner(hp, store=store, data=data, progress=False)


def rows(result, variant="ticket"):
    frame = result.results[result.results.variant == variant]
    return frame.sort_values(["level", "trial"]).reset_index(drop=True)


# --- the run store ----------------------------------------------------------------------------

def test_a_rerun_loads_every_network(tmp_path, trained):
    store = RunStore(tmp_path)
    first = transfer(runner(smoke(), store), runner(smoke(**SGD), store))
    # source IMP: dense, level 1, level 2 (2 trials each); target dense; 2 levels x 2 trials x
    # (ticket, random ticket) trained together
    assert trained == [2, 2, 2, 2, 8]
    trained.clear()
    again = transfer(runner(smoke(), store), runner(smoke(**SGD), store))
    assert trained == []
    pd.testing.assert_frame_equal(first.results, again.results)


@pytest.mark.parametrize("change", [{"training__iterations": 30}, {"seed": 1}],
                         ids=["iterations", "seed"])
def test_a_changed_source_recomputes_what_depends_on_it(tmp_path, trained, change):
    store = RunStore(tmp_path)
    transfer(runner(smoke(), store), runner(smoke(**SGD), store))
    trained.clear()
    transfer(runner(smoke(**change), store), runner(smoke(**SGD), store))
    # the new source's IMP and every transferred network; the target's dense runs are loaded
    assert trained == [2, 2, 2, 8]


def test_a_changed_target_recipe_reuses_the_source_tickets(tmp_path, trained):
    store = RunStore(tmp_path)
    transfer(runner(smoke(), store), runner(smoke(**SGD), store))
    trained.clear()
    transfer(runner(smoke(), store), runner(smoke(**(SGD | {"training__lr": 0.02})), store))
    assert trained == [2, 8]


def test_transferred_networks_live_under_the_target_recipe(tmp_path):
    store = RunStore(tmp_path)
    source, target = runner(smoke(), store), runner(smoke(**SGD), store)
    tickets, dense = source_tickets(source, [2])
    networks = transfer_networks(source, target, tickets, dense)
    target_folder = target.dense_networks()[0].path[0].rsplit("/", 1)[0]
    assert {n.path[0] for n in networks} == {f"{target_folder}/transfer-2"}
    assert {n.key["transfer_of"] for n in networks} == {
        store.key_id(t.network.key) for t in tickets[2]}


# --- what a transferred member starts from ----------------------------------------------------

@pytest.mark.parametrize("k", [0, 5], ids=["reset-to-init", "late-resetting"])
def test_the_transferred_member_starts_from_the_source_ticket(tmp_path, k):
    store = RunStore(tmp_path)
    source, target = runner(smoke(rewind_iteration=k), store), runner(smoke(**SGD), store)
    tickets, dense = source_tickets(source)
    for net in transfer_networks(source, target, tickets, dense):
        level, t = net.labels["level"], net.labels["trial"]
        ticket = tickets[level][t]
        original = ticket.network.build()  # what the source ticket itself trained from
        member = net.build()
        assert net.start == ticket.network.start == k
        assert member.data_seed == data_seed(target.hp, t)
        assert all(torch.equal(member.state[n], original.state[n]) for n in original.state)
        if net.labels["variant"] == "ticket":
            assert all(torch.equal(member.mask[n], original.mask[n]) for n in original.mask)
            assert all(torch.equal(member.mask[n], ticket.mask[n]) for n in ticket.mask)
    if k:  # the start is the source's dense run at iteration k, not the initialization
        init = source.fresh_init(init_seed(source.hp, 0))
        assert not torch.equal(tickets[1][0].network.build().state["fc1.weight"],
                               init["fc1.weight"])


def test_the_random_ticket_has_the_ticket_layer_densities_and_another_mask(tmp_path):
    store = RunStore(tmp_path)
    result = transfer(runner(smoke(), store), runner(smoke(**SGD), store))
    ticket = rows(result).query("level > 0").reset_index(drop=True)
    random = rows(result, "random_mask")
    layers = [c for c in ticket.columns if c.startswith("density:")]
    assert len(layers) == 3 and len(ticket) == len(random) == 4
    pd.testing.assert_frame_equal(ticket[layers], random[layers])
    assert (ticket["density:fc1.weight"] < 0.81).all()  # pruned: levels 1 and 2
    source, target = runner(smoke(), store), runner(smoke(**SGD), store)
    tickets, dense = source_tickets(source, [2])
    net = [n for n in transfer_networks(source, target, tickets, dense)
           if n.labels["variant"] == "random_mask"][0]
    mask = net.build().mask
    assert not torch.equal(mask["fc1.weight"], tickets[2][0].mask["fc1.weight"])


def test_a_self_transfer_reproduces_the_source_tickets(tmp_path, single_thread):
    """Known answer: trained on its own recipe, a transferred ticket is the source ticket
    (same start, mask, data order and schedule), so every number matches exactly."""
    store = RunStore(tmp_path)
    hp = smoke(rewind_iteration=5)
    found = runner(hp, store).imp()
    moved = transfer(runner(hp, store), runner(hp, store))
    metrics = ["early_stop_iteration", "early_stop_test_acc", "final_test_acc",
               "final_train_acc", "density"]
    pd.testing.assert_frame_equal(rows(moved)[metrics], rows(found)[metrics])


def test_the_output_layer_is_reinitialized_and_dense_when_the_classes_differ(tmp_path):
    store = RunStore(tmp_path)
    hp = smoke()
    letters = dataclasses.replace(load("synthetic_mnist", val_size=500), num_classes=26,
                                  name="synthetic_mnist_26")
    source, target = runner(hp, store), runner(hp, store, letters)
    tickets, dense = source_tickets(source, [2])
    networks = transfer_networks(source, target, tickets, dense)
    for net in networks:
        t, member = net.labels["trial"], net.build()
        target_init = target.fresh_init(init_seed(target.hp, t))
        original = tickets[2][t].network.build()
        assert net.key["output"] == {"init_seed": init_seed(target.hp, t)}
        assert member.state["fc3.weight"].shape == (26, 100)
        assert torch.equal(member.state["fc3.weight"], target_init["fc3.weight"])
        assert torch.equal(member.state["fc3.bias"], target_init["fc3.bias"])
        assert bool(member.mask["fc3.weight"].all())
        assert torch.equal(member.state["fc1.weight"], original.state["fc1.weight"])
    pruned = rows(transfer(source, target, [2])).query("level > 0")
    assert (pruned["density:fc3.weight"] == 1.0).all()
    assert (pruned["density:fc1.weight"] < 0.7).all() and len(pruned) == 2


def test_an_incompatible_target_is_refused_before_training(tmp_path, trained):
    store = RunStore(tmp_path)
    source = runner(smoke(), store)
    conv = resolve("conv2", "smoke", controls=())
    cifar_lenet = smoke(data__dataset="synthetic_cifar10")
    with pytest.raises(HparamError, match="one architecture"):
        transfer(source, runner(conv, store))
    with pytest.raises(HparamError, match="one input shape"):
        transfer(source, runner(cifar_lenet, store))
    with pytest.raises(HparamError, match="not IMP levels"):
        transfer(source, runner(smoke(**SGD), store), [3])
    assert trained == []


# --- the learning-rate sweep ------------------------------------------------------------------

def test_the_sweep_picks_the_lowest_validation_loss_and_its_dense_runs_are_reused(tmp_path,
                                                                                  trained):
    store = RunStore(tmp_path)
    hp = smoke(**SGD)
    best, table = sweep_lr(lambda h: runner(h, store), hp, [1e-6, 0.05])
    assert best == 0.05  # a learning rate of 1e-6 barely moves the weights
    assert len(table) == 4 and set(table.lr) == {1e-6, 0.05}
    means = table.groupby("lr").early_stop_val_loss.mean()
    assert means[0.05] < means[1e-6]
    trained.clear()
    runner(hp.replace(training__lr=best), store).dense()
    assert trained == []


# --- the notebook session ---------------------------------------------------------------------

def test_a_second_dataset_gets_the_same_data_decision(tmp_path, monkeypatch):
    session = setup("nb", "mnist", "smoke", data_root=tmp_path)
    fashion, cifar100 = session.on("fashion_mnist"), session.on("cifar100")
    assert fashion.synthetic and "stand-in" in fashion.data_label
    assert fashion.hparams("lenet").data.dataset == "synthetic_mnist"
    assert cifar100.hparams("conv2").data.dataset == "synthetic_cifar10"
    assert session.hparams("conv2").data.dataset == "synthetic_cifar10"  # not retargeted
    with pytest.raises(DataUnavailable, match="no synthetic stand-in"):
        session.on("emnist_letters")
    monkeypatch.setattr("lottery.run.session.ensure", lambda name, root, download: "present")
    quick = setup("nb", "mnist", "quick", data_root=tmp_path).on("emnist_letters")
    assert not quick.synthetic and quick.hparams("lenet").data.dataset == "emnist_letters"
    assert quick.hparams("lenet").data.val_size == 5000


def test_a_missing_second_dataset_is_one_line_never_a_stand_in(tmp_path, monkeypatch):
    monkeypatch.setattr("lottery.run.session.ensure", lambda name, root, download: "present")
    session = setup("nb", "mnist", "quick", data_root=tmp_path)
    monkeypatch.undo()
    monkeypatch.setenv("LOTTERY_OFFLINE", "1")
    with pytest.raises(DataUnavailable, match="Fashion-MNIST"):
        session.on("fashion_mnist")


@pytest.mark.parametrize("params", [
    {"datasets": ["mnist", "mnist"]}, {"datasets": ["mnist", "synthetic_mnist"]},
    {"extra_sources": ["letters"]}, {"transfer_every": 0}, {"rewind_k": -1},
    {"sgd_lrs": []}, {"sgd_lrs": [0.1, -1]}, {"quick_rounds": 0},
    {"quick_iterations": 1.5}, {"cifar_models": ["resnet18"]}])
def test_bad_transfer_parameters_are_refused(params):
    with pytest.raises(HparamError):
        validate_parameters(profile="smoke", **params)


# --- the command line -------------------------------------------------------------------------

ARGS = ["transfer", "--preset", "lenet", "--profile", "smoke", "--trials", "1", "--iterations",
        "10", "--levels", "2", "--no-progress"]


def test_cli_transfer_runs_then_loads(capsys, tmp_path, trained):
    code = cli.main([*ARGS, "--from", "mnist", "--to", "fashion_mnist", "--runs",
                     str(tmp_path), "--target.training.optimizer", "sgd", "--every", "2"])
    out = capsys.readouterr().out
    assert code == 0 and "synthetic_mnist/adam -> synthetic_mnist/sgd" in out
    assert "random_mask" in out and "levels [2]" in out
    assert trained and trained[-1] == 2  # one level x one trial x (ticket, random ticket)
    trained.clear()
    assert cli.main([*ARGS, "--runs", str(tmp_path), "--target.training.optimizer", "sgd",
                     "--every", "2"]) == 0
    assert trained == []


def test_cli_target_flags_reach_the_target_recipe():
    argv = [*ARGS, "--from", "fashion_mnist", "--to", "mnist", "--target.training.lr", "0.03",
            "--target.training.optimizer", "sgd", "--training.lr", "0.002"]
    args = cli.build_parser(argv).parse_args(argv)
    source, target = transfer_command.transfer_hparams(args)
    assert source.data.dataset == target.data.dataset == "synthetic_mnist"  # smoke: stand-ins
    assert (source.training.optimizer, source.training.lr) == ("adam", 0.002)
    assert (target.training.optimizer, target.training.lr) == ("sgd", 0.03)
    assert target.replace(training=source.training) == source


def test_cli_bad_target_is_one_error_line(capsys, tmp_path, trained):
    code = cli.main([*ARGS, "--runs", str(tmp_path), "--target.training.lr", "-1"])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error: target training.lr") and err.count("\n") == 1
    code = cli.main([*ARGS, "--runs", str(tmp_path), "--to", "synthetic_cifar10"])
    assert code == 1 and "input shape" in capsys.readouterr().err
    assert trained == []
