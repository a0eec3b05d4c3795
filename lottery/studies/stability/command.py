"""The ``stability`` subcommand: notebook 05's study on one preset (Frankle et al. 2019,
"Stabilizing the LTH"): stability to data order and pruning, mode connectivity, mask overlap."""

from __future__ import annotations

import argparse

from lottery.core.jobs import Command, error, experiment_hparams, make_runner
from lottery.core.params import add_flags
from lottery.core.presets import PRESETS
from lottery.engine.data import DataUnavailable
from lottery.studies.stability.overlap import mask_overlap
from lottery.studies.stability.params import StabilityParams
from lottery.studies.stability.study import StabilityStudy, describe, plan_of, summary


def _add(sub, shared: argparse.ArgumentParser, defaults) -> None:
    """``stability``: notebook 05's study (stability, mode connectivity, mask overlap)."""
    p = sub.add_parser("stability", parents=[shared],
                       help="stability to data order and pruning, mode connectivity, overlap",
                       description="Train two IMP runs differing only in data order, one per "
                                   "rewind point, and two copies of each ticket and control; "
                                   "print distances, instability and mask overlap.")
    add_flags(p, StabilityParams, "stability study")


def run(args: argparse.Namespace) -> int:
    """The ``stability`` subcommand: the study's tables, then the overlap sentence."""
    try:
        hp = experiment_hparams(args)
        plan = plan_of(hp, PRESETS[args.preset].training.iterations,
                       StabilityParams.from_args(args))
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
