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

KINDS = ("imp", "oneshot", "rewind_sweep", "criteria", "mask1", "mask0", "untrained",
         "learned_supermask", "stability", "dense", "transfer", "sweep_lr", "cheap",
         "open_questions")


@dataclass(frozen=True)
class Planned:
    """One experiment call: the ``Session`` method, the preset and its overrides."""

    kind: str
    preset: str
    overrides: Mapping = field(default_factory=dict)
    ks: tuple[int, ...] = ()  # rewind sweep: the paper iterations to rewind to
    options: Mapping = field(default_factory=dict)  # the call's other arguments, as recorded
    # what the estimate needs beyond the recorded call (recipes, a cheap plan): not compared
    detail: Mapping = field(default_factory=dict, compare=False)

    @classmethod
    def from_record(cls, entry: Mapping) -> Planned:
        """The call a notebook's record lists (see ``Session._ran``)."""
        rest = {k: v for k, v in entry.items() if k not in ("kind", "preset", "overrides", "ks")}
        return cls(entry["kind"], entry["preset"], entry.get("overrides", {}),
                   tuple(entry.get("ks", ())), rest)

    @property
    def label(self) -> str:
        return f"{self.kind} {self.preset}"

    def signature(self) -> tuple:
        """What identifies the call when comparing a plan with what a notebook ran."""
        return (self.kind, self.preset, _sorted(self.overrides), tuple(self.ks),
                _sorted(self.options))


def _sorted(mapping: Mapping) -> tuple:
    return tuple(sorted((k, repr(_tuples(v))) for k, v in mapping.items()))


def _tuples(value):
    """Lists as tuples, dicts sorted, recursively (a call read back from JSON compares equal)."""
    if isinstance(value, Mapping):
        return tuple(sorted((k, _tuples(v)) for k, v in value.items()))
    return tuple(_tuples(v) for v in value) if isinstance(value, list | tuple) else value


def _lenet(p: Mapping) -> list[Planned]:
    return [Planned("imp", "lenet", {"controls": ("reinit", "random_mask")}),
            Planned("oneshot", "lenet", {"controls": ("reinit",),
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


def _zhou(p: Mapping) -> list[Planned]:
    from lottery.deconstruct import SUPERMASK_CRITERIA, profile_cut

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


def _stability(p: Mapping) -> list[Planned]:
    names = ("focus_level", "connectivity_level", "line_points", "info_inputs", "info_bins")
    options = {"levels": p["stability_levels"], "rewind_ks": p["rewind_ks"],
               "iterations": p["quick_iterations"] if p["profile"] == "quick" else None}
    return [Planned("stability", p["preset"], options=options | {n: p[n] for n in names})]


def _hparams(p: Mapping, preset: str, overrides: Mapping):
    """``preset`` with ``overrides`` as the notebook's session resolves it."""
    from lottery.notebook import experiment_hparams
    from lottery.presets import PROFILES

    given = {"trials": p.get("trials"), "seed": p.get("seed", 0)} | dict(overrides)
    return experiment_hparams(preset, p["profile"], synthetic=PROFILES[p["profile"]].synthetic,
                              **given)


def _on(p: Mapping, dataset: str) -> dict:
    """The override that moves a preset to ``dataset`` (``Session.on``)."""
    from lottery.presets import PROFILES, SYNTHETIC_STAND_IN

    synthetic = PROFILES[p["profile"]].synthetic
    return {"data__dataset": SYNTHETIC_STAND_IN[dataset] if synthetic else dataset}


def _transfer_call(p: Mapping, source: tuple, target: tuple, levels) -> Planned:
    """``session.transfer(source, target, levels)`` of (preset, overrides) recipes."""
    hs, ht = _hparams(p, *source), _hparams(p, *target)
    return Planned("transfer", hs.model.name, options={
        "source": recipe_id(hs), "target": recipe_id(ht), "levels": list(levels),
        "controls": ["random_mask"]}, detail={"source": source, "target": target})


def _transfer(p: Mapping) -> list[Planned]:
    """Notebook 06 as its cells run: dense and IMP per recipe, transfers both ways, the SGD
    sweep, then the CIFAR models."""
    from lottery.presets import PRESETS
    from lottery.transfer import source_levels

    cut = {"controls": (), "training__test_curve": False}
    if p["profile"] == "quick":
        cut |= {"levels": p["quick_rounds"], "training__iterations": p["quick_iterations"]}
    datasets, one = p["datasets"], p["datasets"][0]
    base = _hparams(p, "lenet", _on(p, one) | cut)
    scale = base.training.iterations / PRESETS["lenet"].training.iterations
    k = max(1, round(p["rewind_k"] * scale)) if p["rewind_k"] else 0
    resets = {"": 0} | ({" rewind": k} if k else {})
    recipes = {name + suffix: ("lenet", _on(p, name) | {"rewind_iteration": kk} | cut)
               for name in datasets for suffix, kk in resets.items()}
    levels = source_levels(base, p["transfer_every"]) or source_levels(base)
    plan = [Planned("dense", "lenet", recipes[name][1], options={"snapshots": [k] if k else []})
            for name in datasets]
    plan += [Planned("imp", *recipe) for recipe in recipes.values()]
    plan += [_transfer_call(p, recipes[a + s], recipes[b + s], levels)
             for s in resets for a in datasets for b in datasets if a != b]
    for extra in _extras(p):
        plan.append(_transfer_call(p, ("lenet", _on(p, extra) | cut), recipes[one], levels))
    return plan + _sgd(p, recipes[one], levels) + _cifar(p)


def _extras(p: Mapping) -> list[str]:
    """The extra sources notebook 06 finds on disk (none on the stand-in)."""
    from lottery.notebook import real_data_available
    from lottery.presets import PROFILES

    if PROFILES[p["profile"]].synthetic:
        return []
    return [e for e in p["extra_sources"] if e not in p["datasets"]
            and real_data_available(e, p.get("data_root"))]


def _sgd(p: Mapping, adam: tuple, levels) -> list[Planned]:
    """The SGD learning-rate sweep, IMP at the chosen rate, transfers both ways; the rate is
    chosen while running, so the plan prices the first (a stored run of another is missed)."""
    preset, overrides = adam
    sgd = dict(overrides) | {"training__optimizer": "sgd", "training__momentum": 0.9}
    lrs = [float(lr) for lr in p["sgd_lrs"]]
    chosen = (preset, sgd | {"training__lr": lrs[0]})
    return [Planned("sweep_lr", preset, options={"recipe": recipe_id(_hparams(p, preset, sgd)),
                                                 "lrs": lrs}, detail={"recipe": (preset, sgd)}),
            Planned("imp", *chosen), _transfer_call(p, adam, chosen, levels),
            _transfer_call(p, chosen, adam, levels)]


def _cifar(p: Mapping) -> list[Planned]:
    """Notebook 06's CIFAR-10 <-> CIFAR-100 transfers per model."""
    from lottery.transfer import source_levels

    models = p["cifar_models"]
    if models is None:
        models = [] if p["profile"] == "quick" else ["conv2", "vgg19"]
    plan = []
    for model in models:
        preset = {"conv2": "conv2", "vgg19": "vgg19_rewind"}[model]
        recipes = {name: (preset, _on(p, name) | {"controls": ()})
                   for name in ("cifar10", "cifar100")}
        first = _hparams(p, *recipes["cifar10"])
        levels = source_levels(first, p["transfer_every"]) or source_levels(first)
        plan += [Planned("imp", *recipe) for recipe in recipes.values()]
        plan += [_transfer_call(p, recipes[x], recipes[y], levels)
                 for x, y in (("cifar10", "cifar100"), ("cifar100", "cifar10"))]
    return plan


def _cheap(p: Mapping) -> list[Planned]:
    """Notebook 07's one call, with the plan its cell builds (smoke: two shallow targets and
    one trial, as the notebook sets)."""
    from dataclasses import asdict

    from lottery.cheap import notebook_plan
    from lottery.presets import PRESETS

    densities, focus, trials = p["densities"], p["focus_densities"], p.get("trials")
    if p["profile"] == "smoke":
        densities, focus, trials = [0.51, 0.21], [0.21], trials or 1
    given = {"trials": trials} if trials is not None else {}
    hp = _hparams(p, p["preset"], {"training__test_curve": False} | given)
    plan = notebook_plan(hp, PRESETS[p["preset"]], densities=densities, focus_densities=focus,
                         early_bird_ts=p["early_bird_ts"], rewind_k=p["rewind_k"])
    return [Planned("cheap", p["preset"], {"training__test_curve": False},
                    options={"plan": asdict(plan)}, detail={"plan": plan, "hparams": given})]


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


PLANS: dict[str, Callable[[Mapping], list[Planned]]] = {
    "01_lenet_mnist": _lenet,
    "02_conv_cifar10": _conv,
    "03_vgg_resnet_rewinding": _scale,
    "04_deconstructing_tickets": _zhou,
    "05_stability_and_overlap": _stability,
    "06_ticket_transfer": _transfer,
    "07_cheap_tickets": _cheap,
    "08_open_questions": _open,
}


def plan(notebook: str, parameters: Mapping) -> list[Planned] | None:
    """The experiments ``notebook`` runs with ``parameters`` (None: no plan declared)."""
    return PLANS[notebook](parameters) if notebook in PLANS else None


def recipe_id(hp) -> str:
    """A recipe's fingerprint, as a call that takes hyperparameters (transfer) is recorded."""
    from lottery.hparams import fingerprint, to_dict

    return fingerprint(to_dict(hp))


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
