"""Protocol tests of the training engine: masks hold, early stopping, batching, resuming."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from lottery.core.hparams import HparamError, ModelHparams, TrainingHparams, to_dict
from lottery.core.training import Member, SpeedOptions, evaluate, evaluation_iterations, train
from lottery.engine.data import DataBundle, Split, load
from lottery.engine.masks import Mask
from lottery.engine.members import load_member_state, member_state
from lottery.engine.models import build
from lottery.engine.pruning import prune_layerwise, random_mask_like, scores

LENET = ModelHparams("lenet")


@pytest.fixture(scope="module")
def mnist_like() -> DataBundle:
    return load("synthetic_mnist", val_size=500)


def lenet_member(seed: int, mask: Mask | None = None) -> Member:
    return Member(member_state(build("lenet", [seed]), 0), mask, data_seed=100 + seed)


def sparse_mask(seed: int, rounds: float) -> Mask:
    state = member_state(build("lenet", [seed]), 0)
    weights = {n: state[n] for n in ("fc1.weight", "fc2.weight", "fc3.weight")}
    dense = Mask.dense({n: w.shape for n, w in weights.items()})
    rates = {"fc1.weight": 0.2, "fc2.weight": 0.2, "fc3.weight": 0.1}
    return prune_layerwise(scores("large_final", weights, weights), dense, rates, rounds)


@pytest.mark.parametrize("optimizer, kernel", [("adam", "auto"), ("adam", "eager"),
                                               ("adam", "torch_fused"), ("sgd", "auto")])
def test_pruned_weights_stay_exactly_zero(mnist_like, optimizer, kernel):
    hp = TrainingHparams(optimizer, lr=0.05 if optimizer == "sgd" else 2e-3, iterations=80,
                         batch_size=60, momentum=0.9, weight_decay=1e-2, eval_every=40)
    mask = sparse_mask(0, rounds=5)
    result = train(LENET, hp, mnist_like, [lenet_member(0, mask)],
                   speed=SpeedOptions(kernel=kernel), progress=False)
    final, start = result.final_states[0], lenet_member(0).state
    for name, alive in mask.items():
        assert torch.count_nonzero(final[name][~alive]) == 0, name
        assert torch.count_nonzero(final[name][alive]) == int(alive.sum()), name
        assert not torch.equal(final[name][alive], start[name][alive]), "survivors must train"
    assert torch.count_nonzero(final["fc1.bias"]) > 0  # biases are never masked


def test_early_stop_selects_min_validation_loss_not_best_test(mnist_like):
    # A test set whose labels are shifted: its accuracy is best when the model is worst, so
    # selecting on test accuracy would pick a different iteration from the validation loss.
    shifted = Split(mnist_like.val.x, (mnist_like.val.y + 1) % 10)
    data = dataclasses.replace(mnist_like, test=shifted)
    hp = TrainingHparams("adam", lr=2e-3, iterations=200, batch_size=60, eval_every=20)
    result = train(LENET, hp, data, [lenet_member(0)], progress=False)
    history, summary = result.history, result.summary.iloc[0]
    best = history.loc[history.val_loss.idxmin()]
    assert summary.early_stop_iteration == best.iteration
    assert summary.early_stop_val_loss == pytest.approx(best.val_loss)
    assert summary.early_stop_test_acc == pytest.approx(best.test_acc)
    assert history.loc[history.test_acc.idxmax()].iteration != best.iteration


def test_early_stop_snapshot_matches_history_without_test_curve(mnist_like):
    hp = TrainingHparams("adam", lr=2e-3, iterations=120, batch_size=60, eval_every=20)
    with_curve = train(LENET, hp, mnist_like, [lenet_member(1)], progress=False)
    no_curve = train(LENET, dataclasses.replace(hp, test_curve=False), mnist_like,
                     [lenet_member(1)], progress=False)
    a, b = with_curve.summary.iloc[0], no_curve.summary.iloc[0]
    assert a.early_stop_iteration == b.early_stop_iteration
    assert a.early_stop_test_acc == b.early_stop_test_acc
    assert no_curve.history.test_acc.iloc[:-1].isna().all()


def test_final_train_accuracy_on_a_subset_is_that_of_the_final_weights_there(mnist_like):
    hp = TrainingHparams("adam", lr=2e-3, iterations=60, batch_size=60, eval_every=30,
                         final_train_subset=100)
    result = train(LENET, hp, mnist_like, [lenet_member(2)], progress=False)
    model = build("lenet", [0])
    load_member_state(model, 0, result.final_states[0])
    first = Split(mnist_like.train.x[:100], mnist_like.train.y[:100])
    _, on_first = evaluate(model, first)
    _, on_all = evaluate(model, mnist_like.train)
    got = result.summary.iloc[0].final_train_acc
    assert got == pytest.approx(float(on_first[0]))
    assert got * 100 == pytest.approx(round(got * 100))  # a count out of 100 examples
    assert float(on_all[0]) != pytest.approx(got)  # the subset is not the whole split


def test_batched_members_match_members_trained_alone(single_thread):
    data = load("mnist") if _has_mnist() else load("synthetic_mnist", val_size=500)
    data = _subset(data, 6000)
    hp = TrainingHparams("adam", lr=1.2e-3, iterations=300, batch_size=60, eval_every=100)
    members = [lenet_member(0), lenet_member(1, sparse_mask(1, 3)),
               lenet_member(2, random_mask_like(sparse_mask(2, 7), seed=5))]
    together = train(LENET, hp, data, members, progress=False)
    for k, member in enumerate(members):
        alone = train(LENET, hp, data, [member], progress=False)
        for name, value in alone.final_states[0].items():
            torch.testing.assert_close(together.final_states[k][name], value, atol=1e-5, rtol=0)
        mine = together.history[together.history.member == k].drop(columns="member")
        torch.testing.assert_close(torch.tensor(mine.to_numpy()),
                                   torch.tensor(alone.history.drop(columns="member").to_numpy()),
                                   atol=1e-5, rtol=0, equal_nan=True)


def test_batch_norm_members_match_alone():
    # Grouped and plain convolutions accumulate gradients in different orders (~1e-6 apart),
    # and batch norm on tiny batches amplifies that, so this compares two steps at 1e-3: a
    # semantic error (statistics shared across members, a wrong group) is off by O(1).
    full = load("synthetic_cifar10", val_size=100, train_subset=96)
    small = Split(full.test.x[:100], full.test.y[:100])
    data = dataclasses.replace(full, test=small)
    hp = TrainingHparams("sgd", lr=0.05, iterations=2, batch_size=16, weight_decay=1e-4,
                         eval_every=2)
    model_hp = ModelHparams("resnet18")
    members = [Member(member_state(build("resnet18", [s]), 0), None, s) for s in (3, 4)]
    together = train(model_hp, hp, data, members, progress=False, eval_batch_size=500)
    for k, member in enumerate(members):
        alone = train(model_hp, hp, data, [member], progress=False, eval_batch_size=500)
        for name, value in alone.final_states[0].items():
            torch.testing.assert_close(together.final_states[k][name], value, atol=1e-3, rtol=0)
        moved = alone.final_states[0]["blocks.0.bn1.running_mean"]
        assert not torch.equal(moved, member.state["blocks.0.bn1.running_mean"])


def test_same_seeds_give_bit_identical_results(mnist_like):
    hp = TrainingHparams("adam", lr=1e-3, iterations=60, batch_size=60, eval_every=20)
    runs = [train(LENET, hp, mnist_like, [lenet_member(0, sparse_mask(0, 2))], progress=False)
            for _ in range(2)]
    for name, value in runs[0].final_states[0].items():
        assert torch.equal(value, runs[1].final_states[0][name])
    assert runs[0].history.equals(runs[1].history)


def test_snapshot_is_the_state_after_k_iterations(mnist_like):
    hp = TrainingHparams("adam", lr=1e-3, iterations=100, batch_size=60, eval_every=50)
    long = train(LENET, hp, mnist_like, [lenet_member(0)], snapshot_at=[30], progress=False)
    short = train(LENET, dataclasses.replace(hp, iterations=30, eval_every=30), mnist_like,
                  [lenet_member(0)], progress=False)
    for name, value in short.final_states[0].items():
        assert torch.equal(long.snapshots[30][0][name], value), name


def test_resume_from_checkpoint_is_identical(mnist_like, tmp_path, interrupt_at):
    hp = TrainingHparams("adam", lr=1e-3, iterations=90, batch_size=60, eval_every=20)
    members = [lenet_member(0, sparse_mask(0, 3)), lenet_member(1)]
    reference = train(LENET, hp, mnist_like, members, progress=False)

    checkpoint = tmp_path / "level.ckpt"
    interrupt_at(55)
    with pytest.raises(KeyboardInterrupt):
        train(LENET, hp, mnist_like, members, checkpoint=checkpoint, checkpoint_every=25,
              progress=False)
    assert checkpoint.exists()
    interrupt_at(None)
    resumed = train(LENET, hp, mnist_like, members, checkpoint=checkpoint, checkpoint_every=25,
                    progress=False)
    assert checkpoint.exists()  # the caller removes it once the result is stored
    for k in range(2):
        for name, value in reference.final_states[k].items():
            assert torch.equal(resumed.final_states[k][name], value), name
    assert resumed.history.equals(reference.history)
    assert resumed.summary.equals(reference.summary)


def test_rewound_training_starts_at_k(mnist_like):
    hp = TrainingHparams("adam", lr=1e-3, iterations=60, batch_size=60, eval_every=20)
    result = train(LENET, hp, mnist_like, [lenet_member(0)], start_iteration=25, progress=False)
    assert result.history.iteration.tolist() == [25, 40, 60]


def test_learning_rate_schedule():
    hp = TrainingHparams("sgd", lr=0.1, iterations=1000, batch_size=10, milestones=(500, 800),
                         warmup=100)
    assert hp.lr_at(0) == pytest.approx(0.001)
    assert hp.lr_at(49) == pytest.approx(0.05)
    assert hp.lr_at(99) == pytest.approx(0.1)
    assert hp.lr_at(499) == pytest.approx(0.1)
    assert hp.lr_at(500) == pytest.approx(0.01)
    assert hp.lr_at(800) == pytest.approx(0.001)
    assert evaluation_iterations(TrainingHparams("adam", 1e-3, 250, 10), 0) == [0, 100, 200, 250]


@pytest.mark.parametrize("changes, field", [
    ({"optimizer": "rmsprop"}, "training.optimizer"),
    ({"iterations": 0}, "training.iterations"),
    ({"lr": -1.0}, "training.lr"),
    ({"milestones": (2000,)}, "training.milestones"),
    ({"warmup": 1000}, "training.warmup"),
    ({"batch_size": 0}, "training.batch_size"),
])
def test_training_hparams_reject_bad_values(changes, field):
    base = {"optimizer": "adam", "lr": 1e-3, "iterations": 1000, "batch_size": 60}
    with pytest.raises(HparamError, match=field.replace(".", r"\.")):
        TrainingHparams(**(base | changes))


def _has_mnist() -> bool:
    try:
        load("mnist", download=False)
        return True
    except Exception:
        return False


def _subset(data: DataBundle, n: int) -> DataBundle:
    return dataclasses.replace(data, train=Split(data.train.x[:n], data.train.y[:n]))


def conv_data() -> DataBundle:
    full = load("synthetic_cifar10", val_size=100, train_subset=96)
    return dataclasses.replace(full, test=Split(full.test.x[:100], full.test.y[:100]))


def conv_mask(name: str, seed: int) -> Mask:
    state = member_state(build(name, [seed]), 0)
    weights = {n: state[n] for n in build(name, [seed]).prunable}
    dense = Mask.dense({n: w.shape for n, w in weights.items()})
    half = prune_layerwise(scores("large_final", weights, weights), dense,
                           {n: 0.5 for n in weights}, 1)
    return random_mask_like(half, seed)


@pytest.mark.parametrize("name", ["conv2", "resnet18"])
def test_channels_last_trains_the_same_networks(name):
    # NHWC is a memory layout: the same masked networks, to float rounding, pruned weights zero.
    # ResNet's conv-before-batch-norm gradients are ill-conditioned in float32 (NCHW's are 5e-3
    # off a float64 computation, see test_models), so it is compared loosely: a layout bug
    # (mixed-up channels) is off by O(1), and over one step only: momentum amplifies rounding.
    tolerance, steps = (1e-4, 3) if name == "conv2" else (1e-2, 1)
    data = conv_data()
    hp = TrainingHparams("sgd", lr=0.05, iterations=steps, batch_size=16, momentum=0.9,
                         weight_decay=1e-4, eval_every=steps)
    masks = [conv_mask(name, s) for s in (1, 2)]
    members = [Member(member_state(build(name, [s]), 0), m, s) for s, m in zip((1, 2), masks,
                                                                            strict=True)]
    runs = {cl: train(ModelHparams(name), hp, data, members, speed=SpeedOptions(channels_last=cl),
                      progress=False,
                      eval_batch_size=500) for cl in (False, True)}
    for k, mask in enumerate(masks):
        nchw, nhwc = runs[False].final_states[k], runs[True].final_states[k]
        for tensor_name, value in nchw.items():
            torch.testing.assert_close(nhwc[tensor_name], value, atol=tolerance, rtol=0)
        for weight_name, alive in mask.items():
            assert torch.count_nonzero(nhwc[weight_name][~alive]) == 0, weight_name
        conv = next(n for n in mask if nhwc[n].dim() == 4)
        assert nhwc[conv].is_contiguous(memory_format=torch.channels_last)
        assert not torch.equal(nhwc[conv], members[k].state[conv] * mask[conv])  # it trained
    torch.testing.assert_close(torch.tensor(runs[True].history.val_loss.to_numpy()),
                               torch.tensor(runs[False].history.val_loss.to_numpy()),
                               rtol=tolerance, atol=0)


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_compiled_forward_backward_matches_eager(mnist_like, optimizer):
    lr = 0.05 if optimizer == "sgd" else 2e-3
    hp = TrainingHparams(optimizer, lr=lr, iterations=30, batch_size=60, momentum=0.9,
                         eval_every=10)
    members = [lenet_member(s, sparse_mask(s, 3)) for s in (0, 1)]
    eager = train(LENET, hp, mnist_like, members, progress=False)
    compiled = train(LENET, hp, mnist_like, members, speed=SpeedOptions(compile=True),
                     progress=False)
    assert_same_training(eager, compiled, members, lr, optimizer)


def test_eager_and_compiled_adam_updates_train_the_same_networks(mnist_like):
    hp = TrainingHparams("adam", lr=2e-3, iterations=30, batch_size=60, eval_every=10)
    members = [lenet_member(s, sparse_mask(s, 3)) for s in (0, 1)]
    compiled = train(LENET, hp, mnist_like, members, progress=False)  # the CPU default
    eager = train(LENET, hp, mnist_like, members, speed=SpeedOptions(kernel="eager"),
                  progress=False)
    assert_same_training(eager, compiled, members, hp.lr, "adam")


def assert_same_training(eager, compiled, members, lr, optimizer):
    # Adam turns rounding-level differences on near-zero gradients into lr-sized steps, so
    # its weights are compared at a few lr; SGD's stay at rounding level
    atol = 5 * lr if optimizer == "adam" else 1e-4
    for k, member in enumerate(members):
        for name, value in eager.final_states[k].items():
            torch.testing.assert_close(compiled.final_states[k][name], value, atol=atol, rtol=0)
        for name, alive in member.mask.items():
            assert torch.count_nonzero(compiled.final_states[k][name][~alive]) == 0
    torch.testing.assert_close(torch.tensor(compiled.history.val_loss.to_numpy()),
                               torch.tensor(eager.history.val_loss.to_numpy()), rtol=1e-2, atol=0)
    assert not torch.equal(compiled.final_states[0]["fc1.weight"], members[0].state["fc1.weight"])


@pytest.mark.parametrize("kernel", ["auto", "eager"])
def test_adam_keeps_batched_members_exactly_equal_to_alone(mnist_like, single_thread, kernel):
    # both CPU Adam kernels: the compiled one (default) and the eager one
    hp = TrainingHparams("adam", lr=2e-3, iterations=40, batch_size=60, eval_every=20)
    members = [lenet_member(s, sparse_mask(s, 2)) for s in (0, 1)]
    speed = SpeedOptions(kernel=kernel)
    together = train(LENET, hp, mnist_like, members, speed=speed, progress=False)
    for k, member in enumerate(members):
        alone = train(LENET, hp, mnist_like, [member], speed=speed, progress=False)
        for name, value in alone.final_states[0].items():
            assert torch.equal(together.final_states[k][name], value), name


def test_final_train_subset_keeps_stored_keys_while_unset_and_is_validated():
    hp = TrainingHparams("adam", lr=1e-3, iterations=100, batch_size=60)
    assert "final_train_subset" not in to_dict(hp)  # results stored before it keep their keys
    assert to_dict(dataclasses.replace(hp, final_train_subset=500))["final_train_subset"] == 500
    for bad in (0, -3, 2.5):
        with pytest.raises(HparamError, match="training.final_train_subset"):
            dataclasses.replace(hp, final_train_subset=bad)
