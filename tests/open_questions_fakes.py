"""Small tables with known answers in the shape of notebook 08's
(lottery.studies.open_questions.study)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lottery.studies.open_questions.claims import INFO, INIT, RECIPES, WIDTH


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
                        "early_stop_iteration": 1000 - 30_000 * wider_gain * np.log2(width),
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
    accs = {"ticket": 0.975, "rewind": 0.976, "fine_tune": 0.972, "lr_rewind": 0.981,
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
