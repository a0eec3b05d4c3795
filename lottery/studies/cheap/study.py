"""Cheaper ways to find tickets, beside IMP: early-bird masks and pruning at initialization.

Every method makes a mask for a trial at a target density; the masked network is reset to that
trial's initialization and trained with the experiment's recipe and data order, exactly like the
trial's IMP ticket, so accuracies compare on the same footing. Beside each network sits what
finding its mask cost before that final training: training iterations and FLOPs
(:func:`lottery.studies.cheap.at_init.cost`).

The methods are the registry :data:`lottery.studies.cheap.methods.METHODS`. Targets are snapped to
the density of the nearest IMP level (:func:`imp_level`), so every method is measured at exactly the
density of an IMP ticket. How a method's scores become a mask (``layers``):

- ``global``: one threshold across layers, the at-init methods as published;
- ``imp``: the per-layer densities of the same trial's IMP ticket at that level (Frankle et al.
  2021 ask what the at-init methods choose beyond per-layer densities);
- ``preset``: the preset's pruning policy by ``level`` rounds, as one-shot pruning prunes the
  trained weights: early-bird masks use it, so at t = the end of training they *are* one-shot
  masks.

The baselines are the experiment core's own networks (same store entries): IMP reset to init,
IMP rewound to k, and one-shot magnitude pruning after full training. Random pruning with the
IMP ticket's per-layer densities is the floor; shuffling IMP's mask within each layer
(Frankle et al. 2021's ablation) gives exactly such a mask, so the floor doubles as that ablation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from lottery.core.experiments import Network, Runner, data_seed, init_seed, mask_of
from lottery.core.hparams import ExperimentHparams, HparamError, fingerprint, to_dict
from lottery.core.results import experiment_tables
from lottery.core.training import Member
from lottery.engine import pruning
from lottery.engine.masks import Mask
from lottery.engine.members import State, load_member_state
from lottery.engine.models import LotteryModel, build
from lottery.studies.cheap import at_init as atinit
from lottery.studies.cheap.methods import AT_INIT, METHODS, Scoring, method_params, seed_of

LAYERS = ("global", "imp", "preset")

# ---------------------------------------------------------------------------------------------
# densities of the IMP levels


def level_densities(hp: ExperimentHparams, sizes: Mapping[str, int],
                    kinds: Mapping[str, str], levels: int) -> list[float]:
    """Overall density of the IMP ticket at levels 0..levels (layer counts as IMP rounds them;
    the overall count does not depend on the trial, even under global pruning)."""
    p, total = hp.pruning, sum(sizes.values())
    alive = dict(sizes) if p.strategy == "layerwise" else {"all": total}
    rates = ({n: p.rate_of(kinds[n]) for n in sizes} if p.strategy == "layerwise"
             else {"all": p.global_rate})
    out = [1.0]
    for _ in range(levels):
        alive = {n: a - pruning.removed_count(a, rates[n], 1) for n, a in alive.items()}
        out.append(sum(alive.values()) / total)
    return out


def imp_level(hp: ExperimentHparams, sizes: Mapping[str, int], kinds: Mapping[str, str],
              density: float, deepest: int = 60) -> int:
    """The IMP level whose ticket density is nearest ``density`` (in ratio)."""
    if not 0.0 < density < 1.0:
        raise HparamError(f"densities must be fractions in (0, 1); got {density!r}")
    curve = level_densities(hp, sizes, kinds, deepest)
    gaps = [abs(np.log(d / density)) if d > 0 else np.inf for d in curve[1:]]
    return 1 + int(np.argmin(gaps))


# ---------------------------------------------------------------------------------------------
# what to run


@dataclass(frozen=True)
class StopRule:
    """You et al. 2020: stop when the last ``window`` distances between consecutive masks (at
    checkpoints every ``every`` of training, until ``until`` of it) are all below
    ``threshold``. The checkpoints span the whole training (``until`` 1: the last is the last
    one before the end), so the rule can fire late or never, and its saving can fail."""

    every: float = 0.02
    until: float = 1.0
    window: int = 5
    threshold: float = 0.1

    def checkpoints(self, iterations: int) -> list[int]:
        """Every ``every`` of training, inside it (the end itself is one-shot's mask)."""
        step = max(1, round(iterations * self.every))
        last = min(int(iterations * self.until), iterations - 1)
        return list(range(step, max(step, last) + 1, step))


@dataclass(frozen=True)
class Plan:
    """Which methods run at which targets (densities are fractions, snapped to IMP levels)."""

    densities: tuple[float, ...]
    at_init: tuple[str, ...] = AT_INIT       # as published (global)
    imp_layers: tuple[float, ...] = ()       # targets where they also run with IMP's layers
    shuffle: tuple[float, ...] = ()          # targets of the within-layer shuffle ablation
    early_bird: tuple[int, ...] = ()         # iterations t of early-bird masks
    stop_rule: StopRule | None = None        # the early-bird stopping rule, if any
    rewind: int | None = None                # IMP rewound to k, as a second baseline
    random: bool = True                      # random, the IMP ticket's per-layer densities
    imp: bool = True                         # the IMP (reset to init) and one-shot baselines
    params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # per method

    def __post_init__(self):
        for name in ("densities", "imp_layers", "shuffle", "at_init", "early_bird"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        bad = [m for m in self.at_init if m not in AT_INIT]
        if bad:
            raise HparamError(f"at_init methods must be among {', '.join(AT_INIT)}; got {bad}")
        if not (self.densities or self.imp_layers or self.shuffle):
            raise HparamError("densities: give at least one target density")

    def needs_imp(self) -> bool:
        """Whether the IMP tickets must be trained (baseline, or their layer densities)."""
        return self.imp or self.random or bool(self.imp_layers)

    def needs_dense(self) -> bool:
        """Whether the dense runs must be trained (IMP, one-shot, early-bird)."""
        return self.needs_imp() or bool(self.early_bird or self.stop_rule or self.rewind)


@dataclass(frozen=True)
class Spec:
    """One cheap network per trial: a method, its parameters, how scores become a mask, the
    IMP level (= target density), and whether its mask is shuffled within layers."""

    kind: str
    params: Mapping[str, Any]
    layers: str
    level: int
    shuffled: bool = False
    label: str = ""

    def __post_init__(self):
        if self.layers not in LAYERS:
            raise HparamError(f"layers must be one of {', '.join(LAYERS)}; got {self.layers!r}")


def scaled(hp: ExperimentHparams, preset: ExperimentHparams, iterations: int) -> int:
    """Paper ``iterations`` of ``preset`` scaled like ``hp``'s training (0 stays 0, else at
    least 1), as the profiles scale the rewind point."""
    factor = hp.training.iterations / preset.training.iterations
    return 0 if iterations == 0 else max(1, round(iterations * factor))


NOTEBOOK_PRESETS = ("lenet", "conv2", "resnet18")


def check_parameters(*, preset: str, densities, focus_densities, early_bird_ts,
                     rewind_k) -> None:
    """Raise :class:`HparamError` (one line) for a bad parameter of notebook 07."""
    def fractions(value) -> bool:
        return isinstance(value, Sequence) and len(value) > 0 and all(
            isinstance(d, int | float) and not isinstance(d, bool) and 0 < d < 1 for d in value)

    def iterations(value) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0

    checks = [
        (preset in NOTEBOOK_PRESETS, "preset", f"one of {', '.join(NOTEBOOK_PRESETS)}", preset),
        (fractions(densities), "densities", "a non-empty list of fractions in (0, 1)",
         densities),
        (fractions(focus_densities) and set(focus_densities) <= set(densities or ()),
         "focus_densities", "a non-empty list of fractions drawn from densities",
         focus_densities),
        (isinstance(early_bird_ts, Sequence) and all(iterations(t) for t in early_bird_ts),
         "early_bird_ts", "a list of non-negative integers (paper iterations)", early_bird_ts),
        (iterations(rewind_k), "rewind_k", "a non-negative integer (0: no rewinding run)",
         rewind_k),
    ]
    for ok, name, allowed, value in checks:
        if not ok:
            raise HparamError(f"parameter {name} must be {allowed}; got {value!r}")


# ---------------------------------------------------------------------------------------------
# the stage


def sibling(runner: Runner, **changes) -> Runner:
    """``runner`` for ``runner.hp`` with ``changes``: same store, data, device, speed,
    executor and progress reporting."""
    return runner.derived(**changes)


def preset_mask(hp: ExperimentHparams, kinds: Mapping[str, str], scores: Mapping[str, Any],
                mask: Mask, rounds: float) -> Mask:
    """``mask`` pruned by ``rounds`` rounds of the preset's policy, ranked by ``scores``."""
    p = hp.pruning
    if p.strategy == "global":
        return pruning.prune_global(scores, mask, p.global_rate, rounds)
    return pruning.prune_layerwise(scores, mask, {n: p.rate_of(kinds[n]) for n in mask}, rounds)


def _add(*costs: Mapping[str, float]) -> dict[str, float]:
    return {"iterations": sum(c["iterations"] for c in costs),
            "flops": float(sum(c["flops"] for c in costs))}


ZERO = {"iterations": 0, "flops": 0.0}
Chain = tuple[dict[int, list[Network]], dict[int, list[dict]]]


class CheapStage:
    """The networks of one comparison, every one from its trial's init and data order: the
    dense runs (keeping the early-bird snapshots), the IMP tickets, one-shot, and a network
    per cheap :class:`Spec`."""

    def __init__(self, runner: Runner, plan: Plan):
        self.plan, sizes = plan, {n: m.numel() for n, m in runner.dense_mask.items()}
        targets = {*plan.densities, *plan.imp_layers, *plan.shuffle}
        self.levels = {d: imp_level(runner.hp, sizes, runner.kinds, d) for d in targets}
        self.runner = sibling(runner, levels=max(self.levels.values()), controls=(),
                              rewind_iteration=0)
        self.hp, self.kinds, self.dense_mask = self.runner.hp, runner.kinds, runner.dense_mask
        self.curve = level_densities(self.hp, sizes, self.kinds, self.hp.levels)
        self.classes, self.shape = runner.data.num_classes, runner.data.input_shape
        self.chain: Chain | None = None
        self.settled: dict[tuple[int, int], bool] = {}
        self.curves: list[dict] = []
        self._cache: dict[tuple, Any] = {}
        self.flops = atinit.forward_flops(self._built(0), self.shape)

    # --- the dense runs and the IMP chains --------------------------------------------------
    def snapshots(self) -> list[int]:
        """Iterations the dense runs keep: early-bird points, the stop rule's checkpoints and
        the rewind point."""
        t_max, points = self.hp.training.iterations, set(self.plan.early_bird)
        if self.plan.stop_rule:
            points |= set(self.plan.stop_rule.checkpoints(t_max))
        bad = sorted(t for t in points if not 0 <= t < t_max)
        if bad:
            raise HparamError(f"early-bird iterations must be in [0, {t_max}) (inside "
                              f"training); got {bad}")
        return sorted(points | ({self.plan.rewind} if self.plan.rewind else set()))

    def train_dense(self) -> None:
        self.dense_networks = self.runner.dense_networks(self.snapshots())
        self.dense_payloads = self.runner.train_many(self.dense_networks, "dense")

    def imp_chain(self, k: int = 0) -> Chain:
        """IMP tickets of every level (reset to init, or rewound to ``k``), trials together."""
        runner = sibling(self.runner, rewind_iteration=k) if k else self.runner
        nets, payloads = {0: self.dense_networks}, {0: self.dense_payloads}
        for level, parent, rounds in runner.schedule("imp"):
            nets[level] = runner.level_networks(level, rounds, nets[parent], payloads[parent],
                                                self.dense_networks, self.dense_payloads)
            payloads[level] = runner.train_many(nets[level], f"IMP k={k} level {level}")
        return nets, payloads

    def oneshot_networks(self) -> list[Network]:
        """One-shot magnitude pruning after full training, to each target level."""
        d_nets, d_payloads = self.dense_networks, self.dense_payloads
        return [net for level in sorted({self.levels[d] for d in self.plan.densities})
                for net in self.runner.level_networks(level, level, d_nets, d_payloads,
                                                      d_nets, d_payloads)]

    # --- masks ------------------------------------------------------------------------------
    def _built(self, trial: int) -> LotteryModel:
        """One member holding ``trial``'s initialization, on the runner's device (memoized:
        the scoring methods work on copies)."""
        key = ("model", trial)
        if key not in self._cache:
            hp = self.hp
            model = build(hp.model.name, seeds=[0], input_shape=self.shape,
                          num_classes=self.classes, **hp.model.options())
            load_member_state(model, 0, self.runner.fresh_init(init_seed(hp, trial)))
            self._cache[key] = model.to(self.runner.device)
        return self._cache[key]

    def ticket(self, trial: int, level: int) -> tuple[Network, Mask]:
        """``trial``'s IMP ticket (reset to init) at ``level`` and its mask."""
        if self.chain is None:
            raise RuntimeError("train the IMP chain before asking for its tickets")
        nets, payloads = self.chain
        return nets[level][trial], mask_of(payloads[level][trial], self.dense_mask)

    def layer_densities(self, spec: Spec, trial: int) -> str | dict[str, float]:
        if spec.layers != "imp":
            return "global"
        return self.ticket(trial, spec.level)[1].layer_density()

    def scores(self, spec: Spec, trial: int) -> atinit.Scores | Mask:
        """The method's output for ``trial`` (scores memoized across densities)."""
        key = (spec.kind, trial, fingerprint(dict(spec.params)))
        cacheable = METHODS[spec.kind].cacheable
        if cacheable and key in self._cache:
            return self._cache[key]
        snapshots = self.dense_payloads[trial]["snapshots"] if spec.kind == "early_bird" else {}
        scoring = Scoring(self._built(trial), self.runner.data.train, self.shape,
                          self.curve[spec.level], self.layer_densities(spec, trial),
                          snapshots.__getitem__, seed_of(self.hp.seed, trial, spec.kind,
                                                         dict(spec.params)))
        out = METHODS[spec.kind].score(scoring, spec.params)
        if cacheable:
            self._cache[key] = out
        return out

    def mask(self, spec: Spec, trial: int) -> Mask:
        """The mask ``spec`` gives ``trial`` (shuffled within layers when it says so)."""
        key = ("mask", spec.kind, trial, fingerprint(dict(spec.params)), spec.level, spec.layers)
        if key not in self._cache:  # the shuffle ablation reuses the unshuffled mask
            out = self.scores(spec, trial)
            if isinstance(out, Mask):
                self._cache[key] = out
            elif spec.layers == "preset":
                self._cache[key] = preset_mask(self.hp, self.kinds, out, self.dense_mask,
                                               spec.level)
            else:
                self._cache[key] = atinit.mask_at_density(
                    out, self.dense_mask, self.curve[spec.level],
                    strategy=self.layer_densities(spec, trial))
        mask = self._cache[key]
        if spec.shuffled:
            return atinit.shuffle_within_layers(mask, self.shuffle_seed(spec, trial))
        return mask

    def shuffle_seed(self, spec: Spec, trial: int) -> int:
        return seed_of("shuffle", self.hp.seed, trial, spec.level, spec.kind, dict(spec.params))

    # --- one network per spec and trial -----------------------------------------------------
    def _layers_id(self, spec: Spec, trial: int) -> str | dict:
        if spec.layers == "imp":
            # the ticket's network only (not its mask): the estimate names it without weights
            ticket = self.chain[0][spec.level][trial]
            return {"densities_of": self.runner.store.key_id(ticket.key)}
        if spec.layers == "preset":
            return {"pruning": to_dict(self.hp.pruning), "rounds": spec.level}
        return "global"

    def network(self, spec: Spec, trial: int) -> Network:
        """``spec``'s network of ``trial``: the method's mask on the trial's init, trained with
        the trial's data order; its identity names the method, parameters and density."""
        hp, variant = self.hp, "shuffled" if spec.shuffled else "ticket"
        seed, order = init_seed(hp, trial), data_seed(hp, trial)
        mask_id = {"method": spec.kind, "params": dict(spec.params), "level": spec.level,
                   "density": self.curve[spec.level], "layers": self._layers_id(spec, trial)}
        if spec.kind == "early_bird":
            mask_id["snapshot_of"] = self.runner.store.key_id(self.dense_networks[trial].key)
        if spec.shuffled:
            mask_id["shuffle_seed"] = self.shuffle_seed(spec, trial)
        identity = {"start": {"init_seed": seed}, "mask": mask_id, "variant": variant,
                    "data_seed": order}
        return self.runner.network(
            f"cheap-{spec.kind}", identity, {"trial": trial, "level": spec.level,
                                             "variant": variant},
            lambda: Member(self.runner.fresh_init(seed), self.mask(spec, trial), order),
            keep_final=False)

    # --- the early-bird stopping rule -------------------------------------------------------
    def early_bird_mask(self, trial: int, level: int, state: State) -> Mask:
        scores = atinit.early_bird(state, self.dense_mask)
        return preset_mask(self.hp, self.kinds, scores, self.dense_mask, level)

    def stop(self, trial: int, level: int) -> int:
        """The stop rule's iteration for ``trial`` at ``level`` (the last checkpoint when the
        masks never settle; :attr:`settled` says which); records the distance curves."""
        rule, payload = self.plan.stop_rule, self.dense_payloads[trial]
        points = rule.checkpoints(self.hp.training.iterations)
        masks = [self.early_bird_mask(trial, level, payload["snapshots"][t]) for t in points]
        final = self.early_bird_mask(trial, level, payload["final"])
        index = atinit.early_bird_stop(masks, rule.window, rule.threshold)
        self.settled[(trial, level)] = index is not None
        for j, (t, mask) in enumerate(zip(points, masks, strict=True)):
            self.curves.append({"trial": trial, "level": level, "t": t,
                                "to_previous": atinit.mask_distance(masks[j - 1], mask) if j
                                else np.nan, "to_oneshot": atinit.mask_distance(mask, final),
                                "density": mask.density()})
        return points[-1 if index is None else index]

    # --- what the plan asks for -------------------------------------------------------------
    def params(self, kind: str, **extra) -> dict:
        return method_params(kind, self.hp, self.classes, {**self.plan.params.get(kind, {}),
                                                            **extra})

    def specs(self, trial: int) -> list[Spec]:
        """``trial``'s cheap networks, in the plan's order, without repeats."""
        plan, out = self.plan, []
        for level in [self.levels[d] for d in plan.densities]:
            out += [Spec(k, self.params(k), "global", level, label=METHODS[k].label)
                    for k in plan.at_init]
            if plan.random:
                out.append(Spec("random", self.params("random"), "imp", level,
                                label="random (IMP layers)"))
            out += [Spec("early_bird", self.params("early_bird", t=t), "preset", level,
                         label=f"early-bird t={t}") for t in plan.early_bird]
            if plan.stop_rule:
                out.append(Spec("early_bird", self.params("early_bird", t=self.stop(
                    trial, level)), "preset", level, label="early-bird (stop rule)"))
        for level in [self.levels[d] for d in plan.imp_layers]:
            out += [Spec(k, self.params(k), "imp", level, label=f"{METHODS[k].label} (IMP "
                         f"layers)") for k in plan.at_init]
        for level in [self.levels[d] for d in plan.shuffle]:
            out += [Spec(k, self.params(k), "global", level, shuffled=True,
                         label=METHODS[k].label) for k in plan.at_init]
        unique = {fingerprint([s.label, s.kind, dict(s.params), s.layers, s.level, s.shuffled]): s
                  for s in out}
        return list(unique.values())

    # --- costs ------------------------------------------------------------------------------
    def cost(self, kind: str, level: int, params: Mapping[str, Any] | None = None,
             layers: str = "global", k: int = 0) -> dict[str, float]:
        """Iterations and FLOPs spent finding the mask of ``kind`` at ``level``, before its
        final training (``k``: IMP's rewind point)."""
        t_max, batch, flops, params = (self.hp.training.iterations, self.hp.training.batch_size,
                                       self.flops, params or {})
        if kind == "dense":
            return dict(ZERO)
        if kind == "imp":  # the dense run, then levels 1 .. level - 1 retrained from k
            return _add(atinit.cost("imp", flops=flops, batch_size=batch, iterations=t_max,
                                    levels=1),
                        atinit.cost("imp", flops=flops, batch_size=batch,
                                    iterations=t_max - k, levels=level - 1))
        if kind == "oneshot":
            return atinit.cost("imp", flops=flops, batch_size=batch, iterations=t_max, levels=1)
        if kind == "early_bird":
            own = atinit.cost("early_bird", flops=flops, batch_size=batch, iterations=params["t"])
        elif kind == "random":
            own = dict(ZERO)
        else:
            own = atinit.cost(kind, flops=flops, batch_size=params.get("batch_size", 0),
                              batches=params.get("batches", 1),
                              synflow_iterations=params.get("iterations", 100))
        # IMP's per-layer densities are free under a layer-wise schedule (the rates fix them);
        # under global pruning they come from training the IMP ticket
        if layers == "imp" and self.hp.pruning.strategy == "global":
            own = _add(own, self.cost("imp", level))
        return own

    # --- results ----------------------------------------------------------------------------
    def labels(self, method: str, kind: str, layers: str, trial: int, level: int,
               variant: str = "ticket", cost: Mapping[str, float] = ZERO,
               t: float = np.nan) -> dict:
        return {"method": method, "kind": kind, "layers": layers, "trial": trial,
                "level": level, "variant": variant, "t": t,
                "cost_iterations": cost["iterations"], "cost_flops": cost["flops"]}

    def chain_pairs(self, k: int, chain: Chain) -> list[tuple[dict, dict]]:
        method = "IMP (reset to init)" if not k else f"IMP (rewind to k={k})"
        nets, payloads = chain
        return [(self.labels(method, "imp", "imp", n.labels["trial"], level,
                             cost=self.cost("imp", level, k=k)), p)
                for level in sorted(nets) if level
                for n, p in zip(nets[level], payloads[level], strict=True)]

    def spec_pairs(self, trial: int, specs: Sequence[Spec],
                   payloads: Sequence[dict]) -> list[tuple[dict, dict]]:
        return [(self.labels(s.label, s.kind, s.layers, trial, s.level,
                             "shuffled" if s.shuffled else "ticket",
                             self.cost(s.kind, s.level, s.params, s.layers),
                             s.params.get("t", np.nan)), p)
                for s, p in zip(specs, payloads, strict=True)]


def train_unique(runner: Runner, networks: Sequence[Network], desc: str) -> list[dict]:
    """``runner.train_many`` training each stored entry once (two specs may name one network,
    e.g. the stop rule's t and a listed t)."""
    unique = {net.path: net for net in networks}
    loaded = dict(zip(unique, runner.train_many(list(unique.values()), desc), strict=True))
    return [loaded[net.path] for net in networks]


@dataclass
class CheapResult:
    """Every network of a comparison: one row per trial x method x level x variant."""

    hparams: ExperimentHparams
    results: pd.DataFrame      # labels, costs and the early-stop summary of each network
    histories: pd.DataFrame
    masks: dict[tuple[str, str, int, int], Mask]  # (method, variant, trial, level) -> mask
    early_bird: pd.DataFrame   # stop rule: mask distances at each checkpoint
    levels: dict[float, int]   # target density -> IMP level
    flops: int                 # forward FLOPs of one example through the dense network
    data: str
    synthetic: bool


def run(runner: Runner, plan: Plan) -> CheapResult:
    """The plan on ``runner``'s experiment: dense runs, IMP chains, then every cheap network and
    one-shot trained together (reruns load all of it from the store)."""
    stage = CheapStage(runner, plan)
    if plan.needs_dense():
        stage.train_dense()
    chains = {}
    if plan.needs_imp():
        chains[0] = stage.chain = stage.imp_chain(0)
    if plan.rewind:
        chains[plan.rewind] = stage.imp_chain(plan.rewind)
    trials = range(stage.hp.trials)
    specs = {t: stage.specs(t) for t in trials}
    oneshot = stage.oneshot_networks() if plan.imp else []
    cheap = [stage.network(s, t) for t in trials for s in specs[t]]
    payloads = train_unique(stage.runner, oneshot + cheap, "cheap masks")
    pairs = [(stage.labels("dense", "dense", "-", t, 0), p)
             for t, p in enumerate(stage.dense_payloads)] if plan.needs_dense() else []
    for k, chain in chains.items():
        if plan.imp or k:  # the reset chain may run only to lend its layer densities
            pairs += stage.chain_pairs(k, chain)
    pairs += [(stage.labels("one-shot magnitude", "oneshot", "preset", n.labels["trial"],
                            n.labels["level"], cost=stage.cost("oneshot", 1)), p)
              for n, p in zip(oneshot, payloads[:len(oneshot)], strict=True)]
    done = iter(payloads[len(oneshot):])
    for t in trials:
        pairs += stage.spec_pairs(t, specs[t], [next(done) for _ in specs[t]])
    return _result(stage, pairs)


def _result(stage: CheapStage, pairs: list[tuple[dict, dict]]) -> CheapResult:
    results, histories = experiment_tables(pairs)
    masks = {(lab["method"], lab["variant"], lab["trial"], lab["level"]):
             mask_of(p, stage.dense_mask) for lab, p in pairs if lab["level"]}
    data = stage.runner.data
    return CheapResult(stage.hp, results, histories, masks, pd.DataFrame(
        stage.curves, columns=["trial", "level", "t", "to_previous", "to_oneshot", "density"]),
        dict(stage.levels), stage.flops, data.description, data.synthetic)


def notebook_plan(hp: ExperimentHparams, paper: ExperimentHparams, *, densities, focus_densities,
                  early_bird_ts, rewind_k: int) -> Plan:
    """The plan notebook 07 runs for its parameters (its estimate builds the same one)."""
    early = sorted({t for t in (scaled(hp, paper, t) for t in early_bird_ts)
                    if t < hp.training.iterations})
    return Plan(densities=tuple(densities), imp_layers=tuple(focus_densities),
                shuffle=tuple(focus_densities), early_bird=tuple(early), stop_rule=StopRule(),
                rewind=scaled(hp, paper, rewind_k) or None)
