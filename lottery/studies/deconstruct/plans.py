"""The calls notebook 04 (Zhou et al. 2019) makes, for given parameter values."""

from __future__ import annotations

from collections.abc import Mapping

from lottery.core.work import Planned
from lottery.studies.deconstruct.study import SUPERMASK_CRITERIA, profile_cut


def _zhou(p: Mapping) -> list[Planned]:
    cut, every = profile_cut(p["profile"], p["quick_cut"], p.get("trials"))
    plan = [Planned("criteria", m, cut, options={"criteria": p["criteria"], "every": every})
            for m in ["lenet", *p["conv_models"]]]
    return plan + [
        Planned("mask1", "lenet", cut, options={"actions": p["mask1_actions"], "every": every}),
        Planned("mask0", "lenet", cut, options={"actions": p["mask0_actions"], "every": every}),
        Planned("untrained", "lenet", cut, options={"criteria": SUPERMASK_CRITERIA,
                                                    "rounds": p["supermask_rounds"]}),
        Planned("learned_supermask", "lenet", cut, options={
            "lr": None, "iterations": p["supermask_iterations"].get(p["profile"])})]


PLANS = {"04_deconstructing_tickets": _zhou}
