"""The sparse execution path of masked fc layers: same numbers as the dense masked layers."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from lottery.core import crossover
from lottery.core.hparams import ModelHparams, TrainingHparams
from lottery.core.training import METRICS, Member, SpeedOptions, train
from lottery.engine import sparse
from lottery.engine.data import DataBundle, Split, load
from lottery.engine.masks import Mask
from lottery.engine.members import MemberLinear, member_state
from lottery.engine.models import build
from lottery.engine.pruning import prune_layerwise, random_mask_like, scores

LENET = ModelHparams("lenet")
pytestmark = pytest.mark.usefixtures("one_thread")


def masked_layer(members: int, kept: float, seed: int) -> tuple[MemberLinear, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    layer = MemberLinear(members, 13, 7)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(layer.weight.shape, generator=generator))
        layer.bias.copy_(torch.randn(layer.bias.shape, generator=generator))
    mask = torch.rand(layer.weight.shape, generator=generator) < kept
    with torch.no_grad():
        layer.weight.mul_(mask)
    return layer, mask


@pytest.mark.parametrize("members", [1, 3])
@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("kept", [0.05, 0.3, 0.9])
def test_sparse_product_and_gradients_equal_the_dense_masked_ones(members, shared, kept):
    layer, mask = masked_layer(members, kept, seed=int(kept * 100) + members)
    generator = torch.Generator().manual_seed(1)
    shape = (5, 13) if shared else (members, 5, 13)
    x = torch.randn(shape, generator=generator, requires_grad=True)
    grad = torch.randn(members, 5, 7, generator=generator)
    dense_out = layer(x)
    dense_out.backward(grad)
    dense = (x.grad.clone(), layer.weight.grad[mask], layer.bias.grad.clone())
    x.grad, layer.bias.grad = None, None
    product = sparse.SparseLinear(layer, mask)
    out = product(x)
    out.backward(grad)
    torch.testing.assert_close(out, dense_out, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(x.grad, dense[0], rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(product.values.grad, dense[1], rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(layer.bias.grad, dense[2], rtol=1e-6, atol=1e-6)
    assert product.values.numel() == int(mask.sum())  # only kept weights are stored


def test_values_and_dense_weight_stay_in_step():
    layer, mask = masked_layer(3, 0.3, seed=0)
    product = sparse.SparseLinear(layer, mask)
    with torch.no_grad():
        product.values.add_(1.0)
    product.to_dense()  # values -> weight, pruned positions untouched
    assert torch.equal(layer.weight[mask], product.values.detach())
    assert torch.count_nonzero(layer.weight[~mask]) == 0
    with torch.no_grad():
        layer.weight.mul_(2.0)  # a write from outside (a checkpoint load): the weight is newer
    product(torch.randn(3, 2, 13))
    assert torch.equal(product.values.detach(), layer.weight[mask])


@pytest.fixture(scope="module")
def mnist_like() -> DataBundle:
    return load("synthetic_mnist", val_size=300)


def lenet_mask(seed: int, rounds: float) -> Mask:
    state = member_state(build("lenet", [seed]), 0)
    weights = {n: state[n] for n in ("fc1.weight", "fc2.weight", "fc3.weight")}
    dense = Mask.dense({n: w.shape for n, w in weights.items()})
    rates = {"fc1.weight": 0.2, "fc2.weight": 0.2, "fc3.weight": 0.1}
    return prune_layerwise(scores("large_final", weights, weights), dense, rates, rounds)


def lenet_members(rounds=(9, 4)) -> list[Member]:
    return [Member(member_state(build("lenet", [s]), 0), lenet_mask(s, r), 100 + s)
            for s, r in enumerate(rounds)]


def assert_same_runs(on, off, members, atol):
    """Same numbers to rounding, same formats, pruned weights exactly zero on the sparse path."""
    assert list(on.summary.columns) == list(off.summary.columns)
    assert list(on.history.columns) == list(off.history.columns) == ["member", "iteration",
                                                                     *METRICS]
    assert on.history.iteration.tolist() == off.history.iteration.tolist()
    assert on.summary.early_stop_iteration.tolist() == off.summary.early_stop_iteration.tolist()
    for column in on.summary.columns:  # the early-stop test metrics: weights put back, then read
        torch.testing.assert_close(torch.tensor(on.summary[column].to_numpy()),
                                   torch.tensor(off.summary[column].to_numpy()), rtol=1e-4,
                                   atol=1e-5)
    for column in METRICS:
        torch.testing.assert_close(torch.tensor(on.history[column].to_numpy()),
                                   torch.tensor(off.history[column].to_numpy()), rtol=1e-4,
                                   atol=1e-5, equal_nan=True)
    assert sorted(on.snapshots) == sorted(off.snapshots)
    states = [(on.final_states, off.final_states)] + \
        [(on.snapshots[i], off.snapshots[i]) for i in on.snapshots]
    for sparse_states, dense_states in states:
        for k, member in enumerate(members):
            assert sparse_states[k].keys() == dense_states[k].keys()
            for name, value in dense_states[k].items():
                torch.testing.assert_close(sparse_states[k][name], value, rtol=0, atol=atol)
            for name, alive in member.mask.items():
                assert torch.count_nonzero(sparse_states[k][name][~alive]) == 0, name


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_lenet_trains_the_same_networks_sparse_and_dense(mnist_like, optimizer):
    # a few steps only: a longer run meets a ReLU input within rounding of zero (seen: 1e-8 at
    # step 5 of a 12-step run here), where a rounding difference becomes a gradient difference
    lr = 1e-3 if optimizer == "adam" else 0.05
    hp = TrainingHparams(optimizer, lr=lr, iterations=4, batch_size=20, momentum=0.9,
                         weight_decay=1e-3, eval_every=2)
    members = lenet_members()
    runs = {mode: train(LENET, hp, mnist_like, members, speed=SpeedOptions(sparse=mode),
                        snapshot_at=[3], progress=False) for mode in ("on", "off")}
    # Adam divides a gradient by its own size, so a near-zero gradient's rounding difference
    # shows in the step: weights agree to lr / 100 (SGD's to rounding)
    assert_same_runs(runs["on"], runs["off"], members, atol=lr / 100 if optimizer == "adam"
                     else 1e-6)
    assert not torch.equal(runs["on"].final_states[0]["fc1.weight"],
                           members[0].state["fc1.weight"] * members[0].mask["fc1.weight"])


def test_trained_sparse_evaluated_dense_runs_as_the_dense_path(mnist_like, monkeypatch):
    """auto with layers trained sparse but evaluated dense: the same runs as the dense path."""
    monkeypatch.setattr(crossover, "_default", crossover.Crossovers(
        None, lambda work, *args: 0.0 if work.evaluation else 0.9))
    hp = TrainingHparams("sgd", lr=0.05, iterations=4, batch_size=20, momentum=0.9,
                         eval_every=2)
    members = lenet_members()
    runs = {mode: train(LENET, hp, mnist_like, members, speed=SpeedOptions(sparse=mode),
                        snapshot_at=[3], progress=False) for mode in ("auto", "off")}
    assert_same_runs(runs["auto"], runs["off"], members, atol=1e-6)


def conv_data() -> DataBundle:
    full = load("synthetic_cifar10", val_size=40, train_subset=48)
    return dataclasses.replace(full, test=Split(full.test.x[:40], full.test.y[:40]))


def test_conv2_fc_layers_train_the_same_sparse_and_dense():
    model = build("conv2", [0])
    weights = {n: member_state(model, 0)[n] for n in model.prunable}
    dense = Mask.dense({n: w.shape for n, w in weights.items()})
    members = [Member(member_state(build("conv2", [s]), 0),
                      random_mask_like(prune_layerwise(scores("large_final", weights, weights),
                                                       dense, {n: 0.6 for n in weights}, 2), s),
                      s) for s in (1, 2)]
    hp = TrainingHparams("sgd", lr=0.01, iterations=3, batch_size=8, momentum=0.9,
                         weight_decay=1e-4, eval_every=3)
    runs = {mode: train(ModelHparams("conv2"), hp, conv_data(), members,
                        speed=SpeedOptions(sparse=mode), progress=False, eval_batch_size=40)
            for mode in ("on", "off")}
    assert_same_runs(runs["on"], runs["off"], members, atol=1e-5)


def test_sparse_path_keeps_batched_members_exactly_equal_to_alone(mnist_like):
    hp = TrainingHparams("adam", lr=1e-3, iterations=10, batch_size=20, eval_every=5)
    members = lenet_members((9, 4, 6))
    speed = SpeedOptions(sparse="on")
    together = train(LENET, hp, mnist_like, members, speed=speed, progress=False)
    for k, member in enumerate(members):
        alone = train(LENET, hp, mnist_like, [member], speed=speed, progress=False)
        for name, value in alone.final_states[0].items():
            assert torch.equal(together.final_states[k][name], value), name


def test_resume_on_the_sparse_path_is_identical(mnist_like, tmp_path, interrupt_at):
    hp = TrainingHparams("adam", lr=1e-3, iterations=12, batch_size=20, eval_every=4)
    members, speed, path = lenet_members(), SpeedOptions(sparse="on"), tmp_path / "run.ckpt"
    whole = train(LENET, hp, mnist_like, members, speed=speed, progress=False)
    interrupt_at(9)
    with pytest.raises(KeyboardInterrupt):
        train(LENET, hp, mnist_like, members, speed=speed, checkpoint=path, checkpoint_every=4,
              progress=False)
    interrupt_at(None)
    resumed = train(LENET, hp, mnist_like, members, speed=speed, checkpoint=path,
                    checkpoint_every=4, progress=False)
    for k in range(len(members)):
        for name, value in whole.final_states[k].items():
            assert torch.equal(resumed.final_states[k][name], value), name
    assert whole.summary.equals(resumed.summary)


def test_frozen_pruned_values_keep_their_layer_dense(mnist_like):
    members = lenet_members()
    frozen = {n: torch.full_like(t, 0.01) for n, t in members[0].state.items()}
    members[0] = dataclasses.replace(members[0], frozen=frozen)
    model = build("lenet", [0, 1])
    params = dict(model.named_parameters())
    masked = [params[n] for n in model.prunable]
    masks = [torch.stack([m.mask[n] for m in members]).float() for n in model.prunable]
    chosen = sparse.setup(model, masked, masks, [torch.ones_like(p) for p in masked],
                          SpeedOptions(sparse="on"), None, (1, 28, 28), torch.device("cpu"),
                          crossover.provider(None, None, torch.device("cpu"), "auto"))
    assert chosen.layers == []


def test_chooser_picks_dense_above_and_sparse_below_the_measured_crossover(tmp_path):
    calls = []

    def measure(work, hp, device, kernel):
        calls.append(work)
        return 0.25

    crossovers = crossover.Crossovers(tmp_path / crossover.CROSSOVER_FILE, measure)
    hp = TrainingHparams("adam", lr=1e-3, iterations=10, batch_size=20, eval_every=10)
    model = build("lenet", [0, 1])
    params = dict(model.named_parameters())
    members = lenet_members((7, 7))  # fc 0.8^7 = 21% kept, output 0.9^7 = 48%
    masked = [params[n] for n in model.prunable]
    masks = [torch.stack([m.mask[n] for m in members]).float() for n in model.prunable]
    chosen = sparse.setup(model, masked, masks, None, SpeedOptions(), hp, (1, 28, 28),
                          torch.device("cpu"),
                          crossover.provider(crossovers, hp, torch.device("cpu"), "auto"))
    assert [s.layer for s in chosen.layers] == [model.fc1, model.fc2]
    training = [w for w in calls if not w.evaluation]
    assert [w.input_grad for w in training] == [False, True, True]  # fc1 gets the data
    # the evaluation forward of each sparse layer has its own crossover, at the eval batch
    assert [(w.in_features, w.batch_size) for w in calls if w.evaluation] == [(784, 5000),
                                                                               (300, 5000)]
    again = crossover.Crossovers(tmp_path / crossover.CROSSOVER_FILE, measure)  # from the file
    assert again.get(calls[0], hp, torch.device("cpu"), "auto") == 0.25
    assert len(calls) == 5


def test_evaluation_takes_the_dense_path_where_its_own_crossover_says(mnist_like):
    """Trained sparse, evaluated dense (large shared batches favour the dense product): the
    same logits as the sparse evaluation forward, to rounding."""
    def measure(work, hp, device, kernel):
        return 0.0 if work.evaluation else 0.9

    hp = TrainingHparams("adam", lr=1e-3, iterations=10, batch_size=20, eval_every=10)
    model = build("lenet", [0, 1])
    params = dict(model.named_parameters())
    members = lenet_members((7, 7))
    masked = [params[n] for n in model.prunable]
    masks = [torch.stack([m.mask[n] for m in members]).float() for n in model.prunable]
    with torch.no_grad():
        torch._foreach_mul_(masked, masks)
    chosen = sparse.setup(model, masked, masks, None, SpeedOptions(), hp, (1, 28, 28),
                          torch.device("cpu"), crossover.provider(
                              crossover.Crossovers(None, measure), hp, torch.device("cpu"),
                              "auto"))
    assert chosen.layers and not any(s.sparse_evaluation for s in chosen.layers)
    x = mnist_like.val.x[:50]
    with torch.no_grad():
        for layer in chosen.layers:  # as a training step does: values move, weights lag
            layer.values.mul_(1.5)
        dense_logits = model(x)
        for layer in chosen.layers:
            layer.sparse_evaluation = True
        sparse_logits = model(x)
    torch.testing.assert_close(dense_logits, sparse_logits, rtol=1e-5, atol=1e-5)


def test_auto_takes_the_same_path_alone_and_in_any_batch(mnist_like, tmp_path):
    """The crossover is read at one member count, so a crossover that would differ with K
    (here: sparse only if measured at K=1) cannot make a batch and its members alone differ."""
    def measure(work, hp, device, kernel):
        return 0.9 if work.members == 1 else 0.0

    crossovers = crossover.Crossovers(None, measure)
    hp = TrainingHparams("adam", lr=1e-3, iterations=10, batch_size=20, eval_every=5)
    members = lenet_members((7,))  # one network alone: K = 1
    model = build("lenet", [0])
    params = dict(model.named_parameters())
    masked = [params[n] for n in model.prunable]
    masks = [torch.stack([m.mask[n] for m in members]).float() for n in model.prunable]
    chosen = sparse.setup(model, masked, masks, None, SpeedOptions(), hp, (1, 28, 28),
                          torch.device("cpu"),
                          crossover.provider(crossovers, hp, torch.device("cpu"), "auto"))
    assert chosen.layers == []  # measured at CROSSOVER_MEMBERS, not at this call's K = 1
    assert sparse.CROSSOVER_MEMBERS != 1


@pytest.mark.parametrize("mode, kept, crossover, expected", [
    ("auto", 0.3, 0.2, False), ("auto", 0.1, 0.2, True), ("auto", 1.0, 2.0, False),
    ("auto", 0.75, 0.9, False), ("on", 1.0, 0.0, True), ("off", 0.01, 1.0, False)])
def test_choose(mode, kept, crossover, expected):
    measured = []
    chosen = sparse.choose(mode, kept, lambda: measured.append(1) or crossover)
    assert chosen is expected
    # above the ladder's top (a full mask above all) nothing is timed
    assert measured == ([1] if mode == "auto" and kept < max(sparse.LADDER) else [])


def test_measured_crossover_is_a_density_of_the_ladder_range():
    work = sparse.LayerWork(in_features=16, out_features=8, members=2, batch_size=4,
                            input_grad=True)
    hp = TrainingHparams("sgd", lr=0.1, iterations=10, batch_size=4, eval_every=10)
    assert 0.0 <= crossover.measure_crossover(work, hp, torch.device("cpu"), "auto") \
        <= max(sparse.LADDER)


def test_speed_option_sparse():
    assert SpeedOptions().key() == {}  # results stored with the defaults keep their keys
    assert SpeedOptions(sparse="off").key() == {"sparse": "off"}
    with pytest.raises(ValueError, match="sparse"):
        SpeedOptions(sparse="fast")
    with pytest.raises(ValueError, match="bf16"):
        SpeedOptions(sparse="on", bf16=True)


def test_level_projection_sums_the_measured_levels():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/, as run.py
    from benchmarks.harness import Stat
    from benchmarks.sections import projection
    from benchmarks.sections.sparse import LEVELS, LevelRow, SparseSection

    one = lambda s: Stat([s])  # noqa: E731
    # hand-made: dense steps 10 ms at K=10 (5 ms at K=5), sparse 1 ms a level cheaper than the
    # level before down to 2 ms; evaluation points 0.5 s dense, 0.1 s sparse
    rows = [LevelRow(k, n, 0.8 ** n, 0.9 ** n,
                     {"off": one(k * 1e-3), "on": one(max(k - n, 2) * 1e-3),
                      "auto": one(max(k - n, 2) * 1e-3)},
                     {(p, c): one(0.5 if p == "off" else 0.1) for p in ("off", "on", "auto")
                      for c in (True, False)})
            for k in (5, 10) for n in range(LEVELS + 1)]
    section = SparseSection(rows, {}, (1, 2), 1)
    before = projection.level_row(section, "off", True)
    after = projection.level_row(section, "auto", True)
    iterations, points = projection.ITERATIONS, projection.ITERATIONS / projection.EVAL_EVERY
    assert before.train_s == pytest.approx(iterations * (5e-3 + LEVELS * 10e-3))
    assert before.eval_s == pytest.approx(points * 0.5 * (LEVELS + 1))
    sparse_steps = 5e-3 + sum(max(10 - n, 2) * 1e-3 for n in range(1, LEVELS + 1))
    assert after.train_s == pytest.approx(iterations * sparse_steps)
    assert after.eval_s == pytest.approx(points * 0.1 * (LEVELS + 1))
    text = "\n".join(section.render() + projection.derive_levels(section).render())
    assert "| 10 | 18 |" in text and "sparse='auto', test_curve=False" in text


@pytest.mark.parametrize("dense, expected", [(1.0, 0.4), (0.1, 0.0), (5.0, 0.7)])
def test_crossover_search_finds_where_the_sparse_step_gets_cheaper(monkeypatch, dense,
                                                                   expected):
    # a made-up sparse step cost linear in density, 0.2 + 2 x density: it meets a dense step
    # of 1.0 at 0.4 (between ladder points: interpolated exactly), never meets one of 0.1 and
    # is cheaper than one of 5.0 all along the ladder (the top point is the answer)
    probed = []

    def step(work, kept, hp, device, kernel):
        probed.append(kept)
        return kept

    def race(dense_step, sparse_step, device):
        return dense, 0.2 + 2.0 * sparse_step

    monkeypatch.setattr(crossover, "_step", step)
    monkeypatch.setattr(crossover, "_race", race)
    found = crossover.measure_crossover(None, None, torch.device("cpu"), "auto")
    assert found == pytest.approx(expected)
    assert len(probed) <= 6  # the dense step and a few ladder points (bisection), not all
