"""The calls notebook 06 (Morcos et al. 2019, ticket transfer) makes, for given parameter values."""

from __future__ import annotations

from collections.abc import Mapping

from lottery.core.presets import PRESETS, PROFILES
from lottery.core.work import Planned, notebook_hparams, on_dataset, recipe_id
from lottery.engine.download import real_data_available
from lottery.studies.transfer.study import source_levels


def _transfer_call(p: Mapping, source: tuple, target: tuple, levels) -> Planned:
    """``session.transfer(source, target, levels)`` of (preset, overrides) recipes."""
    hs, ht = notebook_hparams(p, *source), notebook_hparams(p, *target)
    return Planned("transfer", hs.model.name, options={
        "source": recipe_id(hs), "target": recipe_id(ht), "levels": list(levels),
        "controls": ["random_mask"]}, detail={"source": source, "target": target})


def _transfer(p: Mapping) -> list[Planned]:
    """Notebook 06 as its cells run: dense and IMP per recipe, transfers both ways, the SGD
    sweep, then the CIFAR models."""
    cut = {"controls": (), "training__test_curve": False}
    if p["profile"] == "quick":
        cut |= {"levels": p["quick_rounds"], "training__iterations": p["quick_iterations"]}
    datasets, one = p["datasets"], p["datasets"][0]
    base = notebook_hparams(p, "lenet", on_dataset(p, one) | cut)
    scale = base.training.iterations / PRESETS["lenet"].training.iterations
    k = max(1, round(p["rewind_k"] * scale)) if p["rewind_k"] else 0
    resets = {"": 0} | ({" rewind": k} if k else {})
    recipes = {name + suffix: ("lenet", on_dataset(p, name) | {"rewind_iteration": kk} | cut)
               for name in datasets for suffix, kk in resets.items()}
    levels = source_levels(base, p["transfer_every"]) or source_levels(base)
    plan = [Planned("dense", "lenet", recipes[name][1], options={"snapshots": [k] if k else []})
            for name in datasets]
    plan += [Planned("imp", *recipe) for recipe in recipes.values()]
    plan += [_transfer_call(p, recipes[a + s], recipes[b + s], levels)
             for s in resets for a in datasets for b in datasets if a != b]
    for extra in _extras(p):
        plan.append(_transfer_call(p, ("lenet", on_dataset(p, extra) | cut), recipes[one], levels))
    return plan + _sgd(p, recipes[one], levels) + _cifar(p)


def _extras(p: Mapping) -> list[str]:
    """The extra sources notebook 06 finds on disk (none on the stand-in)."""
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
    recipe = recipe_id(notebook_hparams(p, preset, sgd))
    return [Planned("sweep_lr", preset, options={"recipe": recipe,
                                                 "lrs": lrs}, detail={"recipe": (preset, sgd)}),
            Planned("imp", *chosen), _transfer_call(p, adam, chosen, levels),
            _transfer_call(p, chosen, adam, levels)]


def _cifar(p: Mapping) -> list[Planned]:
    """Notebook 06's CIFAR-10 <-> CIFAR-100 transfers per model."""
    models = p["cifar_models"]
    if models is None:
        models = [] if p["profile"] == "quick" else ["conv2", "vgg19"]
    plan = []
    for model in models:
        preset = {"conv2": "conv2", "vgg19": "vgg19_rewind"}[model]
        recipes = {name: (preset, on_dataset(p, name) | {"controls": ()})
                   for name in ("cifar10", "cifar100")}
        first = notebook_hparams(p, *recipes["cifar10"])
        levels = source_levels(first, p["transfer_every"]) or source_levels(first)
        plan += [Planned("imp", *recipe) for recipe in recipes.values()]
        plan += [_transfer_call(p, recipes[x], recipes[y], levels)
                 for x, y in (("cifar10", "cifar100"), ("cifar100", "cifar10"))]
    return plan


PLANS = {"06_ticket_transfer": _transfer}
