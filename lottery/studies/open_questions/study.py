"""Notebook 08: the open questions readers of the Lottery Ticket Hypothesis ask, with numbers.

- **Width.** Frankle & Carbin (2019, Sec. 7) read their hypothesis as: a larger network holds
  combinatorially more subnetworks, so more chances of a winning ticket. IMP runs on LeNet at
  several widths (``model.width``: 0.25x to 4x the 300-100 hidden units); at equal numbers of
  remaining weights, do tickets of wider networks reach higher accuracy or stop earlier, and
  does the ticket - reinit gap grow with width?
- **Initialization.** The paper uses Gaussian Glorot. IMP with its random-reinit control under
  each scheme of :mod:`lottery.engine.init_schemes`: does a ticket appear, and how large is its gap?
- **Pruning recipes** at the same sparsities, every one from the same IMP masks: reset to
  init (the ticket), rewind to iteration k (Frankle et al. 2019), *fine-tuning* (continue
  training the trained, pruned weights at the final learning rate; Han et al. 2015, the
  recipe LTH Sec. 1 contrasts), *learning-rate rewinding* (the trained, pruned weights
  retrained with the original schedule; Renda et al. 2020; variant ``lr_rewind``), random
  reinit and random pruning; with the training each costs.
- **Information plane** with an estimator that does not saturate
  (:mod:`lottery.engine.information_plane`), the binned one of notebook 05 beside it, dense vs
  ticket vs reinit over training.

Every network is one stored network of :class:`~lottery.core.experiments.Runner` (keyed, loaded
when stored). One IMP lineage per (width, init scheme, rewind point); the base lineage (width
1, Glorot, k = 0) carries the recipe controls, keeps the weights the information plane reads,
and its dense runs keep the rewind point. :meth:`OpenQuestionsStudy.train` is the one place
that trains, so a listing subclass can name everything for the estimate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import torch

from lottery.core.experiments import ExperimentResult, Network, Runner, control_seed, data_seed
from lottery.core.hparams import ExperimentHparams, HparamError, TrainingHparams, to_dict
from lottery.core.training import Member, evaluation_iterations
from lottery.engine import analysis, information_plane
from lottery.engine.init_schemes import DEFAULT as GLOROT
from lottery.engine.init_schemes import SCHEMES
from lottery.engine.members import State

WIDTHS = (0.25, 0.5, 1.0, 2.0, 4.0)
INITS = tuple(SCHEMES)
FINE_TUNE, LR_REWIND, REWIND = "fine_tune", "lr_rewind", "rewind"
BASE_CONTROLS = ("reinit", "random_mask", LR_REWIND)
RECIPES = ("ticket", REWIND, FINE_TUNE, LR_REWIND, "reinit", "random_mask")
RECIPE_NAMES = {"ticket": "reset to init (ticket)", REWIND: "rewind to k",
                FINE_TUNE: "fine-tune (final lr)", LR_REWIND: "lr rewinding",
                "reinit": "random reinit", "random_mask": "random pruning"}
INFO_NETWORKS = ("dense", "ticket", "reinit")
BINS = 30  # notebook 05's classic bin count, shown beside the noisy estimate
Columns = ["trial", "level", "variant", "percent_remaining", "remaining_weights",
           "early_stop_iteration", "early_stop_test_acc", "final_test_acc", "eval_every"]


@dataclass(frozen=True)
class OpenPlan:
    """What the study measures, in this run's iterations and IMP levels."""

    widths: tuple[float, ...]
    inits: tuple[str, ...]
    rewind_k: int                 # the rewind-to-k recipe's k (this run's iterations)
    finetune_iterations: int      # fine-tuning's length, at the final learning rate
    info_level: int               # the IMP level of the ticket and reinit in the plane
    info_points: tuple[int, ...]  # iterations whose weights the plane reads (+ the end)
    info_inputs: int              # test inputs the plane reads
    info_noise: float             # the noise variance, relative to each layer's total variance


def finetune_training(t: TrainingHparams) -> TrainingHparams:
    """Fine-tuning's schedule: the final learning rate of ``t`` throughout (no warmup, no
    drops). For a constant schedule (LeNet's Adam) it is ``t`` itself."""
    return replace(t, lr=t.lr_at(t.iterations - 1), milestones=(), warmup=0)


def info_points(training: TrainingHparams, count: int = 8) -> tuple[int, ...]:
    """0 and about ``count`` evaluation iterations before the end, evenly spaced in log."""
    candidates = evaluation_iterations(training, 0)[:-1]
    if not candidates:
        return (0,)
    picks = np.unique(np.round(np.geomspace(1, len(candidates), count)).astype(int) - 1)
    return tuple(sorted({0, *(int(candidates[i]) for i in picks)}))


def study_hparams(hp: ExperimentHparams, profile: str, iterations: int, levels: int
                  ) -> ExperimentHparams:
    """The study's recipe: test set only at early stop and the end, final training accuracy on
    10K examples; under ``quick`` the given iterations and levels."""
    cut = {"training__test_curve": False, "training__final_train_subset": 10_000}
    if profile == "quick":
        cut |= {"training__iterations": iterations, "levels": levels}
    return hp.replace(**cut)


def make_plan(hp: ExperimentHparams, paper_iterations: int, profile: str, *,
              widths: Sequence[float], inits: Sequence[str], rewind_k: int,
              finetune_fraction: float, info_level: int, info_inputs: int,
              info_noise: float) -> OpenPlan:
    """The plan in this run's units: ``rewind_k`` is in paper iterations (scaled like the
    training), ``finetune_fraction`` of the training length, ``info_level`` cut to the run's
    levels. ``smoke`` keeps three widths around 1 and two schemes (a pipeline check in
    seconds)."""
    t = hp.training
    if profile == "smoke":
        widths = [w for w in widths if 0.5 <= float(w) <= 2.0][:3]
        inits = [i for i in inits if i != GLOROT][:1] + [GLOROT]
    k = max(1, round(rewind_k * t.iterations / paper_iterations)) if rewind_k else 0
    k = min(k, t.iterations - 1)
    tune = max(1, round(finetune_fraction * t.iterations))
    return OpenPlan(tuple(float(w) for w in widths), tuple(inits), k, tune,
                    max(1, min(info_level, hp.levels)), info_points(t), info_inputs, info_noise)


def validate_open(*, widths, inits, rewind_k, finetune_fraction, info_level, info_inputs,
                  info_noise, quick_iterations, quick_rounds) -> None:
    """One :class:`HparamError` naming the first bad notebook parameter."""
    def fail(name: str, allowed: str, value) -> None:
        raise HparamError(f"parameter {name} must be {allowed}; got {value!r}")

    def whole(v) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    def number(v) -> bool:
        return isinstance(v, int | float) and not isinstance(v, bool) and np.isfinite(v)

    if not (isinstance(widths, Sequence) and widths and all(number(w) and 0 < w <= 16
                                                            for w in widths)):
        fail("widths", "a non-empty list of numbers in (0, 16]", widths)
    if 1 not in [float(w) for w in widths]:
        fail("widths", "a list holding 1 (the paper's width, the base of every comparison)",
             widths)
    if not (isinstance(inits, Sequence) and inits and all(i in SCHEMES for i in inits)):
        fail("inits", f"a non-empty list drawn from {list(SCHEMES)}", inits)
    for name, value, low in (("rewind_k", rewind_k, 0), ("info_level", info_level, 1),
                             ("info_inputs", info_inputs, 20), ("quick_iterations",
                                                                quick_iterations, 1),
                             ("quick_rounds", quick_rounds, 1)):
        if not (whole(value) and value >= low):
            fail(name, f"an integer >= {low}", value)
    if not (number(finetune_fraction) and 0 < finetune_fraction <= 1):
        fail("finetune_fraction", "a number in (0, 1]", finetune_fraction)
    if not (number(info_noise) and info_noise > 0):
        fail("info_noise", "a positive number", info_noise)


@dataclass
class Lineage:
    """One IMP run: its runner, and per level its networks and stored payloads."""

    runner: Runner
    networks: dict[float, list[Network]]
    payloads: dict[float, list[dict | None]]

    def result(self) -> ExperimentResult:
        return self.runner._result("imp", self.networks, self.payloads)


class OpenQuestionsStudy:
    """The stage of notebook 08: lineages per width, init scheme and rewind point, fine-tuned
    networks, and the tables and information plane read from them."""

    def __init__(self, hp: ExperimentHparams, plan: OpenPlan,
                 make_runner: Callable[[ExperimentHparams, str], Runner]):
        self.hp, self.plan, self.make_runner = hp.replace(rewind_iteration=0), plan, make_runner
        self._runners: dict[tuple, Runner] = {}
        self._lineages: dict[tuple, Lineage] = {}
        self._finetuned: Lineage | None = None

    # --- recipes and runners ----------------------------------------------------------------
    def recipe(self, width: float = 1.0, init: str = GLOROT, k: int = 0) -> ExperimentHparams:
        """The IMP recipe of one lineage; the base one carries the recipe controls."""
        controls = BASE_CONTROLS if (width, init, k) == (1.0, GLOROT, 0) else \
            (("reinit",) if k == 0 else ())
        return self.hp.replace(model__width=float(width), model__init=init, rewind_iteration=k,
                               controls=controls)

    def runner(self, width: float = 1.0, init: str = GLOROT, k: int = 0) -> Runner:
        key = (float(width), init, k)
        if key not in self._runners:
            label = f"{self.hp.model.name} width {width:g}, {init}" + (f", k={k}" if k else "")
            self._runners[key] = self.make_runner(self.recipe(*key), label)
        return self._runners[key]

    def train(self, runner: Runner, networks: list[Network], desc: str) -> list[dict | None]:
        """The one place that trains (loads what the store holds)."""
        return runner.train_many(networks, desc)

    # --- lineages -----------------------------------------------------------------------------
    def dense_snapshots(self) -> tuple[int, ...]:
        """What the dense runs keep: the plane's points and the rewind point."""
        return tuple(sorted({*self.plan.info_points, *([self.plan.rewind_k] * bool(
            self.plan.rewind_k))}))

    def _with_plane(self, level: float, nets: list[Network]) -> list[Network]:
        """The base lineage's ticket and reinit at the plane's level keep its weights."""
        if level != self.plan.info_level:
            return nets
        return [replace(n, snapshots=self.plan.info_points, keep_final=True)
                if n.labels["variant"] in INFO_NETWORKS else n for n in nets]

    def lineage(self, width: float = 1.0, init: str = GLOROT, k: int = 0) -> Lineage:
        """IMP of one (width, init, k), level by level (the base lineage first when k > 0:
        its dense runs keep the rewind point)."""
        key = (float(width), init, k)
        if key in self._lineages:
            return self._lineages[key]
        base = key == (1.0, GLOROT, 0)
        if k:
            self.lineage(width, init, 0)
        runner = self.runner(*key)
        same_dense = (float(width), init) == (1.0, GLOROT)
        dense = runner.dense_networks(self.dense_snapshots() if same_dense else ())
        nets, payloads = {0: dense}, {0: self.train(runner, dense, "level 0 (dense)")}
        for level, parent, rounds in runner.schedule("imp"):
            level_nets = runner.level_networks(level, rounds, nets[parent][:runner.hp.trials],
                                               payloads[parent][:runner.hp.trials], dense,
                                               payloads[0])
            nets[level] = self._with_plane(level, level_nets) if base else level_nets
            payloads[level] = self.train(runner, nets[level], f"imp level {level:g}")
        self._lineages[key] = Lineage(runner, nets, payloads)
        return self._lineages[key]

    # --- fine-tuning --------------------------------------------------------------------------
    def finetune_runner(self) -> Runner:
        return self.lineage().runner.derived(training=finetune_training(self.hp.training),
                                             controls=())

    def finetune_network(self, base: Lineage, runner: Runner, level: float, trial: int
                         ) -> Network:
        """The ticket mask of ``level`` on the trained weights of the level it was pruned from,
        trained ``plan.finetune_iterations`` at the final learning rate (the last iterations
        of the schedule: its data order and evaluation points)."""
        parent = base.networks[level - 1][trial]
        pruner = base.runner
        seed = control_seed(self.hp, trial, level, "ticket")
        pruned = to_dict(self.hp.pruning) | {"rounds": 1.0}
        identity = {"start": {"finetune_of": runner.store.key_id(parent.key)},
                    "mask": {"pruned_from": runner.store.key_id(parent.key), **pruned},
                    "variant": FINE_TUNE, "seed": seed, "data_seed": data_seed(self.hp, trial)}

        def build() -> Member:
            payload = base.payloads[level - 1][trial]
            mask = pruner.prune(trial, payload, 1, level)
            return Member(payload["final"], mask, data_seed(self.hp, trial))

        start = self.hp.training.iterations - self.plan.finetune_iterations
        return runner.network(f"rounds-{level:g}", identity,
                              {"trial": trial, "level": level, "variant": FINE_TUNE}, build,
                              start=start, keep_final=False)

    def finetuned(self) -> Lineage:
        """Every level's fine-tuned networks, trained together (one start iteration)."""
        if self._finetuned is None:
            base, runner = self.lineage(), self.finetune_runner()
            levels = [lv for lv in base.networks if lv > 0]
            nets = {lv: [self.finetune_network(base, runner, lv, t)
                         for t in range(self.hp.trials)] for lv in levels}
            flat = [n for lv in levels for n in nets[lv]]
            trained = iter(self.train(runner, flat, "fine-tuning") if flat else [])
            payloads = {lv: [next(trained) for _ in nets[lv]] for lv in levels}
            self._finetuned = Lineage(runner, nets, payloads)
        return self._finetuned

    # --- tables ------------------------------------------------------------------------------
    def _table(self, lineage: Lineage) -> pd.DataFrame:
        frame = lineage.result().results
        total = sum(m.numel() for m in lineage.runner.dense_mask.values())
        frame = frame.assign(remaining_weights=(frame.density * total).round().astype(int),
                             eval_every=lineage.runner.hp.training.eval_every)
        return frame[Columns].copy()

    def width_table(self) -> pd.DataFrame:
        """Per width, trial, level and variant (ticket, reinit): accuracies, early stop, percent
        and number of weights remaining."""
        return pd.concat([self._table(self.lineage(w)).assign(width=w)
                          for w in self.plan.widths], ignore_index=True)

    def init_table(self) -> pd.DataFrame:
        """Per init scheme, trial, level and variant (ticket, reinit)."""
        frames = []
        for scheme in self.plan.inits:
            frame = self._table(self.lineage(1.0, scheme))
            frames.append(frame[frame.variant.isin(("ticket", "reinit"))].assign(init=scheme))
        return pd.concat(frames, ignore_index=True)

    def recipe_table(self) -> pd.DataFrame:
        """Per recipe, trial and level: accuracies and the training cost, in network-iterations
        and in full trainings (the trainings that found the mask, then its own)."""
        base = self.lineage()
        frames = [self._table(base)]
        if self.plan.rewind_k:
            rewound = self._table(self.lineage(k=self.plan.rewind_k))
            frames.append(rewound[(rewound.variant == "ticket") & (rewound.level > 0)]
                          .assign(variant=REWIND))
        tuned = self.finetuned()
        if tuned.networks:
            frames.append(self._table(tuned))
        frame = pd.concat(frames, ignore_index=True).rename(columns={"variant": "recipe"})
        frame = frame[(frame.level > 0) | (frame.recipe == "ticket")]
        frame["cost_iterations"] = [self.cost(r, lv) for r, lv in zip(frame.recipe, frame.level,
                                                                     strict=True)]
        frame["cost_trainings"] = frame.cost_iterations / self.hp.training.iterations
        return frame.reset_index(drop=True)

    def cost(self, recipe: str, level: float) -> int:
        """Network-iterations to produce ``recipe``'s network at ``level``: the lineage that
        found the mask (dense, then each level before) and its own training."""
        t, k = self.hp.training.iterations, self.plan.rewind_k
        if recipe == "random_mask" or level == 0:
            return t
        lineage_k = k if recipe == REWIND else 0
        search = t + int(level - 1) * (t - lineage_k)
        own = {FINE_TUNE: self.plan.finetune_iterations, REWIND: t - k}.get(recipe, t)
        return search + own

    # --- information plane --------------------------------------------------------------------
    def information_states(self, trial: int) -> dict[str, dict[int, State]]:
        """The weights the plane reads: dense, ticket and reinit at ``plan.info_level``."""
        base, level = self.lineage(), self.plan.info_level
        end = self.hp.training.iterations
        sources = {"dense": base.payloads[0][trial]}
        for net, payload in zip(base.networks[level], base.payloads[level], strict=True):
            if net.labels["trial"] == trial and net.labels["variant"] in INFO_NETWORKS:
                sources[net.labels["variant"]] = payload
        return {name: {**{i: p["snapshots"][i] for i in self.plan.info_points}, end: p["final"]}
                for name, p in sources.items()}

    def information(self) -> pd.DataFrame | None:
        """Per network, trial, iteration, layer and estimator: I(X;T) and I(T;Y) in bits (None
        for a model other than LeNet)."""
        if self.hp.model.name != "lenet":
            return None
        test = self.lineage().runner.data.test
        n = min(self.plan.info_inputs, len(test))
        x, y = test.x[:n].cpu().float(), test.y[:n].cpu()
        rows = []
        for trial in range(self.hp.trials):
            for network, states in self.information_states(trial).items():
                for iteration, state in sorted(states.items()):
                    rows += _plane_rows(state, x, y, self.plan.info_noise, network=network,
                                        trial=trial, iteration=iteration, inputs=n)
        return pd.DataFrame(rows)


def _plane_rows(state: State, x: torch.Tensor, y: torch.Tensor, noise: float,
                **labels) -> list[dict]:
    """Both estimators on every LeNet layer of one member's weights."""
    with torch.no_grad():
        layers = analysis.lenet_activations({k: v.float().cpu() for k, v in state.items()}, x)
    rows = []
    for layer, h in layers.items():
        noisy = information_plane.noisy_information(
            h, y, information_plane.relative_sigma(h, noise))
        ixt, ity = analysis.binned_mutual_information(h, y, BINS)
        rows += [{**labels, "layer": layer, "estimator": "noisy", "I(X;T)": noisy["I(X;T)"],
                  "I(T;Y)": noisy["I(T;Y)"]},
                 {**labels, "layer": layer, "estimator": f"binned {BINS}", "I(X;T)": ixt,
                  "I(T;Y)": ity}]
    return rows


# --- statistics the claims and the summary read ----------------------------------------------

def at_equal_weights(table: pd.DataFrame, metric: str, variant: str = "ticket") -> pd.DataFrame:
    """Per trial and pair of neighbouring widths (w, w'), ``metric`` of the wider minus the
    narrower, interpolated in log(remaining weights) at the levels of the narrower network
    that lie inside the wider one's range (equal numbers of remaining weights)."""
    rows = table[table.variant.isin((variant,)) | (table.level == 0)]
    rows = rows[(rows.variant == variant) | (rows.level == 0)]
    widths = sorted(rows.width.unique())
    out = []
    for trial, per_trial in rows.groupby("trial"):
        for narrow, wide in zip(widths, widths[1:], strict=False):
            a = per_trial[per_trial.width == narrow].sort_values("remaining_weights")
            b = per_trial[per_trial.width == wide].sort_values("remaining_weights")
            if a.empty or b.empty:
                continue
            lo, hi = b.remaining_weights.min(), b.remaining_weights.max()
            inside = a[(a.remaining_weights >= lo) & (a.remaining_weights <= hi)]
            for count, value in zip(inside.remaining_weights, inside[metric], strict=True):
                other = np.interp(np.log(count), np.log(b.remaining_weights), b[metric])
                out.append({"trial": trial, "narrow": narrow, "wide": wide,
                            "remaining_weights": int(count), "difference": other - value})
    return pd.DataFrame(out, columns=["trial", "narrow", "wide", "remaining_weights",
                                      "difference"])


def gaps(table: pd.DataFrame, by: str, metric: str = "early_stop_test_acc") -> pd.DataFrame:
    """Per ``by`` (width or init), trial and pruned level: ticket minus reinit ``metric``
    (accuracies in percentage points)."""
    scale = 100.0 if metric.endswith("_acc") else 1.0
    rows = table[table.level > 0]
    wide = rows.pivot_table(index=[by, "trial", "level", "percent_remaining"], columns="variant",
                            values=metric).reset_index()
    wide["gap"] = scale * (wide["ticket"] - wide["reinit"])
    return wide[[by, "trial", "level", "percent_remaining", "gap"]]


def gap_slope(table: pd.DataFrame) -> pd.Series:
    """Per trial, the slope of the mean ticket - reinit gap over pruned levels (pp) against
    log2(width): pp per doubling."""
    per = gaps(table, "width").groupby(["trial", "width"]).gap.mean().reset_index()
    return per.groupby("trial").apply(
        lambda g: float(np.polyfit(np.log2(g.width), g.gap, 1)[0]) if len(g) > 1 else np.nan,
        include_groups=False)


def information_gap(info: pd.DataFrame, layer: str = "fc2", quantity: str = "I(T;Y)",
                    estimator: str = "noisy") -> pd.Series:
    """Per trial, ticket minus reinit ``quantity`` of ``layer`` at the end of training."""
    rows = info[(info.layer == layer) & (info.estimator == estimator)]
    end = rows.iteration.max()
    rows = rows[rows.iteration == end].pivot_table(index="trial", columns="network",
                                                   values=quantity)
    return rows["ticket"] - rows["reinit"]


def describe(plan: OpenPlan, hp: ExperimentHparams) -> str:
    t = hp.training
    return (f"{hp.model.name}: {t.iterations:,} iterations per network, {hp.levels} IMP levels "
            f"({100 * (1 - hp.pruning.fc_rate) ** hp.levels:.1f}% of fc weights left), "
            f"{hp.trials} trial(s); widths {', '.join(f'{w:g}x' for w in plan.widths)}; init "
            f"schemes {', '.join(plan.inits)}; rewind k = {plan.rewind_k}; fine-tuning "
            f"{plan.finetune_iterations:,} iterations at lr {finetune_training(t).lr:g}; "
            f"information plane at level {plan.info_level}, {len(plan.info_points) + 1} points, "
            f"{plan.info_inputs} test inputs, noise {plan.info_noise:g} x the layer's variance")
