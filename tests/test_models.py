"""Tests for lottery.engine.models and lottery.engine.members: sizes, prunable sets, init, member
batching."""

from __future__ import annotations

import math
from functools import cache

import pytest
import torch

from lottery.engine import models
from lottery.engine.members import (
    MemberBatchNorm2d,
    load_member_state,
    member_state,
    use_channels_last,
)
from lottery.engine.models import REGISTRY, build, describe_models, layer_table, weight_counts

pytestmark = pytest.mark.usefixtures("one_thread")


NAMES = ("lenet", "conv2", "conv4", "conv6", "resnet18", "vgg19")


@cache
def _single(name: str):
    """One-member model with seed 0 (read-only use: shared between tests)."""
    return build(name)


# ---------------------------------------------------------------------------------------------
# sizes


def _conv(cin: int, cout: int, k: int = 3) -> int:
    return cin * cout * k * k


def _expected_counts() -> dict[str, tuple[int, int]]:
    """(all weights, prunable weights) per model, computed from the Table 1 layer shapes."""
    lenet = 784 * 300 + 300 * 100 + 100 * 10

    def convnet(widths):
        total, cin, side = 0, 3, 32
        for w in widths:
            total += _conv(cin, w) + _conv(w, w)
            cin, side = w, side // 2
        total += cin * side * side * 256 + 256 * 256 + 256 * 10
        return total

    resnet_convs = _conv(3, 16)
    cin = 16
    for width in (16, 32, 64):
        for _ in range(3):
            resnet_convs += _conv(cin, width) + _conv(width, width)
            cin = width
    resnet_shortcuts = 16 * 32 + 32 * 64
    resnet_fc = 64 * 10

    vgg_convs, cin = 0, 3
    for item in models.VGG19_LAYOUT:
        if item != "pool":
            vgg_convs += _conv(cin, item)
            cin = item
    vgg_fc = 512 * 10
    return {
        "lenet": (lenet, lenet),
        "conv2": (convnet([64]),) * 2,
        "conv4": (convnet([64, 128]),) * 2,
        "conv6": (convnet([64, 128, 256]),) * 2,
        "resnet18": (resnet_convs + resnet_shortcuts + resnet_fc, resnet_convs),
        "vgg19": (vgg_convs + vgg_fc, vgg_convs),
    }


EXACT = {
    "lenet": (266_200, 266_200),
    "conv2": (4_300_992, 4_300_992),
    "conv4": (2_425_024, 2_425_024),
    "conv6": (2_261_184, 2_261_184),
    "resnet18": (270_896, 267_696),
    "vgg19": (20_024_000, 20_018_880),
}


def test_layer_shape_arithmetic_matches_the_stated_counts():
    assert _expected_counts() == EXACT


@pytest.mark.parametrize("name", NAMES)
def test_weight_counts_are_exact(name):
    counts = weight_counts(_single(name))
    assert (counts["weights"], counts["prunable"]) == EXACT[name]
    # parameters = weights + biases + batch-norm affine parameters
    assert counts["parameters"] > counts["weights"]
    assert counts["parameters"] == sum(row["count"] for row in layer_table(_single(name)))


def test_resnet_unprunable_weights_are_shortcuts_and_fc():
    model = _single("resnet18")
    params = dict(model.named_parameters())
    unpruned = {n: params[n][0].numel() for n in params
                if params[n].dim() >= 3 and n not in model.prunable}
    assert sorted(unpruned.values()) == [512, 640, 2048]
    assert sum(unpruned.values()) == 512 + 2048 + 640


@pytest.mark.parametrize(("name", "unit", "digits", "table1"), [
    ("lenet", "K", 0, "266K"), ("conv2", "M", 1, "4.3M"), ("conv4", "M", 1, "2.4M"),
    ("conv6", "M", 2, "2.26M"), ("vgg19", "M", 1, "20.0M"),
])
def test_counts_round_to_table_1(name, unit, digits, table1):
    scale = {"K": 1e3, "M": 1e6}[unit]
    assert f"{EXACT[name][0] / scale:.{digits}f}{unit}" == table1
    # the registry's Table 1 figure agrees with the architecture to the printed precision
    paper = REGISTRY[name].paper_weights
    assert abs(EXACT[name][0] - paper) <= 0.5 * scale * 10 ** -digits


def test_resnet_count_within_1_5_percent_of_table_1():
    # Table 1 prints 274K; the stated layers give 270,896.
    assert REGISTRY["resnet18"].paper_weights == 274_000
    assert abs(EXACT["resnet18"][0] - 274_000) / 274_000 < 0.015


def test_describe_models_lists_each_name_and_count():
    text = describe_models()
    lines = text.splitlines()
    for name in NAMES:
        row = [line for line in lines if line.split()[0] == name]
        assert len(row) == 1, name
        assert f"{EXACT[name][0]:,}" in row[0]
        assert f"{EXACT[name][1]:,}" in row[0]


# ---------------------------------------------------------------------------------------------
# prunable sets


@pytest.mark.parametrize("name", NAMES)
def test_biases_and_batch_norm_are_never_prunable(name):
    model = _single(name)
    bn_params = {f"{mod_name}.{p}" for mod_name, mod in model.named_modules()
                 if isinstance(mod, MemberBatchNorm2d) for p in ("weight", "bias")}
    params = dict(model.named_parameters())
    assert model.prunable, name
    for pname in model.prunable:
        assert pname in params
        assert not pname.endswith(".bias")
        assert pname not in bn_params
        assert params[pname].dim() >= 3  # (K, out, in[, k, k])
        assert model.prunable[pname] in models.PRUNE_KINDS
    assert set(model.prunable_weights()) == set(model.prunable)


def test_resnet_prunable_set():
    model = _single("resnet18")
    assert not any("shortcut" in n for n in model.prunable)
    assert "fc.weight" not in model.prunable
    assert set(model.prunable.values()) == {"conv"}
    assert len(model.prunable) == 1 + 9 * 2  # stem + two 3x3 convs per block


def test_vgg_prunable_set():
    model = _single("vgg19")
    assert "fc.weight" not in model.prunable
    assert set(model.prunable.values()) == {"conv"}
    assert len(model.prunable) == 16


def test_lenet_and_convnet_kinds():
    assert _single("lenet").prunable == {"fc1.weight": "fc", "fc2.weight": "fc",
                                         "fc3.weight": "output"}
    conv4 = _single("conv4").prunable
    assert [conv4[f"convs.{i}.weight"] for i in range(4)] == ["conv"] * 4
    assert (conv4["fc1.weight"], conv4["fc2.weight"], conv4["fc3.weight"]) == ("fc", "fc", "output")


def test_unknown_model_name_lists_the_choices():
    with pytest.raises(ValueError) as info:
        build("lenet5")
    for name in NAMES:
        assert name in str(info.value)


def test_seed_count_must_match_members():
    model = build("lenet", seeds=[0, 1])
    with pytest.raises(ValueError):
        model.initialize([0])


# ---------------------------------------------------------------------------------------------
# initialization


def test_same_seed_same_weights_different_seed_different():
    a, b, c = (build("resnet18", seeds=[s]) for s in (7, 7, 8))
    for (name, pa), pb, pc in zip(a.named_parameters(), b.parameters(), c.parameters(),
                                  strict=True):
        assert torch.equal(pa, pb), name
        if name in a.prunable:
            assert not torch.equal(pa, pc), name


def test_glorot_std_and_zero_biases():
    model = build("lenet", seeds=[3])
    for name, fan_in, fan_out in [("fc1", 784, 300), ("fc2", 300, 100)]:
        weight = getattr(model, name).weight.detach()
        expected = math.sqrt(2.0 / (fan_in + fan_out))
        assert weight.std().item() == pytest.approx(expected, rel=0.02), name
        assert abs(weight.mean().item()) < 0.05 * expected
        assert torch.count_nonzero(getattr(model, name).bias) == 0


def test_glorot_std_of_a_conv_uses_the_receptive_field():
    model = build("conv4", seeds=[0])
    weight = model.convs[3].weight.detach()  # 128 -> 128, 3x3
    expected = math.sqrt(2.0 / (128 * 9 + 128 * 9))
    assert weight.std().item() == pytest.approx(expected, rel=0.02)


def test_batch_norm_initialized_to_identity():
    model = build("resnet18", seeds=[0, 1])
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, MemberBatchNorm2d):
                module.weight.mul_(3)
                module.running_mean.add_(1)
    model.initialize([0, 1])
    for module in model.modules():
        if isinstance(module, MemberBatchNorm2d):
            assert torch.all(module.weight == 1) and torch.all(module.bias == 0)
            assert torch.all(module.running_mean == 0) and torch.all(module.running_var == 1)


# ---------------------------------------------------------------------------------------------
# member batching: member k of a K-member model == the model built alone with seed k

SEEDS = (11, 5, 23)
SMALL_INPUT = {"lenet": (1, 28, 28), "conv2": (3, 32, 32), "resnet18": (3, 16, 16),
               "vgg19": (3, 16, 16)}
EQUIV = tuple(SMALL_INPUT)


@cache
def _batched_and_alone(name: str):
    """The K=3 model and, per member index, the 1-member model built with that member's seed.

    VGG-19 (20M weights a member) is compared on its middle member only, to keep the tests fast.
    """
    shape = SMALL_INPUT[name]
    batched = build(name, seeds=SEEDS, input_shape=shape).eval()
    ks = (1,) if name == "vgg19" else range(len(SEEDS))
    alone = {k: build(name, seeds=[SEEDS[k]], input_shape=shape).eval() for k in ks}
    return batched, alone


@pytest.mark.parametrize("name", EQUIV)
def test_member_k_equals_model_built_alone(name):
    batched, alone = _batched_and_alone(name)
    for k, single in alone.items():
        state, ref = member_state(batched, k), member_state(single, 0)
        assert state.keys() == ref.keys()
        for key in ref:
            assert torch.equal(state[key], ref[key]), (name, k, key)
    # and the members are not copies of each other
    for weight in batched.prunable_weights().values():
        assert not torch.equal(weight[0], weight[1])
        assert not torch.equal(weight[1], weight[2])


def _assert_close(actual, expected, tol=1e-5):
    # plain allclose: torch.testing.assert_close costs seconds of lazy imports on first use
    assert actual.shape == expected.shape
    assert torch.allclose(actual, expected, rtol=tol, atol=tol), (actual - expected).abs().max()


@pytest.mark.parametrize("name", EQUIV)
def test_forward_per_member_input(name):
    batched, alone = _batched_and_alone(name)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn((len(SEEDS), 2, *SMALL_INPUT[name]), generator=gen)
    with torch.no_grad():
        out = batched(x)
        assert out.shape == (len(SEEDS), 2, 10)
        for k, single in alone.items():
            ref = single(x[k])
            assert ref.shape == (1, 2, 10)
            _assert_close(out[k], ref[0])
            # a (1, B, ...) per-member input is the same as the (B, ...) form for K = 1
            _assert_close(single(x[k : k + 1]), ref)
        # members see different inputs and have different weights: outputs must differ
        assert not torch.allclose(out[0], out[1])
        # member 1's output does not depend on member 0's input
        x2 = x.clone()
        x2[0] = -x2[0]
        changed = batched(x2)
        _assert_close(changed[1:], out[1:])
        assert not torch.allclose(changed[0], out[0])


@pytest.mark.parametrize("name", EQUIV)
def test_forward_shared_input(name):
    batched, alone = _batched_and_alone(name)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn((2, *SMALL_INPUT[name]), generator=gen)
    with torch.no_grad():
        out = batched(x)
        assert out.shape == (len(SEEDS), 2, 10)
        for k, single in alone.items():
            _assert_close(out[k], single(x)[0])
        # the shared input is the same as feeding each member its own copy
        _assert_close(out, batched(x.expand(len(SEEDS), *x.shape).contiguous()))


def _buffers(model):
    return {name: b.clone() for name, b in model.named_buffers()}


def _restore(model, buffers):
    with torch.no_grad():
        for name, b in model.named_buffers():
            b.copy_(buffers[name])
    model.eval()


@pytest.mark.parametrize("name", ("resnet18", "vgg19"))
def test_batch_norm_running_stats_per_member(name):
    batched, alone = _batched_and_alone(name)
    saved = {"batched": _buffers(batched)} | {k: _buffers(m) for k, m in alone.items()}
    gen = torch.Generator().manual_seed(2)
    x = torch.randn((len(SEEDS), 4, *SMALL_INPUT[name]), generator=gen) * 2 + 0.5
    try:
        batched.train()
        with torch.no_grad():
            out = batched(x)
            for k, single in alone.items():
                # train-mode batch norm over few values amplifies float32 rounding differences
                # between grouped and ungrouped convolutions, hence the looser tolerance
                _assert_close(out[k], single.train()(x[k])[0], tol=2e-3)
        for k, single in alone.items():
            state, ref = member_state(batched, k), member_state(single, 0)
            stats = [key for key in ref if key.endswith(("running_mean", "running_var"))]
            assert stats
            for key in stats:
                _assert_close(state[key], ref[key], tol=2e-3)
        # the statistics moved away from their initial values, differently per member
        bn = batched.bn if name == "resnet18" else batched.features[1]
        assert not torch.allclose(bn.running_mean, torch.zeros_like(bn.running_mean))
        assert not torch.allclose(bn.running_mean[0], bn.running_mean[1])
    finally:
        _restore(batched, saved["batched"])
        for k, m in alone.items():
            _restore(m, saved[k])


def test_load_member_state_roundtrip_and_mismatch():
    batched = build("conv2", seeds=[1, 2, 3], input_shape=(3, 8, 8))
    donor = build("conv2", seeds=[9], input_shape=(3, 8, 8))
    load_member_state(batched, 1, member_state(donor, 0))
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        _assert_close(batched(x)[1], donor(x)[0])
    untouched = build("conv2", seeds=[1, 2, 3], input_shape=(3, 8, 8))
    for key, value in member_state(untouched, 0).items():
        assert torch.equal(member_state(batched, 0)[key], value)
        assert torch.equal(member_state(batched, 2)[key], member_state(untouched, 2)[key])
    # member_state returns copies: changing them leaves the model alone
    state = member_state(batched, 1)
    state["fc3.weight"].zero_()
    assert torch.count_nonzero(batched.fc3.weight[1]) > 0
    broken = dict(state)
    del broken["fc3.bias"]
    with pytest.raises(KeyError):
        load_member_state(batched, 1, broken)


def test_convnet_dropout_option():
    model = build("conv2", seeds=[0], input_shape=(3, 8, 8), dropout=0.5)
    x = torch.randn(4, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        model.eval()
        assert torch.equal(model(x), model(x))
        model.train()
        torch.manual_seed(0)
        assert not torch.equal(model(x), model(x))
    with pytest.raises(ValueError):
        build("conv2", dropout=1.0)


@pytest.mark.parametrize("name", ["conv4", "resnet18", "vgg19"])
def test_channels_last_computes_the_same_function_and_gradients(name):
    torch.manual_seed(0)
    x = torch.randn(2, 8, 3, 32, 32, dtype=torch.float64)
    y = torch.randint(0, 10, (2, 8))

    def run(dtype, channels_last):
        model = build(name, [0, 1]).to(dtype)
        if channels_last:
            use_channels_last(model)
        logits = model(x.to(dtype))
        torch.nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten()).backward()
        return logits.double(), {n: p.grad.double() for n, p in model.named_parameters()}

    truth_logits, truth = run(torch.float64, False)
    nhwc_logits, nhwc = run(torch.float64, True)
    torch.testing.assert_close(nhwc_logits, truth_logits, atol=1e-12, rtol=0)
    for grad_name, grad in truth.items():  # float64: equal to rounding, a layout bug is O(1)
        torch.testing.assert_close(nhwc[grad_name], grad, atol=1e-10 * grad.abs().max(), rtol=0)
    logits32, grads32 = run(torch.float32, True)
    torch.testing.assert_close(logits32, truth_logits, atol=1e-4, rtol=0)
    for grad_name, grad in truth.items():  # float32 NHWC: within 1% of float64, by norm
        assert (grads32[grad_name] - grad).norm() <= 1e-2 * grad.norm() + 1e-12, grad_name
    conv = next(m for m in build(name, [0]).prunable)
    model = use_channels_last(build(name, [0, 1]))
    weight = dict(model.named_parameters())[conv]
    assert weight.flatten(0, 1).is_contiguous(memory_format=torch.channels_last)
