"""Bring your own model (issue #28): IMP, controls, held masks, batched members, the store,
torch.nn.utils.prune interop, on an MLP, a CNN with batch norm, a residual block and an
nn.Sequential (tests/own_model_nets.py)."""

from __future__ import annotations

import copy

import pytest
import torch
from own_model_nets import NETS, data, make
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from lottery.engine.masks import Mask
from lottery.engine.pruning import random_mask_like
from lottery.studies.own_model import search as own_model
from lottery.studies.own_model import training as own_model_training
from lottery.studies.own_model.data import TensorData
from lottery.studies.own_model.masks import (
    apply_mask,
    from_torch_prune,
    hold_pruned,
    prunable_weights,
    remove_torch_prune,
    to_torch_prune,
)
from lottery.studies.own_model.members import Group, module_state, probe
from lottery.studies.own_model.search import Pruning, find_ticket, fresh_init
from lottery.studies.own_model.store import architecture_fingerprint
from lottery.studies.own_model.training import Budget, Member, train_group

ALL = list(NETS)
SMALL = Pruning(rates={"conv": 0.3, "fc": 0.5, "output": 0.2})


def search(name, tmp_path=None, model=None, **kw):
    x, y = data()
    settings = dict(val=(x[160:200], y[160:200]), test=(x[200:], y[200:]), iterations=12,
                    batch_size=16, eval_every=4, levels=2, pruning=SMALL, progress=False,
                    store=None if tmp_path is None else tmp_path)
    return find_ticket(model or make(name), (x[:160], y[:160]), **(settings | kw))


def pruned_values(state, mask):
    return torch.cat([state[n][~m].flatten() for n, m in mask.items()])


@pytest.mark.parametrize("name", ALL)
def test_imp_levels_controls_and_pruned_weights_exactly_zero(name):
    model = make(name)
    result = search(name, trials=2, model=model)
    untouched = module_state(make(name))  # the user's module is left as it was
    assert all(torch.equal(t, untouched[n]) for n, t in module_state(model).items())
    frame = result.results
    assert sorted(frame.variant.unique()) == ["random_mask", "reinit", "ticket"]
    assert len(frame) == 2 * (1 + 2 * 3) and frame.early_stop_test_acc.between(0, 1).all()
    for (trial, level, variant), net in result.networks.items():
        mask = result.masks[trial, level, variant]
        assert pruned_values(net.final, mask).abs().max() == 0 if level else True
        assert mask.alive() == result.masks[trial, level, "ticket"].alive()
    m1, m2 = result.mask(1), result.mask(2)
    assert m2.is_subset_of(m1) and m2.alive() < m1.alive()
    assert pruned_values(module_state(result.ticket()), m2).abs().max() == 0


def test_tickets_restart_from_init_or_rewind_point_and_controls_keep_their_definition():
    reset = search("bn_cnn", rewind_to=0)
    init = module_state(make("bn_cnn"))
    for name in reset.prunable:
        assert torch.equal(reset.starts[0, 2, "ticket"][name], init[name])
        assert torch.equal(reset.starts[0, 2, "random_mask"][name], init[name])
        assert not torch.equal(reset.starts[0, 2, "reinit"][name], init[name])
    ticket, random = reset.mask(2), reset.mask(2, variant="random_mask")
    assert {n: int(m.sum()) for n, m in ticket.items()} == \
        {n: int(m.sum()) for n, m in random.items()}
    assert any(not torch.equal(ticket[n], random[n]) for n in ticket)
    rewound = search("bn_cnn", rewind_to=4)
    snapshot = rewound.networks[0, 0, "ticket"].snapshot
    assert all(torch.equal(rewound.starts[0, 1, "ticket"][n], snapshot[n]) for n in snapshot)
    assert not torch.equal(snapshot["conv.weight"], init["conv.weight"])


def test_layerwise_rates_by_kind_and_name_and_global_ranking():
    result = search("mlp", levels=1, pruning=Pruning(rates={"fc": 0.5, "output": 0.2,
                                                             "fc2.weight": 0.25}))
    mask = result.mask(1)
    assert int(mask["fc1.weight"].sum()) == 64 * 24 // 2
    assert int(mask["fc2.weight"].sum()) == 24 * 3 - round(0.25 * 72)
    glob = search("mlp", levels=1, pruning=Pruning(strategy="global", global_rate=0.4))
    assert glob.mask(1).alive() == round(0.6 * (64 * 24 + 24 * 3))
    only = search("mlp", levels=1, pruning=Pruning(layers=("fc1",)))
    assert list(only.mask(1)) == ["fc1.weight"]


@pytest.mark.parametrize("make_optimizer", [
    lambda p: torch.optim.Adam(p, lr=0.05),
    lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.01)],
    ids=["adam", "sgd_momentum_decay"])
def test_pruned_weights_get_no_update_and_naive_masking_drifts(make_optimizer):
    """The classic bug: zeroing weights once lets momentum, decay and Adam's moments move them.
    Held masks keep them at exactly zero, gradients and optimizer state included."""
    x, y = data()
    model = make("bn_cnn")
    mask = random_mask_like(Mask.dense({n: p.shape for n, p in model.named_parameters()
                                        if n.endswith("weight") and p.dim() > 1}), seed=1)
    mask = Mask({n: m & (torch.rand(m.shape) < 0.5) for n, m in mask.items()})
    params = dict(model.named_parameters())
    naive, held = copy.deepcopy(model), copy.deepcopy(model)
    apply_mask(naive, mask)
    apply_mask(held, mask)
    for net, hold in ((naive, False), (held, True)):
        optimizer = make_optimizer(net.parameters())
        named = dict(net.named_parameters())
        for step in range(8):
            loss = nn.functional.cross_entropy(net(x[step * 16:(step + 1) * 16]),
                                               y[step * 16:(step + 1) * 16])
            loss.backward()
            if hold:
                hold_pruned([named[n] for n in mask], [mask[n].float() for n in mask],
                            optimizer.step)
            else:
                optimizer.step()
            optimizer.zero_grad()
        state = module_state(net)
        drift = pruned_values(state, mask).abs().max()
        assert (drift == 0) if hold else (drift > 0)
    for n in mask:  # momentum buffers and Adam's moments saw no pruned gradient
        moments = [v for v in optimizer.state[named[n]].values()
                   if torch.is_tensor(v) and v.shape == params[n].shape]
        assert moments and all(t[~mask[n]].abs().max() == 0 for t in moments)


@pytest.mark.parametrize("name", ALL)
def test_members_batched_equal_members_trained_alone(name):
    """vmap computes the same members as one at a time, to float rounding (not bit for bit:
    batched convolutions and matmuls sum in another order): atol 1e-5 after 15 steps."""
    x, y = data()
    module = make(name)
    names = list(prunable_weights(module))
    starts = [module_state(module), fresh_init(module, 1), fresh_init(module, 2)]
    masks = [Mask.dense({n: starts[0][n].shape for n in names}),
             *[random_mask_like(Mask.dense({n: starts[0][n].shape for n in names}), s)
               for s in (1, 2)]]
    members = [Member(s, m, order_seed=k)
               for k, (s, m) in enumerate(zip(starts, masks, strict=True))]
    train, val = TensorData(x[:160], y[:160]), TensorData(x[160:], y[160:])
    budget = Budget(15, batch_size=16, eval_every=5)

    def run(group, chosen):
        return train_group(group, chosen, lambda p: torch.optim.Adam(p, lr=0.01), train,
                           budget, val=val, test=val, progress=False)

    batched = run(Group.of(module, starts, "cpu", True, nn.functional.cross_entropy), members)
    for k, member in enumerate(members):
        alone = run(Group.of(module, [member.start], "cpu", False,
                             nn.functional.cross_entropy), [member])[0]
        for tensor_name, value in alone.final.items():
            assert torch.allclose(batched[k].final[tensor_name].float(), value.float(),
                                  rtol=1e-4, atol=1e-5), tensor_name
        assert batched[k].metrics["early_stop_iteration"] == alone.metrics[
            "early_stop_iteration"]


def test_group_alone_is_the_users_module_trained_plainly():
    """The fallback path is the module as the user runs it: same steps, same numbers."""
    x, y = data()
    module = make("bn_cnn")
    member = Member(module_state(module), Mask.dense({"conv.weight": (6, 1, 3, 3)}), 3)
    train = TensorData(x, y)
    out = train_group(Group.of(module, [member.start], "cpu", False,
                               nn.functional.cross_entropy), [member],
                      lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9), train,
                      Budget(6, batch_size=16), progress=False)[0]
    plain = copy.deepcopy(module).train()
    optimizer = torch.optim.SGD(plain.parameters(), lr=0.1, momentum=0.9)
    for step in range(6):
        index = train.indices(3, step, 16)
        nn.functional.cross_entropy(plain(x[index]), y[index]).backward()
        optimizer.step()
        optimizer.zero_grad()
    for name, value in module_state(plain).items():
        assert torch.allclose(out.final[name].float(), value.float(), rtol=1e-5, atol=1e-6)


class Noisy(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 3)
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        return self.fc(self.drop(x.flatten(1)))


def test_a_module_vmap_cannot_run_trains_one_at_a_time_with_one_line(capsys):
    x, y = data()
    assert probe(make("residual"), x[:8], y[:8], nn.functional.cross_entropy,
                 lambda p: torch.optim.Adam(p)) is None
    assert "random" in probe(Noisy(), x[:8], y[:8], nn.functional.cross_entropy,
                             lambda p: torch.optim.Adam(p))
    assert "LBFGS" in probe(make("mlp"), x[:8], y[:8], nn.functional.cross_entropy,
                            lambda p: torch.optim.LBFGS(p))
    torch.manual_seed(0)
    result = find_ticket(Noisy(), (x, y), iterations=4, levels=1, store=None, progress=False)
    lines = [line for line in capsys.readouterr().err.splitlines() if "own model" in line]
    assert len(lines) == 1 and "one at a time" in lines[0] and "random" in lines[0]
    assert len(result.networks) == 4
    with pytest.raises(ValueError, match="cannot be vectorized"):
        find_ticket(Noisy(), (x, y), iterations=4, levels=1, store=None, batched=True)


def test_stored_networks_load_resume_and_never_serve_a_changed_model(tmp_path, monkeypatch):
    calls = []
    real = own_model_training.train_group

    def counting(group, members, *args, **kw):
        calls.append(len(members))
        return real(group, members, *args, **kw)

    monkeypatch.setattr(own_model, "train_group", counting)
    first = search("mlp", tmp_path, levels=1)
    assert calls == [1, 3]
    again = search("mlp", tmp_path, levels=2)  # levels 0-1 loaded: a stopped search resumes
    assert calls == [1, 3, 3]
    assert again.results.iloc[:4].equals(first.results)
    search("mlp", tmp_path, levels=2, iterations=13)  # another budget: another recipe
    assert calls[3:] == [1, 3, 3]
    x, y = data()
    wider = find_ticket(NETS["mlp"](hidden=25), (x[:160], y[:160]),
                        iterations=12, batch_size=16, levels=0, store=tmp_path, progress=False)
    assert calls[-1] == 1 and len(wider.networks) == 1
    tanh = make("mlp")
    assert architecture_fingerprint(tanh) == architecture_fingerprint(make("mlp", seed=5))
    tanh.extra = nn.Tanh()  # a module with no parameter still changes the architecture
    assert architecture_fingerprint(tanh) != architecture_fingerprint(make("mlp"))


def test_masks_round_trip_through_torch_nn_utils_prune():
    result = search("residual", levels=1)
    mask = result.mask(1)
    x, _ = data(16)
    theirs = to_torch_prune(copy.deepcopy(result.ticket(trained=False)), mask)
    assert all(hasattr(theirs.get_submodule(n.removesuffix(".weight")), "weight_mask")
               for n in mask)
    back = from_torch_prune(theirs)
    assert list(back) == list(mask) and all(torch.equal(back[n], mask[n]) for n in mask)
    ours = result.ticket(trained=False).eval()
    assert torch.allclose(theirs.eval()(x), ours(x))
    plain = remove_torch_prune(theirs)
    assert not any(hasattr(m, "weight_orig") for m in plain.modules())
    assert pruned_values(module_state(plain), mask).abs().max() == 0


def test_a_dataloader_trains_every_member_on_the_same_batches():
    x, y = data()
    loader = DataLoader(TensorDataset(x[:160], y[:160]), batch_size=16, shuffle=True)
    one = find_ticket(make("sequential"), loader, val=(x[160:], y[160:]), iterations=14,
                      levels=1, store=None, progress=False)
    two = find_ticket(make("sequential"), loader, val=(x[160:], y[160:]), iterations=14,
                      levels=1, store=None, progress=False)
    assert one.results.equals(two.results)  # the loader's shuffle is seeded: reruns agree


@pytest.mark.parametrize(("kw", "message"), [
    ({"iterations": 0}, "iterations must be an integer >= 1"),
    ({"rewind_to": 12}, "rewind_to must be an iteration"),
    ({"controls": ("negated",)}, "unknown controls"),
    ({"pruning": Pruning(criterion="largest")}, "unknown pruning criterion"),
    ({"pruning": Pruning(rates={"fc": 1.5})}, "pruning rate fc must be in"),
    ({"pruning": Pruning(layers=("fc9",))}, "not prunable layers"),
    ({"levels": 40}, "levels must be at most"),
    ({"val": [1, 2, 3]}, "val must be")])
def test_bad_settings_fail_in_one_line_before_training(kw, message):
    with pytest.raises(ValueError, match=message) as caught:
        search("mlp", **kw)
    assert "\n" not in str(caught.value)
