"""lottery: a reproduction suite for the Lottery Ticket Hypothesis papers.

``import lottery`` stays light: the public names below load their module on first use
(PEP 562), so a training job imports only what it runs (tests/test_light_imports.py).
"""

from __future__ import annotations

import importlib

# name -> the module that defines it: bring your own model (README "Your own model")
_PUBLIC = {
    "find_ticket": "lottery.studies.own_model.search",
    "Pruning": "lottery.studies.own_model.search",
    "TicketSearch": "lottery.studies.own_model.search",
    "prunable_weights": "lottery.studies.own_model.masks",
    "apply_mask": "lottery.studies.own_model.masks",
    "to_torch_prune": "lottery.studies.own_model.masks",
    "from_torch_prune": "lottery.studies.own_model.masks",
    "export_ticket": "lottery.studies.own_model.export",
    "load_ticket": "lottery.studies.own_model.export",
    "sparse_inference": "lottery.studies.own_model.export",
    "measure_inference": "lottery.studies.own_model.export",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'lottery' has no attribute {name!r}")
    target = "measure" if name == "measure_inference" else name
    return getattr(importlib.import_module(_PUBLIC[name]), target)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
