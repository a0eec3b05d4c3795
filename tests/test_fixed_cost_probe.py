"""The fixed-cost probe runs a CLI job in its own process and accounts for every phase."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.sections import fixed_cost  # noqa: E402


def test_probe_runs_a_short_synthetic_job_and_times_each_phase(monkeypatch):
    monkeypatch.setattr(fixed_cost, "JOB", ["train", "--preset", "lenet", "--profile", "smoke",
                                            "--iterations", "3", "--no-progress"])
    result = fixed_cost.probe(fixed_cost.HERE, fixed_cost.JOB, None)
    phases = result["phases"]
    assert result["code"] == 0 and set(phases) == set(fixed_cost.PHASES)
    # the wrapped functions ran: updates, evaluation points and the final accuracies
    assert phases["optimizer"] > 0 and phases["evaluation"] > 0 and phases["data"] > 0
    assert all(seconds >= 0 for seconds in phases.values())
    table = fixed_cost.FixedCost([fixed_cost.Row(fixed_cost.HERE_LABEL, phases,
                                                 result["total"])], "1.00").render()
    assert table[-2].startswith(f"| {fixed_cost.HERE_LABEL} | ")
