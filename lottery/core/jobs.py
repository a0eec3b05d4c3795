"""What every command-line job does before and after training: flags to hyperparameters, a
runner whose device, executor, outputs and data were checked, and the printed table.

A subcommand is a :class:`Command` (its parser and its run); the study folders define theirs
and the run floor's registry (:mod:`lottery.run.registry`) collects them, so the CLI names no
study. Everything that can fail (a bad value, an unwritable folder, a missing dataset, an
unreachable cluster) fails here, in one ``error:`` line, before any training.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from lottery.core import flags
from lottery.core.executors import (
    ADDRESS_ENV,
    EXECUTOR_ENV,
    EXECUTORS,
    ExecutorError,
    make_executor,
)
from lottery.core.experiments import Runner
from lottery.core.hparams import ExperimentHparams, HparamError
from lottery.core.presets import PRESETS, PROFILES, resolve, scale_iterations
from lottery.core.results import percent_columns
from lottery.core.store import RUNS_ENV, RunStore, runs_root
from lottery.core.training import KERNELS, SPARSE, SpeedOptions, default_device
from lottery.engine.data import DATA_ENV, DATASETS, DataUnavailable, load
from lottery.engine.models import REGISTRY


@dataclass(frozen=True)
class Command:
    """One subcommand: ``add(sub, shared, defaults)`` adds its parser (``shared`` holds the
    experiment flags, ``defaults`` the chosen preset's values for --help), ``run(args)`` runs
    it and returns the exit code."""

    name: str
    add: Callable[[argparse._SubParsersAction, argparse.ArgumentParser,
                   ExperimentHparams | None], None]
    run: Callable[[argparse.Namespace], int]


DEFAULT_ROUNDS = "1,2,3,5,7,9,12"


# The evaluation the CLI's tables need, under any profile: validation every eval_every
# iterations picks the early stop as the paper does, and the test set is measured there and at
# the end; no test curve (only Fig. 3 plots one: the notebooks turn it on), and the final
# training accuracy on a fixed sample of 10,000 training examples (binomial standard error
# <= 0.5 pp, 0.1 pp near 99%), which a short job would otherwise spend a third of its time on.
# Flags override both; `benchmarks` section 8 shows what each costs.
CLI_EVALUATION = {"training__test_curve": False, "training__final_train_subset": 10_000}


SUMMARY = {"percent_remaining": "remaining %", "early_stop_iteration": "early-stop it",
           "early_stop_test_acc": "early-stop test %", "final_test_acc": "final test %",
           "final_train_acc": "final train %"}


class UsageError(ValueError):
    """A flag value the CLI itself rejects (reported as one ``error:`` line)."""


def non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def chosen(argv: list[str]) -> tuple[str | None, str]:
    """``--preset`` and ``--profile`` from ``argv`` (to show the preset's values in --help)."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--preset")
    pre.add_argument("--profile", default="quick")
    known, _ = pre.parse_known_args(argv)
    ok = known.preset in PRESETS and known.profile in PROFILES
    return (known.preset, known.profile) if ok else (None, "quick")


def experiment_flags(defaults, label: str = "preset") -> argparse.ArgumentParser:
    """The flags shared by imp, oneshot and train: the experiment's, then every
    hyperparameter (generated from the dataclasses; ``defaults``' values shown under
    ``label``), then how to run."""
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
    flags.add_flags(p, defaults, label)
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
    r.add_argument("--checkpoint-every", type=non_negative, default=0, metavar="N",
                   help="checkpoint a run every N iterations so it can resume (default: 0, off; "
                        "local executor only)")
    r.add_argument("--executor", choices=EXECUTORS, default=None,
                   help=f"where networks train: local (this process) or ray (trials and "
                        f"experiments spread over GPUs and machines; this process keeps the run "
                        f"store) (default: ${EXECUTOR_ENV} or local)")
    r.add_argument("--address", metavar="ADDR",
                   help=f"the Ray cluster to use with --executor ray (default: ${ADDRESS_ENV}, "
                        f"else a local Ray instance on this machine's CPUs and GPUs)")
    s = p.add_argument_group("speed options (change results by float rounding at most)")
    s.add_argument("--bf16", action="store_true", help="train in bfloat16 autocast")
    s.add_argument("--channels-last", action="store_true", help="NHWC convolutions")
    s.add_argument("--compile", action="store_true",
                   help="torch.compile the training step (GPU; slower on a CPU)")
    s.add_argument("--kernel", choices=KERNELS, default="auto",
                   help="optimizer update: auto (fused on CUDA, exact Adam as one C pass on "
                        "the CPU), eager, torch_fused (default: auto)")
    s.add_argument("--sparse", choices=SPARSE, default="auto",
                   help="masked fc layers as sparse products: auto (where the crossover "
                        "density measured once on this machine says it is faster), off, on "
                        "(default: auto)")
    o = p.add_argument_group("output")
    o.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    o.add_argument("--csv", metavar="PATH", help="write the full results table (one row per "
                   "trial, level and variant) to PATH")
    return p


def experiment_hparams(args: argparse.Namespace):
    """The preset under the profile, with the flags applied (raises HparamError on bad values)."""
    hp = resolve(args.preset, args.profile, synthetic=True if args.synthetic else None)
    if args.iterations is not None:
        # scale from the paper's schedule so milestones, warmup and rewind round only once
        paper = scale_iterations(PRESETS[args.preset], args.iterations, hp.training.eval_every)
        hp = hp.replace(training=paper.training, rewind_iteration=paper.rewind_iteration)
    changes = CLI_EVALUATION | flags.overrides(args)
    if args.command == "oneshot":
        changes.setdefault("oneshot_rounds", flags.parser_for(tuple[float, ...])(
            DEFAULT_ROUNDS))
    if args.command == "train":
        if changes.get("controls"):
            raise HparamError("--controls: train trains the dense network only, which has no "
                              "controls (they train beside pruned tickets: use imp or oneshot)")
        changes["levels"] = 0
    hp = hp.replace(**changes)
    if args.command == "oneshot" and not hp.oneshot_rounds:
        raise HparamError("oneshot_rounds must list at least one number of rounds "
                          f"(e.g. --rounds {DEFAULT_ROUNDS})")
    check_model_fits_data(hp)
    return hp


def check_model_fits_data(hp) -> None:
    """Refuse a model built for another input than the dataset's (VGG-19 on MNIST): each
    architecture is the paper's for one dataset shape (models.REGISTRY)."""
    native = DATASETS[REGISTRY[hp.model.name].dataset].input_shape
    shape = DATASETS[hp.data.dataset].input_shape
    if native != shape:
        raise HparamError(
            f"model.name {hp.model.name} takes {'x'.join(map(str, native))} inputs, "
            f"data.dataset {hp.data.dataset} is {'x'.join(map(str, shape))}: choose the "
            f"model's preset (--preset {hp.model.name}) or a dataset of its shape")


def device_of(text: str | None) -> torch.device:
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


def writable_folder(folder: Path, flag: str) -> None:
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
    writable_folder(runs_root(args.runs), "--runs")
    if args.csv:
        csv = Path(args.csv)
        if csv.is_dir():
            raise UsageError(f"--csv {csv}: is a folder; name a file")
        if not csv.resolve().parent.is_dir():
            raise UsageError(f"--csv {csv}: folder {csv.parent} does not exist")
        writable_folder(csv.resolve().parent, "--csv")


def make_runner(args: argparse.Namespace, hp, make: Callable[..., Runner] = Runner) -> Runner:
    """Check the device, the executor and the outputs and load the data: everything that can
    fail before training."""
    executor_name = args.executor or os.environ.get(EXECUTOR_ENV) or "local"
    if args.address and executor_name != "ray":
        raise UsageError("--address names a Ray cluster: use it with --executor ray")
    if executor_name == "ray" and args.checkpoint_every:
        raise UsageError("--checkpoint-every works with the local executor only (a ray task "
                         "reruns its stage; finished networks are stored as they arrive)")
    # under ray this process only prunes and stores: its copy of the data stays on the CPU,
    # and --device says what the workers train on
    device = device_of(args.device) if executor_name == "local" else torch.device("cpu")
    check_outputs(args)
    d = hp.data
    data = load(d.dataset, root=args.data, device=device, val_size=d.val_size,
                split_seed=d.split_seed, train_subset=d.train_subset, download=args.download,
                test_subset=d.test_subset)
    speed = SpeedOptions(bf16=args.bf16, channels_last=args.channels_last, compile=args.compile,
                         kernel=args.kernel, sparse=args.sparse)
    executor = make_executor(executor_name, address=args.address,
                             device=args.device or "auto", data_root=args.data)
    options = {"store": RunStore(args.runs), "device": device, "data": data,
               "checkpoint_every": args.checkpoint_every, "speed": speed,
               "progress": not args.no_progress, "executor": executor}
    return make(hp, **options)


def summarize(results):
    """Mean over trials per level and variant of the headline metrics, accuracies in %."""
    table = percent_columns(results.groupby(["level", "variant"], sort=False)[
        list(SUMMARY)].mean())
    table["early_stop_iteration"] = table["early_stop_iteration"].round().astype(int)
    return table.sort_index(level="level", sort_remaining=False).rename(columns=SUMMARY)


def report_results(args: argparse.Namespace, results, store_root) -> int:
    """Print the summary table and write ``--csv``; a CSV that cannot be written is one line,
    the results staying in the store."""
    print(summarize(results).to_string(float_format=lambda x: f"{x:.2f}"))
    if args.csv:
        try:
            results.to_csv(args.csv, index=False)
        except OSError as e:
            return error(f"--csv {args.csv}: {e.strerror or e}; the results are kept in "
                          f"{store_root} (rerun to write the table)")
        print(f"results written to {args.csv}")
    return 0


def error(message) -> int:
    print(f"error: {' '.join(str(message).split())}", file=sys.stderr)
    return 1


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def run_job(args: argparse.Namespace, work: Callable[[Runner], int],
            hparams: Callable[[argparse.Namespace], ExperimentHparams] = experiment_hparams,
            make: Callable[..., Runner] = Runner,
            check: Callable[[Runner], None] = lambda runner: None) -> int:
    """Check everything (``check(runner)``: the command's own checks), print what will run,
    then ``work(runner)``; finished networks stay in the store whatever happens after."""
    try:
        hp = hparams(args)
        runner = make_runner(args, hp, make)
        check(runner)
    except (ValueError, DataUnavailable, OSError, ExecutorError) as e:  # HparamError,
        return error(e)                                                  # UsageError: ValueErrors
    where = f"device {runner.device}" if runner.executor.name == "local" else \
        f"executor ray ({args.device or 'auto'} workers)"
    print(f"{args.command} {args.preset} ({args.profile}): {runner.data.description}; "
          f"{hp.training.iterations} iterations, {plural(hp.trials, 'trial')}, {where}, "
          f"run store {runner.store.root}", flush=True)
    try:
        return work(runner)
    except (OSError, DataUnavailable) as e:  # a full disk, a store folder gone mid-run, a
        # worker without the data: finished work is kept
        return error(f"{e}; finished networks are kept in {runner.store.root}")
    finally:
        runner.executor.finished(runner)
