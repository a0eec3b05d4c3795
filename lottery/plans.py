"""What each experiment notebook runs, declared beside it so its cost can be told beforehand.

A plan is the list of :class:`Planned` experiment calls a notebook makes for given parameter
values: ``session.imp("lenet", controls=...)`` is ``Planned("imp", "lenet", {...})``. The
notebooks stay the source of truth: each :class:`~lottery.notebook.Session` call is recorded as
it runs, and ``python -m lottery.reproduce`` reports any call a plan did not declare (then the
estimate missed it). What a plan covers: the experiment calls of the ``Session`` (IMP, one-shot,
rewind sweeps) and their networks; not figure drawing, pruning arithmetic or store writes,
which the estimate books as a fixed per-notebook overhead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

KINDS = ("imp", "oneshot", "rewind_sweep")


@dataclass(frozen=True)
class Planned:
    """One experiment call: the ``Session`` method, the preset and its overrides."""

    kind: str
    preset: str
    overrides: Mapping = field(default_factory=dict)
    ks: tuple[int, ...] = ()  # rewind sweep: the paper iterations to rewind to

    @property
    def label(self) -> str:
        return f"{self.kind} {self.preset}"

    def signature(self) -> tuple:
        """What identifies the call when comparing a plan with what a notebook ran."""
        return (self.kind, self.preset, tuple(sorted((k, repr(_tuples(v))) for k, v in
                                                     self.overrides.items())), tuple(self.ks))


def _tuples(value):
    """Lists as tuples, recursively (a call read back from JSON compares equal)."""
    return tuple(_tuples(v) for v in value) if isinstance(value, list | tuple) else value


def _lenet(p: Mapping) -> list[Planned]:
    return [Planned("imp", "lenet", {"controls": ("reinit", "random_mask")}),
            Planned("oneshot", "lenet", {"controls": (),
                                         "oneshot_rounds": tuple(p["oneshot_rounds"])})]


def _conv(p: Mapping) -> list[Planned]:
    plan = [Planned("imp", m, {"controls": ("reinit", "random_mask")}) for m in p["models"]]
    if p["dropout"]:
        plan += [Planned("imp", f"{m}_dropout") for m in p["models"]]
    return plan


def _scale(p: Mapping) -> list[Planned]:
    presets = ["vgg19", "vgg19_lr0.01", "vgg19_warmup", "vgg19_rewind", "resnet18",
               "resnet18_lr0.01", "resnet18_warmup", "resnet18_rewind"]
    return [Planned("imp", name) for name in presets] + [
        Planned("rewind_sweep", p["sweep_model"], ks=tuple(p["rewind_ks"]))]


PLANS: dict[str, Callable[[Mapping], list[Planned]]] = {
    "01_lenet_mnist": _lenet,
    "02_conv_cifar10": _conv,
    "03_vgg_resnet_rewinding": _scale,
}


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
