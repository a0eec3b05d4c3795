"""The mask-transplant study (the README's worked example of adding a study): its defining
property, its caching, its one-line errors and its command."""

from __future__ import annotations

import pytest
import torch

from lottery.core.experiments import Runner, init_seed
from lottery.core.hparams import HparamError
from lottery.core.presets import resolve
from lottery.core.store import RunStore
from lottery.run import cli
from lottery.studies.transplant.study import VARIANT, transplant, transplant_networks


def runner(tmp_path, trials: int = 2) -> Runner:
    hp = resolve("lenet", "smoke", trials=trials, levels=2, controls=("reinit",),
                 training__iterations=20, training__eval_every=10)
    return Runner(hp, store=RunStore(tmp_path), progress=False)


def test_a_transplant_is_the_ticket_mask_on_the_next_trials_init(tmp_path):
    r = runner(tmp_path)
    imp = r.imp()
    nets = transplant_networks(r, [2], lambda t, level: imp.masks[(t, level)])
    assert [n.labels["trial"] for n in nets] == [0, 1]
    for net in nets:
        t = net.labels["trial"]
        member = net.build()
        donor = r.fresh_init(init_seed(r.hp, (t + 1) % r.hp.trials))
        own = r.fresh_init(init_seed(r.hp, t))
        mask = imp.masks[(t, 2)]
        assert all(torch.equal(member.mask[k], mask[k]) for k in mask)
        assert all(torch.equal(member.state[k], donor[k]) for k in donor)
        assert not all(torch.equal(member.state[k], own[k]) for k in own)  # not the ticket


def test_the_table_holds_ticket_controls_and_transplants_and_a_rerun_trains_nothing(
        tmp_path, trained):
    result = transplant(runner(tmp_path), [1, 2])
    rows = result.results[result.results.variant == VARIANT]
    assert sorted(zip(rows.level, rows.trial, strict=True)) == [(1, 0), (1, 1), (2, 0), (2, 1)]
    # a transplant keeps its ticket's density exactly
    tickets = result.results[result.results.variant == "ticket"].set_index(["level", "trial"])
    for _, row in rows.iterrows():
        assert row.density == tickets.loc[(row.level, row.trial), "density"]
    trained.clear()
    again = transplant(runner(tmp_path), [1, 2])
    assert trained == [] and again.results.equals(result.results)


def test_one_trial_or_a_missing_level_is_one_error_before_training(tmp_path, trained):
    with pytest.raises(HparamError, match="at least 2"):
        transplant(runner(tmp_path, trials=1), [1])
    with pytest.raises(HparamError, match="between 1 and"):
        transplant(runner(tmp_path), [5])
    assert trained == []


def test_the_command_comes_from_the_registry_and_fails_in_one_line(capsys, tmp_path):
    code = cli.main(["transplant", "--preset", "lenet", "--profile", "smoke", "--trials", "1",
                     "--runs", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1 and len(err.strip().splitlines()) == 1 and "at least 2" in err
