"""The papers' hyperparameters in one table, and the profiles derived from them.

Sources: Frankle & Carbin, "The Lottery Ticket Hypothesis", ICLR 2019, Table 1 and Sec. 2-5
(LeNet, Conv-2/4/6, VGG-19, ResNet-18); Frankle, Dziugaite, Roy & Carbin, "Stabilizing the
Lottery Ticket Hypothesis", 2019 (rewinding to iteration k: 100 for VGG-19, 500 for ResNet-18).

Profiles (one table, :data:`PROFILES`):

- ``paper``: the presets exactly: full data, full iterations, 5 trials.
- ``quick``: real data, iterations and levels cut (LeNet: a few hours on 2 CPU cores; minutes
  on a GPU); milestones, warmup and the rewind point scale with the iterations. LeNet runs 5
  trials (trained together as members of one batched network): at the spreads of the committed
  2-trial runs, 4-5 trials are what its notebooks' main claims need to be conclusive at a 95%
  t interval (lottery.claims.verdicts.trials_needed); the conv nets 2.
- ``smoke``: seconds, offline: the synthetic stand-in of the preset's dataset, a few dozen
  iterations (the conv nets a handful, on a few hundred examples). Checks the pipeline, not
  the science. The CLI and the notebooks read the same table.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lottery.core.hparams import (
    DataHparams,
    ExperimentHparams,
    HparamError,
    ModelHparams,
    PruningHparams,
    TrainingHparams,
)

# --- Frankle & Carbin 2019, Table 1 -------------------------------------------------------
_LENET_PRUNING = PruningHparams("layerwise", fc_rate=0.2, output_rate=0.1)
_CONV_PRUNING = PruningHparams("layerwise", conv_rate=0.1, fc_rate=0.2, output_rate=0.1)
_CONV6_PRUNING = PruningHparams("layerwise", conv_rate=0.15, fc_rate=0.2, output_rate=0.1)
_GLOBAL_PRUNING = PruningHparams("global", global_rate=0.2)

_VGG_ITERATIONS = 112_480  # 160 epochs of 45K examples at batch 64 (703 iterations/epoch)
_VGG_MILESTONES = (56_240, 84_360)  # epochs 80 and 120


def _adam(lr, iterations):
    return TrainingHparams("adam", lr=lr, iterations=iterations, batch_size=60)


def _vgg(lr, warmup=0):
    return TrainingHparams("sgd", lr=lr, iterations=_VGG_ITERATIONS, batch_size=64, momentum=0.9,
                           weight_decay=1e-4, milestones=_VGG_MILESTONES, warmup=warmup)


def _resnet(lr, warmup=0):
    return TrainingHparams("sgd", lr=lr, iterations=30_000, batch_size=128, momentum=0.9,
                           weight_decay=1e-4, milestones=(20_000, 25_000), warmup=warmup)


def _preset(name, model, dataset, training, pruning, levels, rewind=0, dropout=0.0,
            augment=None):
    return ExperimentHparams(ModelHparams(model, dropout), DataHparams(dataset, augment=augment),
                             training, pruning, levels=levels, trials=5, rewind_iteration=rewind,
                             name=name)


# Data augmentation (random flips, 4-pixel pad-and-crop) is the CIFAR-10 default, which is
# what VGG-19 and ResNet-18 use: LTH Sec. 4, "These networks are trained with batchnorm,
# weight decay, decreasing learning rate schedules, and augmented training data", and App. I.3,
# "We augment training data using random flips and random four pixel pads and crops" (I.2:
# VGG-19 uses "the same data augmentation procedure"). Conv-2/4/6 are trained without it: App.
# H.1 describes their data pipeline in full (45K/5K split, mini-batches of 60, "at each epoch,
# the entire training set is shuffled") and names no augmentation, and Sec. 4 introduces it as
# part of what sets the deeper networks' training apart.
_CONV_DATA = {"augment": False}


PRESETS: dict[str, ExperimentHparams] = {p.name: p for p in [
    # levels: rounds of pruning after the dense run, down to ~2% of weights (LTH Figs. 4, 5, 7, 8)
    _preset("lenet", "lenet", "mnist", _adam(1.2e-3, 50_000), _LENET_PRUNING, levels=18),
    _preset("conv2", "conv2", "cifar10", _adam(2e-4, 20_000), _CONV_PRUNING, 18, **_CONV_DATA),
    _preset("conv4", "conv4", "cifar10", _adam(3e-4, 25_000), _CONV_PRUNING, 18, **_CONV_DATA),
    _preset("conv6", "conv6", "cifar10", _adam(3e-4, 30_000), _CONV6_PRUNING, 18, **_CONV_DATA),
    # LTH Fig. 6: dropout 0.5 (same learning rates as without dropout in this suite)
    _preset("conv2_dropout", "conv2", "cifar10", _adam(2e-4, 20_000), _CONV_PRUNING, 18,
            dropout=0.5, **_CONV_DATA),
    _preset("conv4_dropout", "conv4", "cifar10", _adam(3e-4, 25_000), _CONV_PRUNING, 18,
            dropout=0.5, **_CONV_DATA),
    _preset("conv6_dropout", "conv6", "cifar10", _adam(3e-4, 30_000), _CONV6_PRUNING, 18,
            dropout=0.5, **_CONV_DATA),
    # LTH Fig. 7: VGG-19, global pruning 20% per round over the convolutions
    _preset("vgg19", "vgg19", "cifar10", _vgg(0.1), _GLOBAL_PRUNING, levels=19),
    _preset("vgg19_lr0.01", "vgg19", "cifar10", _vgg(0.01), _GLOBAL_PRUNING, levels=19),
    _preset("vgg19_warmup", "vgg19", "cifar10", _vgg(0.1, warmup=10_000), _GLOBAL_PRUNING, 19),
    _preset("vgg19_rewind", "vgg19", "cifar10", _vgg(0.1), _GLOBAL_PRUNING, 19, rewind=100),
    # LTH Fig. 8: ResNet-18, global pruning 20% per round over the 3x3 convolutions
    _preset("resnet18", "resnet18", "cifar10", _resnet(0.1), _GLOBAL_PRUNING, levels=20),
    _preset("resnet18_lr0.01", "resnet18", "cifar10", _resnet(0.01), _GLOBAL_PRUNING, 20),
    _preset("resnet18_warmup", "resnet18", "cifar10", _resnet(0.03, warmup=20_000),
            _GLOBAL_PRUNING, 20),
    _preset("resnet18_rewind", "resnet18", "cifar10", _resnet(0.1), _GLOBAL_PRUNING, 20,
            rewind=500),
]}

SYNTHETIC_STAND_IN = {"mnist": "synthetic_mnist", "fashion_mnist": "synthetic_mnist",
                      "cifar10": "synthetic_cifar10", "cifar100": "synthetic_cifar10"}


@dataclass(frozen=True)
class Profile:
    """How a profile derives from a paper preset, per model (absent = keep the preset's).

    ``iterations`` and ``eval_every`` rescale the schedule (milestones, warmup and the rewind
    point scale along); ``settings`` are further overrides in :meth:`ExperimentHparams.replace`
    syntax (``trials``, ``levels``, ``training__batch_size``, ``data__train_subset`` ...):
    the data cut is a hyperparameter, so it is part of every stored result's key.
    """

    description: str
    iterations: dict[str, int] = field(default_factory=dict)
    eval_every: dict[str, int] = field(default_factory=dict)
    settings: dict[str, dict] = field(default_factory=dict)
    synthetic: bool = False


_MODELS = ("lenet", "conv2", "conv4", "conv6", "vgg19", "resnet18")
_CONVS = ("conv2", "conv4", "conv6")
# smoke: a CPU notebook check in seconds -- the conv nets see a few hundred examples
_SMOKE_CONV = {"trials": 1, "levels": 1, "training__batch_size": 16,
               "training__test_curve": False, "data__train_subset": 256, "data__val_size": 64,
               "data__test_subset": 64}

PROFILES: dict[str, Profile] = {
    "paper": Profile("exact paper hyperparameters (meant for a GPU)"),
    "quick": Profile(
        "real data, fewer iterations and levels, LeNet 5 trials (LeNet: hours on 2 CPU cores, "
        "minutes on a GPU; the conv nets need a GPU to be quick)",
        iterations={"lenet": 5_000, "conv2": 1_000, "conv4": 1_000, "conv6": 1_000,
                    "vgg19": 300, "resnet18": 600},
        eval_every={m: 100 for m in _MODELS},
        # LeNet: 5 trials, what the main claims of notebooks 01, 05-07 need (see above)
        settings={"lenet": {"trials": 5, "levels": 18},
                  **{m: {"trials": 2, "levels": 6} for m in _CONVS},
                  "vgg19": {"trials": 2, "levels": 4}, "resnet18": {"trials": 2, "levels": 4}}),
    "smoke": Profile(
        "synthetic stand-in data, a few dozen iterations or fewer: seconds, for CI",
        iterations={"lenet": 60, **{m: 8 for m in _CONVS}, "vgg19": 3, "resnet18": 6},
        eval_every={"lenet": 10, **{m: 4 for m in _CONVS}, "vgg19": 3, "resnet18": 3},
        settings={"lenet": {"trials": 2, "levels": 2},
                  **{m: _SMOKE_CONV for m in _CONVS},
                  "vgg19": {"trials": 1, "levels": 1, "controls": (),
                            "training__batch_size": 8, "data__train_subset": 128,
                            "data__val_size": 32, "data__test_subset": 32},
                  "resnet18": {"trials": 1, "levels": 1, "training__batch_size": 32,
                               "data__train_subset": 256, "data__val_size": 64,
                               "data__test_subset": 64}},
        synthetic=True),
}


def resolve(preset: str, profile: str = "paper", synthetic: bool | None = None,
            **overrides) -> ExperimentHparams:
    """The preset scaled to the profile; ``synthetic`` forces (or forbids) the stand-in data;
    ``overrides`` replace fields afterwards (``trials=3``, ``training__lr=0.01`` ...)."""
    if preset not in PRESETS:
        raise HparamError(f"preset must be one of {', '.join(PRESETS)}; got {preset!r}")
    if profile not in PROFILES:
        raise HparamError(f"profile must be one of {', '.join(PROFILES)}; got {profile!r}")
    base, prof = PRESETS[preset], PROFILES[profile]
    model = base.model.name
    hp = base
    if model in prof.iterations:
        hp = scale_iterations(hp, prof.iterations[model], prof.eval_every.get(model))
    use_synthetic = prof.synthetic if synthetic is None else synthetic
    dataset = SYNTHETIC_STAND_IN[base.data.dataset] if use_synthetic else base.data.dataset
    val_size = 500 if use_synthetic else base.data.val_size
    hp = hp.replace(data__dataset=dataset, data__val_size=val_size)  # keeps data.augment
    return hp.replace(**prof.settings.get(model, {})).replace(**overrides)


def scale_iterations(hp: ExperimentHparams, iterations: int,
                     eval_every: int | None) -> ExperimentHparams:
    """Shorten training to ``iterations``; milestones, warmup and the rewind point scale along."""
    t = hp.training
    factor = iterations / t.iterations
    milestones = tuple(sorted({max(1, round(m * factor)) for m in t.milestones}))
    warmup = round(t.warmup * factor)
    rewind = max(1, round(hp.rewind_iteration * factor)) if hp.rewind_iteration else 0
    eval_every = min(eval_every or t.eval_every, iterations)
    return hp.replace(training__iterations=iterations, training__milestones=milestones,
                      training__warmup=warmup, training__eval_every=eval_every,
                      rewind_iteration=rewind)


def describe_presets(profile: str = "paper") -> str:
    """The table printed by ``python -m lottery presets [--profile NAME]``: every preset under
    ``profile`` (the same values ``imp --help --preset NAME --profile NAME`` shows)."""
    lines = [f"presets under the {profile} profile (another: presets --profile NAME)",
             f"{'preset':<16} {'model':<9} {'data':<17} {'opt':<5} {'lr':>7} {'iters':>7} "
             f"{'batch':>5} {'warmup':>6} {'rewind':>6} {'levels':>6}  pruning"]
    for name in PRESETS:
        p = resolve(name, profile)
        t, pr = p.training, p.pruning
        pruning = (f"global {pr.global_rate:.0%}" if pr.strategy == "global" else
                   f"conv {pr.conv_rate:.0%} fc {pr.fc_rate:.0%} out {pr.output_rate:.0%}")
        lines.append(f"{name:<16} {p.model.name:<9} {p.data.dataset:<17} {t.optimizer:<5} "
                     f"{t.lr:>7g} {t.iterations:>7} {t.batch_size:>5} {t.warmup:>6} "
                     f"{p.rewind_iteration:>6} {p.levels:>6}  {pruning}")
    lines.append("")
    lines.append("profiles:")
    lines += [f"  {name:<6} {prof.description}" for name, prof in PROFILES.items()]
    return "\n".join(lines)


def experiment_hparams(preset: str, profile: str, *, synthetic: bool, trials: int | None = None,
                       seed: int = 0, **overrides) -> ExperimentHparams:
    """A notebook's experiment: ``preset`` under ``profile``, its trials and seed, then
    ``overrides`` (what :meth:`Session.hparams` runs and the estimate counts)."""
    changes: dict = {"seed": seed} | ({"trials": trials} if trials is not None else {})
    hp = resolve(preset, profile, synthetic=synthetic)
    return hp.replace(**changes).replace(**overrides)
