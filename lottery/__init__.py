"""lottery: a reproduction suite for the Lottery Ticket Hypothesis papers.

``import lottery`` stays light: the public names below load their module on first use
(PEP 562), so a training job imports only what it runs (tests/test_light_imports.py).
"""

from __future__ import annotations

import importlib

# name -> the module that defines it: bring your own model (README "Your own model")
_PUBLIC = {
    "find_ticket": "lottery.own_model",
    "Pruning": "lottery.own_model",
    "TicketSearch": "lottery.own_model",
    "prunable_weights": "lottery.own_model_masks",
    "apply_mask": "lottery.own_model_masks",
    "to_torch_prune": "lottery.own_model_masks",
    "from_torch_prune": "lottery.own_model_masks",
    "export_ticket": "lottery.own_model_export",
    "load_ticket": "lottery.own_model_export",
    "sparse_inference": "lottery.own_model_export",
    "measure_inference": "lottery.own_model_export",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'lottery' has no attribute {name!r}")
    target = "measure" if name == "measure_inference" else name
    return getattr(importlib.import_module(_PUBLIC[name]), target)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
