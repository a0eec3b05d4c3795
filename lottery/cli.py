"""Command line: ``python -m lottery {models,presets,imp,oneshot,train} ...``.

``imp``, ``oneshot`` and ``train`` resolve a preset under a profile (see :mod:`lottery.presets`),
apply the flags as overrides, load the data and only then start training, so a bad value or a
missing dataset ends in one ``error:`` line (exit 1) instead of a traceback. Finished stages are
cached in the run store: rerunning a command only trains what is missing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from lottery.data import DATA_ENV, DataUnavailable, load
from lottery.experiments import LotteryRunner
from lottery.models import describe_models
from lottery.presets import PRESETS, PROFILES, describe_presets, resolve, scale_iterations
from lottery.store import RUNS_ENV, RunStore
from lottery.training import default_device

DEFAULT_ROUNDS = "1,2,3,5,7,9,12"
SUMMARY = {"percent_remaining": "remaining %", "early_stop_iteration": "early-stop it",
           "early_stop_test_acc": "early-stop test %", "final_test_acc": "final test %",
           "final_train_acc": "final train %"}
PERCENT = ("early_stop_test_acc", "final_test_acc", "final_train_acc")


class UsageError(ValueError):
    """A flag value the CLI itself rejects (reported as one ``error:`` line)."""


def _rounds(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(r) for r in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers, got {text!r}") from None


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _experiment_flags(pruned: bool) -> argparse.ArgumentParser:
    """The flags shared by imp, oneshot (``pruned``) and train."""
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("experiment")
    g.add_argument("--preset", required=True, choices=list(PRESETS), metavar="NAME",
                   help=f"paper configuration, one of: {', '.join(PRESETS)}")
    g.add_argument("--profile", default="quick", choices=list(PROFILES),
                   help="paper = exact hyperparameters; quick = real data, shortened; "
                        "smoke = synthetic data, seconds (default: quick)")
    g.add_argument("--trials", type=int, help="independent runs per experiment "
                   "(default: the profile's)")
    g.add_argument("--iterations", type=int, help="training iterations per run; milestones, "
                   "warmup and the rewind point scale along (default: the profile's)")
    g.add_argument("--rewind", type=int, metavar="K", help="rewind survivors to iteration K "
                   "of the dense run instead of to initialization (default: the preset's)")
    g.add_argument("--seed", type=int, help="experiment seed (default: 0)")
    if pruned:
        g.add_argument("--controls", metavar="LIST", help="comma list of controls trained "
                       "beside each ticket: reinit, random_mask, or 'none' (default: reinit)")
    r = p.add_argument_group("running")
    r.add_argument("--runs", metavar="DIR", help=f"run store root; finished stages are reused "
                   f"(default: ${RUNS_ENV} or runs/)")
    r.add_argument("--data", metavar="DIR", help=f"dataset root in torchvision layout "
                   f"(default: ${DATA_ENV} or data/)")
    r.add_argument("--download", action="store_true",
                   help="download a missing real dataset (default: fail with an error)")
    r.add_argument("--synthetic", action="store_true",
                   help="use the synthetic stand-in of the preset's dataset")
    r.add_argument("--device", help="torch device, e.g. cpu or cuda (default: cuda if available)")
    r.add_argument("--checkpoint-every", type=_non_negative, default=0, metavar="N",
                   help="checkpoint a run every N iterations so it can resume (default: 0, off)")
    r.add_argument("--bf16", action="store_true", help="train in bfloat16 autocast")
    r.add_argument("--channels-last", action="store_true",
                   help="NHWC convolutions (speed option; changes results by float rounding)")
    r.add_argument("--compile", action="store_true",
                   help="torch.compile the training step (speed option, GPU; float rounding)")
    r.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    r.add_argument("--csv", metavar="PATH", help="write the full results table (one row per "
                   "trial, level and variant) to PATH")
    return p


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m lottery", description="Lottery Ticket Hypothesis reproduction suite.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("models", help="list the architectures and their weight counts",
                   description="List the architectures: weights, prunable weights and the "
                               "count in Table 1 of Frankle & Carbin (2019).")
    sub.add_parser("presets", help="list the presets and profiles",
                   description="List the paper presets and the profiles that scale them.")
    imp = sub.add_parser("imp", parents=[_experiment_flags(pruned=True)],
                         help="iterative magnitude pruning with controls",
                         description="Train, prune, reset and retrain for --levels rounds; "
                                     "print the mean over trials per level and variant.")
    imp.add_argument("--levels", type=int, help="pruning rounds after the dense run "
                     "(default: the profile's)")
    oneshot = sub.add_parser("oneshot", parents=[_experiment_flags(pruned=True)],
                             help="one-shot pruning to several densities",
                             description="Train once, prune once to each target density, "
                                         "reset and retrain.")
    oneshot.add_argument("--rounds", type=_rounds, default=_rounds(DEFAULT_ROUNDS),
                         metavar="LIST", help="comma list of targets, each the density of that "
                         f"many IMP rounds (fractions allowed; default: {DEFAULT_ROUNDS})")
    sub.add_parser("train", parents=[_experiment_flags(pruned=False)],
                   help="train the dense network only",
                   description="Train the preset's dense network (level 0) for every trial.")
    return parser


def experiment_hparams(args: argparse.Namespace):
    """The preset under the profile, with the flags applied (raises HparamError on bad values)."""
    hp = resolve(args.preset, args.profile, synthetic=True if args.synthetic else None)
    if args.iterations is not None:
        # scale from the paper's schedule so milestones, warmup and rewind round only once
        paper = scale_iterations(PRESETS[args.preset], args.iterations, hp.training.eval_every)
        hp = hp.replace(training=paper.training, rewind_iteration=paper.rewind_iteration)
    changes = {"trials": args.trials, "seed": args.seed, "rewind_iteration": args.rewind,
               "levels": getattr(args, "levels", None)}
    if getattr(args, "controls", None) is not None:
        text = args.controls.strip()
        changes["controls"] = () if text == "none" else tuple(c.strip() for c in text.split(","))
    if args.command == "oneshot":
        changes["oneshot_rounds"] = args.rounds
    if args.command == "train":
        changes["levels"] = 0
    return hp.replace(**{k: v for k, v in changes.items() if v is not None})


def make_runner(args: argparse.Namespace, hp):
    """Check the device and load the data: everything that can fail before training."""
    try:
        device = torch.device(args.device) if args.device else default_device()
    except RuntimeError:
        raise UsageError(f"--device {args.device!r} is not a torch device (cpu, cuda, cuda:1)") \
            from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--device {args.device}: CUDA is not available on this machine")
    if args.csv and not Path(args.csv).resolve().parent.is_dir():
        raise UsageError(f"--csv {args.csv}: folder {Path(args.csv).parent} does not exist")
    data = load(hp.data.dataset, root=args.data, device=device, val_size=hp.data.val_size,
                split_seed=hp.data.split_seed, train_subset=hp.data.train_subset,
                download=args.download)
    return LotteryRunner(hp, store=RunStore(args.runs), device=device, data=data,
                         checkpoint_every=args.checkpoint_every, bf16=args.bf16,
                         channels_last=args.channels_last, compile=args.compile,
                         progress=not args.no_progress)


def summarize(results):
    """Mean over trials per level and variant of the headline metrics, accuracies in %."""
    table = results.groupby(["level", "variant"], sort=False)[list(SUMMARY)].mean()
    table[list(PERCENT)] *= 100
    table["early_stop_iteration"] = table["early_stop_iteration"].round().astype(int)
    return table.sort_index(level="level", sort_remaining=False).rename(columns=SUMMARY)


def run_experiment(args: argparse.Namespace) -> int:
    try:
        hp = experiment_hparams(args)
        runner = make_runner(args, hp)
    except (ValueError, KeyError, DataUnavailable) as e:  # HparamError, UsageError: ValueErrors
        message = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"error: {' '.join(str(message).split())}", file=sys.stderr)
        return 1
    t = hp.training
    print(f"{args.command} {args.preset} ({args.profile}): {runner.data.description}; "
          f"{t.iterations} iterations, {hp.trials} trials, device {runner.device}, "
          f"runs {runner.store.root}", flush=True)
    try:
        result = runner.oneshot() if args.command == "oneshot" else runner.imp()
    except KeyboardInterrupt:
        print(f"interrupted; finished stages are kept in {runner.store.root}", file=sys.stderr)
        return 130
    if args.csv:
        result.results.to_csv(args.csv, index=False)
    print(summarize(result.results).to_string(float_format=lambda x: f"{x:.2f}"))
    if args.csv:
        print(f"results written to {args.csv}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "models":
        print(describe_models())
        return 0
    if args.command == "presets":
        print(describe_presets())
        return 0
    return run_experiment(args)
