"""The ``transfer`` subcommand (Morcos et al. 2019): the IMP tickets of one recipe trained
under another (dataset, optimizer); the experiment flags describe the source, the generated
``--target.data.*`` / ``--target.training.*`` flags the target."""

from __future__ import annotations

import argparse

from lottery.core import flags
from lottery.core.hparams import HparamError
from lottery.core.jobs import (
    Command,
    error,
    experiment_hparams,
    make_runner,
    plural,
    positive,
    report_results,
)
from lottery.core.presets import PROFILES, SYNTHETIC_STAND_IN
from lottery.engine.data import DataUnavailable
from lottery.studies.transfer.study import check_compatible, describe, source_levels, transfer

TARGET = "target:"  # argparse destinations of the target recipe's flags


def _add(sub, shared: argparse.ArgumentParser, defaults) -> None:
    """``transfer``: the experiment's flags describe the source; ``--target.data.*`` and
    ``--target.training.*`` (generated like the others) change the target recipe."""
    p = sub.add_parser(
        "transfer", parents=[shared], help="train the IMP tickets of one recipe under another",
        description="Find tickets by IMP on the source recipe (the preset and flags; stored "
                    "runs are reused) and train each level's ticket, with its mask and starting "
                    "weights, and a random ticket of the same per-layer densities on the target "
                    "recipe (Morcos et al. 2019). Example: transfer --preset lenet --from mnist "
                    "--to fashion_mnist; across optimizers: --target.training.optimizer sgd "
                    "--target.training.lr 0.03. The target's own tickets come from `imp` with "
                    "the target's flags and share the run store.")
    g = p.add_argument_group("transfer")
    g.add_argument("--from", dest=flags.PREFIX + "data.dataset", metavar="DATASET",
                   default=argparse.SUPPRESS, help="short for --data.dataset: the dataset the "
                   "tickets are found on (default: the preset's)")
    g.add_argument("--to", dest=TARGET + "data.dataset", metavar="DATASET",
                   default=argparse.SUPPRESS, help="short for --target.data.dataset: the dataset "
                   "the tickets are trained on (default: the source's)")
    g.add_argument("--every", type=positive, default=1, metavar="N",
                   help="transfer the tickets of every N-th IMP level (default: 1, all)")
    g.add_argument("--transfer-controls", type=flags.parser_for(tuple[str, ...]),
                   default=("random_mask",), metavar="LIST",
                   help="controls trained beside each transferred ticket (default: random_mask, "
                        "the random ticket; also reinit, or none)")
    t = p.add_argument_group("target hyperparameters (default: the source's)")
    for path, kind in flags.fields():
        if path.startswith(("data.", "training.")):
            t.add_argument(f"--target.{path}", dest=TARGET + path,
                           type=flags.argument_type(f"target.{path}", kind),
                           default=argparse.SUPPRESS, metavar=flags.metavar(kind),
                           help=flags.HELP.get(path, ""))


def transfer_hparams(args: argparse.Namespace):
    """(source, target) hyperparameters: the target is the source with the target flags; under
    a synthetic profile (or --synthetic) a real dataset name means its stand-in."""
    source = experiment_hparams(args)
    synthetic = args.synthetic or PROFILES[args.profile].synthetic

    def data(name: str) -> str:
        return SYNTHETIC_STAND_IN.get(name, name) if synthetic else name
    source = source.replace(data__dataset=data(source.data.dataset))
    changes = {key[len(TARGET):].replace(".", "__"): value for key, value in vars(args).items()
               if key.startswith(TARGET)}
    try:
        target = source.replace(**changes)
        return source, target.replace(data__dataset=data(target.data.dataset))
    except HparamError as error:
        raise HparamError(f"target {error}") from None


def run(args: argparse.Namespace) -> int:
    try:
        hp, target_hp = transfer_hparams(args)
        source, target = make_runner(args, hp), make_runner(args, target_hp)
        check_compatible(source, target)
        levels = source_levels(hp, args.every)
    except (ValueError, DataUnavailable, OSError) as e:
        return error(e)
    same = " (the same recipe: a self-transfer, which reproduces the source's tickets)" \
        if hp == target_hp else ""
    print(f"transfer {args.preset} ({args.profile}): {describe(source)} -> {describe(target)}"
          f"{same}; levels {levels}, {plural(hp.trials, 'trial')}, device {source.device}, "
          f"run store {source.store.root}", flush=True)
    try:
        result = transfer(source, target, levels, args.transfer_controls)
    except ValueError as e:  # HparamError: an incompatible target
        return error(e)
    except OSError as e:
        return error(f"{e}; finished networks are kept in {source.store.root}")
    return report_results(args, result.results, source.store.root)


COMMANDS = (Command("transfer", _add, run),)
