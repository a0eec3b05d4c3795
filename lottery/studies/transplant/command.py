"""The ``transplant`` subcommand: ``python -m lottery transplant --preset lenet --at 3,7``
trains IMP (stored levels load) and each level's ticket mask on the next trial's init, then
prints the mean final test accuracy per level of the ticket, the transplant and the
controls."""

from __future__ import annotations

import argparse

from lottery.core import flags
from lottery.core.experiments import Runner
from lottery.core.jobs import Command, report_results, run_job
from lottery.studies.transplant.study import check, transplant


def _add(sub, shared: argparse.ArgumentParser, defaults) -> None:
    p = sub.add_parser("transplant", parents=[shared],
                       help="a ticket's mask on another trial's init (needs --trials >= 2)",
                       description="IMP as `imp` does, then each chosen level's ticket mask "
                                   "trained from the next trial's initialization: does the "
                                   "mask alone carry the ticket?")
    p.add_argument("--at", type=flags.parser_for(tuple[int, ...]), default=(3, 7),
                   metavar="LIST", help="IMP levels whose masks are transplanted "
                                        "(default: 3,7)")


def run(args: argparse.Namespace) -> int:
    def work(runner: Runner) -> int:
        result = transplant(runner, args.at)
        return report_results(args, result.results, runner.store.root)
    return run_job(args, work, check=lambda runner: check(runner, args.at))


COMMANDS = (Command("transplant", _add, run),)
