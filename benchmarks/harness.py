"""Timing, statistics and the machine description shared by every benchmark section."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch


@dataclass
class Stat:
    """Median of repeated measurements and their min-max spread."""

    values: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def scaled(self, factor: float) -> Stat:
        return Stat([v * factor for v in self.values])

    def inverse(self, numerator: float) -> Stat:
        """``numerator / value`` per measurement (e.g. seconds -> operations per second)."""
        return Stat([numerator / v for v in self.values])

    def fmt(self, digits: int = 2) -> str:
        lo, hi = min(self.values), max(self.values)
        return f"{self.median:.{digits}f} [{lo:.{digits}f}-{hi:.{digits}f}]"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], object], device: torch.device) -> float:
    """Wall seconds of ``fn()``, the device's queued work included."""
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def per_iteration(run: Callable[[int], object], iters: tuple[int, int], repeats: int,
                  device: torch.device, warmup: int = 1) -> Stat:
    """Seconds per iteration by differencing: (T(n2) - T(n1)) / (n2 - n1), one value a repeat.

    Fixed costs (set-up, the evaluations a run always does) cancel in the difference."""
    n1, n2 = iters
    for _ in range(warmup):
        run(n1)
    values = []
    for r in range(repeats):
        order = (n1, n2) if r % 2 == 0 else (n2, n1)  # alternate so drift hits both alike
        t = {n: timed(lambda n=n: run(n), device) for n in order}
        values.append((t[n2] - t[n1]) / (n2 - n1))
    return Stat(values)


def repeated(fn: Callable[[Any], object], repeats: int, device: torch.device, warmup: int = 1,
             setup: Callable[[], Any] = lambda: None) -> Stat:
    """Seconds of ``fn(setup())`` per repeat; ``setup`` runs untimed before each call."""
    for _ in range(warmup):
        fn(setup())
    values = []
    for _ in range(repeats):
        prepared = setup()
        values.append(timed(lambda prepared=prepared: fn(prepared), device))
    return Stat(values)


def load_average() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "unknown"


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(device: torch.device) -> dict[str, str]:
    """What the numbers were measured on, with a warning when the machine is already busy."""
    info = {"CPU": cpu_name(), "cores (os.cpu_count)": str(os.cpu_count()),
            "torch threads": str(torch.get_num_threads()), "torch": torch.__version__,
            "python": platform.python_version(), "device": str(device)}
    if device.type == "cuda":
        info["GPU"] = torch.cuda.get_device_name(device)
    info["load average at start"] = load_average()
    try:
        busy = os.getloadavg()[0] > (os.cpu_count() or 1) * 0.75
    except OSError:
        busy = False
    if busy:
        info["WARNING"] = ("machine busy at start: with more runnable threads than cores, "
                           "multi-threaded torch ops slow down many-fold; rerun when quiet")
    return info
