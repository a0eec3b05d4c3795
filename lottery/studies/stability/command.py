"""The ``stability`` subcommand: notebook 05's study on one preset (Frankle et al. 2019,
"Stabilizing the LTH"): stability to data order and pruning, mode connectivity, mask overlap."""

from __future__ import annotations

import argparse

from lottery.core import flags
from lottery.core.jobs import Command, error, experiment_hparams, make_runner
from lottery.core.presets import PRESETS
from lottery.engine.data import DataUnavailable
from lottery.studies.stability.overlap import mask_overlap
from lottery.studies.stability.study import StabilityStudy, describe, make_plan, summary


def _add(sub, shared: argparse.ArgumentParser, defaults) -> None:
    """``stability``: notebook 05's study (stability, mode connectivity, mask overlap)."""
    p = sub.add_parser("stability", parents=[shared],
                       help="stability to data order and pruning, mode connectivity, overlap",
                       description="Train two IMP runs differing only in data order, one per "
                                   "rewind point, and two copies of each ticket and control; "
                                   "print distances, instability and mask overlap.")
    integers = flags.parser_for(tuple[int, ...])
    g = p.add_argument_group("stability study")
    g.add_argument("--at", type=integers, default=(3, 7, 10, 15), metavar="LIST",
                   help="IMP levels measured at k = 0 (default: 3,7,10,15 = LeNet 51, 21, "
                        "10.7, 3.6%%); cut to --levels")
    g.add_argument("--focus", type=int, default=10, metavar="N",
                   help="the level of the paper's table and of the rewind sweep (default: 10)")
    g.add_argument("--connectivity-level", type=int, default=12, metavar="N",
                   help="level whose first-layer connectivity the notebook draws (default: 12)")
    g.add_argument("--ks", type=integers, default=(0, 100, 500, 2000), metavar="LIST",
                   help="rewind points in paper iterations, scaled like the training "
                        "(default: 0,100,500,2000)")
    g.add_argument("--points", type=int, default=11, metavar="N",
                   help="networks along each line between two copies (default: 11)")


def run(args: argparse.Namespace) -> int:
    """The ``stability`` subcommand: the study's tables, then the overlap sentence."""
    try:
        hp = experiment_hparams(args)
        plan = make_plan(hp, PRESETS[args.preset].training.iterations, levels=args.at,
                         focus=args.focus, connectivity=args.connectivity_level,
                         rewind_ks=args.ks, points=args.points)
        runner = make_runner(args, hp)
    except (ValueError, DataUnavailable, OSError) as e:
        return error(e)
    study = StabilityStudy(hp, plan, data=runner.data, store=runner.store, device=runner.device,
                           speed=runner.speed, progress=runner.progress)
    print(f"stability {args.preset} ({args.profile}): {runner.data.description}; "
          f"{describe(plan, study.hp)}; run store {runner.store.root}", flush=True)
    try:
        result, overlap = study.stability(), mask_overlap(study)
    except OSError as e:
        return error(f"{e}; finished networks are kept in {runner.store.root}")
    print(summary(result.table).to_string(float_format=lambda x: f"{x:.2f}"))
    print(overlap.sentence)
    if args.csv:
        try:
            result.table.to_csv(args.csv, index=False)
        except OSError as e:
            return error(f"--csv {args.csv}: {e.strerror or e}")
        print(f"results written to {args.csv}")
    return 0


COMMANDS = (Command("stability", _add, run),)
