"""The ``supermask`` subcommand (Zhou et al. 2019, Sec. 5): a learned supermask over frozen
weights per trial, or (``--at-init``) the untrained network's accuracy under one-shot masks."""

from __future__ import annotations

import argparse

from lottery.core.experiments import Runner
from lottery.core.jobs import Command, experiment_hparams, run_job
from lottery.studies.deconstruct import supermask
from lottery.studies.deconstruct.study import untrained_accuracy
from lottery.studies.deconstruct.supermask import DEFAULT_LR, WEIGHTS


def _add(sub, shared: argparse.ArgumentParser, defaults) -> None:
    p = sub.add_parser("supermask", parents=[shared], help="learn a supermask (Zhou et al.)",
                       description="Freeze the weights (signed constants of the init) and "
                                   "learn a Bernoulli mask over them (straight-through "
                                   "gradient, Adam on the scores); print test accuracy at "
                                   "early stop and the mask's density per trial. --at-init "
                                   "instead evaluates the untrained network under one-shot "
                                   "masks of several criteria.")
    g = p.add_argument_group("supermask")
    g.add_argument("--score-lr", type=float, default=DEFAULT_LR, metavar="X",
                   help=f"Adam learning rate of the scores (default: {DEFAULT_LR})")
    g.add_argument("--weights", choices=WEIGHTS, default="signed_constant",
                   help="the frozen weights (default: signed_constant)")
    g.add_argument("--at-init", action="store_true",
                   help="evaluate untrained masked networks (large_final, "
                        "large_final_same_sign, magnitude_increase, random) instead")


def _report(args: argparse.Namespace, runner: Runner) -> int:
    """The supermask subcommand: a learned supermask per trial, or (--at-init) the untrained
    network's accuracy under one-shot masks."""
    if args.at_init:
        table = untrained_accuracy(runner)
        best = (table.groupby(["criterion", "start"]).test_acc.max() * 100).unstack()
        print("best test accuracy (%) of the untrained masked network over densities:")
        print(best.to_string(float_format=lambda x: f"{x:.2f}"))
        frame = table
    else:
        frame = supermask.run(runner, weights=args.weights).results
        print(supermask.summary(frame).to_string(index=False,
                                                 float_format=lambda x: f"{x:.2f}"))
    if args.csv:
        frame.to_csv(args.csv, index=False)
        print(f"results written to {args.csv}")
    return 0


def _hparams(args: argparse.Namespace):
    """The experiment's recipe; a learned supermask trains scores with their own rate."""
    hp = experiment_hparams(args)
    return hp if args.at_init else supermask.hparams(hp, lr=args.score_lr)


def run(args: argparse.Namespace) -> int:
    return run_job(args, lambda runner: _report(args, runner), hparams=_hparams)


COMMANDS = (Command("supermask", _add, run),)
