"""Command line: ``python -m lottery {models,presets,data,store,imp,oneshot,train,transfer,
supermask,atinit} ...`` (installed as the ``lottery`` command too).

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

from lottery import cheap_cli, download, flags, housekeeping
from lottery.data import DATA_ENV, DATASETS, DataUnavailable, load
from lottery.executors import ADDRESS_ENV, EXECUTOR_ENV, EXECUTORS, ExecutorError, make_executor
from lottery.experiments import Runner
from lottery.hparams import HparamError
from lottery.models import REGISTRY, describe_models
from lottery.presets import (
    PRESETS,
    PROFILES,
    SYNTHETIC_STAND_IN,
    describe_presets,
    resolve,
    scale_iterations,
)
from lottery.results import percent_columns
from lottery.store import RUNS_ENV, RunStore, runs_root
from lottery.training import KERNELS, SPARSE, SpeedOptions, default_device

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
    preset, profile = _chosen(argv or [])
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
    sub.add_parser("presets", help="list the presets and profiles",
                   description="List the paper presets and the profiles that scale them.")
    shared = _experiment_flags(defaults)
    imp = sub.add_parser("imp", parents=[shared], help="iterative magnitude pruning with controls",
                         description="Train, prune, reset and retrain for --levels rounds; print "
                                     "the mean over trials per level and variant. Give --preset "
                                     "with --help to see its values.")
    _deconstruct_flags(imp, every=True)
    oneshot = sub.add_parser("oneshot", parents=[shared],
                             help="one-shot pruning to several densities",
                             description="Train once, prune once to each target density, "
                                         "reset and retrain.")
    oneshot.add_argument("--rounds", dest=flags.PREFIX + "oneshot_rounds",
                         type=flags.parser_for(tuple[float, ...]), metavar="LIST",
                         default=argparse.SUPPRESS,
                         help=f"short for --oneshot_rounds (default: {DEFAULT_ROUNDS})")
    _deconstruct_flags(oneshot, every=False)
    sub.add_parser("train", parents=[shared], help="train the dense network only",
                   description="Train the preset's dense network (level 0) for every trial.")
    _transfer_parser(sub, shared)
    add_stability_parser(sub, shared)
    _supermask_parser(sub, shared)
    cheap_cli.add_parser(sub, shared, defaults)
    return parser


def _deconstruct_flags(parser: argparse.ArgumentParser, every: bool) -> None:
    """Zhou et al. 2019's mask-0 action (and, for imp, levels drawn every n rounds)."""
    from lottery.mask0 import MASK0

    g = parser.add_argument_group("deconstructing lottery tickets (Zhou et al. 2019)")
    g.add_argument("--mask0", choices=list(MASK0), default="zero",
                   help="what the pruned weights hold while training: zero (the ticket), "
                        "freeze_init, freeze_shrunk_to_zero (default: zero)")
    if every:
        g.add_argument("--every", type=int, default=1, metavar="N",
                       help="train every N-th level, pruning N rounds at a time; N divides "
                            "--levels (default: 1)")


def _supermask_parser(sub, shared: argparse.ArgumentParser) -> None:
    from lottery.supermask import DEFAULT_LR, WEIGHTS

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
    if args.command == "supermask" and not args.at_init:
        from lottery import supermask

        hp = supermask.hparams(hp, lr=args.score_lr)
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
    device = _device(args.device) if executor_name == "local" else torch.device("cpu")
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
    # imp's --every prunes N rounds at a time; transfer's --every only picks levels (its
    # source tickets are IMP's, one round at a time)
    every = args.every if args.command == "imp" else 1
    mask0 = getattr(args, "mask0", "zero")
    if every != 1 or mask0 != "zero":
        from lottery.deconstruct import DeconstructRunner

        return DeconstructRunner(hp, every=every, mask0=mask0, **options)
    return Runner(hp, **options)


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
            return _error(f"--csv {args.csv}: {e.strerror or e}; the results are kept in "
                          f"{store_root} (rerun to write the table)")
        print(f"results written to {args.csv}")
    return 0


def _error(message) -> int:
    print(f"error: {' '.join(str(message).split())}", file=sys.stderr)
    return 1


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def run_experiment(args: argparse.Namespace) -> int:
    try:
        hp = experiment_hparams(args)
        runner = make_runner(args, hp)
    except (ValueError, DataUnavailable, OSError, ExecutorError) as e:  # HparamError,
        return _error(e)                                                 # UsageError: ValueErrors
    t = hp.training
    where = f"device {runner.device}" if runner.executor.name == "local" else \
        f"executor ray ({args.device or 'auto'} workers)"
    print(f"{args.command} {args.preset} ({args.profile}): {runner.data.description}; "
          f"{t.iterations} iterations, {_plural(hp.trials, 'trial')}, {where}, "
          f"run store {runner.store.root}", flush=True)
    try:
        if args.command == "supermask":
            return run_supermask(args, runner)
        result = runner.oneshot() if args.command == "oneshot" else runner.imp()
    except (OSError, DataUnavailable) as e:  # a full disk, a store folder gone mid-run, a
        # worker without the data: finished work is kept
        return _error(f"{e}; finished networks are kept in {runner.store.root}")
    finally:
        runner.executor.finished(runner)
    return report_results(args, result.results, runner.store.root)


def run_supermask(args: argparse.Namespace, runner: Runner) -> int:
    """The supermask subcommand: a learned supermask per trial, or (--at-init) the untrained
    network's accuracy under one-shot masks."""
    from lottery import deconstruct, supermask

    if args.at_init:
        table = deconstruct.untrained_accuracy(runner)
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
            print(describe_presets())
            return 0
        if args.command == "transfer":
            return run_transfer(args)
        if args.command == "stability":
            return run_stability(args)
        if args.command == "atinit":
            return cheap_cli.run(args)
        return run_experiment(args)
    except KeyboardInterrupt:
        print("interrupted; finished networks are kept in the run store", file=sys.stderr)
        return 130


# --- transfer (Morcos et al. 2019) --------------------------------------------------------------

TARGET = "target:"  # argparse destinations of the target recipe's flags


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _transfer_parser(sub, shared: argparse.ArgumentParser) -> None:
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
    g.add_argument("--every", type=_positive, default=1, metavar="N",
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
                           default=argparse.SUPPRESS, metavar=flags._metavar(kind),
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


def run_transfer(args: argparse.Namespace) -> int:
    from lottery.transfer import check_compatible, describe, source_levels, transfer

    try:
        hp, target_hp = transfer_hparams(args)
        source, target = make_runner(args, hp), make_runner(args, target_hp)
        check_compatible(source, target)
        levels = source_levels(hp, args.every)
    except (ValueError, DataUnavailable, OSError) as e:
        return _error(e)
    same = " (the same recipe: a self-transfer, which reproduces the source's tickets)" \
        if hp == target_hp else ""
    print(f"transfer {args.preset} ({args.profile}): {describe(source)} -> {describe(target)}"
          f"{same}; levels {levels}, {_plural(hp.trials, 'trial')}, device {source.device}, "
          f"run store {source.store.root}", flush=True)
    try:
        result = transfer(source, target, levels, args.transfer_controls)
    except ValueError as e:  # HparamError: an incompatible target
        return _error(e)
    except OSError as e:
        return _error(f"{e}; finished networks are kept in {source.store.root}")
    return report_results(args, result.results, source.store.root)


def add_stability_parser(sub, shared: argparse.ArgumentParser) -> None:
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


def run_stability(args: argparse.Namespace) -> int:
    """The ``stability`` subcommand: the study's tables, then the overlap sentence."""
    from lottery.stability import StabilityStudy, describe, make_plan, summary

    try:
        hp = experiment_hparams(args)
        plan = make_plan(hp, PRESETS[args.preset].training.iterations, levels=args.at,
                         focus=args.focus, connectivity=args.connectivity_level,
                         rewind_ks=args.ks, points=args.points)
        runner = make_runner(args, hp)
    except (ValueError, DataUnavailable, OSError) as e:
        return _error(e)
    study = StabilityStudy(hp, plan, data=runner.data, store=runner.store, device=runner.device,
                           speed=runner.speed, progress=runner.progress)
    print(f"stability {args.preset} ({args.profile}): {runner.data.description}; "
          f"{describe(plan, study.hp)}; run store {runner.store.root}", flush=True)
    try:
        result, overlap = study.stability(), study.overlap()
    except OSError as e:
        return _error(f"{e}; finished networks are kept in {runner.store.root}")
    print(summary(result.table).to_string(float_format=lambda x: f"{x:.2f}"))
    print(overlap.sentence)
    if args.csv:
        try:
            result.table.to_csv(args.csv, index=False)
        except OSError as e:
            return _error(f"--csv {args.csv}: {e.strerror or e}")
        print(f"results written to {args.csv}")
    return 0
