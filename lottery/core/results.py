"""Result tables built from stored networks: the one place that labels rows and turns
fractions into percent.

Every stored network carries a ``summary`` (one row of early-stop and final metrics) and a
``history`` (one row per evaluation). An experiment's table has one row per trial x level x
variant; figures, the paper-vs-ours report and the CLI read these tables.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from lottery.core.hparams import ExperimentHparams
from lottery.engine.masks import Mask

FRONT = ["method", "trial", "level", "variant", "percent_remaining"]


@dataclass
class ExperimentResult:
    hparams: ExperimentHparams
    results: pd.DataFrame     # one row per trial x level x variant
    histories: pd.DataFrame   # one row per trial x level x variant x evaluation
    masks: dict[tuple[int, float], Mask]  # (trial, level) -> ticket mask
    data: str                 # the dataset's one-line description
    synthetic: bool


def is_fraction(metric: str) -> bool:
    """Accuracies are stored as fractions and shown in percent."""
    return metric.endswith("_acc")


def in_percent(metric: str, value):
    """``value`` of ``metric`` as shown: accuracies x 100, anything else unchanged."""
    return value * 100 if is_fraction(metric) else value


def percent_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with every accuracy column in percent."""
    frame = frame.copy()
    for column in frame.columns:
        if is_fraction(column):
            frame[column] = in_percent(column, frame[column])
    return frame


def network_row(payload: Mapping[str, Any], **labels) -> dict:
    """One stored network's summary row with its labels (method, trial, level, variant)."""
    return {**labels, **payload["summary"]}


def network_history(payload: Mapping[str, Any], **labels) -> pd.DataFrame:
    return pd.DataFrame(payload["history"]).assign(**labels)


def experiment_tables(networks: Iterable[tuple[dict, Mapping[str, Any]]]
                      ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(results, histories) of ``(labels, payload)`` pairs; results gain percent_remaining."""
    networks = list(networks)
    results = pd.DataFrame([network_row(p, **labels) for labels, p in networks])
    results["percent_remaining"] = 100 * results["density"]
    results = results[FRONT + [c for c in results.columns if c not in FRONT]]
    histories = pd.concat([network_history(p, **labels) for labels, p in networks],
                          ignore_index=True)
    return results, histories
