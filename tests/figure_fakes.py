"""Made-up experiment results with the shape of real ones, for the figure tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lottery.core.presets import resolve
from lottery.core.results import ExperimentResult


def fake_result(preset: str = "lenet", profile: str = "quick", levels: int = 6, trials: int = 2,
                variants=("ticket", "reinit", "random_mask"), method: str = "imp",
                rate: float = 0.2, censored_level: int | None = None) -> ExperimentResult:
    """Accuracy rising then falling with sparsity, early stops falling then rising; a control's
    accuracy falls steadily. ``censored_level``: early stops there hit the training length."""
    hp = resolve(preset, profile)
    iterations = hp.training.iterations
    rng = np.random.default_rng(0)
    rows, hist = [], []
    for level in range(levels + 1):
        percent = 100 * (1 - rate) ** level
        for variant in variants if level else ("ticket",):
            for trial in range(trials):
                gain = 0.004 * level - 0.0004 * level ** 2 if variant == "ticket" else \
                    -0.003 * level
                acc = 0.97 + gain + rng.normal(0, 0.001)
                es = iterations * (0.6 - 0.05 * level + 0.01 * level ** 2) if variant == \
                    "ticket" else iterations * 0.8
                if level == censored_level:
                    es = iterations
                rows.append({"method": method, "trial": trial, "level": level,
                             "variant": variant, "percent_remaining": percent,
                             "early_stop_iteration": int(min(es, iterations)),
                             "early_stop_test_acc": acc, "final_test_acc": acc - 0.001,
                             "final_train_acc": min(1.0, acc + 0.02)})
                for it in range(0, iterations + 1, max(1, iterations // 20)):
                    hist.append({"method": method, "trial": trial, "level": level,
                                 "variant": variant, "iteration": it,
                                 "test_acc": acc * (1 - np.exp(-5 * it / iterations))})
    return ExperimentResult(hp, pd.DataFrame(rows), pd.DataFrame(hist), {}, "fake", False)
