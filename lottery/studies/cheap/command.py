"""The ``atinit`` subcommand: cheap masks (pruning at initialization, early-bird, random) at
target densities, trained like IMP tickets; ``python -m lottery atinit --preset lenet --method
snip --densities 0.07,0.02``.

Besides the generated hyperparameter flags shared with ``imp``, every method parameter is a flag
generated from the registry's defaults (``--snip.batch_seed``, ``--grasp.temperature``,
``--synflow.iterations`` ...): a changed value is a new stored network, an unchanged one loads.
"""

from __future__ import annotations

import argparse

from lottery.core import flags
from lottery.core.hparams import ExperimentHparams, HparamError
from lottery.core.jobs import Command, error, experiment_hparams, make_runner
from lottery.core.results import percent_columns
from lottery.engine.data import DATASETS, DataUnavailable
from lottery.studies.cheap import methods as cheap_methods
from lottery.studies.cheap import study as cheap
from lottery.studies.cheap import tables as cheap_tables

_typed = flags.argument_type  # a flag's parser naming the flag in its error

PREFIX = "method:"
COLUMNS = {"percent_remaining": "remaining %", "early_stop_test_acc": "early-stop test %",
           "sd_early_stop_test_acc": "sd", "cost_iterations": "cost (iterations)",
           "cost_flops": "cost (FLOPs)"}


def add_parser(sub, shared: argparse.ArgumentParser,
               defaults: ExperimentHparams | None) -> None:
    """The ``atinit`` subcommand, beside ``imp`` and ``oneshot``."""
    p = sub.add_parser("atinit", parents=[shared], help="cheap masks: at init, early-bird, random",
                       description="Make a cheap mask at each target density (snapped to the "
                                   "nearest IMP level), reset to init, train; print accuracy "
                                   "and the cost of finding the mask.")
    g = p.add_argument_group("cheap masks")
    g.add_argument("--method", required=True, choices=list(cheap_methods.METHODS),
                   help="magnitude_init, snip, grasp, synflow (at init), early_bird (magnitude "
                        "at iteration t), random")
    g.add_argument("--densities", required=True, type=_typed("densities", tuple[float, ...]),
                   metavar="LIST", help="comma list of target densities (fractions)")
    g.add_argument("--layers", choices=["global", "imp"],
                   help="global: one threshold across layers (as published; default for the "
                        "at-init methods); imp: the IMP ticket's per-layer densities (trains "
                        "the IMP tickets first; default for random)")
    g.add_argument("--t", type=_typed("t", tuple[int, ...]), metavar="LIST", default=(),
                   help="early_bird: comma list of iterations t of the dense run")
    g.add_argument("--stop-rule", action="store_true",
                   help="early_bird: also the mask where You et al.'s stopping rule fires")
    g.add_argument("--shuffle", action="store_true",
                   help="also train each mask shuffled within its layers (Frankle et al. 2021)")
    g.add_argument("--baselines", action="store_true",
                   help="also IMP (reset to init) and one-shot magnitude pruning")
    add_method_flags(p, defaults)


def add_method_flags(parser: argparse.ArgumentParser,
                     defaults: ExperimentHparams | None) -> None:
    """One flag per method parameter, ``--<method>.<parameter>``, typed from the registry."""
    group = parser.add_argument_group("method parameters")
    for kind, method in cheap_methods.METHODS.items():
        shown = method.defaults(defaults, DATASETS[defaults.data.dataset].num_classes) \
            if defaults is not None else {}
        for name in method.parameters:
            if kind == "early_bird":
                continue  # t is --t, a list
            text = f"{kind}: {name}" + (f" (preset: {shown[name]})" if name in shown else "")
            group.add_argument(f"--{kind}.{name}", dest=f"{PREFIX}{kind}.{name}",
                               type=_typed(f"{kind}.{name}", cheap_methods.PARAM_TYPES[name]),
                               default=argparse.SUPPRESS, metavar="X", help=text)


def plan(args: argparse.Namespace) -> cheap.Plan:
    """The :class:`~lottery.studies.cheap.study.Plan` the flags ask for (HparamError on a bad
    mix)."""
    method, densities = args.method, tuple(args.densities)
    layers = args.layers or ("imp" if method == "random" else "global")
    if method == "early_bird" and (args.layers or not (args.t or args.stop_rule)):
        raise HparamError("early_bird prunes with the preset's policy (no --layers) and needs "
                          "--t and/or --stop-rule")
    if method != "early_bird" and (args.t or args.stop_rule):
        raise HparamError("--t and --stop-rule are early_bird's")
    if args.shuffle and layers == "imp":
        raise HparamError("a mask with IMP's layer densities shuffled within its layers is "
                          "random pruning at those densities: use --method random")
    if method == "random" and layers != "imp":
        raise HparamError("random pruning uses the IMP ticket's layer densities (--layers imp)")
    overrides = method_overrides(args)
    for kind, given in overrides.items():  # before any training, not when the method scores
        for name, value in given.items():
            cheap_methods.check_param(kind, name, value)
    at_init = (method,) if method in cheap_methods.AT_INIT else ()
    return cheap.Plan(
        densities=() if at_init and layers == "imp" else densities, at_init=at_init,
        imp_layers=densities if at_init and layers == "imp" else (),
        shuffle=densities if args.shuffle and at_init else (), early_bird=tuple(args.t),
        stop_rule=cheap.StopRule() if args.stop_rule else None, random=method == "random",
        imp=args.baselines, params=overrides)


def method_overrides(args: argparse.Namespace) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for key, value in vars(args).items():
        if key.startswith(PREFIX):
            kind, name = key[len(PREFIX):].split(".", 1)
            out.setdefault(kind, {})[name] = value
    return out


def run(args: argparse.Namespace) -> int:
    """``python -m lottery atinit ...``: one line per error, else the summary table."""

    try:
        hp = experiment_hparams(args)
        wanted = plan(args)
        runner = make_runner(args, hp)
    except (ValueError, DataUnavailable, OSError) as e:  # HparamError, UsageError: ValueErrors
        return error(e)
    print(f"atinit {args.method} {args.preset} ({args.profile}): {runner.data.description}; "
          f"{hp.training.iterations} iterations, {hp.trials} trial(s), device {runner.device}, "
          f"run store {runner.store.root}", flush=True)
    try:
        result = cheap.run(runner, wanted)
    except ValueError as e:
        return error(e)
    except OSError as e:
        return error(f"{e}; finished networks are kept in {runner.store.root}")
    table = percent_columns(cheap_tables.summary(result)).rename(columns=COLUMNS)
    print(table.to_string(float_format=lambda x: f"{x:.4g}"))
    if args.csv:
        result.results.to_csv(args.csv, index=False)
        print(f"results written to {args.csv}")
    return 0


COMMANDS = (Command("atinit", add_parser, run),)
