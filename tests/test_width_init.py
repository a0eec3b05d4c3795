"""The width multiplier and the initialization schemes (notebook 08): keys unchanged at their
defaults, the sizes a width gives, and each scheme's spread against its formula."""

import dataclasses
import math

import pytest
import torch

from lottery.core.hparams import HparamError, ModelHparams, fingerprint, to_dict
from lottery.core.presets import PRESETS
from lottery.core.store import RunStore
from lottery.engine.init_schemes import SCHEMES, expected_std, initialize_
from lottery.engine.members import glorot_normal_
from lottery.engine.models import build, weight_counts
from lottery.run.estimate import offline_runner

# fingerprints and store folders computed at commit 36ec152, before width and init existed
BEFORE = {"lenet": ("ce60c155e1acf86f", "lenet-mnist/1045d33bb31137e9/dense",
                    "ticket-t0-9086eb0530b45838"),
          "conv2_dropout": ("6a16e2de7f09b671", "conv2-cifar10/98eeba9d92c65562/dense",
                            "ticket-t0-b14e104ad99d54f2"),
          "vgg19": ("9b6cbed1661ff67a", "vgg19-cifar10/951942ae59e68fac/dense",
                    "ticket-t0-d00759f3e7354de2")}


@pytest.mark.parametrize("preset", sorted(BEFORE))
def test_default_width_and_init_keep_every_stored_key(preset, tmp_path):
    hp = PRESETS[preset]
    explicit = hp.replace(model__width=1, model__init="glorot_normal")
    for h in (hp, explicit):
        assert "width" not in to_dict(h.model) and "init" not in to_dict(h.model)
        assert fingerprint(to_dict(h)) == BEFORE[preset][0]
        net = offline_runner(h, RunStore(tmp_path)).dense_networks()[0]
        assert net.path == BEFORE[preset][1:]


def test_a_width_or_scheme_enters_the_key():
    hp = PRESETS["lenet"]
    keys = {fingerprint(to_dict(hp)), fingerprint(to_dict(hp.replace(model__width=2.0))),
            fingerprint(to_dict(hp.replace(model__init="orthogonal")))}
    assert len(keys) == 3
    assert ModelHparams("lenet", width=2, init="orthogonal").options() == {
        "width": 2.0, "init": "orthogonal"}
    assert ModelHparams("conv2", dropout=0.5).options() == {"dropout": 0.5}


@pytest.mark.parametrize("width,counts", [
    (1.0, (784 * 300, 300 * 100, 100 * 10)),
    (2.0, (784 * 600, 600 * 200, 200 * 10)),
    (0.25, (784 * 75, 75 * 25, 25 * 10)),
    (4.0, (784 * 1200, 1200 * 400, 400 * 10))])
def test_lenet_width_scales_both_hidden_layers(width, counts):
    model = build("lenet", width=width)
    shapes = [tuple(model.prunable_weights()[f"fc{i}.weight"].shape[1:]) for i in (1, 2, 3)]
    assert [math.prod(s) for s in shapes] == list(counts)
    assert weight_counts(model)["prunable"] == sum(counts)


def test_conv_width_scales_channels_and_hidden_fc():
    model = build("conv2", width=0.5)
    counts = {n: p[0].numel() for n, p in model.prunable_weights().items()}
    # convs 3->32, 32->32 (3x3); fc 32*16*16 -> 128 -> 128 -> 10
    assert counts == {"convs.0.weight": 3 * 32 * 9, "convs.1.weight": 32 * 32 * 9,
                      "fc1.weight": 32 * 16 * 16 * 128, "fc2.weight": 128 * 128,
                      "fc3.weight": 1280}
    out = model(torch.zeros(2, 3, 32, 32))
    assert out.shape == (1, 2, 10)


def test_width_is_validated():
    for bad in (0, -1.0, float("nan"), True):
        with pytest.raises(HparamError, match="model.width"):
            ModelHparams("lenet", width=bad)
    with pytest.raises(HparamError, match="model.width"):
        ModelHparams("resnet18", width=2.0)
    with pytest.raises(HparamError, match="model.init"):
        ModelHparams("lenet", init="xavier")


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
@pytest.mark.parametrize("shape", [(400, 1000), (64, 32, 3, 3)])
def test_each_scheme_draws_the_std_of_its_formula(scheme, shape):
    weight = torch.empty(shape)
    initialize_(weight, torch.Generator().manual_seed(0), scheme)
    fan_in = shape[1] * math.prod(shape[2:])
    fan_out = shape[0] * math.prod(shape[2:])
    formula = {"glorot_normal": math.sqrt(2 / (fan_in + fan_out)),
               "glorot_normal_x2": 2 * math.sqrt(2 / (fan_in + fan_out)),
               "kaiming_normal": math.sqrt(2 / fan_in), "kaiming_uniform": math.sqrt(2 / fan_in),
               "orthogonal": 1 / math.sqrt(max(shape[0], fan_in))}[scheme]
    assert expected_std(scheme, shape) == pytest.approx(formula)
    assert float(weight.std()) == pytest.approx(formula, rel=0.02)  # >= 18K draws: ~1% spread
    assert abs(float(weight.mean())) < 0.02 * formula


def test_scheme_specific_shapes_of_the_draws():
    g = torch.Generator().manual_seed(1)
    w = initialize_(torch.empty(300, 784), g, "orthogonal").double()
    assert torch.allclose(w @ w.T, torch.eye(300, dtype=torch.float64), atol=1e-5)
    tall = initialize_(torch.empty(784, 300), g, "orthogonal").double()
    assert torch.allclose(tall.T @ tall, torch.eye(300, dtype=torch.float64), atol=1e-5)
    u = initialize_(torch.empty(300, 784), g, "kaiming_uniform")
    assert float(u.abs().max()) <= math.sqrt(6 / 784)


def test_the_default_scheme_is_the_papers_draw_and_schemes_differ():
    glorot = torch.empty(100, 784)
    glorot_normal_(glorot, torch.Generator().manual_seed(3))
    again = initialize_(torch.empty(100, 784), torch.Generator().manual_seed(3))
    assert torch.equal(glorot, again)
    a, b = build("lenet", seeds=[5]), build("lenet", seeds=[5], init="glorot_normal")
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    c = build("lenet", seeds=[5], init="kaiming_normal")
    d = build("lenet", seeds=[5], init="kaiming_normal")
    assert not torch.equal(a.fc1.weight, c.fc1.weight)
    assert torch.equal(c.fc1.weight, d.fc1.weight)
    assert float(c.fc1.bias.detach().abs().max()) == 0.0


def test_a_runner_builds_its_networks_with_the_scheme(tmp_path):
    hp = PRESETS["lenet"].replace(model__init="kaiming_normal", model__width=0.5)
    runner = offline_runner(hp, RunStore(tmp_path))
    init = runner.fresh_init(0)
    assert tuple(init["fc1.weight"].shape) == (150, 784)
    assert float(init["fc1.weight"].std()) == pytest.approx(math.sqrt(2 / 784), rel=0.02)
    assert dataclasses.asdict(hp.model)["init"] == "kaiming_normal"
