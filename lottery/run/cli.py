"""Command line: ``python -m lottery {models,presets,data,store,<a study's command>} ...``
(installed as the ``lottery`` command too); the study commands (imp, oneshot, train, transfer,
stability, supermask, atinit, ...) come from the registry (:mod:`lottery.run.registry`).

``imp``, ``oneshot`` and ``train`` resolve a preset under a profile (see
:mod:`lottery.core.presets`), apply the flags as overrides -- one flag per hyperparameter,
generated from the dataclasses (:mod:`lottery.core.flags`) -- check the device and every output,
load the data and only then start training, so a bad value, an unwritable folder or a missing
dataset ends in one ``error:`` line instead of a traceback. Finished networks are cached in the run
store: rerunning a command only trains what is missing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lottery.core.jobs import CLI_EVALUATION, chosen, experiment_flags
from lottery.core.parser import Parser
from lottery.core.presets import PROFILES, describe_presets, resolve
from lottery.engine import download
from lottery.engine.models import describe_models
from lottery.run import store_command as housekeeping
from lottery.run.registry import COMMANDS


def version() -> str:
    """The installed package's version (``unknown`` when run from a tree never installed)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("lottery")
    except PackageNotFoundError:
        return "unknown"


def program() -> str:
    """How the user called us: ``lottery`` (the console script) or ``python -m lottery``."""
    return "lottery" if Path(sys.argv[0]).name == "lottery" else "python -m lottery"


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    preset, profile = chosen(argv or [])
    defaults = resolve(preset, profile, **CLI_EVALUATION) if preset else None
    parser = Parser(prog=program(),
                    description="Lottery Ticket Hypothesis reproduction suite.")
    parser.add_argument("--version", action="version", version=f"lottery {version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("models", help="list the architectures and their weight counts",
                   description="List the architectures: weights, prunable weights and the "
                               "count in Table 1 of Frankle & Carbin (2019).")
    sub.add_parser("data", help="download datasets into the data root (see data --help)",
                   add_help=False)
    sub.add_parser("store", help="list what the run store holds; remove what you name (see "
                   "store --help)", add_help=False)
    presets = sub.add_parser("presets", help="list the presets and profiles",
                             description="List the paper presets, scaled by a profile, and "
                                         "the profiles.")
    presets.add_argument("--profile", default="paper", choices=list(PROFILES),
                         help="the profile whose values the table shows (default: paper; "
                              "imp --help --preset NAME shows quick's unless --profile)")
    shared = experiment_flags(defaults, f"{preset}, {profile} profile")
    for command in COMMANDS.values():  # each study's subcommands, from the registry
        command.add(sub, shared, defaults)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["data"]:
        return download.main(argv[1:], prog=f"{program()} data")
    if argv[:1] == ["store"]:
        return housekeeping.main(argv[1:], prog=f"{program()} store")
    try:
        args = build_parser(argv).parse_args(argv)
        if args.command == "models":
            print(describe_models())
            return 0
        if args.command == "presets":
            print(describe_presets(args.profile))
            return 0
        return COMMANDS[args.command].run(args)
    except KeyboardInterrupt:
        print("interrupted; finished networks are kept in the run store", file=sys.stderr)
        return 130


# --- transfer (Morcos et al. 2019) --------------------------------------------------------------


