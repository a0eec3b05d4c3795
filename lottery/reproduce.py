"""Execute the experiment notebooks headless with papermill: ``python -m lottery.reproduce``.

Each ``notebooks/NN_name.ipynb`` runs with its ``profile`` parameter injected (the data folder
passes through ``$LOTTERY_DATA``); the executed copy goes to ``runs/notebooks/NN_name.ipynb``,
figures to ``figures/`` (the notebooks' own default). ``--in-place`` also copies each successful
run back into ``notebooks/`` (without papermill's injected-parameters cell, so the committed
notebook still reads its profile from ``$LOTTERY_PROFILE``). A failing notebook does not stop the
others; failures are listed at the end and the exit status is 1. Under ``quick`` a notebook
whose dataset cannot be had (offline, say) is listed as skipped with the one-line reason.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat

from lottery.notebook import PROFILE_ENV, default_profile, project_root
from lottery.presets import PROFILES

INJECTED_TAG = "injected-parameters"
SKIP_ERRORS = ("DataUnavailable", "DataFileError")


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


def one_line(error: Exception) -> str:
    """The notebook's own error (papermill wraps it) as one line."""
    name = getattr(error, "ename", None) or type(error).__name__
    text = getattr(error, "evalue", None) or str(error)
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return f"{name}: {(lines[-1] if lines else '')[:300]}"


def skippable(error: Exception, profile: str) -> bool:
    """A missing dataset skips a notebook under ``quick``; under ``paper`` it is a failure."""
    return profile == "quick" and getattr(error, "ename", "") in SKIP_ERRORS


def run_one(source: Path, output: Path, profile: str, kernel: str | None,
            progress: bool = True) -> None:
    import papermill

    output.parent.mkdir(parents=True, exist_ok=True)
    papermill.execute_notebook(str(source), str(output), parameters={"profile": profile},
                               kernel_name=kernel, progress_bar=progress,
                               cwd=str(source.parent))


def main(argv: list[str] | None = None) -> int:
    root = project_root()
    parser = argparse.ArgumentParser(prog="python -m lottery.reproduce", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default=default_profile(), choices=list(PROFILES),
                        help="profile injected into every notebook (default: $LOTTERY_PROFILE "
                             "or quick)")
    parser.add_argument("--only", action="append", metavar="NB",
                        help="run only these notebooks (name without .ipynb; repeatable or "
                             "comma-separated)")
    parser.add_argument("--in-place", action="store_true",
                        help="also write each successful run back into notebooks/")
    parser.add_argument("--notebooks", type=Path, default=root / "notebooks")
    parser.add_argument("--output", type=Path, default=root / "runs" / "notebooks",
                        help="folder of the executed copies (default runs/notebooks)")
    parser.add_argument("--data", default=None,
                        help="dataset folder, passed as $LOTTERY_DATA (default: inherited)")
    parser.add_argument("--kernel", default=None, help="Jupyter kernel (default: the notebook's)")
    parser.add_argument("--no-progress", action="store_true", help="no papermill progress bar")
    args = parser.parse_args(argv)

    if args.data:
        os.environ["LOTTERY_DATA"] = str(Path(args.data).resolve())
    os.environ[PROFILE_ENV] = args.profile
    selected = notebooks(args.notebooks, args.only)
    print(f"profile {args.profile}; data {os.environ.get('LOTTERY_DATA', './data')}; "
          f"{len(selected)} notebook(s) -> {args.output}", flush=True)
    failures: list[tuple[str, str]] = []
    skipped: list[tuple[str, str]] = []
    times: list[tuple[str, float, str]] = []
    for source in selected:
        output = args.output / source.name
        print(f"\n=== {source.stem} ===", flush=True)
        start = time.perf_counter()
        try:
            run_one(source, output, args.profile, args.kernel, progress=not args.no_progress)
            status = "ok"
            if args.in_place:
                strip_injected(output, source)
        except Exception as error:  # noqa: BLE001 - report and go on with the next notebook
            reason = one_line(error)
            if skippable(error, args.profile):
                skipped.append((source.stem, reason))
                status = "skipped"
            else:
                failures.append((source.stem, reason))
                status = "FAILED"
        elapsed = time.perf_counter() - start
        times.append((source.stem, elapsed, status))
        print(f"{source.stem}: {status} in {elapsed:.1f} s (executed copy: {output})", flush=True)

    print("\nwall time per notebook:")
    for name, elapsed, status in times:
        print(f"  {name:<32} {elapsed:>8.1f} s  {status}")
    if skipped:
        print(f"\n{len(skipped)} notebook(s) skipped (their data could not be had):")
        for name, reason in skipped:
            print(f"  {name}: {reason}")
    if failures:
        print(f"\n{len(failures)} notebook(s) failed:")
        for name, reason in failures:
            print(f"  {name}: {reason}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
