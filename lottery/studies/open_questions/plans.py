"""The call notebook 08 (open questions) makes, for given parameter values."""

from __future__ import annotations

from collections.abc import Mapping

from lottery.core.work import Planned

OPEN_OPTIONS = ("widths", "inits", "rewind_k", "finetune_fraction", "info_level", "info_inputs",
                "info_noise")


def _open(p: Mapping) -> list[Planned]:
    """Notebook 08's one call (``Session.open_questions``), as its cell makes it."""
    quick = p["profile"] == "quick"
    options = {n: p[n] for n in OPEN_OPTIONS} | {
        "widths": [float(w) for w in p["widths"]], "inits": list(p["inits"]),
        "iterations": p["quick_iterations"] if quick else None,
        "levels": p["quick_rounds"] if quick else None, "profile": p["profile"]}
    return [Planned("open_questions", p["preset"], options=options)]


PLANS = {"08_open_questions": _open}
