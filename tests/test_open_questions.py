"""Notebook 08's stage (lottery.studies.open_questions.study): the pruning recipes' defining
properties, the width and init lineages, the tables and statistics, on tiny synthetic runs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from lottery.core.experiments import Runner
from lottery.core.hparams import HparamError, TrainingHparams
from lottery.core.presets import resolve
from lottery.core.store import RunStore
from lottery.engine.analysis import lenet_activations
from lottery.engine.data import load
from lottery.engine.masks import Mask
from lottery.engine.variants import VARIANTS, ResetContext
from lottery.studies.open_questions.study import (
    FINE_TUNE,
    LR_REWIND,
    REWIND,
    OpenQuestionsStudy,
    at_equal_weights,
    finetune_training,
    gap_slope,
    gaps,
    information_gap,
    make_plan,
    validate_open,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_hp(**overrides):
    base = {"trials": 2, "levels": 2, "training__iterations": 30, "training__eval_every": 10,
            "training__test_curve": False}
    return resolve("lenet", "smoke", **(base | overrides))


@pytest.fixture(scope="module")
def data():
    return load("synthetic_mnist", device="cpu", val_size=500)


def study_of(hp, data, store, **plan):
    options = {"widths": [0.5, 1.0], "inits": ["glorot_normal", "orthogonal"], "rewind_k": 0,
               "finetune_fraction": 1.0, "info_level": 2, "info_inputs": 100,
               "info_noise": 0.1} | plan
    made = make_plan(hp, 50_000, "quick", **options)

    def runner(h, label):
        return Runner(h, store=store, data=data, device="cpu", progress=False)
    return OpenQuestionsStudy(hp, made, runner)


def test_lr_rewinding_starts_from_the_trained_weights_on_the_tickets_mask():
    init = {"w": torch.zeros(2, 2)}
    final = {"w": torch.tensor([[1.0, -2.0], [3.0, 4.0]])}
    mask = Mask({"w": torch.tensor([[1.0, 0.0], [1.0, 1.0]])})
    context = ResetContext(init=init, rewind=init, final=final, mask=mask, seed=0,
                           fresh_init=lambda s: init)
    state, got = VARIANTS[LR_REWIND](context)
    assert state is final and got is mask


def test_fine_tuning_keeps_the_final_learning_rate():
    decaying = TrainingHparams("sgd", 0.1, 100, 10, milestones=(50, 80), gamma=0.1, warmup=10)
    tuned = finetune_training(decaying)
    assert tuned.lr == pytest.approx(0.001) and tuned.milestones == () and tuned.warmup == 0
    assert {tuned.lr_at(i) for i in range(100)} == {tuned.lr}
    constant = TrainingHparams("adam", 1.2e-3, 100, 10)
    assert finetune_training(constant) == constant  # LeNet's schedule: fine-tune == lr rewind


def test_fine_tune_starts_from_exactly_the_masked_trained_weights(data, tmp_path):
    hp = tiny_hp()
    study = study_of(hp, data, RunStore(tmp_path), finetune_fraction=0.5)
    base, tuned = study.lineage(), study.finetuned()
    runner = study.finetune_runner()
    for level in (1, 2):
        for trial in range(hp.trials):
            member = study.finetune_network(base, runner, level, trial).build()
            parent = base.payloads[level - 1][trial]["final"]
            assert all(torch.equal(member.state[n], parent[n]) for n in parent)
            ticket = next(p for n, p in zip(base.networks[level], base.payloads[level],
                                            strict=True)
                          if n.labels == {"trial": trial, "level": level, "variant": "ticket"})
            kept = Mask.unpack(ticket["mask"])
            assert all(torch.equal(member.mask[n], kept[n]) for n in kept)
            # a zero-step fine-tune is the pruned trained network: the evaluation at its start
            # iteration (before any step) is the masked parent's validation accuracy
            history = pd.DataFrame(tuned.payloads[level][trial]["history"])
            first = history.iloc[0]
            assert first.iteration == hp.training.iterations - study.plan.finetune_iterations
            masked = {n: parent[n] * member.mask[n] if n in member.mask else parent[n]
                      for n in parent}
            logits = lenet_activations(masked, data.val.x)["fc3"]
            accuracy = float((logits.argmax(1) == data.val.y).float().mean())
            assert first.val_acc == pytest.approx(accuracy, abs=1e-6)


def test_full_budget_fine_tuning_equals_lr_rewinding_under_a_constant_schedule(data, tmp_path):
    hp = tiny_hp()
    study = study_of(hp, data, RunStore(tmp_path), finetune_fraction=1.0)
    table = study.recipe_table()
    pair = table[table.recipe.isin((FINE_TUNE, LR_REWIND))].pivot_table(
        index=["trial", "level"], columns="recipe", values="final_test_acc")
    assert len(pair) == 4
    assert (pair[FINE_TUNE] == pair[LR_REWIND]).all()
    ticket = table[(table.recipe == "ticket") & (table.level > 0)]
    assert not np.allclose(ticket.final_test_acc.to_numpy(),
                           pair[LR_REWIND].to_numpy())  # different starting weights


def test_recipe_costs_count_the_mask_search_and_the_own_training(data, tmp_path):
    hp = tiny_hp(levels=2)
    study = study_of(hp, data, RunStore(tmp_path), rewind_k=20_000, finetune_fraction=0.5)
    assert study.plan.rewind_k == 12 and study.plan.finetune_iterations == 15
    t = 30
    assert study.cost("ticket", 2) == 3 * t           # dense, level 1, then its own
    assert study.cost("reinit", 2) == 3 * t
    assert study.cost(FINE_TUNE, 2) == 2 * t + 15
    assert study.cost(REWIND, 2) == t + (t - 12) + (t - 12)
    assert study.cost("random_mask", 2) == t        # a random mask needs no search
    table = study.recipe_table()
    assert set(table.recipe) == {"ticket", REWIND, FINE_TUNE, LR_REWIND, "reinit",
                                 "random_mask"}
    rewound = table[table.recipe == REWIND]
    assert set(rewound.level) == {1, 2}


def test_width_lineages_count_remaining_weights_per_width(data, tmp_path):
    study = study_of(tiny_hp(), data, RunStore(tmp_path))
    table = study.width_table()
    dense = table[table.level == 0].groupby("width").remaining_weights.first()
    assert dense[1.0] == 784 * 300 + 300 * 100 + 1000
    assert dense[0.5] == 784 * 150 + 150 * 50 + 500
    level2 = table[(table.level == 2) & (table.variant == "ticket")]
    expected = {w: round(0.64 * (784 * h1 + h1 * h2) + 0.81 * h2 * 10)
                for w, (h1, h2) in {1.0: (300, 100), 0.5: (150, 50)}.items()}
    for w, count in expected.items():
        assert abs(int(level2[level2.width == w].remaining_weights.iloc[0]) - count) <= 2
    inits = study.init_table()
    assert set(inits.init) == {"glorot_normal", "orthogonal"}
    assert set(inits.variant) == {"ticket", "reinit"}


def test_the_information_plane_reads_dense_ticket_and_reinit_over_training(data, tmp_path):
    study = study_of(tiny_hp(), data, RunStore(tmp_path))
    info = study.information()
    assert set(info.network) == {"dense", "ticket", "reinit"}
    assert set(info.estimator) == {"noisy", "binned 30"}
    assert set(info.iteration) == {*study.plan.info_points, 30}
    noisy = info[info.estimator == "noisy"]
    assert (noisy["I(X;T)"] <= np.log2(100) + 1e-6).all() and (noisy["I(T;Y)"] >= -0.05).all()
    assert len(information_gap(info)) == 2


def test_statistics_on_a_known_table():
    rows = []
    for trial in (0, 1):
        for width, total in ((1.0, 1000), (2.0, 2000)):
            for level, frac in ((0, 1.0), (1, 0.5), (2, 0.25)):
                count = int(total * frac)
                # wider: +1 pp at equal weights; gap = 2 pp at width 1, 4 pp at width 2
                acc = 0.9 + 0.01 * np.log2(count / 250) + (0.01 if width == 2.0 else 0.0)
                rows.append({"trial": trial, "width": width, "level": level,
                             "variant": "ticket", "remaining_weights": count,
                             "percent_remaining": 100 * frac, "early_stop_test_acc": acc})
                if level:
                    gap = 0.02 * width
                    rows.append(rows[-1] | {"variant": "reinit",
                                            "early_stop_test_acc": acc - gap})
    table = pd.DataFrame(rows)
    diff = at_equal_weights(table, "early_stop_test_acc")
    assert set(diff.remaining_weights) == {500, 1000}
    assert diff.difference.to_numpy() == pytest.approx([0.01] * 4)
    assert gaps(table, "width").groupby("width").gap.mean().to_dict() == pytest.approx(
        {1.0: 2.0, 2.0: 4.0})
    assert gap_slope(table).to_numpy() == pytest.approx([2.0, 2.0])


def test_bad_parameters_are_one_error_line():
    good = {"widths": [0.5, 1, 2], "inits": ["glorot_normal"], "rewind_k": 0,
            "finetune_fraction": 0.25, "info_level": 3, "info_inputs": 500, "info_noise": 0.1,
            "quick_iterations": 2000, "quick_rounds": 6}
    validate_open(**good)
    for name, bad in (("widths", [0.5, 2]), ("widths", [0, 1]), ("inits", ["xavier"]),
                      ("finetune_fraction", 0), ("info_noise", -1), ("info_level", 0),
                      ("quick_rounds", 1.5)):
        with pytest.raises(HparamError, match=f"parameter {name}"):
            validate_open(**(good | {name: bad}))
