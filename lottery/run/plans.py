"""What each experiment notebook runs, declared beside it so its cost can be told beforehand.

A plan is the list of :class:`Planned` experiment calls a notebook makes for given parameter
values: ``session.imp("lenet", controls=...)`` is ``Planned("imp", "lenet", {...})``. The
notebooks stay the source of truth: each :class:`~lottery.run.session.Session` call is recorded as
it runs, and ``python -m lottery.run.reproduce`` reports any call a plan did not declare (then the
estimate missed it). What a plan covers: the experiment calls of the ``Session`` (IMP, one-shot,
rewind sweeps) and their networks; not figure drawing, pruning arithmetic or store writes,
which the estimate books as a fixed per-notebook overhead.
"""

from __future__ import annotations

from collections.abc import Mapping

from lottery.core.work import Planned, recipe_id  # noqa: F401 (reproduce and tests read them here)
from lottery.run.registry import KINDS, PLANS  # noqa: F401


def plan(notebook: str, parameters: Mapping) -> list[Planned] | None:
    """The experiments ``notebook`` runs with ``parameters`` (None: no plan declared)."""
    return PLANS[notebook](parameters) if notebook in PLANS else None


def undeclared(planned: list[Planned], ran: list[Planned]) -> list[Planned]:
    """The calls a notebook made that its plan does not list."""
    known = {p.signature() for p in planned}
    return [r for r in ran if r.signature() not in known]


def notebook_defaults(path) -> dict:
    """The values of a notebook's ``parameters`` cell, read as Python literals (a value that
    is an expression, like the profile's ``os.environ.get(...)``, is left out)."""
    import ast

    import papermill

    defaults = {}
    for name, spec in papermill.inspect_notebook(str(path)).items():
        try:
            defaults[name] = ast.literal_eval(spec["default"])
        except (ValueError, SyntaxError):
            continue
    return defaults
