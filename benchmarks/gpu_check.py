"""GPU readiness check (``make gpu-check``): every GPU path for a few iterations, one table.

    .venv/bin/python benchmarks/gpu_check.py                 # CUDA when present, else the CPU
    .venv/bin/python benchmarks/gpu_check.py --cpu-smoke     # tiny CPU sizes, seconds (the test)
    .venv/bin/python benchmarks/gpu_check.py --write benchmarks/RESULTS-gpu.md

Per path (``benchmarks/gpu_paths.py``): pass / FAIL / skipped, ms per network-iteration of
its batched run, peak CUDA memory (``torch.cuda.max_memory_allocated``) against the engine's
own estimate (:func:`lottery.core.training.memory_estimate`, what ``check_memory`` refuses by), and
its agreement with the float32 reference to the stated tolerance. Without CUDA the CPU-capable
paths run on tiny sizes and the CUDA-only ones are listed as skipped. Then the projected wall
time of every notebook under ``quick`` and ``paper`` on this device, priced by the estimate
of ``make estimate`` (:mod:`lottery.run.estimate`) from a short calibration (a few iterations per
model, in a throwaway folder: the run store's calibration is left alone). ``--write`` writes
the page only from a CUDA run. Exit status 1 when a path fails.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.gpu_paths import CPU_SIZE, GPU_SIZE, PATHS, TOLERANCE, Context  # noqa: E402
from lottery.core.calibration import Cost, cost_key, measure  # noqa: E402
from lottery.core.hparams import fingerprint  # noqa: E402
from lottery.core.provenance import device_name, versions  # noqa: E402
from lottery.core.store import RunStore  # noqa: E402
from lottery.run import plans  # noqa: E402
from lottery.run.estimate import duration  # noqa: E402
from lottery.run.session import estimate_notebook  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PROFILES = ("quick", "paper")
# the calibration's timed runs cut short: a few iterations a model (seconds, not minutes)
QUICK_MEASURE = functools.partial(measure, target_seconds=0.05, longest_seconds=0.5,
                                  max_eval_examples=2_000)
# more members than this are priced from this many, scaled: batching more members never costs
# more per member, so it is an upper bound, and it spares building 20 VGG-19s per timed run
MEASURED_MEMBERS = 4


class ScaledMeasure:
    """``measure`` at min(K, MEASURED_MEMBERS) members (each once), scaled up to K."""

    def __init__(self, measure_cost=QUICK_MEASURE):
        self.measure_cost, self.cache = measure_cost, {}

    def __call__(self, hp, members: int, device: str, speed) -> Cost:
        k = min(members, MEASURED_MEMBERS)
        name = fingerprint(cost_key(hp, k, device, speed))
        if name not in self.cache:
            self.cache[name] = self.measure_cost(hp, k, device, speed)
        cost, scale = self.cache[name], members / k
        return Cost(cost.step_s * scale, cost.eval_s * scale, cost.call_s, cost.startup_s)


def check_row(path, ctx: Context) -> dict:
    """Run one path; its table row (a raised error is a failure in one line)."""
    row = {"path": path.name, "status": "skipped", "ms": None, "peak": None, "estimate": None,
           "agreement": "", "note": ""}
    if path.cuda_only and not ctx.cuda:
        row["note"] = "needs CUDA"
        return row
    if path.needs and importlib.util.find_spec(path.needs) is None:
        row["note"] = f"needs {path.needs} (pip install -e '.[cluster]')"
        return row
    began = time.perf_counter()
    try:
        out = path.check(ctx)
    except Exception as error:  # noqa: BLE001 - one path's failure must not hide the others
        row.update(status="FAIL", note=f"{type(error).__name__}: {str(error).splitlines()[0]}"
                   if str(error) else type(error).__name__)
        return row
    failures = out.failures()
    row.update(status="FAIL" if failures else "pass", ms=out.ms_per_network_iteration,
               peak=out.peak_bytes, estimate=out.estimate_bytes,
               agreement="; ".join(f"{name} {value:.2g} (<= {tol:g})"
                                   for name, (value, tol) in out.agreement.items()),
               note="; ".join(failures + out.notes + [f"{time.perf_counter() - began:.1f} s"]))
    return row


def _mib(value: int | None) -> str:
    return "-" if value is None else f"{value / 2**20:,.0f}"


def table(rows: list[dict]) -> str:
    lines = ["| path | status | ms / network-iteration | peak MiB | estimate MiB | agreement "
             "(measured <= tolerance) | note |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        ms = "-" if r["ms"] is None else f"{r['ms']:.3g}"
        lines.append(f"| {r['path']} | {r['status']} | {ms} | {_mib(r['peak'])} | "
                     f"{_mib(r['estimate'])} | {r['agreement'] or '-'} | {r['note'] or '-'} |")
    return "\n".join(lines)


def projections(device: str, notebooks: list[str], measure_cost, profiles=PROFILES
                ) -> list[dict]:
    """Per notebook, the estimate's wall time under each profile from an empty store (every
    network to train), priced with ``measure_cost`` calibrated in a throwaway folder."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as folder:
        store = RunStore(folder)
        for name in notebooks:
            defaults = plans.notebook_defaults(ROOT / "notebooks" / f"{name}.ipynb")
            row = {"notebook": name}
            for profile in profiles:
                found = estimate_notebook(name, defaults | {"profile": profile}, device, store,
                                          measure_cost=measure_cost)
                row[profile] = None if found is None else found.seconds
            rows.append(row)
    return rows


def projection_table(rows: list[dict], profiles=PROFILES) -> str:
    lines = ["| notebook | " + " | ".join(profiles) + " |", "|---" * (len(profiles) + 1) + "|"]
    for r in rows:
        cells = ["-" if r[p] is None else duration(r[p]) for p in profiles]
        lines.append(f"| {r['notebook']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def header(ctx: Context) -> str:
    v = versions()
    return (f"device: {device_name(ctx.device)} ({ctx.device}); torch {v['torch']}, "
            f"python {v['python']}; sizes: {ctx.size}; ms per network-iteration: "
            + ("a 3x longer run's extra time (set-up cancelled)" if ctx.size.timing else
               "the whole call (set-up and evaluation included)")
            + "; tolerances (relative update difference): "
            + ", ".join(f"{k} {t:g}" for k, t in TOLERANCE.items()))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="benchmarks/gpu_check.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cpu-smoke", action="store_true",
                        help="the CPU with tiny sizes, no projection (seconds; the unit test)")
    parser.add_argument("--device", default=None, help="default: cuda when present, else cpu")
    parser.add_argument("--no-projection", action="store_true",
                        help="skip the notebooks' projected wall times")
    parser.add_argument("--only", action="append", default=[], metavar="TEXT",
                        help="run only the paths whose name contains TEXT (repeatable)")
    parser.add_argument("--write", type=Path, default=None, metavar="FILE",
                        help="also write the report to FILE (only after a CUDA run)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    device = torch.device("cpu" if args.cpu_smoke else args.device or
                          ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda" and not torch.cuda.is_available():
        print(f"error: device {device}: CUDA is not available on this machine", file=sys.stderr)
        return 2
    ctx = Context(device, CPU_SIZE if device.type == "cpu" else GPU_SIZE)
    began = time.perf_counter()
    paths = [p for p in PATHS if not args.only or any(t in p.name for t in args.only)]
    out = [f"# GPU check\n\n{header(ctx)}\n"]
    print(out[0], flush=True)
    rows = []
    for path in paths:
        rows.append(check_row(path, ctx))
        print(f"{path.name}: {rows[-1]['status']}", flush=True)
    out.append(table(rows))
    if args.no_projection or args.cpu_smoke:
        out.append("\nprojected notebook times: not computed here (`make estimate PROFILE=...`)")
    else:
        notebooks = sorted(plans.PLANS)
        out.append("\nprojected wall time per notebook on this device, every network to train "
                   f"(lottery.run.estimate; short calibration, calls of more than "
                    f"{MEASURED_MEMBERS} "
                   f"networks priced as {MEASURED_MEMBERS} scaled up, an upper bound):\n\n"
                   + projection_table(projections(str(device), notebooks, ScaledMeasure())))
    out.append(f"\ncheck took {time.perf_counter() - began:.0f} s")
    report = "\n".join(out[1:])
    print(report)
    if args.write is not None:
        if ctx.cuda:
            args.write.write_text("\n".join(out) + "\n")
            print(f"wrote {args.write}")
        else:
            print(f"not writing {args.write}: no CUDA device, so no GPU result to record")
    return 1 if any(r["status"] == "FAIL" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
