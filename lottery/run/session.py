"""What the experiment notebooks share: parameter checks, the data/profile decision, the banner.

A notebook's ``parameters`` cell holds plain values (papermill injects replacements); the next
cell calls :func:`validate_parameters`, which raises a one-line :class:`HparamError` before any
work, then :func:`setup`, which decides between the real dataset and its synthetic stand-in:

- profile ``smoke``: always the synthetic stand-in (the profile is for CI, not the science);
  its figures go under ``runs/``, never over the committed ones in ``figures/``;
- ``quick`` and ``paper``: the real dataset, downloaded first when missing (unless
  ``$LOTTERY_OFFLINE`` is set); when it cannot be had, one line (:class:`DataUnavailable`)
  and no fallback to the stand-in.

The returned :class:`Session` runs each experiment in one call (``session.imp("lenet")``), with
the profile's hyperparameters, the notebook's trials and seed, and the run store.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache, partial
from pathlib import Path

import pandas as pd
import torch

from lottery.claims.figures import save_figure
from lottery.core.calibration import Calibration, NotCalibrated, measure
from lottery.core.executors import EXECUTOR_ENV, EXECUTORS, Executor, LocalExecutor, make_executor
from lottery.core.experiments import ExperimentResult, Runner
from lottery.core.hparams import DataHparams, ExperimentHparams, HparamError
from lottery.core.presets import (
    PRESETS,
    PROFILES,
    SYNTHETIC_STAND_IN,
    experiment_hparams,  # noqa: F401 (the notebooks' and tests' facade)
)
from lottery.core.provenance import project_root, provenance
from lottery.core.store import RunStore, runs_root
from lottery.engine.data import DATASETS, DataBundle, DataUnavailable, load, offline, shown
from lottery.engine.data import data_root as resolve_data_root
from lottery.engine.download import ensure, real_data_available  # noqa: F401 (notebooks use it)
from lottery.engine.models import REGISTRY, build, weight_counts
from lottery.run import estimate, plans, record
from lottery.run.progress import reporting
from lottery.run.registry import paper_vs_ours
from lottery.studies.cheap.study import run
from lottery.studies.deconstruct import supermask
from lottery.studies.deconstruct.study import sweep, untrained_accuracy
from lottery.studies.open_questions.study import OpenQuestionsStudy
from lottery.studies.open_questions.study import make_plan as open_plan
from lottery.studies.open_questions.study import study_hparams as open_hparams
from lottery.studies.stability.study import (
    StabilityStudy,
    make_plan,
    study_hparams,
)
from lottery.studies.transfer.study import sweep_lr, transfer

PROFILE_ENV = "LOTTERY_PROFILE"
DEFAULT_PROFILE = "quick"
SMOKE_FIGURES = "figures-smoke"  # under the run store: what the synthetic stand-in draws
ESTIMATE_ENV = "LOTTERY_ESTIMATE"  # "off": no estimate in the banner (no calibration)
# the parameters of the last validate_parameters call: the notebook's own ones, which setup's
# estimate needs (dropout=True doubles notebook 02) and the notebooks pass only to validation
_validated: dict = {}


def default_profile() -> str:
    """``$LOTTERY_PROFILE``, else ``quick``: how CI forces ``smoke`` on every notebook."""
    return os.environ.get(PROFILE_ENV) or DEFAULT_PROFILE


def _fail(name: str, allowed: str, value) -> None:
    raise HparamError(f"parameter {name} must be {allowed}; got {value!r}")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate_parameters(*, profile: str, trials: int | None = None, seed: int = 0,
                        device: str | None = "auto", data_root: str | None = None,
                        output_dir: str | None = None, executor: str | None = None,
                        **specific) -> None:
    """Raise :class:`HparamError` (one line) for a bad notebook parameter.

    ``specific`` holds the notebook's own parameters, checked by name: ``dropout`` (bool),
    ``rewind_ks`` (non-empty list of non-negative ints), ``sweep_model``, ``models``,
    ``*_levels`` (lists of levels), ``oneshot_rounds`` (positive numbers).
    """
    _validated.clear()
    if profile not in PROFILES:
        _fail("profile", f"one of {', '.join(PROFILES)}", profile)
    if trials is not None and not (_is_int(trials) and trials >= 1):
        _fail("trials", "a positive integer or None (the profile's)", trials)
    if not (_is_int(seed) and seed >= 0):
        _fail("seed", "a non-negative integer", seed)
    if device not in (None, "auto"):
        try:
            torch.device(device)
        except (RuntimeError, TypeError):
            _fail("device", "'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'", device)
    if executor is not None and executor not in EXECUTORS:
        _fail("executor", f"one of {', '.join(EXECUTORS)} or None (${EXECUTOR_ENV}, else local)",
              executor)
    for name, value in (("data_root", data_root), ("output_dir", output_dir)):
        if value is not None and not isinstance(value, str | os.PathLike):
            _fail(name, "a path or None", value)
    for name, value in specific.items():
        if name == "dropout" and not isinstance(value, bool):
            _fail(name, "True or False", value)
        elif name == "rewind_ks" and not (isinstance(value, Sequence) and len(value) > 0
                                          and all(_is_int(k) and k >= 0 for k in value)):
            _fail(name, "a non-empty list of non-negative integers (paper iterations)", value)
        elif name == "sweep_model" and value not in ("vgg19", "resnet18"):
            _fail(name, "'vgg19' or 'resnet18'", value)
        elif name.endswith("_levels") and not (isinstance(value, Sequence) and all(
                _is_int(v) and v >= 0 for v in value)):
            _fail(name, "a list of non-negative integers (pruning levels)", value)
        elif name == "oneshot_rounds" and not (isinstance(value, Sequence) and all(
                isinstance(v, int | float) and v > 0 for v in value)):
            _fail(name, "a list of positive numbers (rounds of pruning)", value)
        elif name == "models" and not (isinstance(value, Sequence) and value and set(value)
                                       <= {"conv2", "conv4", "conv6"}):
            _fail(name, "a non-empty list drawn from 'conv2', 'conv4', 'conv6'", value)
        else:
            _check_transfer_parameter(name, value)
            _check_own_model_parameter(name, value)
    _validated.update(profile=profile, trials=trials, seed=seed, device=device,
                      data_root=data_root, output_dir=output_dir, **specific)


def _check_transfer_parameter(name: str, value) -> None:
    """The ticket-transfer notebook's own parameters (06)."""
    if name in ("datasets", "extra_sources") and not (isinstance(value, Sequence) and all(
            v in DATASETS and not DATASETS[v].synthetic for v in value)):
        _fail(name, "a list of real dataset names", value)
    elif name == "datasets" and len(set(value)) != 2:
        _fail(name, "two different datasets", value)
    elif name in ("transfer_every", "quick_rounds", "quick_iterations") and not (
            _is_int(value) and value >= 1):
        _fail(name, "a positive integer", value)
    elif name == "rewind_k" and not (_is_int(value) and value >= 0):
        _fail(name, "a non-negative integer (paper iterations; 0 skips late resetting)", value)
    elif name == "sgd_lrs" and not (isinstance(value, Sequence) and value and all(
            isinstance(v, int | float) and not isinstance(v, bool) and v > 0 for v in value)):
        _fail(name, "a non-empty list of positive learning rates", value)
    elif name == "cifar_models" and not (value is None or (isinstance(value, Sequence) and set(
            value) <= {"conv2", "vgg19"})):
        _fail(name, "None or a list drawn from 'conv2', 'vgg19'", value)


def _check_own_model_parameter(name: str, value) -> None:
    """Your-own-model notebook's parameters (09)."""
    if name in ("iterations", "levels") and not (value is None or (_is_int(value) and
                                                                    value >= 1)):
        _fail(name, "None (the profile's) or a positive integer", value)
    elif name == "rewind_fraction" and not (isinstance(value, int | float) and not isinstance(
            value, bool) and 0 <= value < 1):
        _fail(name, "a fraction of training in [0, 1)", value)


def _relative(path: Path) -> str:
    """``path`` relative to the project root when under it (banners carry no machine paths)."""
    try:
        return Path(path).resolve().relative_to(project_root().resolve()).as_posix()
    except ValueError:
        return shown(path)


@dataclass(frozen=True)
class Session:
    """One notebook's run: the data decision, where things go, and the experiment calls."""

    notebook: str
    profile: str
    dataset: str              # the presets' real dataset (e.g. "mnist", "cifar10")
    synthetic: bool           # True: every experiment runs on the synthetic stand-in
    device: str
    data_root: Path
    trials: int | None
    seed: int
    output_dir: Path          # figures go to output_dir / notebook / name.{png,pdf}
    store: RunStore
    reason: str               # why real or synthetic data
    retarget: bool = False    # True (a session made by :meth:`on`): presets run on ``dataset``
    # where networks train: local, or ray (workers anywhere; see lottery.core.executors)
    executor: Executor = field(default_factory=LocalExecutor)
    estimate: str = ""        # the estimated wall time, as the banner prints it

    @property
    def data_label(self) -> str:
        """The dataset as figure titles name it: "MNIST" or "synthetic data (MNIST stand-in)"."""
        title = DATASETS[self.dataset].title
        return f"synthetic data ({title} stand-in)" if self.synthetic else title

    @property
    def comparable(self) -> bool:
        """Whether paper-vs-ours verdicts mean anything (real data, not the smoke profile)."""
        return not self.synthetic and self.profile != "smoke"

    @property
    def banner(self) -> str:
        local = self.executor.name == "local"
        record = provenance(self.device if local else "cpu")
        where = f"({record['device']}, {record['threads']} threads)" if local else \
            "on the Ray workers"
        lines = [f"profile  : {self.profile} ({PROFILES[self.profile].description})",
                 f"dataset  : {self.data_label} [{self.reason}]",
                 f"device   : {self.device} {where}",
                 f"versions : python {record['python']}, torch {record['torch']}, "
                 f"torchvision {record['torchvision']}, numpy {record['numpy']}",
                 f"commit   : {record['commit']}, run {record['date']}",
                 f"trials   : {self.trials or 'profile default'}, seed {self.seed}",
                 f"executor : {self.executor.describe()}",
                 f"figures  : {_relative(self.output_dir / self.notebook)}",
                 f"run store: {_relative(self.store.root)}"]
        if self.synthetic:
            lines.append("NOTE: synthetic stand-in data -- these figures are a pipeline check, "
                         "not the paper's result; verdicts are n/a")
            lines.append(f"      for the real one: `make data` then `make reproduce "
                         f"NB={self.notebook} PROFILE=quick` (or PROFILE=paper, on a GPU)")
        return "\n".join(lines + ([self.estimate] if self.estimate else []))

    def hparams(self, preset: str, **overrides) -> ExperimentHparams:
        """``preset`` resolved under the profile, with the notebook's data, trials and seed."""
        if self.retarget:
            overrides = {"data__dataset": SYNTHETIC_STAND_IN[self.dataset] if self.synthetic
                         else self.dataset} | overrides
        overrides = {"trials": self.trials, "seed": self.seed} | overrides  # a call's own win
        return experiment_hparams(preset, self.profile, synthetic=self.synthetic, **overrides)

    def on(self, dataset: str) -> Session:
        """This session on a second ``dataset`` (every preset moved to it), decided as
        :func:`setup` decides: the stand-in under ``smoke``, else the real data, downloaded when
        missing, :class:`DataUnavailable` when it cannot be had (never a silent stand-in)."""
        if dataset not in DATASETS or DATASETS[dataset].synthetic:
            raise HparamError(f"a second dataset must be a real dataset; got {dataset!r}")
        if PROFILES[self.profile].synthetic and dataset not in SYNTHETIC_STAND_IN:
            raise DataUnavailable(f"{DATASETS[dataset].title} has no synthetic stand-in for "
                                  f"profile {self.profile}")
        synthetic, reason = data_decision(dataset, self.profile, self.data_root)
        return replace(self, dataset=dataset, synthetic=synthetic, reason=reason,
                       retarget=True)

    def transfer(self, source: ExperimentHparams, target: ExperimentHparams,
                 levels: Sequence[float] | None = None,
                 controls: Sequence[str] = ("random_mask",)) -> ExperimentResult:
        """The IMP tickets of ``source`` at ``levels`` trained under the ``target`` recipe,
        beside random tickets (see :mod:`lottery.studies.transfer.study`)."""
        self._ran("transfer", source.model.name, {}, source=plans.recipe_id(source),
                  target=plans.recipe_id(target), levels=None if levels is None else list(levels),
                  controls=list(controls))
        return transfer(self.runner(source), self.runner(target), levels, controls)

    def sweep_lr(self, hp: ExperimentHparams, lrs: Sequence[float]) -> tuple[float, pd.DataFrame]:
        """The learning rate of ``lrs`` with the lowest validation loss of ``hp``'s dense
        networks, and the sweep's table (see :func:`lottery.studies.transfer.study.sweep_lr`)."""
        self._ran("sweep_lr", hp.model.name, {}, recipe=plans.recipe_id(hp),
                  lrs=[float(lr) for lr in lrs])
        return sweep_lr(self.runner, hp, lrs)

    def runner(self, hp: ExperimentHparams, label: str = "", **values) -> Runner:
        """A runner reporting its progress (bars in Jupyter, log lines under reproduce);
        ``values``: the runner's own (``order``, ``mask0``, ``every``)."""
        # under ray this process only prunes and stores: its data stays on the CPU
        device = self.device if self.executor.name == "local" else "cpu"
        return Runner(hp, store=self.store, device=device,
                      data=_data(hp.data, device, self.data_root), executor=self.executor,
                      **self._reporting(label), **values)

    def _reporting(self, label: str) -> dict:
        """The runner options of this session's progress reporting (see
        :func:`lottery.run.progress.reporting`), time left from its device's calibrations."""
        calibration = Calibration(self.store.root, self.device, measure_cost=None)
        return reporting(label, calibration.cost)

    def _ran(self, kind: str, preset: str, overrides: dict, **extra) -> None:
        record.append("experiments", {"kind": kind, "preset": preset, "overrides": overrides,
                                      **extra})

    def imp(self, preset: str, **overrides) -> ExperimentResult:
        """Iterative magnitude pruning of ``preset`` (stored runs are loaded, not retrained)."""
        self._ran("imp", preset, overrides)
        return self.runner(self.hparams(preset, **overrides), f"imp {preset}").imp()

    def imp_all(self, presets: Sequence[str], **overrides) -> dict[str, ExperimentResult]:
        """IMP of each of ``presets``, {preset: result}: one after the other locally, side by
        side under ray."""
        runs = self.executor.map([lambda p=p: self.imp(p, **overrides) for p in presets])
        return dict(zip(presets, runs, strict=True))

    def oneshot(self, preset: str, **overrides) -> ExperimentResult:
        """One-shot pruning of ``preset`` to each of ``oneshot_rounds``."""
        self._ran("oneshot", preset, overrides)
        return self.runner(self.hparams(preset, **overrides), f"oneshot {preset}").oneshot()

    def rewind_sweep(self, preset: str, ks: Sequence[int],
                     **overrides) -> dict[int, ExperimentResult]:
        """IMP of ``preset`` rewinding to each k (paper iterations, scaled like the profile's
        training); returns {scaled k: result}, duplicates after scaling run once. The dense
        networks train once, keeping every rewind point."""
        self._ran("rewind_sweep", preset, overrides, ks=list(ks))
        base = self.hparams(preset, **overrides)
        scaled = rewind_points(base, preset, ks)
        self.runner(base, f"sweep {preset}").dense(snapshots=[k for k in scaled if k])
        runs = self.executor.map([self.runner(base.replace(rewind_iteration=k),
                                              f"sweep {preset} k={k}").imp
                                  for k in scaled])  # side by side under ray
        return dict(zip(scaled, runs, strict=True))

    def cheap(self, preset: str, plan, **overrides):
        """Cheap masks beside IMP on ``preset`` (a :class:`lottery.studies.cheap.study.Plan`): the
        notebook's one call; see :func:`lottery.studies.cheap.study.run`."""
        from dataclasses import asdict


        self._ran("cheap", preset, overrides, plan=asdict(plan))
        return run(self.runner(self.hparams(preset, **overrides)), plan)

    def title(self, text: str) -> str:
        """A figure title naming the data (marked "synthetic data" when it is)."""
        return f"{text} -- {self.data_label}, profile {self.profile}"

    def save(self, fig, name: str) -> None:
        """Write ``fig`` as ``output_dir/notebook/name.png`` and ``.pdf`` (the figure stays
        open, so the notebook still shows it)."""
        save_figure(fig, self.notebook, name, self.output_dir)
        record.append("figures", name)

    def paper_vs_ours(self, results) -> pd.DataFrame:
        """The notebook's claims on ``results`` ({preset key: result}); n/a when not comparable."""
        table = paper_vs_ours(self.notebook, results, self.profile,
                              synthetic=not self.comparable or None)
        record.update(verdicts={kind: _tally(table[kind]) for kind in ("direction", "number")})
        return table

    def stability_study(self, preset: str, *, levels: Sequence[int], focus_level: int,
                        rewind_ks: Sequence[int], connectivity_level: int, line_points: int = 11,
                        iterations: int | None = None, info_inputs: int = 2000,
                        info_bins: Sequence[int] = (30, 4), **overrides):
        """Stability, mode connectivity, mask overlap and ticket properties of ``preset``
        (notebook 05): a :class:`lottery.studies.stability.study.StabilityStudy` whose
        ``stability()``, ``mask_overlap(study)`` and ``ticket_properties(study)`` share one set
        of stored networks.

        ``levels``: IMP levels measured at k = 0; ``focus_level``: the paper table's level,
        also the rewind sweep's; ``rewind_ks``: paper iterations, scaled like
        :meth:`rewind_sweep`; levels beyond the profile's are cut to it. ``iterations`` cuts
        training (the paper's schedule scaled, as the CLI's ``--iterations``)."""
        self._ran("stability", preset, overrides, levels=list(levels), focus_level=focus_level,
                  rewind_ks=list(rewind_ks), connectivity_level=connectivity_level,
                  line_points=line_points, iterations=iterations, info_inputs=info_inputs,
                  info_bins=list(info_bins))
        hp = study_hparams(self.hparams(preset, **overrides), preset, iterations)
        plan = make_plan(hp, PRESETS[preset].training.iterations, levels=levels,
                         focus=focus_level, connectivity=connectivity_level, rewind_ks=rewind_ks,
                         points=line_points, info_inputs=info_inputs, info_bins=info_bins)
        device = self.device if self.executor.name == "local" else "cpu"  # as runner()
        return StabilityStudy(hp, plan, data=_data(hp.data, device, self.data_root),
                              store=self.store, device=device, executor=self.executor,
                              **self._reporting(f"stability {preset}"))

    def open_questions(self, preset: str, *, widths: Sequence[float], inits: Sequence[str],
                       rewind_k: int, finetune_fraction: float, info_level: int,
                       info_inputs: int, info_noise: float, iterations: int | None = None,
                       levels: int | None = None) -> OpenQuestionsStudy:
        """Width, init schemes, pruning recipes and the information plane of ``preset``
        (notebook 08; see :mod:`lottery.studies.open_questions.study`). ``iterations`` and
        ``levels`` cut the quick profile's runs (None: the profile's)."""
        options = {"widths": [float(w) for w in widths], "inits": list(inits),
                   "rewind_k": rewind_k, "finetune_fraction": finetune_fraction,
                   "info_level": info_level, "info_inputs": info_inputs,
                   "info_noise": info_noise, "iterations": iterations, "levels": levels}
        self._ran("open_questions", preset, {}, profile=self.profile, **options)
        base = self.hparams(preset)
        hp = open_hparams(base, self.profile, iterations or base.training.iterations,
                          levels or base.levels)
        plan = open_plan(hp, PRESETS[preset].training.iterations, self.profile,
                         **{k: v for k, v in options.items() if k not in ("iterations", "levels")})
        return OpenQuestionsStudy(hp, plan, self.runner)

    # --- Deconstructing lottery tickets (Zhou et al. 2019; notebook 04) -----------------------
    def deconstruct_runner(self, hp: ExperimentHparams, every: int = 1, mask0: str = "zero",
                           label: str = "") -> Runner:
        """A runner of ``hp`` training every ``every``-th IMP level with the mask-0 action
        ``mask0`` (Zhou et al.; see :mod:`lottery.studies.deconstruct.study`)."""
        return self.runner(hp, label, every=every, mask0=mask0)

    def criteria(self, preset: str, criteria: Sequence[str], every: int = 1,
                 **overrides) -> dict[str, ExperimentResult]:
        """IMP of ``preset`` (reset to init) with each mask criterion, every ``every``-th level:
        {criterion: result}; the lineages share the dense nets and train level by level
        together (no controls unless ``overrides`` name some)."""
        self._ran("criteria", preset, overrides, criteria=list(criteria), every=every)
        hp = self.hparams(preset, **({"controls": ()} | overrides))
        return sweep({c: self.deconstruct_runner(hp.replace(pruning__criterion=c), every,
                                                 label=f"criteria {preset}")
                      for c in criteria})

    def mask1(self, preset: str, actions: Sequence[str], every: int = 1,
              **overrides) -> ExperimentResult:
        """IMP of ``preset`` with the mask-1 ``actions`` (variants) trained beside each ticket."""
        self._ran("mask1", preset, overrides, actions=list(actions), every=every)
        hp = self.hparams(preset, **overrides).replace(controls=tuple(actions))
        return self.deconstruct_runner(hp, every, label=f"mask-1 {preset}").imp()

    def mask0(self, preset: str, actions: Sequence[str], every: int = 1,
              **overrides) -> dict[str, ExperimentResult]:
        """IMP of ``preset`` once per mask-0 action (an IMP lineage each): {action: result}."""
        self._ran("mask0", preset, overrides, actions=list(actions), every=every)
        hp = self.hparams(preset, **overrides).replace(controls=())
        return sweep({a: self.deconstruct_runner(hp, every, a, label=f"mask-0 {preset}")
                      for a in actions})

    def untrained(self, preset: str, criteria: Sequence[str], rounds: Sequence[float],
                  **overrides) -> pd.DataFrame:
        """Test accuracy of the untrained network under one-shot masks of each criterion at
        each of ``rounds``, with its original init and with signed constants (no training
        beyond the dense nets the masks come from)."""
        self._ran("untrained", preset, overrides, criteria=list(criteria), rounds=list(rounds))
        return untrained_accuracy(self.runner(self.hparams(preset, **overrides),
                                              f"supermasks {preset}"), criteria, rounds)

    def learned_supermask(self, preset: str, lr: float | None = None,
                          iterations: int | None = None, weights: str = "signed_constant",
                          **overrides) -> ExperimentResult:
        """A supermask per trial learned on ``preset``'s frozen ``weights`` (Adam at ``lr`` on
        the scores for ``iterations``; defaults: the module's lr, the profile's iterations)."""
        hp = supermask.hparams(self.hparams(preset, **overrides),
                               lr=lr or supermask.DEFAULT_LR, iterations=iterations)
        self._ran("learned_supermask", preset, overrides, lr=lr, iterations=iterations)
        return supermask.run(self.runner(hp, f"learned supermask {preset}"), weights=weights)


def _tally(verdicts: pd.Series) -> dict[str, int]:
    """Counts of each outcome (holds / contradicted / inconclusive / consistent / differs /
    n/a) in a verdict column (labels after the first word dropped)."""
    return verdicts.astype(str).str.split().str[0].value_counts().to_dict()


def rewind_points(base: ExperimentHparams, preset: str, ks: Sequence[int]) -> list[int]:
    """The rewind iterations ``ks`` (paper iterations) scaled like ``base``'s training,
    without duplicates and inside training."""
    factor = base.training.iterations / PRESETS[preset].training.iterations
    scaled = sorted({0 if k == 0 else max(1, round(k * factor)) for k in ks})
    return [k for k in scaled if k < base.training.iterations]

@lru_cache(maxsize=4)
def _data(d: DataHparams, device: str, root: Path) -> DataBundle:
    """The data of ``d`` (cached by the data hyperparameters alone: a notebook's experiments
    share their dataset whatever their training recipes)."""
    return load(d.dataset, root=root, device=device, val_size=d.val_size,
                split_seed=d.split_seed, train_subset=d.train_subset, test_subset=d.test_subset)


def setup(notebook: str, dataset: str, profile: str, *, data_root: str | Path | None = None,
          device: str | None = "auto", trials: int | None = None, seed: int = 0,
          output_dir: str | Path | None = None, executor: str | None = None,
          address: str | None = None) -> Session:
    """Decide real vs synthetic data for ``dataset`` under ``profile`` and return the session.

    ``executor``: ``local`` or ``ray`` (None: ``$LOTTERY_EXECUTOR``, else local; see
    :mod:`lottery.core.executors`); ``address``: the Ray cluster (None: ``$RAY_ADDRESS``, else a
    local instance).

    Raises :class:`DataUnavailable` (one line) when the profile is ``paper`` and the real data
    is missing. ``output_dir`` None: ``figures/``, or ``runs/figures-smoke/`` under smoke so CI
    never overwrites committed figures (``figures/`` under the project root, the smoke folder
under the run store: ``$LOTTERY_RUNS`` when set).
    """
    notebook_parameters = dict(_validated)  # the notebook's own call, before this one's
    validate_parameters(profile=profile, trials=trials, seed=seed, device=device,
                        executor=executor)
    pd.set_option("display.max_colwidth", 120)  # claims in the paper-vs-ours table in full
    pd.set_option("display.width", 200)
    root = resolve_data_root(data_root)
    synthetic, reason = data_decision(dataset, profile, root)
    executor = executor or os.environ.get(EXECUTOR_ENV) or "local"
    validate_parameters(profile=profile, executor=executor)  # a bad $LOTTERY_EXECUTOR too
    # under ray the device is the workers': this machine need not have it
    device = _checked_device(device) if executor == "local" else (device or "auto")
    chosen = make_executor(executor, address=address, device=device, data_root=data_root)
    base = project_root()
    if output_dir is None:  # the stand-in's figures never land over the committed ones
        output_dir = runs_root() / SMOKE_FIGURES if synthetic else "figures"
    output_dir = base / output_dir  # a relative folder is taken from the project root
    store = default_store()
    session = Session(notebook, profile, dataset, synthetic, str(device), root, trials, seed,
                      Path(output_dir), store, reason, executor=chosen)
    record.update(notebook=notebook, profile=profile, data=session.data_label)
    return replace(session, estimate=_estimate_line(session, notebook_parameters))


def default_store() -> RunStore:
    """The notebooks' run store: ``$LOTTERY_RUNS``, else ``runs/`` of the project."""
    return RunStore(runs_root())


def estimate_notebook(notebook: str, parameters: Mapping, device: str, store: RunStore, *,
                      calibrate: bool = True, say=None, measure_cost=measure
                      ) -> estimate.NotebookEstimate | None:
    """The wall time ``notebook`` will take with ``parameters`` on ``device`` given what
    ``store`` holds (None: the notebook declares no plan). ``calibrate`` False: cached costs
    only (:class:`NotCalibrated` when one is missing); ``measure_cost``: how a missing cost
    is measured (cached in ``store``'s folder)."""
    planned = plans.plan(notebook, parameters)
    if planned is None:
        return None
    profile = parameters["profile"]
    hparams = partial(experiment_hparams, profile=profile, synthetic=PROFILES[profile].synthetic,
                      trials=parameters.get("trials"), seed=parameters.get("seed", 0))
    calibration = Calibration(store.root, device,
                              measure_cost=measure_cost if calibrate else None,
                              say=say)
    result = estimate.estimate(notebook, profile, device, planned, hparams, store,
                               calibration.cost, rewind_points)
    if calibration.measured:
        result.notes.append(f"calibrated just now: {', '.join(calibration.measured)} "
                            f"(cached in {_relative(calibration.path)})")
    return result


def _estimate_line(session: Session, validated: Mapping) -> str:
    """The banner's estimate (measuring missing costs, except under the smoke profile, where
    the calibration would take longer than the notebook)."""
    if os.environ.get(ESTIMATE_ENV, "").lower() in ("off", "0", "no") or \
            session.notebook not in plans.PLANS:
        return ""
    path = project_root() / "notebooks" / f"{session.notebook}.ipynb"
    parameters = (plans.notebook_defaults(path) if path.exists() else {}) | dict(validated) | {
        "profile": session.profile, "trials": session.trials, "seed": session.seed}
    try:
        found = estimate_notebook(session.notebook, parameters, session.device, session.store,
                                  calibrate=session.profile != "smoke", say=print)
    except NotCalibrated:
        return "estimate : not calibrated for smoke (`python -m lottery.run.reproduce` calibrates)"
    except (KeyError, ValueError, OSError) as error:  # an aid: never stop the notebook
        return f"estimate : unavailable ({type(error).__name__}: {error})"
    record.update(estimate_s=found.seconds)
    return "\n".join(found.lines())


def data_decision(dataset: str, profile: str, root: Path) -> tuple[bool, str]:
    """(synthetic?, why): ``smoke`` always runs on the stand-in; ``quick`` and ``paper`` run on
    the real data, downloading it when missing (unless ``$LOTTERY_OFFLINE``), and never fall
    back to the stand-in: when it cannot be had, :class:`DataUnavailable` says so in one line
    (``make reproduce-all`` lists the notebook as skipped)."""
    if PROFILES[profile].synthetic:
        return True, f"profile {profile} always uses the stand-in"
    status = ensure(dataset, root, download=not offline())
    return False, f"real, {status}"


def _checked_device(device: str | None) -> str:
    """'auto' resolved; a device this machine cannot train on is one line, before any work."""
    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    kind = torch.device(device).type
    if kind == "cuda" and not torch.cuda.is_available():
        raise HparamError(f"parameter device {device!r}: CUDA is not available on this machine")
    if kind not in ("cpu", "cuda"):
        raise HparamError(f"parameter device must be 'auto', 'cpu' or 'cuda[:N]'; got {device!r}")
    index = torch.device(device).index
    if kind == "cuda" and index is not None and index >= torch.cuda.device_count():
        raise HparamError(f"parameter device {device!r}: this machine has "
                          f"{torch.cuda.device_count()} CUDA device(s), cuda:0 to "
                          f"cuda:{torch.cuda.device_count() - 1}")
    return device


def architecture_table(models: Sequence[str]) -> pd.DataFrame:
    """Per model: weights, prunable weights and parameters of one network, beside Table 1."""
    rows = []
    for name in models:
        counts = weight_counts(build(name))
        rows.append({"model": name, "weights": counts["weights"],
                     "prunable": counts["prunable"], "parameters": counts["parameters"],
                     "paper (Table 1)": REGISTRY[name].paper_weights,
                     "description": REGISTRY[name].description})
    return pd.DataFrame(rows).set_index("model")
