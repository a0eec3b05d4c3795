"""The networks of the study notebooks' calls (04-07), named without weights for the estimate.

Each function takes one :class:`~lottery.plans.Planned` call and returns its
:class:`~lottery.estimate.Work`: the networks the stage would load or train, built by the
stage's own code (its runners, ``level_networks``, ``transfer_networks``, ``CheapStage``,
``StabilityStudy``) on a runner that knows the data's sizes only, so the store can be asked
which exist. A network whose identity needs trained weights (the early-bird stop rule's t) is
counted by a placeholder that is never stored, and a note says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from lottery.estimate import Evaluation, Work, data_sizes, offline_runner, sized_data, steps
from lottery.experiments import Network, Runner
from lottery.hparams import ExperimentHparams
from lottery.plans import Planned
from lottery.store import RunStore

Hparams = Callable[..., ExperimentHparams]
Steps = list[tuple[str, list[Network]]]


def merged(lineages: list[Steps]) -> Steps:
    """Steps of lineages trained level by level together, each network once (as a sweep)."""
    out: dict[str, dict] = {}
    for named in lineages:
        for name, nets in named:
            out.setdefault(name, {}).update({n.path: n for n in nets})
    return [(name, list(nets.values())) for name, nets in out.items()]


def placeholder(step: str, index: int, start: int = 0) -> Network:
    """A network that cannot be named before training: priced as missing, never stored."""
    return Network(("(named after training)", f"{step}-{index}"), {},
                   {"trial": index, "level": 0, "variant": "ticket"}, lambda: None, start=start)


# --- notebook 04: Zhou et al. ------------------------------------------------------------------

def _deconstruct(hp: ExperimentHparams, store: RunStore, every: int, mask0: str = "zero"):
    from lottery.deconstruct import DeconstructRunner

    return DeconstructRunner(hp, every=every, mask0=mask0, store=store, device="cpu",
                             data=sized_data(hp.data), progress=False)


def criteria_work(item: Planned, hparams: Hparams, store: RunStore) -> Work:
    """One IMP lineage per criterion, sharing the dense runs (``Session.criteria``)."""
    o = item.options
    hp = hparams(item.preset, **({"controls": ()} | dict(item.overrides)))
    lineages = [steps(_deconstruct(hp.replace(pruning__criterion=c), store, o["every"]), "imp")
                for c in o["criteria"]]
    return Work([(hp, merged(lineages))])


def mask1_work(item: Planned, hparams: Hparams, store: RunStore) -> Work:
    """IMP with the mask-1 actions as controls (``Session.mask1``)."""
    o = item.options
    hp = hparams(item.preset, **item.overrides).replace(controls=tuple(o["actions"]))
    return Work([(hp, steps(_deconstruct(hp, store, o["every"]), "imp"))])


def mask0_work(item: Planned, hparams: Hparams, store: RunStore) -> Work:
    """One IMP lineage per mask-0 action (``Session.mask0``)."""
    o = item.options
    hp = hparams(item.preset, **item.overrides).replace(controls=())
    lineages = [steps(_deconstruct(hp, store, o["every"], a), "imp") for a in o["actions"]]
    return Work([(hp, merged(lineages))])


def untrained_work(item: Planned, hparams: Hparams, store: RunStore) -> Work:
    """The dense runs the masks come from, and the untrained networks' test evaluations."""
    from lottery.deconstruct import STARTS

    o = item.options
    hp = hparams(item.preset, **item.overrides)
    count = hp.trials * len(o["criteria"]) * len(o["rounds"]) * len(STARTS)
    test = data_sizes(hp.data)[2]
    dense = offline_runner(hp, store).dense_networks()
    return Work([(hp, [("level 0 (dense)", dense)])],
                [Evaluation("untrained supermasks", hp, count, test)])


def supermask_work(item: Planned, hparams: Hparams, store: RunStore) -> Work:
    """Each trial's learned supermask (``Session.learned_supermask``)."""
    from lottery import supermask

    o = item.options
    hp = supermask.hparams(hparams(item.preset, **item.overrides),
                           lr=o.get("lr") or supermask.DEFAULT_LR, iterations=o.get("iterations"))
    networks = supermask.supermask_networks(offline_runner(hp, store))
    return Work([(hp, [("learned supermask", networks)])],
                notes=["learned supermasks priced as plain training of the same model"])


# --- notebook 05: stability, mode connectivity, overlap -----------------------------------------

def _listing_study(hp: ExperimentHparams, plan, store: RunStore):
    """A :class:`~lottery.stability.StabilityStudy` that lists what it would train."""
    from lottery.stability import StabilityStudy

    class Listing(StabilityStudy):
        def train(self, networks, desc):
            new = {n.path: n for n in networks if n.path not in self._payloads}
            self.listed.append((desc, list(new.values())))
            self._payloads |= dict.fromkeys(new)
            return [None] * len(networks)

    study = Listing(hp, plan, data=sized_data(hp.data), store=store, device="cpu")
    study.listed = []
    return study


def stability_work(item: Planned, hparams: Hparams, store: RunStore) -> Work:
    """The study's IMP runs and copies (``Session.stability_study``), and its line
    evaluations (``line_points`` networks per pair on the test set)."""
    from lottery.presets import PRESETS
    from lottery.stability import make_plan, study_hparams

    o = item.options
    hp = study_hparams(hparams(item.preset, **item.overrides), item.preset, o["iterations"])
    plan = make_plan(hp, PRESETS[item.preset].training.iterations, levels=o["levels"],
                     focus=o["focus_level"], connectivity=o["connectivity_level"],
                     rewind_ks=o["rewind_ks"], points=o["line_points"],
                     info_inputs=o["info_inputs"], info_bins=o["info_bins"])
    study = _listing_study(hp, plan, store)
    study.chains()
    study.pair_payloads()
    lines = len(study.pairs()) * plan.points
    return Work([(study.hp, study.listed)],
                [Evaluation("lines between copies", study.hp, lines, data_sizes(hp.data)[2])],
                ["05: information plane and ticket properties (no training) not priced"])


# --- notebook 06: ticket transfer ----------------------------------------------------------------

def _recipe(hparams: Hparams, recipe) -> ExperimentHparams:
    preset, overrides = recipe
    return hparams(preset, **overrides)


def dense_work(item: Planned, hparams: Hparams, store: RunStore) -> Work:
    """The dense runs of a recipe, keeping ``snapshots`` (``runner.dense(snapshots=...)``)."""
    hp = hparams(item.preset, **item.overrides)
    dense = offline_runner(hp, store).dense_networks(item.options.get("snapshots", ()))
    return Work([(hp, [("level 0 (dense)", dense)])])


def source_steps(source: Runner, levels) -> tuple[Steps, dict]:
    """The source tickets' steps up to the deepest transferred level, and the tickets."""
    from lottery.transfer import SourceTicket, source_levels

    wanted = set(source_levels(source.hp) if levels is None else levels)
    named, tickets = steps(source, "imp"), {}
    out, parents = named[:1], named[0][1]
    for (level, _, _), (name, nets) in zip(source.schedule("imp"), named[1:], strict=True):
        if level > max(wanted, default=0):
            break
        ticket = [n for n in nets if n.labels["variant"] == "ticket"]
        out.append((f"source {name}", ticket))
        if level in wanted:
            tickets[level] = [SourceTicket(n, p, None) for n, p in zip(ticket, parents,
                                                                      strict=True)]
        parents = ticket
    return out, tickets


def transfer_work(item: Planned, hparams: Hparams, store: RunStore) -> Work:
    """Source tickets, target dense runs and the transferred networks (``Session.transfer``)."""
    from lottery.transfer import transfer_networks

    source = offline_runner(_recipe(hparams, item.detail["source"]), store)
    target = offline_runner(_recipe(hparams, item.detail["target"]), store)
    named, tickets = source_steps(source, item.options["levels"])
    moved = transfer_networks(source, target, tickets, None, item.options["controls"])
    return Work([(source.hp, named), (target.hp, [("target level 0 (dense)",
                                                   target.dense_networks()),
                                                  ("transfer", moved)])])


def sweep_lr_work(item: Planned, hparams: Hparams, store: RunStore) -> Work:
    """The dense runs of each learning rate (``Session.sweep_lr``)."""
    hp = _recipe(hparams, item.detail["recipe"])
    runs = []
    for lr in item.options["lrs"]:
        hk = hp.replace(training__lr=float(lr))
        runs.append((hk, [(f"lr {lr:g} (dense)", offline_runner(hk, store).dense_networks())]))
    return Work(runs)


# --- notebook 07: cheap tickets ------------------------------------------------------------------

def _chain(runner: Runner, dense: list[Network], label: str) -> Steps:
    """IMP levels of ``runner`` pruned from ``dense`` (as ``CheapStage.imp_chain``)."""
    return [(f"{label} {name}", nets) for name, nets in steps(runner, "imp", dense=dense)[1:]]


def cheap_work(item: Planned, hparams: Hparams, store: RunStore) -> Work:
    """Dense runs, IMP chains, one-shot and one network per cheap method and trial
    (``Session.cheap``); the stop rule's networks are counted, not named."""
    from lottery.cheap import CheapStage, sibling

    plan = item.detail["plan"]
    hp = hparams(item.preset, **item.overrides, **item.detail.get("hparams", {}))
    stage = CheapStage(offline_runner(hp, store), replace(plan, stop_rule=None))
    trials = stage.hp.trials
    stage.dense_networks = stage.runner.dense_networks(stage.snapshots()
                                                       if not plan.stop_rule else
                                                       _stop_snapshots(stage, plan))
    stage.dense_payloads = [None] * trials
    named = [("dense", stage.dense_networks)]
    chain = _chain(stage.runner, stage.dense_networks, "IMP k=0")
    stage.chain = ({0: stage.dense_networks} | {int(n.labels["level"]): nets
                                               for _, nets in chain for n in nets[:1]}, None)
    named += chain
    if plan.rewind:
        named += _chain(sibling(stage.runner, rewind_iteration=plan.rewind),
                        stage.dense_networks, f"IMP k={plan.rewind}")
    cheap = stage.oneshot_networks() + [stage.network(s, t) for t in range(trials)
                                        for s in stage.specs(t)]
    stops = trials * len(plan.densities) if plan.stop_rule else 0
    cheap += [placeholder("early-bird stop rule", i) for i in range(stops)]
    named.append(("cheap masks", list({n.path: n for n in cheap}.values())))
    notes = ["07: mask scoring (SNIP, GraSP, SynFlow, early-bird distances) not priced"]
    if stops:
        notes.append(f"07: {stops} early-bird stop-rule network(s) counted as to train (their t "
                     f"comes from the dense runs' weights)")
    return Work([(stage.hp, named)], notes=notes)


def _stop_snapshots(stage, plan) -> list[int]:
    """The dense runs' snapshots with the stop rule's checkpoints (the stage keeps them)."""
    t_max = stage.hp.training.iterations
    return sorted(set(stage.snapshots()) | set(plan.stop_rule.checkpoints(t_max)))


# --- notebook 08: open questions -----------------------------------------------------------------

def open_questions_work(item: Planned, hparams: Hparams, store: RunStore) -> Work:
    """Every lineage, the rewind run and the fine-tuned networks (``Session.open_questions``),
    named by the study's own code on runners that know the data's sizes only."""
    from lottery.open_questions import OpenQuestionsStudy, make_plan, study_hparams
    from lottery.presets import PRESETS

    o = dict(item.options)
    base, profile = hparams(item.preset), o.pop("profile")
    hp = study_hparams(base, profile, o["iterations"] or base.training.iterations,
                       o["levels"] or base.levels)
    listed: dict[ExperimentHparams, list] = {}

    class Listing(OpenQuestionsStudy):
        def train(self, runner, networks, desc):
            listed.setdefault(runner.hp, []).append((desc, list(networks)))
            return [None] * len(networks)

    plan = make_plan(hp, PRESETS[item.preset].training.iterations, profile,
                     **{k: v for k, v in o.items() if k not in ("iterations", "levels")})
    study = Listing(hp, plan, lambda h, label: offline_runner(h, store))
    for width in plan.widths:
        study.lineage(width)
    for scheme in plan.inits:
        study.lineage(1.0, scheme)
    if plan.rewind_k:
        study.lineage(k=plan.rewind_k)
    study.finetuned()
    return Work(list(listed.items()),
                notes=["08: information-plane estimates (no training) not priced"])


KIND_WORK: dict[str, Callable[[Planned, Hparams, RunStore], Work]] = {
    "criteria": criteria_work, "mask1": mask1_work, "mask0": mask0_work,
    "untrained": untrained_work, "learned_supermask": supermask_work,
    "stability": stability_work, "dense": dense_work, "transfer": transfer_work,
    "sweep_lr": sweep_lr_work, "cheap": cheap_work, "open_questions": open_questions_work,
}
