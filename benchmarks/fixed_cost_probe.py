"""Run one CLI job in this process and print its phases' seconds as JSON (for fixed_cost).

Usage: ``python benchmarks/fixed_cost_probe.py CLI-ARGS...`` from a checkout's root, so that
``lottery`` is that checkout's. Phases are timed by wrapping the functions that do them, so the
probe works unchanged on older checkouts: imports (the CLI), data (the job's ``load``),
optimizer (every Adam update: loading the C kernel, or on older checkouts the compile or its
emulation), evaluation (``training.record`` and ``training._finish``), training
(the runner's ``train`` minus its optimizer and evaluation time) and other (the rest of
``cli.main``).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import time

sys.path.insert(0, os.getcwd())  # the lottery of the checkout we run in, not an installed one
START = time.perf_counter()
import torch  # noqa: E402

torch.set_num_threads(1)
try:  # the package's floors (engine/core/run); checkouts from before them are flat
    from lottery.core import executors as trainer  # noqa: E402  (where a group is trained)
    from lottery.core import jobs as loader  # noqa: E402  (where a job loads its data)
    from lottery.core import training  # noqa: E402
    from lottery.engine import optimizers  # noqa: E402
    from lottery.run import cli  # noqa: E402
except ImportError:
    from lottery.core import experiments as trainer  # noqa: E402
    from lottery.core import training
    from lottery.engine import optimizers
    from lottery.run import cli  # noqa: E402
    from lottery.run import cli as loader  # noqa: E402

IMPORTS = time.perf_counter() - START
SPENT: dict[str, float] = {}


def timed(module, name: str, phase: str) -> None:
    """Add the time of every call of ``module.name`` to ``phase``."""
    inner = getattr(module, name)

    def wrapper(*args, **kwargs):
        began = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            SPENT[phase] = SPENT.get(phase, 0.0) + time.perf_counter() - began
    setattr(module, name, wrapper)


def main(argv: list[str]) -> None:
    timed(loader, "load", "data")
    timed(optimizers, "compiled_adam_update", "optimizer")
    timed(training, "record", "evaluation")
    timed(training, "_finish", "evaluation")
    timed(trainer, "train", "train_call")
    began = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        code = cli.main(argv)
    total = time.perf_counter() - began
    train_call = SPENT.pop("train_call", 0.0)
    phases = {"imports": IMPORTS, "data": SPENT.get("data", 0.0),
              "optimizer": SPENT.get("optimizer", 0.0),
              "training": train_call - SPENT.get("optimizer", 0.0) - SPENT.get("evaluation", 0.0),
              "evaluation": SPENT.get("evaluation", 0.0)}
    phases["other"] = total - train_call - phases["data"]
    print(json.dumps({"code": code, "phases": phases, "total": IMPORTS + total}))


if __name__ == "__main__":
    main(sys.argv[1:])
