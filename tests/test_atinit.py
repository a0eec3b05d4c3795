"""Tests for lottery.studies.cheap.at_init: each pruning-at-init method's defining property on a
known answer."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from lottery.engine.masks import Mask
from lottery.engine.members import member_state
from lottery.engine.models import build
from lottery.studies.cheap import at_init as atinit

pytestmark = pytest.mark.usefixtures("one_thread")

LENET_SIZE = 266_200
SHAPES = {"a": (7, 13), "b": (5, 3, 3, 3), "c": (41,)}


def _random_scores(shapes, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return {n: torch.randn(s, generator=gen) for n, s in shapes.items()}


def _random_mask(shapes, density, seed=1):
    gen = torch.Generator().manual_seed(seed)
    return Mask({n: torch.rand(s, generator=gen) < density for n, s in shapes.items()})


def _batch(shape=(1, 28, 28), size=4, classes=10, seed=0, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn((size, *shape), generator=gen, dtype=dtype)
    return x, torch.randint(0, classes, (size,), generator=gen)


def _kept_above_pruned(scores, old: Mask, new: Mask, names):
    """Every survivor of ``new`` scores >= every weight of ``old`` that ``new`` removed."""
    kept = torch.cat([scores[n][new[n]].flatten() for n in names])
    removed = torch.cat([scores[n][old[n] & ~new[n]].flatten() for n in names])
    return kept.numel() == 0 or removed.numel() == 0 or bool(kept.min() >= removed.max())


# ---------------------------------------------------------------------------------------------
# mask_at_density


@pytest.mark.parametrize("density", [0.0, 0.05, 0.2, 0.37])
def test_mask_at_density_global_keeps_exact_count_of_highest_survivors(density):
    scores, mask = _random_scores(SHAPES), _random_mask(SHAPES, 0.6)
    new = atinit.mask_at_density(scores, mask, density)
    assert new.alive() == int(density * mask.size() + 0.5)
    assert new.is_subset_of(mask)
    assert _kept_above_pruned(scores, mask, new, list(SHAPES))


def test_mask_at_density_per_layer_keeps_each_layers_count():
    scores, mask = _random_scores(SHAPES), Mask.dense(SHAPES)
    densities = {"a": 0.5, "b": 0.1, "c": 0.9}
    new = atinit.mask_at_density(scores, mask, 1.0, strategy=densities)
    for name, density in densities.items():
        assert int(new[name].sum()) == int(density * mask[name].numel() + 0.5)
        assert _kept_above_pruned(scores, mask, new, [name])


def test_mask_at_density_refuses_more_than_the_survivors():
    mask = _random_mask(SHAPES, 0.3)
    with pytest.raises(ValueError, match="only"):
        atinit.mask_at_density(_random_scores(SHAPES), mask, 0.5)
    with pytest.raises(ValueError, match="strategy"):
        atinit.mask_at_density(_random_scores(SHAPES), mask, 0.1, strategy="layer")


# ---------------------------------------------------------------------------------------------
# magnitude at init, SNIP


def test_magnitude_init_keeps_the_largest_initial_weights():
    model = build("lenet", seeds=[3])
    init = member_state(model, 0)
    scores = atinit.magnitude_init(model)
    mask = atinit.mask_at_density(scores, Mask.dense({n: s.shape for n, s in scores.items()}), 0.1)
    magnitudes = {n: init[n].abs() for n in model.prunable}
    assert mask.alive() == int(0.1 * LENET_SIZE + 0.5)
    dense = Mask.dense({n: m.shape for n, m in magnitudes.items()})
    assert _kept_above_pruned(magnitudes, dense, mask, list(magnitudes))


def _lenet_loss_by_hand(state, weights, x, y):
    h = F.relu(x.flatten(1) @ weights["fc1.weight"].T + state["fc1.bias"])
    h = F.relu(h @ weights["fc2.weight"].T + state["fc2.bias"])
    return F.cross_entropy(h @ weights["fc3.weight"].T + state["fc3.bias"], y)


def test_snip_scores_equal_hand_computed_gradient_times_weight():
    model = build("lenet", seeds=[0])
    x, y = _batch()
    state = member_state(model, 0)
    weights = {n: state[n].clone().requires_grad_(True) for n in model.prunable}
    grads = torch.autograd.grad(_lenet_loss_by_hand(state, weights, x, y), list(weights.values()))
    scores = atinit.snip(model, (x, y))
    for (name, w), g in zip(weights.items(), grads, strict=True):
        torch.testing.assert_close(scores[name], (g * w).abs().detach())


def test_snip_member_of_a_two_member_model_equals_that_network_alone():
    x, y = _batch()
    pair = atinit.snip(build("lenet", seeds=[0, 5]), (x, y), member=1)
    alone = atinit.snip(build("lenet", seeds=[5]), (x, y))
    for name in alone:
        torch.testing.assert_close(pair[name], alone[name])


# ---------------------------------------------------------------------------------------------
# GraSP


def _tiny_double_lenet(seed=0):
    return build("lenet", seeds=[seed], input_shape=(1, 3, 3), num_classes=3).double()


def _tiny_batches():
    return [_batch((1, 3, 3), size=5, classes=3, seed=s, dtype=torch.float64) for s in (1, 2)]


def _mean_grad(model, batches, names, temperature):
    params = dict(model.named_parameters())
    losses = [F.cross_entropy(model(x)[0] / temperature, y) for x, y in batches]
    return torch.autograd.grad(sum(losses) / len(losses), [params[n] for n in names])


def test_grasp_hessian_gradient_product_matches_finite_differences():
    model, batches, temperature = _tiny_double_lenet(), _tiny_batches(), 2.0
    names = list(model.prunable)
    hg = atinit.hessian_gradient_product(model, batches, names, temperature)
    params = dict(model.named_parameters())
    g = [t.detach() for t in _mean_grad(model, batches, names, temperature)]
    eps, estimates = 1e-6, []
    for sign in (1, -1):  # central difference of the gradient along g: (g(w+eg) - g(w-eg)) / 2e
        with torch.no_grad():
            for n, d in zip(names, g, strict=True):
                params[n] += sign * eps * d
        estimates.append(_mean_grad(model, batches, names, temperature))
        with torch.no_grad():
            for n, d in zip(names, g, strict=True):
                params[n] -= sign * eps * d
    for i, name in enumerate(names):
        fd = (estimates[0][i] - estimates[1][i]) / (2 * eps)
        torch.testing.assert_close(hg[name], fd, rtol=1e-5, atol=1e-9)
        assert float(hg[name].abs().max()) > 1e-6  # the check compares something nonzero


def test_grasp_prunes_first_the_weights_whose_removal_raises_the_gradient_norm():
    # Eq. 8 / Algorithm 1: remove the highest S(-w) = -w * Hg, i.e. keep-score w * Hg. Shrinking
    # weight j toward zero (w -> w - a w_j e_j) changes |g|^2 / 2 at rate -w_j (Hg)_j = -score_j
    model, batches, temperature = _tiny_double_lenet(), _tiny_batches(), 2.0
    scores = atinit.grasp(model, batches, temperature=temperature)
    flat = torch.cat([s.flatten() for s in scores.values()])
    order = flat.argsort()
    names, params = list(model.prunable), dict(model.named_parameters())
    starts = torch.tensor([0] + [scores[n].numel() for n in names]).cumsum(0)

    def half_norm(layer, index, factor):
        with torch.no_grad():
            original = params[layer].view(-1)[index].clone()
            params[layer].view(-1)[index] = original * factor
        value = 0.5 * sum(float((t ** 2).sum()) for t in _mean_grad(model, batches, names,
                                                                    temperature))
        with torch.no_grad():
            params[layer].view(-1)[index] = original
        return value

    for position in [*order[:3].tolist(), *order[-3:].tolist()]:
        layer_index = int((starts <= position).sum()) - 1
        layer, index = names[layer_index], position - int(starts[layer_index])
        eps = 1e-5
        rate = (half_norm(layer, index, 1 - eps) - half_norm(layer, index, 1 + eps)) / (2 * eps)
        assert rate == pytest.approx(-float(flat[position]), rel=1e-4, abs=1e-12)
    assert float(flat[order[0]]) < 0 < float(flat[order[-1]])


# ---------------------------------------------------------------------------------------------
# SynFlow


def test_synflow_scores_equal_hand_computed_path_products_with_biases():
    model = build("lenet", seeds=[2], input_shape=(1, 2, 2), num_classes=3).double()
    with torch.no_grad():  # nonzero biases of mixed sign: SynFlow takes |b| too
        for n, p in model.named_parameters():
            if n.endswith("bias"):
                p.normal_(generator=torch.Generator().manual_seed(len(n)))
    state = member_state(model, 0)
    mask = _random_mask({n: state[n].shape for n in model.prunable}, 0.7, seed=4)
    scores = atinit.synflow_scores(model, mask, input_shape=(1, 2, 2))
    a = {n: (state[n].abs() * mask[n]).requires_grad_(True) for n in model.prunable}
    h = torch.ones(4, dtype=torch.float64)
    for layer in ("fc1", "fc2", "fc3"):  # all-ones input, nonnegative everything: ReLU is identity
        h = a[f"{layer}.weight"] @ h + state[f"{layer}.bias"].abs()
    grads = torch.autograd.grad(h.sum(), list(a.values()))
    for (name, w), g in zip(a.items(), grads, strict=True):
        torch.testing.assert_close(scores[name], (g * w).abs().detach())


def test_synflow_is_data_free_and_sign_blind():
    # it takes no batch at all: only |parameters| enter, so flipping every sign changes nothing
    model = build("lenet", seeds=[0])
    flipped = build("lenet", seeds=[0])
    with torch.no_grad():
        for p in flipped.parameters():
            p.neg_()
    first = atinit.synflow(model, 0.05, input_shape=(1, 28, 28), iterations=10)
    second = atinit.synflow(flipped, 0.05, input_shape=(1, 28, 28), iterations=10)
    assert atinit.mask_distance(first, second) == 0.0


def test_synflow_iterative_avoids_the_layer_collapse_of_one_shot():
    model = build("lenet", seeds=[0])
    one_shot = atinit.synflow(model, 0.01, input_shape=(1, 28, 28), iterations=1)
    iterative = atinit.synflow(model, 0.01, input_shape=(1, 28, 28), iterations=100)
    target = int(0.01 * LENET_SIZE + 0.5)
    assert one_shot.alive() == iterative.alive() == target
    assert atinit.mask_distance(one_shot, iterative) > 0
    # Tanaka et al.'s point: one-shot scoring empties the widest layer, iteration keeps a path
    assert min(int(m.sum()) for m in one_shot.values()) == 0
    assert min(int(m.sum()) for m in iterative.values()) > 0


# ---------------------------------------------------------------------------------------------
# the model is never touched


@pytest.mark.parametrize("method", ["snip", "grasp", "synflow"])
def test_scoring_leaves_weights_buffers_grads_and_mode_alone(method):
    model = build("resnet18", seeds=[0])  # batch norm: train-mode passes would move its buffers
    model.eval()
    before = {n: t.clone() for n, t in model.state_dict().items()}
    batch = _batch((3, 32, 32), size=2)
    if method == "snip":
        atinit.snip(model, batch)
    elif method == "grasp":
        atinit.grasp(model, [batch])
    else:
        atinit.synflow(model, 0.5, input_shape=(3, 32, 32), iterations=2)
    assert not model.training
    assert all(p.grad is None for p in model.parameters())
    for name, t in model.state_dict().items():
        assert torch.equal(t, before[name]), name


# ---------------------------------------------------------------------------------------------
# early-bird tickets


def _flip(mask: Mask, start: int, count: int) -> Mask:
    flat = mask["a"].flatten().clone()
    flat[start:start + count] = ~flat[start:start + count]
    return Mask({"a": flat.view_as(mask["a"])})


def test_mask_distance_zero_one_and_fraction():
    mask = _random_mask({"a": (10, 10), "b": (50,)}, 0.5)
    assert atinit.mask_distance(mask, mask) == 0.0
    assert atinit.mask_distance(mask, Mask({n: ~m for n, m in mask.items()})) == 1.0
    flipped = Mask(mask | {"b": torch.cat([~mask["b"][:15], mask["b"][15:]])})
    assert atinit.mask_distance(mask, flipped) == pytest.approx(15 / 150)


def _sequence(distances: list[float]) -> list[Mask]:
    masks = [Mask({"a": torch.zeros(100, dtype=torch.bool)})]
    for j, d in enumerate(distances):
        masks.append(_flip(masks[-1], (7 * j) % 60, round(d * 100)))
    return masks


def test_early_bird_stop_finds_the_first_settled_checkpoint():
    distances = [0.5, 0.3, 0.05, 0.05, 0.2, 0.05, 0.05, 0.05, 0.05, 0.05, 0.0]
    masks = _sequence(distances)
    assert [atinit.mask_distance(a, b) for a, b in itertools.pairwise(masks)] == distances
    assert atinit.early_bird_stop(masks) == 10  # pairs (5,6)..(9,10) are the first five below 0.1
    assert atinit.early_bird_stop(masks, window=3) == 8
    assert atinit.early_bird_stop(masks, window=2) == 4  # pairs (2,3), (3,4)
    assert atinit.early_bird_stop(masks[:10]) is None
    # strictly below: a distance equal to the threshold does not count as settled
    assert atinit.early_bird_stop(_sequence([0.1] * 6)) is None
    assert atinit.early_bird_stop(_sequence([0.1] * 6), threshold=0.11) == 5


def test_early_bird_scores_are_magnitudes_of_the_state_at_t():
    model = build("lenet", seeds=[1])
    state = member_state(model, 0)
    scores = atinit.early_bird(state, model.prunable)
    assert set(scores) == set(model.prunable)
    for name in scores:
        assert torch.equal(scores[name], state[name].abs())


# ---------------------------------------------------------------------------------------------
# shuffle ablation, costs, registry


def test_shuffle_within_layers_keeps_per_layer_counts_and_moves_positions():
    mask = _random_mask({"a": (30, 30), "b": (200,)}, 0.2)
    shuffled = atinit.shuffle_within_layers(mask, seed=0)
    assert {n: int(m.sum()) for n, m in shuffled.items()} == {n: int(m.sum()) for n, m in
                                                              mask.items()}
    assert atinit.mask_distance(mask, shuffled) > 0.1
    assert atinit.mask_distance(shuffled, atinit.shuffle_within_layers(mask, seed=0)) == 0.0


def test_forward_flops_counts_dense_multiply_adds():
    assert atinit.forward_flops(build("lenet"), (1, 28, 28)) == 2 * LENET_SIZE
    conv2 = build("conv2")
    conv2.train()
    by_hand = 2 * (64 * 32 * 32 * 3 * 9 + 64 * 32 * 32 * 64 * 9 + 64 * 16 * 16 * 256
                   + 256 * 256 + 256 * 10)
    assert atinit.forward_flops(conv2, (3, 32, 32)) == by_hand
    assert conv2.training


def test_cost_table():
    f = 1000
    assert atinit.cost("magnitude_init", flops=f) == {"iterations": 0, "flops": 0.0}
    assert atinit.cost("snip", flops=f, batch_size=60) == {"iterations": 0, "flops": 3 * f * 60}
    assert atinit.cost("grasp", flops=f, batch_size=60, batches=2)["flops"] == 9 * f * 60 * 2
    assert atinit.cost("synflow", flops=f)["flops"] == 3 * f * 100
    assert atinit.cost("early_bird", flops=f, batch_size=60, iterations=500) == {
        "iterations": 500, "flops": 3 * f * 60 * 500}
    assert atinit.cost("imp", flops=f, batch_size=60, iterations=500, levels=4) == {
        "iterations": 2000, "flops": 3 * f * 60 * 2000}
    with pytest.raises(ValueError, match="unknown"):
        atinit.cost("lottery", flops=f)


def test_registry_covers_the_methods_with_one_line_cited_docstrings():
    assert set(atinit.METHODS) == {"magnitude_init", "snip", "grasp", "synflow", "early_bird"}
    for fn in atinit.METHODS.values():
        assert "\n" not in fn.__doc__.strip() and "20" in fn.__doc__
