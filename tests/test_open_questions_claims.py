"""Notebook 08's verdicts and its generated closing note, on tables with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lottery.open_questions_answers import answers, reading
from lottery.open_questions_claims import INFO, INIT, RECIPES, WIDTH
from lottery.report import paper_vs_ours, verdicts

NB = "08_open_questions"


def width_table(wider_gain=0.01, gap_per_width=0.02):
    rows = []
    for trial in (0, 1):
        for width, total in ((1.0, 1000), (2.0, 2000), (4.0, 4000)):
            for level, frac in ((0, 1.0), (1, 0.5), (2, 0.25)):
                count = int(total * frac)
                acc = (0.9 + 0.01 * np.log2(count / 250) + wider_gain * np.log2(width)
                       + 0.001 * trial)
                base = {"trial": trial, "width": width, "level": level, "variant": "ticket",
                        "remaining_weights": count, "percent_remaining": 100 * frac,
                        "early_stop_test_acc": acc,
                        "early_stop_iteration": 500 - 10_000 * wider_gain * np.log2(width),
                        "eval_every": 100}
                rows.append(base)
                if level:
                    rows.append(base | {"variant": "reinit",
                                        "early_stop_test_acc": acc - gap_per_width * width})
    return pd.DataFrame(rows)


def init_table(gap=0.01):
    rows = []
    for scheme in ("glorot_normal", "orthogonal"):
        for trial in (0, 1):
            for level in (0, 1, 2):
                acc = 0.97 + 0.001 * trial
                rows.append({"init": scheme, "trial": trial, "level": level, "variant": "ticket",
                             "percent_remaining": 100 * 0.8 ** level, "early_stop_test_acc": acc})
                if level:
                    rows.append(rows[-1] | {"variant": "reinit",
                                            "early_stop_test_acc": acc - gap})
    return pd.DataFrame(rows)


def recipe_table():
    accs = {"ticket": 0.975, "rewind": 0.976, "fine_tune": 0.972, "lr_rewind": 0.978,
            "reinit": 0.965, "random_mask": 0.960}
    rows = [{"recipe": r, "trial": t, "level": 2, "percent_remaining": 64.0,
             "early_stop_test_acc": a + 0.0005 * t, "cost_trainings": 3.0}
            for r, a in accs.items() for t in (0, 1)]
    return pd.DataFrame(rows)


def info_table(gap=0.3):
    rows = []
    for trial in (0, 1):
        for network, ity in (("dense", 2.5), ("ticket", 2.5 + gap), ("reinit", 2.5)):
            for layer in ("fc1", "fc2", "fc3"):
                rows += [{"network": network, "trial": trial, "iteration": 1000, "layer": layer,
                          "estimator": "noisy", "I(X;T)": 6.0 + 0.01 * trial, "I(T;Y)": ity,
                          "inputs": 2000},
                         {"network": network, "trial": trial, "iteration": 1000, "layer": layer,
                          "estimator": "binned 30", "I(X;T)": np.log2(2000), "I(T;Y)": 3.32,
                          "inputs": 2000}]
    return pd.DataFrame(rows)


def results(**tables):
    return {WIDTH: width_table(), INIT: init_table(), RECIPES: recipe_table(),
            INFO: info_table()} | tables


def test_each_reading_follows_its_known_answer():
    table = paper_vs_ours(NB, results(), "quick", synthetic=False)
    by = dict(zip(table.claim, table.direction, strict=True))
    assert by["width: wider minus narrower ticket at equal remaining weights, test acc at early "
              "stop (pp)"].startswith("pass")
    assert by["width: wider minus narrower ticket at equal remaining weights, early-stop "
              "iteration"].startswith("pass")
    assert by["width: ticket - reinit gap per doubling of width (pp)"].startswith("pass")
    assert by["init orthogonal: ticket - reinit, test acc at early stop, mean over pruned "
              "levels (pp)"].startswith("pass")
    assert by["recipes, sparsest level: fine-tune minus random reinit (pp)"].startswith("pass")
    assert by["recipes, sparsest level: lr rewinding minus reset-to-init ticket (pp)"
              ].startswith("pass")
    assert by["information plane: log2(inputs) minus binned (30 bins) I(X;T), dense fc1 at the "
              "end (bits; 0 = saturated)"].startswith("pass")
    assert by["information plane: ticket minus reinit I(T;Y), fc2 at the end (bits, noisy "
              "estimator)"].startswith("pass")
    # schemes not run are listed as not measured, never judged
    assert by["init kaiming_uniform: ticket - reinit, test acc at early stop, mean over pruned "
              "levels (pp)"] == "n/a"
    assert (table.number == "n/a").all()  # no paper gives these numbers


def test_the_opposite_tables_fail():
    flipped = results(**{WIDTH: width_table(wider_gain=-0.01, gap_per_width=-0.02),
                         INIT: init_table(gap=-0.01), INFO: info_table(gap=-0.3)})
    table = paper_vs_ours(NB, flipped, "quick", synthetic=False)
    failing = table[table.direction.str.startswith("fail")].claim
    assert sum(c.startswith("width:") for c in failing) == 3
    assert any(c.startswith("init glorot_normal") for c in failing)
    assert any(c.startswith("information plane: ticket minus reinit") for c in failing)


def test_the_closing_note_quotes_the_numbers_and_reads_the_intervals():
    note = answers(results(), "quick", comparable=True)
    assert note.count("**yes**") >= 6
    assert "**Width.**" in note and "**Initialization.**" in note
    assert "**Pruning recipes** at 64.0%" in note and "lr rewinding 97.82%" in note
    assert "+1.00 ± " in note  # wider minus narrower: 1 pp at equal weights
    assert "-100.00 ± 100.00 iterations" in note  # one evaluation interval is the floor
    smoke = answers(results(), "smoke", comparable=False)
    assert "**yes**" not in smoke and "synthetic stand-in" in smoke


def test_reading_an_interval():
    (v,) = [v for v in verdicts(NB, results(), "quick", synthetic=False)
            if v.claim.claim.startswith("width: ticket - reinit gap")]
    assert reading(v, True) == "**yes**"
    unsettled = type(v)(v.claim, 0.1, 0.5, 2, v.direction, v.number, v.where)
    assert reading(unsettled, True).startswith("**not settled")
    opposite = type(v)(v.claim, -1.0, 0.5, 2, v.direction, v.number, v.where)
    assert reading(opposite, True).startswith("**no**")
    assert reading(v, False) == "n/a"
    assert v.mean == pytest.approx(3.0)  # gaps 2, 4, 8 pp at widths 1, 2, 4
