"""The call notebook 07 (cheap tickets) makes, with the plan its cell builds."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict

from lottery.core.presets import PRESETS
from lottery.core.work import Planned, notebook_hparams
from lottery.studies.cheap.study import notebook_plan


def _cheap(p: Mapping) -> list[Planned]:
    """Notebook 07's one call, with the plan its cell builds (smoke: two shallow targets and
    one trial, as the notebook sets)."""
    densities, focus, trials = p["densities"], p["focus_densities"], p.get("trials")
    if p["profile"] == "smoke":
        densities, focus, trials = [0.51, 0.21], [0.21], trials or 1
    given = {"trials": trials} if trials is not None else {}
    hp = notebook_hparams(p, p["preset"], {"training__test_curve": False} | given)
    plan = notebook_plan(hp, PRESETS[p["preset"]], densities=densities, focus_densities=focus,
                         early_bird_ts=p["early_bird_ts"], rewind_k=p["rewind_k"])
    return [Planned("cheap", p["preset"], {"training__test_curve": False},
                    options={"plan": asdict(plan)}, detail={"plan": plan, "hparams": given})]


PLANS = {"07_cheap_tickets": _cheap}
