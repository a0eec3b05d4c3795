"""Command line: ``python -m lottery {models,presets,imp,oneshot,train,atinit} ...``.

``imp``, ``oneshot`` and ``train`` resolve a preset under a profile (see :mod:`lottery.presets`),
apply the flags as overrides -- one flag per hyperparameter, generated from the dataclasses
(:mod:`lottery.flags`) -- check the device and every output, load the data and only then start
training, so a bad value, an unwritable folder or a missing dataset ends in one ``error:``
line instead of a traceback. Finished networks are cached in the run store: rerunning a command
only trains what is missing.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch

from lottery import cheap_cli, download, flags
from lottery.data import DATA_ENV, DataUnavailable, load
from lottery.experiments import Runner
from lottery.models import describe_models
from lottery.presets import PRESETS, PROFILES, describe_presets, resolve, scale_iterations
from lottery.results import percent_columns
from lottery.store import RUNS_ENV, RunStore, runs_root
from lottery.training import KERNELS, SpeedOptions, default_device

DEFAULT_ROUNDS = "1,2,3,5,7,9,12"
SUMMARY = {"percent_remaining": "remaining %", "early_stop_iteration": "early-stop it",
           "early_stop_test_acc": "early-stop test %", "final_test_acc": "final test %",
           "final_train_acc": "final train %"}


class UsageError(ValueError):
    """A flag value the CLI itself rejects (reported as one ``error:`` line)."""


class Parser(argparse.ArgumentParser):
    """argparse, with a usage mistake reported as one ``error:`` line (exit 2)."""

    def error(self, message: str):
        self.exit(2, f"error: {' '.join(message.split())} (see --help)\n")


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _chosen(argv: list[str]) -> tuple[str | None, str]:
    """``--preset`` and ``--profile`` from ``argv`` (to show the preset's values in --help)."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--preset")
    pre.add_argument("--profile", default="quick")
    known, _ = pre.parse_known_args(argv)
    ok = known.preset in PRESETS and known.profile in PROFILES
    return (known.preset, known.profile) if ok else (None, "quick")


def _experiment_flags(defaults) -> argparse.ArgumentParser:
    """The flags shared by imp, oneshot and train: the experiment's, then every
    hyperparameter (generated from the dataclasses), then how to run."""
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("experiment")
    g.add_argument("--preset", required=True, choices=list(PRESETS), metavar="NAME",
                   help=f"paper configuration, one of: {', '.join(PRESETS)}")
    g.add_argument("--profile", default="quick", choices=list(PROFILES),
                   help="paper = exact hyperparameters; quick = real data, shortened; "
                        "smoke = synthetic data, seconds (default: quick)")
    g.add_argument("--iterations", type=int, help="training iterations per network; "
                   "milestones, warmup and the rewind point scale along (default: the "
                   "profile's)")
    g.add_argument("--rewind", type=int, metavar="K", dest=flags.PREFIX + "rewind_iteration",
                   default=argparse.SUPPRESS, help="short for --rewind_iteration")
    flags.add_flags(p, defaults)
    r = p.add_argument_group("running")
    r.add_argument("--runs", metavar="DIR", help=f"run store root; finished networks are "
                   f"reused (default: ${RUNS_ENV} or runs/)")
    r.add_argument("--data", metavar="DIR", help=f"dataset root in torchvision layout "
                   f"(default: ${DATA_ENV} or data/)")
    r.add_argument("--download", action="store_true",
                   help="download a missing real dataset (default: fail with an error)")
    r.add_argument("--synthetic", action="store_true",
                   help="use the synthetic stand-in of the preset's dataset")
    r.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda if available)")
    r.add_argument("--checkpoint-every", type=_non_negative, default=0, metavar="N",
                   help="checkpoint a run every N iterations so it can resume (default: 0, off)")
    s = p.add_argument_group("speed options (change results by float rounding at most)")
    s.add_argument("--bf16", action="store_true", help="train in bfloat16 autocast")
    s.add_argument("--channels-last", action="store_true", help="NHWC convolutions")
    s.add_argument("--compile", action="store_true",
                   help="torch.compile the training step (GPU; slower on a CPU)")
    s.add_argument("--kernel", choices=KERNELS, default="auto",
                   help="optimizer update: auto (fused on CUDA, exact compiled Adam on the "
                        "CPU), eager, torch_fused (default: auto)")
    o = p.add_argument_group("output")
    o.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    o.add_argument("--csv", metavar="PATH", help="write the full results table (one row per "
                   "trial, level and variant) to PATH")
    return p


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    preset, profile = _chosen(argv or [])
    defaults = resolve(preset, profile) if preset else None
    parser = Parser(prog="python -m lottery",
                    description="Lottery Ticket Hypothesis reproduction suite.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("models", help="list the architectures and their weight counts",
                   description="List the architectures: weights, prunable weights and the "
                               "count in Table 1 of Frankle & Carbin (2019).")
    sub.add_parser("data", help="download datasets into the data root (see data --help)",
                   add_help=False)
    sub.add_parser("presets", help="list the presets and profiles",
                   description="List the paper presets and the profiles that scale them.")
    shared = _experiment_flags(defaults)
    sub.add_parser("imp", parents=[shared], help="iterative magnitude pruning with controls",
                   description="Train, prune, reset and retrain for --levels rounds; print the "
                               "mean over trials per level and variant. Give --preset with "
                               "--help to see its values.")
    oneshot = sub.add_parser("oneshot", parents=[shared],
                             help="one-shot pruning to several densities",
                             description="Train once, prune once to each target density, "
                                         "reset and retrain.")
    oneshot.add_argument("--rounds", dest=flags.PREFIX + "oneshot_rounds",
                         type=flags.parser_for(tuple[float, ...]), metavar="LIST",
                         default=argparse.SUPPRESS,
                         help=f"short for --oneshot_rounds (default: {DEFAULT_ROUNDS})")
    sub.add_parser("train", parents=[shared], help="train the dense network only",
                   description="Train the preset's dense network (level 0) for every trial.")
    cheap_cli.add_parser(sub, shared, defaults)
    return parser


def experiment_hparams(args: argparse.Namespace):
    """The preset under the profile, with the flags applied (raises HparamError on bad values)."""
    hp = resolve(args.preset, args.profile, synthetic=True if args.synthetic else None)
    if args.iterations is not None:
        # scale from the paper's schedule so milestones, warmup and rewind round only once
        paper = scale_iterations(PRESETS[args.preset], args.iterations, hp.training.eval_every)
        hp = hp.replace(training=paper.training, rewind_iteration=paper.rewind_iteration)
    changes = flags.overrides(args)
    if args.command == "oneshot":
        changes.setdefault("oneshot_rounds", flags.parser_for(tuple[float, ...])(
            DEFAULT_ROUNDS))
    if args.command == "train":
        changes["levels"] = 0
    return hp.replace(**changes)


def _device(text: str | None) -> torch.device:
    if text is None:
        return default_device()
    try:
        device = torch.device(text)
    except RuntimeError:
        raise UsageError(f"--device {text!r} is not a torch device (cpu, cuda, cuda:1)") \
            from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--device {text}: CUDA is not available on this machine")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise UsageError(f"--device {text}: this machine has {torch.cuda.device_count()} GPU(s)")
    if device.type not in ("cpu", "cuda"):
        raise UsageError(f"--device {text}: training runs on cpu or cuda only")
    return device


def _writable_folder(folder: Path, flag: str) -> None:
    """Create ``folder`` if needed and prove it takes a file, before any training."""
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{flag} {folder}: is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise UsageError(f"{flag} {folder}: cannot write there ({error.strerror})") from None


def check_outputs(args: argparse.Namespace) -> None:
    """Everything the run writes must be writable before it starts."""
    _writable_folder(runs_root(args.runs), "--runs")
    if args.csv:
        csv = Path(args.csv)
        if csv.is_dir():
            raise UsageError(f"--csv {csv}: is a folder; name a file")
        if not csv.resolve().parent.is_dir():
            raise UsageError(f"--csv {csv}: folder {csv.parent} does not exist")
        _writable_folder(csv.resolve().parent, "--csv")


def make_runner(args: argparse.Namespace, hp) -> Runner:
    """Check the device and the outputs and load the data: everything that can fail before
    training."""
    device = _device(args.device)
    check_outputs(args)
    d = hp.data
    data = load(d.dataset, root=args.data, device=device, val_size=d.val_size,
                split_seed=d.split_seed, train_subset=d.train_subset, download=args.download,
                test_subset=d.test_subset)
    speed = SpeedOptions(bf16=args.bf16, channels_last=args.channels_last, compile=args.compile,
                         kernel=args.kernel)
    return Runner(hp, store=RunStore(args.runs), device=device, data=data,
                  checkpoint_every=args.checkpoint_every, speed=speed,
                  progress=not args.no_progress)


def summarize(results):
    """Mean over trials per level and variant of the headline metrics, accuracies in %."""
    table = percent_columns(results.groupby(["level", "variant"], sort=False)[
        list(SUMMARY)].mean())
    table["early_stop_iteration"] = table["early_stop_iteration"].round().astype(int)
    return table.sort_index(level="level", sort_remaining=False).rename(columns=SUMMARY)


def _error(message) -> int:
    print(f"error: {' '.join(str(message).split())}", file=sys.stderr)
    return 1


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def run_experiment(args: argparse.Namespace) -> int:
    try:
        hp = experiment_hparams(args)
        runner = make_runner(args, hp)
    except (ValueError, DataUnavailable, OSError) as e:  # HparamError, UsageError: ValueErrors
        return _error(e)
    t = hp.training
    print(f"{args.command} {args.preset} ({args.profile}): {runner.data.description}; "
          f"{t.iterations} iterations, {_plural(hp.trials, 'trial')}, device {runner.device}, "
          f"run store {runner.store.root}", flush=True)
    try:
        result = runner.oneshot() if args.command == "oneshot" else runner.imp()
    except OSError as e:  # a full disk or a store folder gone mid-run: finished work is kept
        return _error(f"{e}; finished networks are kept in {runner.store.root}")
    print(summarize(result.results).to_string(float_format=lambda x: f"{x:.2f}"))
    if args.csv:
        try:
            result.results.to_csv(args.csv, index=False)
        except OSError as e:
            return _error(f"--csv {args.csv}: {e.strerror or e}; the results are kept in "
                          f"{runner.store.root} (rerun to write the table)")
        print(f"results written to {args.csv}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["data"]:
        return download.main(argv[1:], prog="python -m lottery data")
    try:
        args = build_parser(argv).parse_args(argv)
        if args.command == "models":
            print(describe_models())
            return 0
        if args.command == "presets":
            print(describe_presets())
            return 0
        if args.command == "atinit":
            return cheap_cli.run(args)
        return run_experiment(args)
    except KeyboardInterrupt:
        print("interrupted; finished networks are kept in the run store", file=sys.stderr)
        return 130
