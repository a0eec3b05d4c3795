"""Deconstructing lottery tickets (Zhou, Lan, Liu & Yosinski 2019): the stages.

Zhou et al. take the LTH algorithm apart into a *mask criterion* (which weights to keep:
:data:`lottery.engine.pruning.CRITERIA`), a *mask-1 action* (what the kept weights restart from: the
variants of :data:`lottery.engine.variants.VARIANTS`) and a *mask-0 action* (what the pruned weights
hold while training: :data:`lottery.engine.mask0_actions.MASK0`), and find *supermasks*: masks that
make an untrained network far better than chance.

- The experiment runner takes two values for these studies
  (:class:`~lottery.core.experiments.Runner`): ``every`` (draw every n-th IMP level, pruning n
  rounds at a time, so a quick sweep reaches the same sparsity in fewer trainings) and ``mask0``
  (the pruned weights of every level's networks frozen by that action; part of the stored
  identity, absent for ``zero``).
- :func:`sweep` runs several IMP lineages (criteria, mask-0 actions) that share the dense runs,
  training each level's networks of every lineage together.
- :func:`untrained_accuracy` evaluates one-shot masks on the untrained network (iteration 0),
  with its original init or signed constants (Zhou Sec. 5).

As in the LTH controls, the mask-1 variants here are trained on the ticket's masks (Zhou et al.
iterate each variant on its own masks); criteria and mask-0 actions are their own lineages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import pandas as pd
import torch
from tqdm.auto import tqdm

from lottery.core.experiments import Runner, control_seed, init_seed
from lottery.core.hparams import HparamError
from lottery.core.presets import PROFILES
from lottery.core.results import ExperimentResult
from lottery.core.training import evaluate
from lottery.engine import mask1_actions as mask1
from lottery.engine import pruning
from lottery.engine.mask0_actions import MASK0
from lottery.engine.masks import Mask
from lottery.engine.members import State, load_member_state
from lottery.engine.models import build
from lottery.engine.variants import CONTROLS

ZHOU_CRITERIA = ("large_final", "small_final", "large_init", "small_init",
                 "large_init_large_final", "small_init_small_final", "magnitude_increase",
                 "movement", "random", "large_final_same_sign", "magnitude_increase_same_sign")
MASK1_ACTIONS = ("reinit", "reshuffle", "signed_constant", "random_signs", "random_magnitudes")
SUPERMASK_CRITERIA = ("large_final", "large_final_same_sign", "magnitude_increase", "random")
STARTS = ("init", "signed_constant")  # the untrained weights a supermask is applied to


def sweep(runners: Mapping[str, Runner], method: str = "imp",
          progress: bool = False) -> dict[str, ExperimentResult]:
    """One result per lineage of ``runners`` (same recipe and store; e.g. one per criterion):
    the shared dense level, then level by level the networks of every lineage, trained
    together (each network once, however many lineages name it)."""
    first = next(iter(runners.values()))
    if any(r.recipe() != first.recipe() or r.schedule(method) != first.schedule(method)
           for r in runners.values()):
        raise ValueError("a sweep's lineages must share the recipe and the schedule")
    dense = first.dense_networks()
    dense_payloads = first.train_many(dense, "level 0 (dense)")
    networks = {label: {0: dense} for label in runners}
    payloads = {label: {0: dense_payloads} for label in runners}
    trials = first.hp.trials
    for level, parent, rounds in tqdm(first.schedule(method), desc=f"{method} sweep",
                                      disable=not progress):
        built = {label: r.level_networks(level, rounds, networks[label][parent][:trials],
                                         payloads[label][parent][:trials], dense,
                                         dense_payloads) for label, r in runners.items()}
        unique = {first.store.key_id(n.key): n for nets in built.values() for n in nets}
        trained = dict(zip(unique, first.train_many(list(unique.values()),
                                                    f"{method} level {level:g}"), strict=True))
        for label, nets in built.items():
            networks[label][level] = nets
            payloads[label][level] = [trained[first.store.key_id(n.key)] for n in nets]
    return {label: r._result(method, networks[label], payloads[label])
            for label, r in runners.items()}


# --- supermasks at initialization ----------------------------------------------------------

def untrained_start(init: State, mask: Mask, start: str) -> State:
    """The untrained weights a supermask is applied to: ``init`` or its signed constants."""
    if start == "init":
        return init
    if start == "signed_constant":
        return mask1.signed_constant(init, mask, init)
    raise HparamError(f"start must be one of {', '.join(STARTS)}; got {start!r}")


def masked(state: State, mask: Mask) -> State:
    """``state`` with its pruned weights set to zero."""
    return {name: t * mask[name] if name in mask else t for name, t in state.items()}


def evaluate_states(runner: Runner, states: Sequence[State], split: str = "test",
                    chunk: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """Loss and accuracy on ``split`` of each of ``states`` (no training), ``chunk`` members
    per evaluation."""
    hp, data, losses, accs = runner.hp, runner.data, [], []
    for start in range(0, len(states), chunk):
        part = states[start:start + chunk]
        model = build(hp.model.name, seeds=[0] * len(part), input_shape=data.input_shape,
                      num_classes=data.num_classes, **hp.model.options())
        for k, state in enumerate(part):
            load_member_state(model, k, state)
        loss, acc = evaluate(model.to(runner.device), getattr(data, split))
        losses.append(loss.cpu())
        accs.append(acc.cpu())
    return torch.cat(losses), torch.cat(accs)


def untrained_accuracy(runner: Runner, criteria: Sequence[str] = SUPERMASK_CRITERIA,
                       rounds: Sequence[float] = (1, 2, 4, 6, 8, 10, 12, 14, 16, 18),
                       starts: Sequence[str] = STARTS) -> pd.DataFrame:
    """Validation and test accuracy at iteration 0 of each trial's untrained network under
    one-shot masks of each criterion and ``rounds`` (from the trial's dense run), applied to
    each of ``starts``: one row per trial x criterion x rounds x start. The validation
    accuracy is what chooses a density (the test set only reports it)."""
    hp, rows, states = runner.hp, [], []
    for t, payload in enumerate(runner.dense()):
        init = runner.fresh_init(init_seed(hp, t))
        for criterion in criteria:
            policy = replace(hp.pruning, criterion=criterion)
            for r in rounds:
                mask = pruning.next_mask(policy, runner.kinds, init, payload["final"],
                                         runner.dense_mask, r, control_seed(hp, t, r, "ticket"))
                for start in starts:
                    states.append(masked(untrained_start(init, mask, start), mask))
                    rows.append({"trial": t, "criterion": criterion, "start": start,
                                 "rounds": float(r), "percent_remaining": 100 * mask.density()})
    loss, acc = evaluate_states(runner, states)
    _, val_acc = evaluate_states(runner, states, "val")
    return pd.DataFrame(rows).assign(test_loss=loss.numpy(), test_acc=acc.numpy(),
                                     val_acc=val_acc.numpy())


# --- the notebook's cut of the sweeps per profile ---------------------------------------------

QUICK_KEYS = {"levels": "IMP rounds reached", "every": "rounds per trained level",
              "iterations": "training iterations per network", "trials": "trials"}


def profile_cut(profile: str, quick: Mapping[str, int],
                trials: int | None = None) -> tuple[dict, int]:
    """(hyperparameter overrides, every) of the notebook's sweeps under ``profile``: under
    ``quick`` the notebook's ``quick`` cut (levels, every, iterations, trials); under ``smoke``
    one level six rounds deep, 30 iterations; under ``paper`` the preset (every level). The
    test set is evaluated at the early-stop point and the end only (no figure here draws test
    curves; under quick that halves the evaluation cost). A ``trials`` the notebook sets wins
    over the cut's."""
    bad = sorted(set(quick) ^ set(QUICK_KEYS))
    if bad or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1
                      for v in quick.values()):
        raise HparamError(f"parameter quick_cut must map each of {', '.join(QUICK_KEYS)} to a "
                          f"positive integer; got {dict(quick)!r}")
    if quick["levels"] % quick["every"]:
        raise HparamError(f"parameter quick_cut: every ({quick['every']}) must divide levels "
                          f"({quick['levels']})")
    if profile == "quick":
        overrides = {"levels": quick["levels"], "training__iterations": quick["iterations"],
                     "trials": quick["trials"]}
        every = quick["every"]
    elif profile == "smoke":
        # one pruned level, six rounds deep (26% remaining): the sparse-level claims have data
        overrides, every = {"levels": 6, "trials": 1, "training__iterations": 30}, 6
    else:
        overrides, every = {}, 1
    overrides["training__test_curve"] = False
    if trials is not None:
        overrides.pop("trials", None)
    return overrides, every


def check_parameters(*, criteria: Sequence[str], mask1_actions: Sequence[str],
                     mask0_actions: Sequence[str], conv_models: Sequence[str],
                     supermask_rounds: Sequence[float],
                     supermask_iterations: Mapping[str, int]) -> None:
    """Raise a one-line :class:`HparamError` for a bad notebook-04 parameter."""
    known = {*pruning.CRITERIA, *(f"{c}_same_sign" for c in pruning.CRITERIA), "random"}
    checks = [
        ("criteria", criteria, lambda c: c in known, "criteria names"),
        ("mask1_actions", mask1_actions, lambda a: a in CONTROLS, f"drawn from {CONTROLS}"),
        ("mask0_actions", mask0_actions, lambda a: a in MASK0, f"drawn from {tuple(MASK0)}"),
        ("conv_models", conv_models, lambda m: m in ("conv2", "conv4", "conv6"),
         "drawn from 'conv2', 'conv4', 'conv6'"),
        ("supermask_rounds", supermask_rounds, lambda r: isinstance(r, int | float)
         and not isinstance(r, bool) and 0 <= r <= 100, "numbers of rounds in [0, 100]"),
    ]
    for name, values, ok, allowed in checks:
        if isinstance(values, str) or not all(ok(v) for v in values) or (
                name != "conv_models" and not values):
            raise HparamError(f"parameter {name} must be a list of {allowed}; got {values!r}")
    if not (isinstance(supermask_iterations, Mapping) and all(
            p in PROFILES and isinstance(n, int) and n >= 1
            for p, n in supermask_iterations.items())):
        raise HparamError(f"parameter supermask_iterations must map profile names to positive "
                          f"integers; got {supermask_iterations!r}")

