"""Tests for lottery.engine.analysis: distances, mode connectivity, mask overlap, ticket
properties, MI."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from lottery.engine import analysis
from lottery.engine.data import Split
from lottery.engine.masks import Mask
from lottery.engine.members import load_member_state, member_state
from lottery.engine.models import build
from lottery.engine.pruning import random_mask_like

pytestmark = pytest.mark.usefixtures("one_thread")


def _tiny_split(n: int, shape=(1, 28, 28), seed: int = 0) -> Split:
    gen = torch.Generator().manual_seed(seed)
    return Split(torch.randn(n, *shape, generator=gen), torch.randint(0, 10, (n,), generator=gen))


def _first_k(shape, k: int) -> torch.Tensor:
    flat = torch.zeros(math.prod(shape), dtype=torch.bool)
    flat[:k] = True
    return flat.view(shape)


# ------------------------------------------------------------------------------- distances


def test_identical_states_are_at_distance_zero():
    state = member_state(build("lenet", seeds=[3]), 0)
    mask = Mask.dense({n: state[n].shape for n in ("fc1.weight", "fc2.weight", "fc3.weight")})
    assert analysis.l2_distance(state, state, mask=mask) == 0.0


def test_hand_computed_distance_over_names_and_within_a_mask():
    a = {"w": torch.zeros(2, 2), "v": torch.zeros(3), "bias": torch.zeros(2)}
    b = {"w": torch.tensor([[3.0, 0.0], [0.0, 4.0]]), "v": torch.tensor([0.0, 12.0, 0.0]),
         "bias": torch.full((2,), 100.0)}
    assert analysis.l2_distance(a, b, names=["w"]) == pytest.approx(5.0)
    assert analysis.l2_distance(a, b, names=["w", "v"]) == pytest.approx(13.0)  # sqrt(25 + 144)
    mask = Mask({"w": torch.tensor([[True, False], [False, False]]),
                 "v": torch.tensor([False, True, False])})
    assert analysis.l2_distance(a, b, mask=mask) == pytest.approx(math.hypot(3.0, 12.0))
    with pytest.raises(ValueError, match="names"):
        analysis.l2_distance(a, b)


# ------------------------------------------------------------------ linear mode connectivity


def test_interpolation_endpoints_and_midpoint():
    a = member_state(build("lenet", seeds=[1]), 0)
    b = member_state(build("lenet", seeds=[2]), 0)
    at0, at1 = analysis.interpolate(a, b, 0.0), analysis.interpolate(a, b, 1.0)
    mid = analysis.interpolate(a, b, 0.5)
    for name in a:
        assert torch.equal(at0[name], a[name]) and torch.equal(at1[name], b[name])
        torch.testing.assert_close(mid[name], (a[name] + b[name]) / 2)


def test_instability_is_the_error_barrier():
    assert analysis.instability([0.1, 0.1, 0.1]) == 0.0
    assert analysis.instability([0.1, 0.3, 0.2]) == pytest.approx(0.3 - 0.15)
    assert analysis.instability(torch.tensor([0.2, 0.1, 0.1])) == pytest.approx(0.05)


def test_error_along_line_is_flat_between_identical_lenets():
    state = member_state(build("lenet", seeds=[7]), 0)
    split = _tiny_split(64)
    errors = analysis.error_along_line("lenet", state, state, split, points=5, batch_size=20)
    assert errors.shape == (5,)
    assert torch.all(errors == errors[0])
    assert analysis.instability(errors) == 0.0


def test_error_along_line_endpoints_are_the_two_networks():
    model = build("lenet", seeds=[1, 2])
    split = _tiny_split(80, seed=1)
    a, b = member_state(model, 0), member_state(model, 1)
    errors = analysis.error_along_line("lenet", a, b, split, points=3)
    alone = analysis.member_errors(model, split)
    assert errors[0] == alone[0] and errors[-1] == alone[1]
    assert float(alone[0]) != float(alone[1])  # the test can tell the endpoints apart


def _tiny_resnet(seeds):
    return build("resnet18", seeds=seeds, input_shape=(3, 8, 8))


def test_recompute_batch_norm_gives_the_average_batch_statistics():
    model = _tiny_resnet([4, 5])
    model.train()
    for norm in (model.bn, model.blocks[0].bn1):  # stale statistics that must disappear
        norm.running_mean.fill_(7.0)
        norm.running_var.fill_(1e6)
    x = torch.randn(2, 6, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    assert analysis.recompute_batch_norm(model, [x[0], x[1]]) == 2
    assert model.training and model.bn.training and model.bn.momentum == 0.1
    for k in range(2):  # the first batch norm sees conv(x) with member k's filters
        out = torch.stack([F.conv2d(x[i], model.conv.weight[k], padding=1) for i in range(2)])
        mean = out.mean(dim=(1, 3, 4)).mean(0)  # equal-size batches: average of batch means
        var = out.transpose(1, 2).flatten(2).var(dim=2).mean(0)  # average of unbiased vars
        torch.testing.assert_close(model.bn.running_mean[k], mean, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(model.bn.running_var[k], var, rtol=1e-4, atol=1e-5)
    assert float(model.blocks[0].bn1.running_var.max()) < 1e3


def test_error_along_line_recomputes_batch_norm():
    state = member_state(_tiny_resnet([3]), 0)
    for name in state:
        if name.endswith("running_var"):
            state[name].fill_(1e6)  # stale statistics: recomputation must replace them
    test, train = _tiny_split(40, (3, 8, 8), seed=2), _tiny_split(48, (3, 8, 8), seed=3)
    with pytest.raises(ValueError, match="bn_data"):
        analysis.error_along_line("resnet18", state, state, test, points=3)
    errors = analysis.error_along_line("resnet18", state, state, test, points=3, bn_data=train,
                                       bn_batches=2, batch_size=16)
    reference = _tiny_resnet([0])
    load_member_state(reference, 0, state)
    analysis.recompute_batch_norm(reference, [train.x[:16], train.x[16:32]])
    expected = analysis.member_errors(reference, test, batch_size=16)
    assert torch.all(errors == expected[0])


# ------------------------------------------------------------------------------ mask overlap


def _mask(seed: int = 0) -> Mask:
    shapes = {"a": (300, 784), "b": (100, 300), "c": (10, 100)}
    base = Mask({n: _first_k(s, int(math.prod(s) * d)) for (n, s), d
                 in zip(shapes.items(), (0.2, 0.3, 0.5), strict=True)})
    return random_mask_like(base, seed)


def test_identical_masks_overlap_fully():
    mask = _mask()
    assert analysis.jaccard(mask, mask) == 1.0 and analysis.shared_fraction(mask, mask) == 1.0
    table = analysis.overlap_table(mask, mask)
    assert (table["jaccard"] == 1.0).all() and (table["shared_fraction"] == 1.0).all()
    assert table["layer"].iloc[-1] == analysis.OVERALL


def test_hand_computed_overlap():
    m1 = torch.tensor([True, True, True, False, False])
    m2 = torch.tensor([False, True, True, True, False])
    assert analysis.jaccard(m1, m2) == pytest.approx(2 / 4)
    assert analysis.shared_fraction(m1, m2) == pytest.approx(2 / 3)
    assert analysis.shared_fraction(m1, m1 & ~m1) == 0.0


def test_chance_jaccard_is_exact_on_an_enumerable_layer():
    n, k1, k2 = 7, 3, 4
    first = set(range(k1))  # by symmetry m1 can be fixed; average over every m2
    values = [len(first & set(s)) / len(first | set(s))
              for s in itertools.combinations(range(n), k2)]
    chance = analysis.chance_overlap(n, k1, k2)
    assert chance["jaccard"] == pytest.approx(sum(values) / len(values), rel=1e-9)
    assert chance["intersection"] == pytest.approx(k1 * k2 / n)
    sizes = torch.tensor([len(first & set(s)) for s in itertools.combinations(range(n), k2)])
    assert chance["intersection_sd"] == pytest.approx(float(sizes.double().std(correction=0)))


def test_independent_random_masks_overlap_at_chance():
    m1, m2 = _mask(seed=1), _mask(seed=2)
    table = analysis.overlap_table(m1, m2).set_index("layer")
    assert (table["z"].abs() < 4).all()  # kept_both within 4 standard deviations of chance
    for layer, row in table.iterrows():
        sd = math.sqrt(row["kept_1"] * row["kept_2"] * (row["size"] - row["kept_1"])
                       * (row["size"] - row["kept_2"]) / (row["size"] ** 2 * (row["size"] - 1)))
        union = row["kept_1"] + row["kept_2"] - row["kept_1"] * row["kept_2"] / row["size"]
        jaccard_sd = sd * (row["kept_1"] + row["kept_2"]) / union**2  # delta method
        assert abs(row["jaccard"] - row["chance_jaccard"]) < 4 * jaccard_sd, layer
        assert abs(row["jaccard_ratio"] - 1) < 0.2 and abs(row["shared_ratio"] - 1) < 0.2
    assert table.loc["a", "chance_shared_fraction"] == pytest.approx(0.2)
    overall = table.loc[analysis.OVERALL]
    assert overall["jaccard"] == pytest.approx(analysis.jaccard(m1, m2))
    assert overall["kept_1"] == m1.alive() and overall["size"] == m1.size()


def test_a_nested_mask_overlaps_above_chance():
    big = _mask(seed=1)
    small = Mask({n: m & _mask(seed=3)[n] for n, m in big.items()})  # a subset of big
    assert analysis.shared_fraction(small, big) == 1.0
    table = analysis.overlap_table(small, big).set_index("layer")
    assert (table["z"] > 10).all() and (table["shared_ratio"] > 1.9).all()


# ------------------------------------------------------------------------- ticket properties


def test_kept_vs_pruned_init_by_hand():
    init = {"w": torch.tensor([[1.0, -2.0], [3.0, -6.0]])}
    mask = Mask({"w": torch.tensor([[False, False], [True, True]])})
    row = analysis.kept_vs_pruned_init(init, mask).iloc[0]
    assert (row["kept"], row["pruned"]) == (2, 2)
    assert row["kept_mean_abs"] == pytest.approx(4.5) and row["pruned_mean_abs"] == 1.5
    assert row["mean_ratio"] == pytest.approx(3.0)
    kept, pruned = analysis.split_by_mask(init, mask)["w"]
    assert kept.tolist() == [3.0, -6.0] and pruned.tolist() == [1.0, -2.0]


def test_sign_agreement_by_hand():
    init = {"w": torch.tensor([1.0, -1.0, 2.0, -2.0]), "v": torch.tensor([1.0, 1.0])}
    final = {"w": torch.tensor([0.5, 1.0, -2.0, -3.0]), "v": torch.tensor([2.0, 0.0])}
    everything = Mask({"w": torch.ones(4, dtype=torch.bool), "v": torch.ones(2, dtype=torch.bool)})
    agreement = analysis.sign_agreement(init, final, everything)
    assert agreement == {"w": 0.5, "v": 0.5, analysis.OVERALL: 3 / 6}
    kept = Mask({"w": torch.tensor([True, False, False, True]), "v": torch.tensor([True, False])})
    assert analysis.sign_agreement(init, final, kept)["w"] == 1.0


def test_input_connectivity_counts_surviving_connections():
    dense = Mask({"fc1.weight": torch.ones(300, 784, dtype=torch.bool)})
    counts = analysis.input_connectivity(dense)
    assert counts.shape == (28, 28) and (counts == 300).all()
    one_pixel = torch.zeros(300, 784, dtype=torch.bool)
    one_pixel[:17, 5 * 28 + 9] = True  # 17 surviving connections from pixel (row 5, column 9)
    counts = analysis.input_connectivity(Mask({"fc1.weight": one_pixel}))
    assert counts[5, 9] == 17 and counts.sum() == 17


# ------------------------------------------------------------------------ information plane


def test_mutual_information_of_a_bijection():
    n = 64
    t = torch.arange(n, dtype=torch.float32).view(n, 1)  # distinct symbols, one per bin
    labels = torch.randperm(n, generator=torch.Generator().manual_seed(0))  # a bijection of t
    i_xt, i_ty = analysis.binned_mutual_information(t, labels, bins=n)
    assert i_xt == pytest.approx(math.log2(n)) and i_ty == pytest.approx(math.log2(n))


def test_mutual_information_when_t_determines_a_coarser_label():
    t = torch.arange(40, dtype=torch.float32).view(40, 1)
    labels = torch.arange(40) % 4  # balanced: H(Y) = 2 bits, and T determines Y
    i_xt, i_ty = analysis.binned_mutual_information(t, labels, bins=40)
    assert i_xt == pytest.approx(math.log2(40)) and i_ty == pytest.approx(2.0)
    i_xt, _ = analysis.binned_mutual_information(t, labels, bins=10)  # 4 inputs per bin
    assert i_xt == pytest.approx(math.log2(10))


def test_mutual_information_of_independent_and_constant_layers():
    t = torch.tensor([[0.0], [0.0], [1.0], [1.0]])
    labels = torch.tensor([0, 1, 0, 1])  # every (t, y) pair once: independent
    assert analysis.binned_mutual_information(t, labels) == pytest.approx((1.0, 0.0))
    constant = torch.full((50, 3), 0.7)
    assert analysis.binned_mutual_information(constant, torch.arange(50) % 10) == (0.0, 0.0)


def test_binning_uses_the_layer_range_or_each_unit_range():
    a = torch.tensor([[0.0, 0.0], [1.0, 10.0], [2.0, 20.0]])
    assert analysis.bin_activations(a, bins=2).tolist() == [[0, 0], [0, 1], [0, 1]]
    assert analysis.bin_activations(a, bins=2, per_unit=True).tolist() == [[0, 0], [1, 1], [1, 1]]


def test_lenet_activations_match_the_model():
    model = build("lenet", seeds=[3, 5])
    x = torch.randn(8, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    layers = analysis.lenet_activations(member_state(model, 1), x)
    assert [tuple(h.shape) for h in layers.values()] == [(8, 300), (8, 100), (8, 10)]
    assert (layers["fc1"] >= 0).all() and (layers["fc2"] >= 0).all()
    with torch.no_grad():
        torch.testing.assert_close(layers["fc3"], model(x)[1], rtol=1e-4, atol=1e-5)
