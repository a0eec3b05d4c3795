"""The ``imp``, ``oneshot`` and ``train`` subcommands: Frankle & Carbin (2019)'s experiments on
one preset, with Zhou et al. (2019)'s mask-0 action and IMP drawn every n rounds as options.

``python -m lottery imp --preset lenet --profile quick`` resolves the preset under the profile,
applies the generated hyperparameter flags, trains what the run store lacks and prints the
mean over trials per level and variant.
"""

from __future__ import annotations

import argparse

from lottery.core import flags
from lottery.core.experiments import Runner
from lottery.core.jobs import DEFAULT_ROUNDS, Command, report_results, run_job
from lottery.engine.mask0_actions import MASK0


def _mask0_flags(parser: argparse.ArgumentParser, every: bool) -> None:
    """Zhou et al. 2019's mask-0 action (and, for imp, levels drawn every n rounds)."""
    g = parser.add_argument_group("deconstructing lottery tickets (Zhou et al. 2019)")
    g.add_argument("--mask0", choices=list(MASK0), default="zero",
                   help="what the pruned weights hold while training: zero (the ticket), "
                        "freeze_init, freeze_shrunk_to_zero (default: zero)")
    if every:
        g.add_argument("--every", type=int, default=1, metavar="N",
                       help="train every N-th level, pruning N rounds at a time; N divides "
                            "--levels (default: 1)")


def _add_imp(sub, shared: argparse.ArgumentParser, defaults) -> None:
    p = sub.add_parser("imp", parents=[shared], help="iterative magnitude pruning with controls",
                       description="Train, prune, reset and retrain for --levels rounds; print "
                                   "the mean over trials per level and variant. Give --preset "
                                   "with --help to see its values.")
    _mask0_flags(p, every=True)


def _add_oneshot(sub, shared: argparse.ArgumentParser, defaults) -> None:
    p = sub.add_parser("oneshot", parents=[shared], help="one-shot pruning to several densities",
                       description="Train once, prune once to each target density, reset and "
                                   "retrain.")
    p.add_argument("--rounds", dest=flags.PREFIX + "oneshot_rounds",
                   type=flags.parser_for(tuple[float, ...]), metavar="LIST",
                   default=argparse.SUPPRESS,
                   help=f"short for --oneshot_rounds (default: {DEFAULT_ROUNDS})")
    _mask0_flags(p, every=False)


def _add_train(sub, shared: argparse.ArgumentParser, defaults) -> None:
    sub.add_parser("train", parents=[shared], help="train the dense network only",
                   description="Train the preset's dense network (level 0) for every trial.")


def _make(args: argparse.Namespace):
    """The runner, with Zhou et al.'s values (every n-th level, a mask-0 action)."""
    every, mask0 = getattr(args, "every", 1), getattr(args, "mask0", "zero")
    return lambda hp, **options: Runner(hp, every=every, mask0=mask0, **options)


def run(args: argparse.Namespace) -> int:
    """``imp`` / ``oneshot`` / ``train``: the table of means per level and variant."""
    def work(runner: Runner) -> int:
        result = runner.oneshot() if args.command == "oneshot" else runner.imp()
        return report_results(args, result.results, runner.store.root)
    return run_job(args, work, make=_make(args))


COMMANDS = (Command("imp", _add_imp, run), Command("oneshot", _add_oneshot, run),
            Command("train", _add_train, run))
