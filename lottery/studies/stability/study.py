"""Is it the same ticket each time? Stability to data order and to pruning, and linear mode
connectivity of tickets and their controls.

Frankle, Dziugaite, Roy & Carbin 2019 ("Stabilizing the LTH", Sec. 4): a subnetwork is *stable
to data order* when two copies trained from the same starting point with different data orders
end close together (L2 distance of their final weights), and *stable to pruning* when, trained
alone, it ends close to the dense network's final weights on the same mask. Frankle et al. 2020
("Linear Mode Connectivity and the LTH"): the same two copies are linearly connected when the
test error along the line between them rises no higher than at its ends (instability = the
barrier above the endpoints' mean).

A *copy* is a network whose identity differs only in its data order:
:meth:`~lottery.core.experiments.Runner.reordered` gives a network the data-order seed of copy
``order`` (shared by every trial; order 0 is each trial's own seed, which keeps every existing
key unchanged) and adds ``data_order`` to its identity. A runner of data order ``order``
(``Runner(hp, order=1)``) trains a whole IMP run on it, which is how two IMP runs differing
*only* in data order, or (same order, two trials) *only* in init seed, are made.

:class:`StabilityStudy` holds one plan (levels, rewind points, points along each line) and
trains everything it needs through the run store, IMP runs level by level and several runs
per batched call: the k = 0 run ("A") the stability runs share, the same run on data order 1
("B"), one run per rewind iteration k, and the copies, controls and dense companions of the
stability measurements. Its three stages -- :meth:`~StabilityStudy.stability`,
:meth:`~StabilityStudy.overlap` (:mod:`lottery.studies.stability.overlap`) and
:meth:`~StabilityStudy.properties` (:mod:`lottery.studies.stability.properties`) -- share them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace

import numpy as np
import pandas as pd
import torch

from lottery.claims.paper_values import STABILITY_LENET
from lottery.core.experiments import Network, Runner, data_seed, mask_of
from lottery.core.hparams import ExperimentHparams, HparamError, TrainingHparams
from lottery.core.presets import PRESETS, scale_iterations
from lottery.core.store import RunStore
from lottery.core.training import DEFAULT_SPEED, Member, SpeedOptions, evaluation_iterations
from lottery.engine import analysis
from lottery.engine.data import DataBundle
from lottery.engine.masks import Mask
from lottery.studies.stability.params import StabilityParams

# the controls of the paper's stability table (the variants registry holds more)
CONTROLS = ("reinit", "random_mask")

A, B = (0, 0), (0, 1)  # (k, data order) of the k = 0 IMP run and of its data-order twin

# ------------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class StudyPlan:
    """What a study measures, in this run's iterations and IMP levels."""

    levels: tuple[int, ...]       # IMP levels measured at k = 0 (LeNet 3, 7, 10, 15)
    focus: int                    # the paper table's level (LeNet 10: 10.7%); also the k sweep
    connectivity: int             # the level whose first-layer connectivity is drawn (~7%)
    ks: tuple[int, ...]           # rewind iterations, 0 first
    points: int = 11              # networks along each line between two copies
    info_points: tuple[int, ...] = ()  # iterations whose weights the information plane reads
    info_inputs: int = 2000       # test inputs the information plane bins
    info_bins: tuple[int, ...] = (30, 4)  # bin counts of the information plane (one row each)

    @property
    def depth(self) -> int:
        """IMP levels of the k = 0 runs."""
        return max((*self.levels, self.focus, self.connectivity))


def scaled_ks(ks: Sequence[int], iterations: int, paper_iterations: int) -> tuple[int, ...]:
    """Paper rewind iterations scaled like the run's training (as ``Session.rewind_sweep``);
    0 always included, duplicates once, points past the end dropped."""
    factor = iterations / paper_iterations
    scaled = {0} | {max(1, round(k * factor)) for k in ks if k}
    return tuple(sorted(k for k in scaled if k < iterations))


def information_points(training: TrainingHparams, count: int = 10) -> tuple[int, ...]:
    """About ``count`` evaluation iterations before the end, evenly spaced in log (the final
    weights are the last point of the information plane)."""
    candidates = evaluation_iterations(training, 0)[:-1]
    picks = np.unique(np.round(np.geomspace(1, len(candidates), count)).astype(int) - 1)
    return tuple(sorted({0, *(candidates[i] for i in picks)}))


def validate_study(*, preset: str, quick_iterations: int = 2500, **params) -> StabilityParams:
    """Notebook 05's parameters checked (one-line :class:`HparamError`), before any work: the
    preset and the quick cut here, the study's own by :class:`StabilityParams`."""
    if preset not in PRESETS:
        raise HparamError(f"parameter preset must be one of {', '.join(PRESETS)}; got {preset!r}")
    if not _at_least(quick_iterations, 1):
        raise HparamError(f"parameter quick_iterations must be an integer >= 1; got "
                          f"{quick_iterations!r}")
    return StabilityParams(**params)


def check_notebook(parameters: Mapping) -> None:
    """:func:`validate_study` on a notebook's parameter values (what ``reproduce`` checks
    before a kernel starts)."""
    names = {f.name for f in fields(StabilityParams)}
    validate_study(preset=parameters.get("preset", "lenet"),
                   quick_iterations=parameters.get("quick_iterations", 2500),
                   **{k: v for k, v in parameters.items() if k in names})


def _at_least(value, low: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def make_plan(hp: ExperimentHparams, paper_iterations: int, *, levels: Sequence[int],
              focus: int, connectivity: int, rewind_ks: Sequence[int], points: int = 11,
              info_inputs: int = 2000, info_bins: Sequence[int] = (30, 4)) -> StudyPlan:
    """The plan for ``hp``: levels beyond the profile's ``hp.levels`` are cut to it (the smoke
    profile prunes twice), rewind points scaled from the paper's ``paper_iterations``."""
    if hp.levels < 1:
        raise HparamError(f"levels must be at least 1 for a stability study; got {hp.levels}")
    bad = [v for v in (*levels, focus, connectivity) if not (isinstance(v, int) and v >= 1)]
    if bad or not levels:
        raise HparamError(f"stability levels must be positive integers (IMP levels); got {bad}")
    if not (isinstance(points, int) and points >= 3):
        raise HparamError(f"line points must be an integer >= 3; got {points!r}")
    outside = [k for k in rewind_ks if not (isinstance(k, int) and not isinstance(k, bool)
                                            and 0 <= k < paper_iterations)]
    if outside or not rewind_ks:  # a point past the end would be dropped, one below 0 made 1
        raise HparamError(f"rewind points must be paper iterations in [0, {paper_iterations}) "
                          f"(scaled like the training); got {list(rewind_ks)}")
    clip = {v: min(v, hp.levels) for v in (*levels, focus, connectivity)}
    t = hp.training
    return StudyPlan(tuple(sorted({clip[v] for v in (*levels, focus)})), clip[focus],
                     clip[connectivity], scaled_ks(rewind_ks, t.iterations, paper_iterations),
                     points, information_points(t),
                     info_inputs, tuple(info_bins))


def plan_of(hp: ExperimentHparams, paper_iterations: int, params) -> StudyPlan:
    """:func:`make_plan` from the study's parameters (:class:`StabilityParams`)."""
    return make_plan(hp, paper_iterations, levels=params.stability_levels,
                     focus=params.focus_level, connectivity=params.connectivity_level,
                     rewind_ks=params.rewind_ks, points=params.line_points,
                     info_inputs=params.info_inputs, info_bins=params.info_bins)


# ------------------------------------------------------------------------------ IMP runs


@dataclass
class Chain:
    """One IMP run's tickets: level -> one network (and payload) per trial; level 0 is the
    dense level it prunes from and rewinds to."""

    runner: Runner
    depth: int
    networks: dict[int, list[Network]] = field(default_factory=dict)
    payloads: dict[int, list[dict]] = field(default_factory=dict)

    def mask(self, level: int, trial: int) -> Mask:
        return mask_of(self.payloads[level][trial], self.runner.dense_mask)

    def next_level(self, level: int) -> list[Network]:
        """The tickets of ``level``, pruned from ``level - 1``."""
        return self.runner.level_networks(level, 1, self.networks[level - 1],
                                          self.payloads[level - 1], self.networks[0],
                                          self.payloads[0])


@dataclass(frozen=True)
class Pair:
    """Two copies of one network differing only in data order, and the dense network its
    weights are compared with for stability to pruning (None for a dense network)."""

    k: int
    level: int
    variant: str                  # ticket, reinit, random_mask, or dense
    trial: int
    copies: tuple[Network, Network]
    companion: Network | None


@dataclass
class StabilityResult:
    hparams: ExperimentHparams
    plan: StudyPlan
    table: pd.DataFrame     # one row per k x level x variant x trial
    lines: pd.DataFrame     # test error along each line: one row per pair x alpha
    data: str
    synthetic: bool


class StabilityStudy:
    """The networks of one plan, trained through the store once, shared by the stages."""

    def __init__(self, hp: ExperimentHparams, plan: StudyPlan, *, data: DataBundle,
                 store: RunStore | None = None, device: str | torch.device | None = None,
                 speed: SpeedOptions = DEFAULT_SPEED, progress: bool = False,
                 **runner_options):
        # the test set is evaluated at early stop and at the end only: no curve is drawn here
        self.hp = hp.replace(levels=plan.depth, controls=(), rewind_iteration=0,
                             training__test_curve=False)
        self.plan, self.data = plan, data
        # runner_options: how its runners report and where they train (the notebook's: its
        # progress observer and its executor)
        self.options = {"store": store or RunStore(), "device": device, "data": data,
                        "speed": speed, "progress": progress, **runner_options}
        self._runners: dict[tuple, Runner] = {}
        self._chains: dict[tuple[int, int], Chain] | None = None
        self._pairs: list[Pair] | None = None
        self._payloads: dict[tuple[str, str], dict] = {}

    @property
    def information_plane(self) -> bool:
        """The binned information plane is defined here for LeNet's fc layers only."""
        return self.hp.model.name == "lenet"

    def runner(self, k: int = 0, order: int = 0, controls: tuple[str, ...] = ()) -> Runner:
        """The runner of rewind point ``k``, data order ``order`` and ``controls``."""
        key = (k, order, controls)
        if key not in self._runners:
            hp = self.hp.replace(rewind_iteration=k, controls=controls)
            self._runners[key] = Runner(hp, order=order, **self.options)
        return self._runners[key]

    @property
    def base(self) -> Runner:
        return self.runner()

    def snapshots(self, level: int, variant: str, trial: int) -> tuple[int, ...]:
        """What a k = 0, order-0 network keeps: the information plane's points (trial 0) for
        the dense net, and for the ticket and its reinit at the focus level."""
        wanted = self.information_plane and trial == 0 and variant in ("ticket", "reinit") \
            and level in (0, self.plan.focus)
        return self.plan.info_points if wanted else ()

    def train(self, networks: Sequence[Network], desc: str) -> list[dict]:
        """Payloads of ``networks`` (each distinct network loaded or trained once)."""
        missing = {n.path: n for n in networks if n.path not in self._payloads}
        for net, payload in zip(missing.values(), self.base.train_many(list(missing.values()),
                                                                        desc), strict=True):
            self._payloads[net.path] = payload
        return [self._payloads[n.path] for n in networks]

    # --- IMP runs ---------------------------------------------------------------------------
    def chains(self) -> dict[tuple[int, int], Chain]:
        """The IMP runs by (k, data order): A = (0, 0) and B = (0, 1) to the plan's depth, one
        run per rewind point k > 0 to the focus level, trained level by level together."""
        if self._chains is None:
            plan = self.plan
            chains = {A: Chain(self.base, plan.depth), B: Chain(self.runner(order=1), plan.depth)}
            chains |= {(k, 0): Chain(self.runner(k), plan.focus) for k in plan.ks if k}
            self._grow_dense(chains)
            for level in range(1, plan.depth + 1):
                self._grow(chains, level)
            self._chains = chains
        return self._chains

    def _grow_dense(self, chains: dict[tuple[int, int], Chain]) -> None:
        ks = [k for k in self.plan.ks if k]  # every rewind run rewinds to A's dense nets
        dense = {A: [replace(n, snapshots=tuple(sorted({*ks, *self.snapshots(0, "ticket", t)})))
                     for t, n in enumerate(self.base.dense_networks())],
                 B: chains[B].runner.dense_networks()}
        payloads = dict(zip(dense, [self.train(nets, "dense") for nets in dense.values()],
                            strict=True))
        for key, chain in chains.items():
            source = B if key == B else A  # every rewind run prunes from and rewinds to A's
            chain.networks[0], chain.payloads[0] = dense[source], payloads[source]

    def _grow(self, chains: dict[tuple[int, int], Chain], level: int) -> None:
        growing = {key: c for key, c in chains.items() if c.depth >= level}
        wanted = {key: [replace(n, snapshots=self.snapshots(level, "ticket", t) if key == A
                                else ()) for t, n in enumerate(c.next_level(level))]
                  for key, c in growing.items()}
        payloads = self.train([n for nets in wanted.values() for n in nets], f"IMP level {level}")
        for key, nets in wanted.items():
            growing[key].networks[level] = nets
            growing[key].payloads[level], payloads = payloads[:len(nets)], payloads[len(nets):]

    # --- the copies -------------------------------------------------------------------------
    def pairs(self) -> list[Pair]:
        """Every pair the stability stage measures: dense, ticket and controls at k = 0 and the
        plan's levels; at each k > 0 the same at the focus level."""
        if self._pairs is None:
            pairs = []
            for k in self.plan.ks:
                pairs += self._dense_pairs(k)
                for level in self.plan.levels if k == 0 else (self.plan.focus,):
                    pairs += self._level_pairs(k, level)
            self._pairs = pairs
        return self._pairs

    def pair_payloads(self) -> dict[tuple[str, str], dict]:
        """Every pair's copies and companions trained (or loaded), by store path."""
        networks = [n for p in self.pairs() for n in (*p.copies, p.companion) if n is not None]
        self.train(networks, "stability copies")
        return self._payloads

    def _dense_pairs(self, k: int) -> list[Pair]:
        chains = self.chains()
        if k == 0:
            return [Pair(0, 0, "dense", t, (a, b), None) for t, (a, b) in enumerate(zip(
                chains[A].networks[0], chains[B].networks[0], strict=True))]
        pairs = []
        for t, (dense, payload) in enumerate(zip(chains[A].networks[0], chains[A].payloads[0],
                                                 strict=True)):
            copy = self._dense_from(dense, payload, k, t)
            pairs.append(Pair(k, 0, "dense", t, (copy, replace(
                self.base.reordered(copy, 1), snapshots=())), None))
        return pairs

    def _dense_from(self, dense: Network, payload: dict, k: int, t: int) -> Network:
        """The dense network restarted at its iteration-k weights (both copies restart, so
        they differ in data order only, not in optimizer state)."""
        order = data_seed(self.hp, t)
        identity = {"start": {"rewind_of": self.base.store.key_id(dense.key), "iteration": k},
                    "mask": "dense", "variant": "ticket", "data_seed": order}
        return self.base.network("dense", identity, dict(dense.labels),
                                 lambda: Member(payload["snapshots"][k], None, order), start=k)

    def _level_pairs(self, k: int, level: int) -> list[Pair]:
        chains = self.chains()
        chain, dense = chains[(k, 0)], chains[A]
        runner = self.runner(k, controls=CONTROLS)
        networks = runner.level_networks(level, 1, chain.networks[level - 1],
                                         chain.payloads[level - 1], dense.networks[0],
                                         dense.payloads[0])
        pairs = []
        for net in networks:
            variant, t = net.labels["variant"], net.labels["trial"]
            keep = self.snapshots(level, variant, t) if k == 0 else ()
            net = replace(net, keep_final=True, snapshots=keep)
            twin = replace(runner.reordered(net, 1), snapshots=())
            companion = self._reinit_companion(runner, net, k) if variant == "reinit" \
                else dense.networks[0][t]
            pairs.append(Pair(k, level, variant, t, (net, twin), companion))
        return pairs

    def _reinit_companion(self, runner: Runner, net: Network, k: int) -> Network:
        """The dense network a random reinit is a subnetwork of: its fresh init, unpruned,
        trained from the same iteration on the same data order."""
        seed, t = net.key["seed"], net.labels["trial"]
        order = data_seed(self.hp, t)
        start = {"init_seed": seed} | ({"iteration": k} if k else {})
        identity = {"start": start, "mask": "dense", "variant": "ticket", "data_seed": order}
        return runner.network("dense", identity, {"trial": t, "level": 0, "variant": "reinit"},
                              lambda: Member(runner.fresh_init(seed), None, order), start=k)

    # --- the stages -------------------------------------------------------------------------
    def stability(self) -> StabilityResult:
        """Distances and linear mode connectivity of every pair (see :func:`measure_pair`)."""
        payloads = self.pair_payloads()
        rows, lines = [], []
        for pair in self.pairs():
            row, line = measure_pair(self, pair, payloads)
            rows.append(row)
            lines += line
        return StabilityResult(self.hp, self.plan, pd.DataFrame(rows), pd.DataFrame(lines),
                               self.data.description, self.data.synthetic)


def measure_pair(study: StabilityStudy, pair: Pair,
                 payloads: dict[tuple[str, str], dict]) -> tuple[dict, list[dict]]:
    """One pair's row -- data-order distance, pruning distance, instability (pp of test
    error), both copies' accuracy -- and its test error along the line between the copies."""
    first, second = (payloads[n.path] for n in pair.copies)
    mask = mask_of(first, study.base.dense_mask)
    data = study.data
    errors = analysis.error_along_line(study.hp.model.name, first["final"], second["final"],
                                       data.test, study.plan.points, bn_data=data.train,
                                       num_classes=data.num_classes)
    companion = payloads[pair.companion.path]["final"] if pair.companion else None
    labels = {"k": pair.k, "level": pair.level, "variant": pair.variant, "trial": pair.trial,
              "percent_remaining": 100 * mask.density()}
    row = labels | {
        "data_order_distance": analysis.l2_distance(first["final"], second["final"], mask=mask),
        "pruning_distance": math.nan if companion is None else analysis.l2_distance(
            first["final"], companion, mask=mask),
        "instability_pp": 100 * analysis.instability(errors),
        "early_stop_test_acc": first["summary"]["early_stop_test_acc"],
        "final_test_acc": first["summary"]["final_test_acc"],
        "copy_early_stop_test_acc": second["summary"]["early_stop_test_acc"]}
    line = [labels | {"alpha": float(a), "test_error_pct": 100 * float(e)}
            for a, e in zip(analysis.alphas(len(errors)), errors, strict=True)]
    return row, line


# ------------------------------------------------------------------------------- reading


METRICS = ("data_order_distance", "pruning_distance", "instability_pp", "early_stop_test_acc")
VARIANT_ORDER = ("dense", "ticket", *CONTROLS)

# Frankle et al. 2019, LeNet-300-100 at 10.7% remaining (docs/PAPERS.md marks these as read
# approximately from the paper's stability table; its control column is "random reinit").
PAPER_LENET = STABILITY_LENET  # the paper's LeNet table: lottery.claims.paper_values


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """Mean over trials per k, level and variant (accuracies in percent)."""
    frame = table.copy()
    for column in ("early_stop_test_acc", "final_test_acc", "copy_early_stop_test_acc"):
        frame[column] = 100 * frame[column]
    keys = ["k", "level", "variant"]
    means = frame.groupby(keys, sort=False)[["percent_remaining", *METRICS]].mean()
    order = {v: i for i, v in enumerate(VARIANT_ORDER)}
    return means.sort_index(key=lambda s: s.map(order) if s.name == "variant" else s)


def versus_paper(table: pd.DataFrame, level: int, k: int = 0) -> pd.DataFrame:
    """The paper's LeNet stability table beside ours at ``level`` (the paper's 10.7%)."""
    ours = summary(table).xs((k, level), level=("k", "level"))
    rows = []
    for metric, paper in PAPER_LENET.items():
        row = {"measure": metric, "paper: ticket": paper["ticket"],
               "paper: random reinit": paper["reinit"]}
        row |= {f"ours: {v}": ours.loc[v, metric] if v in ours.index else math.nan
                for v in ("ticket", *CONTROLS)}
        rows.append(row)
    frame = pd.DataFrame(rows).set_index("measure")
    frame.attrs["percent_remaining"] = float(ours["percent_remaining"].get("ticket", math.nan))
    return frame.round(2)


def describe(plan: StudyPlan, hp: ExperimentHparams) -> str:
    """One line: what the study trains."""
    return (f"{hp.trials} trial(s), {hp.training.iterations} iterations; IMP to level "
            f"{plan.depth} on two data orders; stability at levels {list(plan.levels)} "
            f"(k = 0) and level {plan.focus} for k in {list(plan.ks)}; {plan.points} points "
            f"per line")


def study_hparams(hp: ExperimentHparams, preset: str, iterations: int | None) -> ExperimentHparams:
    """``hp`` with its training cut to ``iterations`` (the preset's schedule scaled, as the
    CLI's ``--iterations``); None keeps it (``Session.stability_study`` and its estimate)."""
    if iterations is None:
        return hp
    return hp.replace(training=scale_iterations(PRESETS[preset], iterations,
                                                hp.training.eval_every).training)
