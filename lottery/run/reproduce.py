"""Execute the experiment notebooks headless with papermill: ``python -m lottery.run.reproduce``.

Before anything runs, each notebook's wall time on this device is estimated from its plan,
what the run store holds and measured per-iteration costs (:mod:`lottery.run.estimate`); with a
budget (``--budget 1h``, ``make reproduce-all BUDGET=1h``; by default one hour on a CPU and
eight on a GPU when running every notebook, none for ``--only``) the notebooks that fit run in
order and the rest are listed with the command that runs each. Notebook parameters pass with
``--param NAME=VALUE`` (``make reproduce NB=... P="dropout=True trials=3"``): values are read as
Python literals (else kept as text) and checked by the notebook's own parameter checks first.

Each ``notebooks/NN_name.ipynb`` runs with its ``profile`` parameter injected (the data folder
passes through ``$LOTTERY_DATA``, the project's ``data/`` unless set); its printed output and one
progress line per training step stream to the console. The executed copy goes to
``notebooks/NN_name.ipynb`` of the run store (``$LOTTERY_RUNS``, else ``runs/``), figures to
``figures/`` (the notebooks' own default; smoke figures to the run store's ``figures-smoke/``).
``--in-place`` also copies each successful run back into ``notebooks/`` (without papermill's
injected-parameters cell, so the committed notebook still reads its profile from
``$LOTTERY_PROFILE``). Ctrl-C prints one line and exits 130; the notebook it stopped keeps its
half-run copy as ``NN_name.incomplete.ipynb`` (see :mod:`lottery.run.interrupt`). A failing
notebook does not stop the others; failures are listed at the end and the exit status is 1.
Under ``quick`` a notebook whose dataset cannot be had (offline, say) is listed as skipped with
the one-line reason (its fix included); asked for by name (``--only``), a skipped notebook makes
the exit status 1 too. The summary table puts each notebook's estimate beside its actual time,
with its claims' verdicts and the figures it wrote.
"""

from __future__ import annotations

import argparse
import ast
import logging
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from lottery.core.hparams import HparamError
from lottery.core.presets import PROFILES
from lottery.core.store import runs_root
from lottery.engine.data import DATA_ENV
from lottery.run import plans, record
from lottery.run import store_command as housekeeping
from lottery.run.estimate import duration, over_budget, parse_duration
from lottery.run.interrupt import (
    Interrupts,
    LoggedKernelManager,
    incomplete_path,
    mark_incomplete,
    quiet_kernel_death,
)
from lottery.run.progress import PROGRESS_ENV
from lottery.run.registry import CHECKS
from lottery.run.session import (
    PROFILE_ENV,
    _checked_device,
    default_profile,
    default_store,
    estimate_notebook,
    project_root,
    validate_parameters,
)

INJECTED_TAG = "injected-parameters"
SKIP_ERRORS = ("DataUnavailable", "DataFileError")
DEFAULT_BUDGET = {"cpu": 3600.0, "cuda": 8 * 3600.0}  # running every notebook, no --only
_ASSIGNMENT = re.compile(r"\s+(?=[A-Za-z_]\w*\s*=)")  # a space that starts the next NAME=


def notebooks(folder: Path, only: list[str] | None = None) -> list[Path]:
    """The notebooks of ``folder`` in order; ``only`` selects by name (with or without .ipynb)."""
    found = sorted(p for p in folder.glob("*.ipynb") if not p.name.startswith("."))
    if not only:
        return found
    wanted = {name.removesuffix(".ipynb") for item in only for name in item.split(",") if name}
    unknown = wanted - {p.stem for p in found}
    if unknown:
        raise SystemExit(f"unknown notebook(s): {', '.join(sorted(unknown))}; "
                         f"choose from {', '.join(p.stem for p in found)}")
    return [p for p in found if p.stem in wanted]


def strip_injected(path: Path, target: Path) -> None:
    """Copy the executed notebook ``path`` to ``target`` minus papermill's injected cell."""
    nb = nbformat.read(path, as_version=4)
    nb.cells = [c for c in nb.cells if INJECTED_TAG not in c.get("metadata", {}).get("tags", [])]
    nb.metadata.pop("papermill", None)
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
    nbformat.write(nb, target)


def one_line(error: Exception, limit: int = 300) -> str:
    """The notebook's own error (papermill wraps it) as one line: a missing dataset's whole
    (its fix is at the end), any other cut in the middle to ``limit`` characters."""
    name = getattr(error, "ename", None) or type(error).__name__
    text = getattr(error, "evalue", None) or str(error)
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    if name not in SKIP_ERRORS and len(last) > limit:
        last = f"{last[:limit // 2]} ... {last[-limit // 2:]}"
    return f"{name}: {last}"


def skippable(error: Exception, profile: str) -> bool:
    """A missing dataset skips a notebook under ``quick``; under ``paper`` it is a failure."""
    return profile == "quick" and getattr(error, "ename", "") in SKIP_ERRORS


# --- parameters -------------------------------------------------------------------------------

def parse_assignments(items: list[str]) -> dict:
    """``NAME=VALUE`` items (an item may hold several, space-separated) as {name: value}; a
    value is read as a Python literal (``True``, ``3``, ``['conv2']``), else kept as text."""
    values = {}
    for item in items:
        for part in _ASSIGNMENT.split(item.strip()):
            if not part:
                continue
            name, sep, text = part.partition("=")
            if not sep or not name.strip().isidentifier():
                raise HparamError(f"parameter {part!r}: write NAME=VALUE, e.g. dropout=True")
            try:
                values[name.strip()] = ast.literal_eval(text.strip())
            except (ValueError, SyntaxError):
                values[name.strip()] = text.strip()
    return values


def notebook_parameters(source: Path, profile: str, given: dict) -> tuple[dict, dict]:
    """(all parameter values, the ones to inject) of ``source``: its defaults, then the
    ``given`` ones it declares, checked by the notebook's own checks (:class:`HparamError`)."""
    defaults = plans.notebook_defaults(source)
    mine = {k: v for k, v in given.items() if k in defaults}
    values = defaults | mine | {"profile": profile}
    try:
        validate_parameters(**values)
        check_study(source.stem, values)
    except HparamError as error:
        raise HparamError(f"{source.stem}: {error}") from None
    return values, {"profile": profile} | mine


def check_study(notebook: str, values: dict) -> None:
    """Run ``notebook``'s own study check from the registry on ``values`` (:class:`HparamError`)
    before any kernel starts; the notebook runs the same check again itself."""
    if notebook in CHECKS:
        CHECKS[notebook](values)


def check_given(selected: list[Path], given: dict) -> None:
    """Every given parameter must be declared by some selected notebook, and not profile."""
    if "profile" in given:
        raise HparamError("parameter profile: use --profile (make ... PROFILE=)")
    declared = {s.stem: set(plans.notebook_defaults(s)) for s in selected}
    for name in given:
        if not any(name in names for names in declared.values()):
            listing = "; ".join(f"{nb}: {', '.join(sorted(names))}"
                                for nb, names in declared.items())
            raise HparamError(f"parameter {name!r} is not declared by the notebook(s) run "
                              f"({listing})")


def make_command(name: str, profile: str, injected: dict) -> str:
    """The ``make`` line that runs one notebook with these parameters."""
    params = " ".join(f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}"
                      for k, v in injected.items() if k != "profile")
    return f"make reproduce NB={name} PROFILE={profile}" + (f' P="{params}"' if params else "")


# --- running ----------------------------------------------------------------------------------

def _kernel_config(kernel_log: Path | None = None):
    """Encrypt the kernel's connection where the kernel supports it (this is what its "running
    over TCP without encryption" warning asks for); nothing where pyzmq lacks CurveZMQ. The
    kernel's own stderr goes to ``kernel_log`` (:class:`LoggedKernelManager`)."""
    import zmq
    from traitlets.config import Config

    config = Config()
    if zmq.has("curve"):
        config.KernelManager.transport_encryption = "auto"
    if kernel_log is not None:
        config.NotebookClient.kernel_manager_class = LoggedKernelManager
        config.LoggedKernelManager.stderr_log = str(kernel_log)
    return config


def run_one(source: Path, output: Path, parameters: dict, kernel: str | None,
            stream: bool = True) -> None:
    """Execute ``source`` into ``output``; ``stream``: its printed output goes to ours; the
    kernel's own log to ``NN_name.kernel.log`` beside ``output``."""
    import papermill

    output.parent.mkdir(parents=True, exist_ok=True)
    streams = {"stdout_file": sys.stdout, "stderr_file": sys.stderr} if stream else {}
    log = output.with_suffix(".kernel.log")
    log.unlink(missing_ok=True)
    quiet_kernel_death()
    papermill.execute_notebook(str(source), str(output), parameters=parameters,
                               kernel_name=kernel, progress_bar=False, cwd=str(source.parent),
                               config=_kernel_config(log), **streams)


@dataclass
class Outcome:
    """One notebook of the run: its plan, estimate and, once run, what happened."""

    source: Path
    values: dict
    injected: dict
    estimate: float | None = None
    status: str = "not run"
    seconds: float | None = None
    reason: str = ""
    record: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.source.stem


def estimate_all(outcomes: list[Outcome], device: str, check=lambda: None) -> None:
    """Print each notebook's estimate (calibrating what is missing) and keep its total;
    ``check`` raises a Ctrl-C that arrived meanwhile."""
    store = default_store()
    for o in outcomes:
        check()
        try:
            found = estimate_notebook(o.name, o.values, device, store, say=print)
        except Exception as error:  # noqa: BLE001 - an estimate is an aid, never a stop
            print(f"{o.name}: estimate unavailable ({type(error).__name__}: {error})")
            continue
        if found is None:
            print(f"{o.name}: no plan declared (lottery/plans.py): not estimated")
            continue
        check()
        o.estimate = found.seconds
        print("\n".join(found.lines()), flush=True)


def execute(o: Outcome, output_dir: Path, args) -> None:
    """Run one notebook, filling in its outcome."""
    output = output_dir / o.source.name
    record_file = output.with_suffix(".record.json")
    record_file.unlink(missing_ok=True)
    incomplete_path(output).unlink(missing_ok=True)  # an older interrupted run's
    os.environ[record.RECORD_ENV] = str(record_file)
    print(f"\n=== {o.name} ===", flush=True)
    start = time.perf_counter()
    try:
        run_one(o.source, output, o.injected, args.kernel, stream=not args.no_progress)
        o.status = "ok"
        if args.in_place:
            strip_injected(output, o.source)
    except KeyboardInterrupt:
        o.status = "interrupted"
        o.reason = str(mark_incomplete(output) or "")
        record_file.unlink(missing_ok=True)  # half a record: nothing to report from
        raise
    except Exception as error:  # noqa: BLE001 - report and go on with the next notebook
        o.reason = one_line(error)
        o.status = "skipped" if skippable(error, args.profile) else "FAILED"
    finally:
        os.environ.pop(record.RECORD_ENV, None)
    o.seconds = time.perf_counter() - start
    o.record = record.read(record_file)
    print(f"{o.name}: {o.status} in {duration(o.seconds)} (executed copy: {output})",
          flush=True)
    try:
        planned = plans.plan(o.name, o.values) or []
        ran = [plans.Planned.from_record(r) for r in o.record.get("experiments", [])]
        extra = plans.undeclared(planned, ran)
    except Exception as error:  # noqa: BLE001 - a check of the plan, never a stop
        print(f"note: {o.name}: its plan could not be compared with what it ran "
              f"({one_line(error)})")
        return
    if planned and extra:
        print(f"note: {o.name} ran experiments its plan (lottery/plans.py) does not declare, "
              f"so its estimate missed them: {', '.join(e.label for e in extra)}")


def verdict_counts(verdicts: dict | None) -> str:
    """"holds-contradicted-inconclusive / consistent-differs" of a notebook's table: the
    direction verdicts with the paper's bounds (judged like directions), then the paper's
    numbers; "-" when the notebook recorded none."""
    if not verdicts:
        return "-"
    direction, number = verdicts.get("direction", {}), verdicts.get("number", {})
    judged = "-".join(str(direction.get(w, 0) + number.get(w, 0))
                      for w in ("holds", "contradicted", "inconclusive"))
    return f"{judged} / {number.get('consistent', 0)}-{number.get('differs', 0)}"


def summary(outcomes: list[Outcome], profile: str) -> str:
    """The table printed at the end: estimate against actual, verdicts, figures."""
    head = (f"{'notebook':<26} {'profile':<7} {'data':<34} {'estimate':>10} {'actual':>10} "
            f"{'holds-contra-inconcl / consistent-differs':>41} {'figures':>7}  status")
    lines = [head, "-" * len(head)]
    for o in outcomes:
        claims = verdict_counts(o.record.get("verdicts"))
        figures = str(len(o.record.get("figures", []))) if o.record else "-"
        lines.append(f"{o.name:<26} {profile:<7} {o.record.get('data', '-'):<34} "
                     f"{duration(o.estimate) if o.estimate is not None else '-':>10} "
                     f"{duration(o.seconds) if o.seconds is not None else '-':>10} "
                     f"{claims:>41} {figures:>7}  {o.status}")
    return "\n".join(lines)


def _parser(root: Path) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lottery.run.reproduce", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default=default_profile(), choices=list(PROFILES),
                        help="profile injected into every notebook (default: $LOTTERY_PROFILE "
                             "or quick)")
    parser.add_argument("--only", action="append", metavar="NB",
                        help="run only these notebooks (name without .ipynb; repeatable or "
                             "comma-separated)")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="a notebook parameter (repeatable; several space-separated in one "
                             "are fine: --param 'dropout=True trials=3')")
    parser.add_argument("--budget", metavar="TIME",
                        help="run the notebooks whose estimates fit in TIME (90m, 1.5h, none); "
                             "default: 1h on a CPU, 8h on a GPU without --only, else none")
    parser.add_argument("--no-estimate", action="store_true",
                        help="no estimate (no calibration) and no budget")
    parser.add_argument("--estimate-only", action="store_true",
                        help="print the estimates and the budget's choice, run nothing")
    parser.add_argument("--in-place", action="store_true",
                        help="also write each successful run back into notebooks/")
    parser.add_argument("--notebooks", type=Path, default=root / "notebooks")
    parser.add_argument("--output", type=Path, default=runs_root() / "notebooks",
                        help="folder of the executed copies (default: notebooks/ of the run "
                             "store, $LOTTERY_RUNS or runs/)")
    parser.add_argument("--data", default=None,
                        help="dataset folder, passed as $LOTTERY_DATA (default: inherited, "
                             "else the project's data/)")
    parser.add_argument("--kernel", default=None, help="Jupyter kernel (default: the notebook's)")
    parser.add_argument("--no-progress", action="store_true",
                        help="do not stream the notebooks' output and progress lines")
    return parser


def _budget(args, device: str) -> float | None:
    if args.no_estimate:
        return None
    if args.budget is not None:
        return parse_duration(args.budget)
    return None if args.only else DEFAULT_BUDGET[device.split(":")[0]]


def prepare(args, root: Path) -> tuple[list[Outcome], str, float | None]:
    """The selected notebooks with their checked parameters, the device, the budget."""
    selected = notebooks(args.notebooks, args.only)
    given = parse_assignments(args.param)
    check_given(selected, given)
    outcomes = [Outcome(s, *notebook_parameters(s, args.profile, given)) for s in selected]
    devices = {str(_checked_device(o.values.get("device", "auto"))) for o in outcomes}
    device = devices.pop() if len(devices) == 1 else "cpu"
    return outcomes, device, _budget(args, device)


def main(argv: list[str] | None = None) -> int:
    outcomes: list[Outcome] = []
    interrupts = Interrupts()
    try:
        interrupts.watch()
        status = _main(argv, outcomes, interrupts)
        interrupts.check()  # a Ctrl-C swallowed on the way (in a __del__) still counts
        return status
    except KeyboardInterrupt:
        # the stopped kernel's client tasks die with it and asyncio would log each at exit
        logging.disable(logging.CRITICAL)
        print(interrupted(outcomes), file=sys.stderr, flush=True)
        return 130
    finally:
        interrupts.restore()


def interrupted(outcomes: list[Outcome]) -> str:
    """The one line Ctrl-C prints: what stopped, where its half-run copy went."""
    stopped = next((o for o in outcomes if o.status == "interrupted"), None)
    if stopped is None:
        return "interrupted; nothing was running (finished networks are kept in the run store)"
    kept = f"; its half-run copy is {stopped.reason}" if stopped.reason else ""
    return (f"interrupted: {stopped.name} stopped{kept}; finished networks are kept in the "
            f"run store")


def _main(argv: list[str] | None, outcomes: list[Outcome], interrupts: Interrupts) -> int:
    """:func:`main`; ``outcomes`` is filled as the notebooks are chosen (for Ctrl-C's line);
    ``interrupts`` is checked between steps."""
    root = project_root()
    args = _parser(root).parse_args(argv)
    os.environ[DATA_ENV] = str(Path(args.data).resolve()) if args.data else \
        os.environ.get(DATA_ENV) or str(root / "data")  # the kernels run in notebooks/
    os.environ[PROFILE_ENV] = args.profile
    os.environ.setdefault(PROGRESS_ENV, "off" if args.no_progress else "log")
    try:
        chosen, device, budget = prepare(args, root)
        outcomes += chosen
    except (HparamError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"profile {args.profile}; data {os.environ[DATA_ENV]}; device {device}; "
          f"{len(outcomes)} notebook(s) -> {args.output}", flush=True)
    if not args.no_estimate:
        estimate_all(outcomes, device, interrupts.check)
    interrupts.check()
    run, skipped = over_budget({o.name: o.estimate for o in outcomes}, budget)
    if budget is not None:
        print(f"budget {duration(budget)}: running {', '.join(run) or 'nothing'}"
              + (f"; skipping {', '.join(skipped)}" if skipped else ""), flush=True)
    for o in outcomes:
        if o.name in skipped:
            o.status, o.reason = "over budget", make_command(o.name, args.profile, o.injected)
        elif not args.estimate_only:
            interrupts.check()
            interrupts.watch()  # the last notebook's event loop put the default one back
            execute(o, args.output, args)
    if args.estimate_only:
        return 0
    return report(outcomes, args.profile, asked=bool(args.only))


def report(outcomes: list[Outcome], profile: str, asked: bool = False) -> int:
    """Print the summary and what to do about the notebooks that did not run; exit status:
    1 when one failed, or was skipped for want of its data although ``asked`` for by name
    (``--only``)."""
    print("\n" + summary(outcomes, profile))
    sections = [("over budget; run each alone with", "over budget"),
                ("skipped (their data could not be had)", "skipped"), ("failed", "FAILED")]
    for title, status in sections:
        chosen = [o for o in outcomes if o.status == status]
        if chosen:
            print(f"\n{len(chosen)} notebook(s) {title}:")
            for o in chosen:
                estimate = f" (estimate {duration(o.estimate)})" if o.estimate else ""
                print(f"  {o.name}{estimate}: {o.reason}")
    root = default_store().root
    recipes, others = housekeeping.inventory(root)
    size = housekeeping.size_text(sum(i.size for i in recipes + others))
    print(f"\nrun store {root}: {sum(i.networks for i in recipes)} networks, {size} "
          f"(`python -m lottery store` lists them, `... store remove` cleans up)")
    failed = {"FAILED", "skipped"} if asked else {"FAILED"}
    return 1 if any(o.status in failed for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
