"""What a study declares about itself: one :class:`Study` entry per study folder.

A study (Frankle & Carbin's IMP, Zhou et al.'s deconstruction, stability, transfer, cheap
tickets, ...) is one folder under :mod:`lottery.studies` holding its stage, claims and
figures, and one ``entry.py`` with its :class:`Study`. The run floor's registry
(:mod:`lottery.run.registry`) lists the entries; from them the command line builds its
subcommands, the estimate prices a notebook's calls, and ``reproduce`` checks a notebook's
parameters before any kernel starts -- so no other file restates what a study runs.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from lottery.core.jobs import Command
from lottery.core.work import NetworksOf, Planned

# a notebook's parameters (the `parameters` cell's names and values) -> what it calls
PlanOf = Callable[[Mapping], list[Planned]]


@dataclass(frozen=True)
class Study:
    """One study's entry.

    ``commands``: its command-line subcommands. ``kinds``: for each experiment kind its
    notebook calls (a ``Planned.kind``), the networks a call would train, named without
    weights (what the estimate prices; imp and oneshot are the core's own). ``plans``: for
    each notebook it backs, the calls the notebook makes for given parameter values.
    ``checks``: for each notebook, its parameter check (raises a one-line ``HparamError``).
    ``claims``: for each notebook, its paper-vs-ours claims (a function, so that building
    the list costs nothing at import)."""

    name: str
    summary: str
    commands: tuple[Command, ...] = ()
    kinds: Mapping[str, NetworksOf] = field(default_factory=dict)
    plans: Mapping[str, PlanOf] = field(default_factory=dict)
    checks: Mapping[str, Callable[[Mapping], None]] = field(default_factory=dict)
    claims: Mapping[str, Callable[[], list]] = field(default_factory=dict)


def keyword_check(*checks: Callable[..., None]) -> Callable[[Mapping], None]:
    """A notebook check from keyword-only check functions: each gets the parameters it names
    (a check whose parameters are not all given, e.g. a default that is an expression, is left
    to the notebook itself)."""
    def check(values: Mapping) -> None:
        for one in checks:
            names = inspect.signature(one).parameters
            if all(name in values for name in names):
                one(**{name: values[name] for name in names})
    check.checks = checks  # what it runs (tests check every parameter is given)
    return check
