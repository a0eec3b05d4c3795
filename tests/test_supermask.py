"""Learned supermasks (Zhou et al. 2019, Sec. 5.3): frozen weights, Bernoulli masks of learned
scores with a straight-through gradient, early stop on validation loss, trained by the training
engine's own loop (resumable) through the runner, one store entry each, loaded on a rerun."""

from __future__ import annotations

import pickle

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from lottery.core.executors import LocalExecutor, train_payloads
from lottery.core.experiments import Runner, init_seed
from lottery.core.hparams import HparamError, ModelHparams, TrainingHparams
from lottery.core.presets import resolve
from lottery.core.store import RunStore
from lottery.core.training import Member, train
from lottery.engine import mask1_actions as mask1
from lottery.engine.data import load
from lottery.engine.members import member_state
from lottery.engine.models import build
from lottery.studies.deconstruct import supermask
from lottery.studies.deconstruct.supermask import LearnedSupermask, SupermaskNet, fixed_weights

LENET = ModelHparams("lenet")
PRUNABLE = ["fc1.weight", "fc2.weight", "fc3.weight"]


@pytest.fixture(scope="module", autouse=True)
def _threads(one_thread):
    yield


@pytest.fixture(scope="module")
def mnist_like():
    return load("synthetic_mnist", val_size=500)


def net_of(seeds, score_init=0.0) -> SupermaskNet:
    inner = build("lenet", seeds=seeds)
    return SupermaskNet(inner, score_init, seeds)


def test_fixed_weights_are_signed_constants_of_the_init():
    init = member_state(build("lenet", [3]), 0)
    fixed = fixed_weights(init, PRUNABLE, "signed_constant")
    for name in PRUNABLE:
        assert torch.equal(torch.sign(fixed[name]), torch.sign(init[name]))
        assert fixed[name].abs().unique().numel() == 1
        assert float(fixed[name].abs()[0, 0]) == pytest.approx(mask1.layer_sigma(init, name))
    assert torch.equal(fixed["fc1.bias"], init["fc1.bias"])
    assert fixed_weights(init, PRUNABLE, "init") == init


def test_masks_are_bernoulli_of_the_sigmoid_of_the_scores():
    net = net_of([0], score_init=2.0)  # sigmoid(2) = 0.881
    kept = torch.cat([m.flatten() for m in net.sample(net.train_draws)]).mean()
    assert float(kept) == pytest.approx(torch.sigmoid(torch.tensor(2.0)).item(), abs=0.005)
    assert float(net.density()[0]) == pytest.approx(0.8808, abs=1e-4)
    assert set(torch.cat([m.flatten() for m in net.sample(net.train_draws)]).tolist()) == {0, 1}


def test_straight_through_gradient_is_the_masked_weight_gradient_times_sigmoid_slope():
    torch.manual_seed(0)
    net = net_of([1], score_init=0.5)
    with torch.no_grad():
        for score in net.scores:
            score.normal_()
    x, y = torch.randn(1, 8, 1, 28, 28), torch.randint(0, 10, (1, 8))
    net.train_draws[0].set_state(torch.Generator().manual_seed(5).get_state())
    logits = net(x)
    F.cross_entropy(logits.flatten(0, 1), y.flatten()).backward()
    # the same forward by hand: the sampled mask, then the loss's gradient w.r.t. w * m
    net.train_draws[0].set_state(torch.Generator().manual_seed(5).get_state())
    masks = net.sample(net.train_draws)
    weights = net.inner.prunable_weights()
    gated = {n: (weights[n] * m).requires_grad_() for n, m in zip(net.names, masks, strict=True)}
    expected_logits = functional_call(net.inner, gated, (x,))
    assert torch.equal(expected_logits, logits)  # the forward mask is exactly 0 or 1
    F.cross_entropy(expected_logits.flatten(0, 1), y.flatten()).backward()
    for name, score in zip(net.names, net.scores, strict=True):
        p = torch.sigmoid(score.detach())
        expected = gated[name].grad * weights[name] * p * (1 - p)
        torch.testing.assert_close(score.grad, expected, rtol=1e-5, atol=1e-9)
        assert weights[name].grad is None  # the weights are frozen


def supermask_member(seed: int, data_seed: int) -> Member:
    """Member ``seed``'s frozen signed constants, sampling its masks from ``seed``."""
    fixed = fixed_weights(member_state(build("lenet", [seed]), 0), PRUNABLE, "signed_constant")
    return Member(fixed, None, data_seed, sample_seed=seed)


def test_training_moves_only_the_scores_and_early_stops_on_validation_loss(mnist_like):
    hp = TrainingHparams("adam", lr=0.1, iterations=60, batch_size=60, eval_every=20)
    member = supermask_member(0, 100)
    result = train(LENET, hp, mnist_like, [member], device="cpu", progress=False,
                   parameterisation=LearnedSupermask(samples=3))
    history, summary = result.history, result.summary.iloc[0]
    best = history.val_loss.idxmin()
    assert summary.early_stop_iteration == history.iteration[best]
    assert summary.early_stop_val_loss == pytest.approx(history.val_loss[best])
    assert history.val_acc.iloc[-1] > 0.3  # far above chance (0.1): the mask alone learned
    assert summary.density != pytest.approx(0.5, abs=1e-3)  # the scores moved from 0
    assert 0 < result.masks[0].density() < 1
    assert set(result.extras[0]["scores"]) == set(PRUNABLE)
    for name, value in member.state.items():  # the weights never moved
        assert torch.equal(result.final_states[0][name], value), name


def test_members_do_not_depend_on_their_batch(mnist_like, single_thread):
    # each member samples from its own generators; batched matmuls agree with a member's own
    # to rounding (~1e-12 on these gradients), which Adam carries on, so compared at 1e-5
    hp = TrainingHparams("adam", lr=0.1, iterations=30, batch_size=60, eval_every=15)
    members = [supermask_member(s, 100 + s) for s in (0, 1)]
    how = LearnedSupermask(samples=2)
    together = train(LENET, hp, mnist_like, members, progress=False, parameterisation=how)
    alone = train(LENET, hp, mnist_like, members[1:], progress=False, parameterisation=how)
    for name in PRUNABLE:
        torch.testing.assert_close(together.extras[1]["scores"][name],
                                   alone.extras[0]["scores"][name], atol=1e-5, rtol=0)
    second = together.summary.iloc[1].drop("member")
    assert second.to_dict() == pytest.approx(alone.summary.iloc[0].drop("member").to_dict(),
                                             abs=1e-4)
    assert not torch.equal(together.extras[0]["scores"]["fc1.weight"],
                           alone.extras[0]["scores"]["fc1.weight"])


def test_an_interrupted_supermask_resumes_to_the_same_result(mnist_like, tmp_path,
                                                            interrupt_at):
    # the checkpoint keeps the mask generators with the scores: the resumed run draws the
    # same masks as an uninterrupted one
    hp = TrainingHparams("adam", lr=0.1, iterations=40, batch_size=60, eval_every=10)
    members, how = [supermask_member(0, 100)], LearnedSupermask(samples=2)
    reference = train(LENET, hp, mnist_like, members, progress=False, parameterisation=how)
    checkpoint = tmp_path / "supermask.ckpt"
    interrupt_at(25)
    with pytest.raises(KeyboardInterrupt):
        train(LENET, hp, mnist_like, members, checkpoint=checkpoint, checkpoint_every=15,
              progress=False, parameterisation=how)
    interrupt_at(None)
    resumed = train(LENET, hp, mnist_like, members, checkpoint=checkpoint, checkpoint_every=15,
                    progress=False, parameterisation=how)
    assert resumed.history.equals(reference.history)
    assert resumed.summary.equals(reference.summary)
    for name, value in reference.extras[0]["scores"].items():
        assert torch.equal(resumed.extras[0]["scores"][name], value), name


def smoke_hp(**overrides):
    base = resolve("lenet", "smoke", **({"trials": 2} | overrides))
    return supermask.hparams(base, lr=0.1, iterations=30)


def test_stage_stores_one_entry_per_trial_and_loads_it_on_a_second_run(tmp_path, trained):
    hp = smoke_hp()
    assert hp.training.optimizer == "adam" and hp.training.lr == 0.1 and hp.levels == 0
    runner = Runner(hp, store=RunStore(tmp_path), progress=False)
    first = supermask.run(runner, samples=2)
    assert trained == [2]  # both trials in one batched call of the training engine
    assert len(list(tmp_path.rglob("supermask/supermask-t*.pt"))) == 2
    assert first.results.variant.tolist() == ["supermask"] * 2
    assert (first.results.percent_remaining == 100 * first.results.density).all()
    layers = first.results[[f"density:{n}" for n in PRUNABLE]]
    assert ((layers > 0.3) & (layers < 0.7)).all().all()  # a sampled mask near sigmoid(s)
    trained.clear()
    again = supermask.run(Runner(hp, store=RunStore(tmp_path), progress=False), samples=2)
    assert trained == []  # loaded from the store, not retrained
    assert again.results.equals(first.results)
    init = runner.fresh_init(init_seed(hp, 0))
    assert not torch.equal(init["fc1.weight"], fixed_weights(init, PRUNABLE,
                                                             "signed_constant")["fc1.weight"])


def test_stage_trains_through_the_runners_executor(tmp_path):
    class Recording(LocalExecutor):
        def __init__(self):
            self.tasks = []

        def train(self, runner, task, deliver, checkpoint=None):
            self.tasks.append(task)
            super().train(runner, task, deliver, checkpoint)

    executor = Recording()
    runner = Runner(smoke_hp(trials=1), store=RunStore(tmp_path), progress=False,
                    executor=executor)
    supermask.run(runner, samples=1, score_init=0.5)
    (task,) = executor.tasks
    assert task.parameterisation == LearnedSupermask(0.5, 1)
    assert task.members[0].mask is None and task.members[0].sample_seed == init_seed(
        runner.hp, 0)


def test_a_supermask_task_travels_to_a_worker_as_ray_sends_it(tmp_path):
    # what the ray executor does with a group, without a cluster: the task pickled, cut into
    # one part per trial, each part trained on its own (tests/test_ray.py runs it on Ray)
    class Recording(LocalExecutor):
        def train(self, runner, task, deliver, checkpoint=None):
            self.task = task
            super().train(runner, task, deliver, checkpoint)

    executor = Recording()
    runner = Runner(smoke_hp(), store=RunStore(tmp_path), progress=False, executor=executor)
    local = supermask.run(runner, samples=2).results
    for picked, part in pickle.loads(pickle.dumps(executor.task)).by_trial():
        (payload,), record = train_payloads(part, runner.data, torch.device("cpu"))
        assert record["trained_together"] == 1
        row = local.iloc[picked[0]]
        assert payload["summary"]["early_stop_test_acc"] == pytest.approx(
            row.early_stop_test_acc, abs=1e-4)
        assert payload["summary"]["density"] == pytest.approx(row.density, abs=1e-5)


def test_stage_keys_weights_and_refuses_bad_settings(tmp_path, trained):
    runner = Runner(smoke_hp(), store=RunStore(tmp_path), progress=False)
    supermask.run(runner, weights="signed_constant", samples=1)
    supermask.run(runner, weights="init", samples=1)
    assert trained == [2, 2]  # a different weights setting is another network
    with pytest.raises(HparamError, match="supermask weights must be one of"):
        supermask.run(runner, weights="zeros")
    with pytest.raises(HparamError, match="samples must be a positive integer"):
        supermask.run(runner, samples=0)


def test_cli_supermask_and_untrained_masks(tmp_path, capsys):
    from lottery.run import cli

    argv = ["supermask", "--preset", "lenet", "--profile", "smoke", "--trials", "1",
            "--iterations", "20", "--no-progress", "--runs", str(tmp_path)]
    assert cli.main(argv + ["--csv", str(tmp_path / "s.csv")]) == 0
    out = capsys.readouterr().out
    assert "test accuracy at early stop (%)" in out and "weights kept (%)" in out
    assert len(list(tmp_path.rglob("supermask/supermask-t0-*.pt"))) == 1
    assert cli.main(argv + ["--at-init"]) == 0
    out = capsys.readouterr().out
    assert "large_final_same_sign" in out and "signed_constant" in out
    with pytest.raises(SystemExit):
        cli.main(argv + ["--weights", "zeros"])
    assert "invalid choice" in capsys.readouterr().err
