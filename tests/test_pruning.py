"""Tests for lottery.engine.pruning and lottery.engine.masks: rates, nesting, ranking, ties,
criteria, masks."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lottery.engine import masks
from lottery.engine.masks import Mask
from lottery.engine.models import build
from lottery.engine.pruning import (
    CRITERIA,
    prune_global,
    prune_layerwise,
    random_mask_like,
    remove_lowest,
    scores,
)

pytestmark = pytest.mark.usefixtures("one_thread")


LENET_SHAPES = {"fc1.weight": (300, 784), "fc2.weight": (100, 300), "fc3.weight": (10, 100)}
LENET_RATES = {"fc1.weight": 0.2, "fc2.weight": 0.2, "fc3.weight": 0.1}


def _random_weights(shapes, seed=0) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return {name: torch.randn(shape, generator=gen) for name, shape in shapes.items()}


def _magnitudes(weights):
    return {name: w.abs() for name, w in weights.items()}


def _counts(mask: Mask) -> dict[str, int]:
    return {name: int(m.sum()) for name, m in mask.items()}


SMALL_SHAPES = {"a": (7, 13), "b": (5, 3, 3, 3), "c": (41,)}


# ---------------------------------------------------------------------------------------------
# per-layer magnitude pruning


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1),
       rates=st.lists(st.floats(0.0, 0.95), min_size=3, max_size=3),
       rounds=st.integers(1, 6))
def test_layerwise_fraction_nesting_and_smallest_removed(seed, rates, rounds):
    weights = _random_weights(SMALL_SHAPES, seed)
    rate_by_layer = dict(zip(SMALL_SHAPES, rates, strict=True))
    mask = Mask.dense({n: w.shape for n, w in weights.items()})
    for _ in range(rounds):
        new = prune_layerwise(_magnitudes(weights), mask, rate_by_layer)
        assert new.is_subset_of(mask)
        for name, rate in rate_by_layer.items():
            alive, kept = int(mask[name].sum()), int(new[name].sum())
            # remove round(rate * alive): exact up to rounding
            assert abs((alive - kept) - rate * alive) <= 0.5 + 1e-9, (name, alive, kept)
            removed = mask[name] & ~new[name]
            magnitude = weights[name].abs()
            if removed.any() and new[name].any():
                assert magnitude[removed].max() <= magnitude[new[name]].min()
            assert new[name].shape == mask[name].shape and new[name].dtype == torch.bool
        mask = new


def test_layerwise_exact_counts_and_smallest_removed():
    weights = {"w": torch.tensor([[0.5, -3.0, 0.1], [2.0, -0.2, 1.0]]),
               "v": torch.arange(1.0, 11.0)}
    mask = Mask.dense({"w": (2, 3), "v": (10,)})
    new = prune_layerwise(_magnitudes(weights), mask, {"w": 0.5, "v": 0.3})
    assert new["w"].tolist() == [[False, True, False], [True, False, True]]
    assert new["v"].tolist() == [False] * 3 + [True] * 7
    # dead weights are never revived and never counted again
    again = prune_layerwise(_magnitudes(weights), new, {"w": 0.5, "v": 0.3})
    assert _counts(again) == {"w": 2, "v": 5}  # keep round(3 * .5) = 2, round(7 * .7) = 5
    assert again["w"].tolist() == [[False, True, False], [True, False, False]]


def test_layerwise_ignores_scores_of_pruned_weights():
    score = torch.tensor([0.0, 5.0, 1.0, 2.0, 3.0])
    alive = torch.tensor([False, True, True, True, True])
    new = prune_layerwise({"x": score}, Mask({"x": alive}), {"x": 0.5})
    assert new["x"].tolist() == [False, True, False, False, True]


def test_ties_remove_lowest_flat_indices_first():
    score = torch.ones(3, 4)
    first = prune_layerwise({"x": score}, Mask.dense({"x": (3, 4)}), {"x": 0.25})
    assert (~first["x"]).flatten().nonzero().flatten().tolist() == [0, 1, 2]
    second = prune_layerwise({"x": score}, first, {"x": 0.25})  # 9 alive -> remove 2
    assert (~second["x"]).flatten().nonzero().flatten().tolist() == [0, 1, 2, 3, 4]
    # deterministic: the same call twice gives the same mask
    repeat = prune_layerwise({"x": score}, first, {"x": 0.25})
    assert torch.equal(repeat["x"], second["x"])


def test_remove_lowest_clamps_count_and_keeps_input():
    alive = torch.tensor([True, False, True, True])
    score = torch.tensor([3.0, -1.0, 1.0, 2.0])
    assert remove_lowest(score, alive, 1).tolist() == [True, False, False, True]
    assert remove_lowest(score, alive, 10).tolist() == [False] * 4
    assert remove_lowest(score, alive, 0).tolist() == alive.tolist()
    assert alive.tolist() == [True, False, True, True]  # not modified in place


def test_remove_lowest_with_infinite_scores():
    # -inf (sign flipped under *_same_sign) goes first; an alive +inf score is removed last, but
    # removed all the same: dead weights never count towards ``count``
    alive = torch.tensor([False, True, True, True])
    score = torch.tensor([0.0, math.inf, -math.inf, 1.0])
    assert remove_lowest(score, alive, 2).tolist() == [False, True, False, False]
    assert remove_lowest(score, alive, 3).tolist() == [False] * 4
    # a NaN score (diverged weight) still counts: exactly ``count`` alive weights go
    nan_score = torch.tensor([0.0, math.nan, 1.0, 2.0])
    assert remove_lowest(nan_score, alive, 3).tolist() == [False] * 4
    assert int(remove_lowest(nan_score, alive, 2).sum()) == 1


def test_lenet_compounding_matches_the_paper():
    weights = _random_weights(LENET_SHAPES, seed=1)
    mask = Mask.dense(LENET_SHAPES)
    assert mask.size() == 266_200
    expected = {3: 51.3, 7: 21.1, 9: 13.5, 12: 7.0, 15: 3.6, 18: 1.9}
    seen = {}
    for round_ in range(1, 19):
        new = prune_layerwise(_magnitudes(weights), mask, LENET_RATES)
        assert new.is_subset_of(mask)
        mask = new
        seen[round_] = 100 * mask.density()
    for round_, percent in expected.items():
        assert seen[round_] == pytest.approx(percent, abs=0.05), round_
    # output layer pruned at half the rate of the hidden layers
    assert mask.layer_density()["fc3.weight"] == pytest.approx(0.9**18, abs=2e-3)
    assert mask.layer_density()["fc1.weight"] == pytest.approx(0.8**18, abs=2e-4)


@pytest.mark.parametrize("rounds", [1, 3, 7])
def test_one_shot_matches_iterative_counts(rounds):
    weights = _random_weights(LENET_SHAPES, seed=2)
    dense = Mask.dense(LENET_SHAPES)
    one_shot = prune_layerwise(_magnitudes(weights), dense, LENET_RATES, rounds=rounds)
    iterative = dense
    for _ in range(rounds):
        iterative = prune_layerwise(_magnitudes(weights), iterative, LENET_RATES)
    for name in LENET_SHAPES:
        assert abs(_counts(one_shot)[name] - _counts(iterative)[name]) <= rounds, name
        target = LENET_SHAPES[name][0] * LENET_SHAPES[name][1] * (1 - LENET_RATES[name]) ** rounds
        assert abs(_counts(one_shot)[name] - target) <= 0.5 + 1e-6
    # one shot keeps exactly the largest-magnitude weights of each layer
    for name, w in weights.items():
        kept = one_shot[name]
        assert w.abs()[~kept].max() <= w.abs()[kept].min()


# ---------------------------------------------------------------------------------------------
# global pruning


def test_global_pruning_ranks_all_layers_together():
    gen = torch.Generator().manual_seed(3)
    weights = {"small": torch.randn(40, 50, generator=gen),
               "large": 10 * torch.randn(30, 20, generator=gen)}
    mask = Mask.dense({n: w.shape for n, w in weights.items()})
    total = mask.size()
    new = prune_global(_magnitudes(weights), mask, 0.2)
    assert new.is_subset_of(mask)
    assert new.alive() == round(0.8 * total)
    removed_small = 2000 - int(new["small"].sum())
    removed_large = 600 - int(new["large"].sum())
    assert removed_small + removed_large == total - round(0.8 * total)
    # the larger-magnitude layer loses (proportionally) fewer weights
    assert removed_large / 600 < 0.2 < removed_small / 2000
    all_removed = torch.cat([w.abs()[~new[n]] for n, w in weights.items()])
    all_kept = torch.cat([w.abs()[new[n]] for n, w in weights.items()])
    assert all_removed.max() <= all_kept.min()
    # a second round removes 20% of the survivors, not of the original count
    again = prune_global(_magnitudes(weights), new, 0.2)
    assert again.alive() == round(0.8 * new.alive())
    assert again.is_subset_of(new)
    # each layer keeps its own shape
    assert {n: m.shape for n, m in again.items()} == {n: w.shape for n, w in weights.items()}


def test_global_one_shot_rounds_on_resnet_mask():
    model = build("resnet18", seeds=[0])
    weights = {n: w[0].detach() for n, w in model.prunable_weights().items()}
    mask = Mask.dense({n: w.shape for n, w in weights.items()})
    one_shot = prune_global(_magnitudes(weights), mask, 0.2, rounds=3)
    assert one_shot.alive() == round(mask.size() * 0.8**3)
    assert set(one_shot) == set(model.prunable)


# ---------------------------------------------------------------------------------------------
# masks of real models: biases / batch norm never masked


@pytest.mark.parametrize("name", ["lenet", "resnet18"])
def test_model_masks_cover_exactly_the_prunable_weights(name):
    model = build(name, seeds=[0])
    weights = {n: w[0].detach() for n, w in model.prunable_weights().items()}
    mask = Mask.dense({n: w.shape for n, w in weights.items()})
    new = prune_global(_magnitudes(weights), mask, 0.2)
    assert set(new) == set(model.prunable)
    assert not any(n.endswith(".bias") or ".bn" in n or n.startswith("bn") for n in new)
    params = dict(model.named_parameters())
    for n in new:
        assert new[n].shape == params[n].shape[1:]


# ---------------------------------------------------------------------------------------------
# random masks


def test_random_mask_like_keeps_layer_counts():
    weights = _random_weights(LENET_SHAPES, seed=4)
    mask = prune_layerwise(_magnitudes(weights), Mask.dense(LENET_SHAPES), LENET_RATES, rounds=5)
    rand = random_mask_like(mask, seed=9)
    assert _counts(rand) == _counts(mask)
    assert {n: m.shape for n, m in rand.items()} == {n: m.shape for n, m in mask.items()}
    assert all(m.dtype == torch.bool for m in rand.values())
    for name in mask:
        assert not torch.equal(rand[name], mask[name]), name
    again = random_mask_like(mask, seed=9)
    other = random_mask_like(mask, seed=10)
    assert all(torch.equal(again[n], rand[n]) for n in mask)
    assert any(not torch.equal(other[n], rand[n]) for n in mask)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), density=st.floats(0.0, 1.0))
def test_random_mask_like_counts_property(seed, density):
    gen = torch.Generator().manual_seed(seed)
    mask = Mask({n: torch.rand(s, generator=gen) < density for n, s in SMALL_SHAPES.items()})
    rand = random_mask_like(mask, seed)
    assert _counts(rand) == _counts(mask)


# ---------------------------------------------------------------------------------------------
# Zhou et al. criteria


def _init_final(seed=5, shape=(20, 30)):
    gen = torch.Generator().manual_seed(seed)
    init = {"w": torch.randn(shape, generator=gen)}
    final = {"w": init["w"] + 0.8 * torch.randn(shape, generator=gen)}
    return init, final


def test_criteria_formulas():
    init, final = _init_final()
    i, f = init["w"], final["w"]
    expected = {
        "large_final": f.abs(), "small_final": -f.abs(), "large_init": i.abs(),
        "small_init": -i.abs(), "large_init_large_final": torch.minimum(i.abs(), f.abs()),
        "small_init_small_final": -torch.maximum(i.abs(), f.abs()),
        "magnitude_increase": f.abs() - i.abs(), "movement": (f - i).abs(),
    }
    assert set(expected) == set(CRITERIA)
    for criterion, value in expected.items():
        assert torch.equal(scores(criterion, init, final)["w"], value), criterion


@pytest.mark.parametrize("base", sorted(CRITERIA))
def test_same_sign_never_keeps_a_flipped_weight(base):
    init, final = _init_final()
    flipped = torch.sign(init["w"]) != torch.sign(final["w"])
    n_flipped = int(flipped.sum())
    assert 0 < n_flipped < 0.4 * flipped.numel()
    mask = Mask.dense({"w": (20, 30)})
    new = prune_layerwise(scores(f"{base}_same_sign", init, final), mask, {"w": 0.5})
    assert int(new["w"].sum()) == 300
    assert not (new["w"] & flipped).any()
    # without the suffix, some flipped weight survives for at least the magnitude criteria
    if base in ("large_final", "movement"):
        plain = prune_layerwise(scores(base, init, final), mask, {"w": 0.5})
        assert (plain["w"] & flipped).any()


def test_large_final_keeps_largest_and_small_final_the_smallest():
    init, final = _init_final()
    mask = Mask.dense({"w": (20, 30)})
    large = prune_layerwise(scores("large_final", init, final), mask, {"w": 0.8})["w"]
    small = prune_layerwise(scores("small_final", init, final), mask, {"w": 0.8})["w"]
    mag = final["w"].abs()
    assert mag[large].min() >= mag[~large].max()
    assert mag[small].max() <= mag[~small].min()


def test_random_criterion_is_seeded():
    init, final = _init_final()
    a, b, c = (scores("random", init, final, seed=s)["w"] for s in (1, 1, 2))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == final["w"].shape


@pytest.mark.parametrize("criterion", ["biggest", "large_final_same", "random_same_sign", ""])
def test_unknown_criterion_raises(criterion):
    init, final = _init_final()
    with pytest.raises(ValueError, match="unknown pruning criterion"):
        scores(criterion, init, final)


# ---------------------------------------------------------------------------------------------
# Mask


def test_mask_density_layer_density_and_report():
    mask = Mask({"a": torch.tensor([True, False, False, False]),
                 "b": torch.tensor([[True, True], [True, False]])})
    assert mask.alive() == 4 and mask.size() == 8
    assert mask.density() == 0.5
    assert mask.layer_density() == {"a": 0.25, "b": 0.75}
    report = mask.report()
    assert list(report["layer"]) == ["a", "b", "(all prunable)"]
    assert list(report["alive"]) == [1, 3, 4]
    assert list(report["size"]) == [4, 4, 8]
    assert list(report["density"]) == [0.25, 0.75, 0.5]


def test_mask_dense_and_subset():
    dense = Mask.dense({"a": (2, 3), "b": torch.Size([4])})
    assert dense.density() == 1.0 and dense["a"].dtype == torch.bool
    sparse = Mask({"a": torch.zeros(2, 3, dtype=torch.bool), "b": torch.tensor([1, 0, 1, 0]) == 1})
    assert sparse.is_subset_of(dense)
    assert not dense.is_subset_of(sparse)
    other = Mask({"a": torch.zeros(2, 3, dtype=torch.bool), "b": torch.tensor([0, 1, 0, 0]) == 1})
    assert not other.is_subset_of(sparse) and not sparse.is_subset_of(other)
    assert sparse.is_subset_of(sparse)


def test_mask_of_accepts_0_1_and_rejects_other_values():
    mask = Mask.of({"a": torch.tensor([0.0, 1.0, 1.0]), "b": torch.tensor([[1, 0]])})
    assert mask["a"].dtype == torch.bool and mask["a"].tolist() == [False, True, True]
    assert mask["b"].tolist() == [[True, False]]
    assert isinstance(mask, Mask)
    for bad in (torch.tensor([0.0, 0.5]), torch.tensor([2, 0]), torch.tensor([-1.0])):
        with pytest.raises(ValueError, match="other than 0 and 1"):
            Mask.of({"a": bad})


def test_mask_to_state_is_a_copy():
    mask = Mask.dense({"a": (3,)})
    state = mask.to_state()
    state["a"][0] = False
    assert mask["a"].all()
    assert Mask.of(state).alive() == 2


def test_stack_shapes_and_values():
    m0 = Mask({"a": torch.tensor([[True, False, True]]), "b": torch.tensor([True, True])})
    m1 = Mask({"a": torch.tensor([[False, False, True]]), "b": torch.tensor([False, True])})
    stacked = masks.stack([m0, m1, m0], device="cpu")
    assert stacked["a"].shape == (3, 1, 3) and stacked["b"].shape == (3, 2)
    assert stacked["a"].dtype == torch.float32
    assert stacked["a"][1].tolist() == [[0.0, 0.0, 1.0]]
    assert stacked["b"].tolist() == [[1.0, 1.0], [0.0, 1.0], [1.0, 1.0]]
    assert masks.stack([m0], device="cpu", dtype=torch.float64)["b"].dtype == torch.float64
    with pytest.raises(ValueError):
        masks.stack([m0, Mask({"a": m1["a"]})], device="cpu")
