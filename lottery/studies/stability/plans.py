"""The calls notebook 05 (stability, mode connectivity, overlap) makes, for given parameter
values."""

from __future__ import annotations

from collections.abc import Mapping

from lottery.core.work import Planned


def _stability(p: Mapping) -> list[Planned]:
    names = ("focus_level", "connectivity_level", "line_points", "info_inputs", "info_bins")
    options = {"levels": p["stability_levels"], "rewind_ks": p["rewind_ks"],
               "iterations": p["quick_iterations"] if p["profile"] == "quick" else None}
    return [Planned("stability", p["preset"], options=options | {n: p[n] for n in names})]


PLANS = {"05_stability_and_overlap": _stability}
