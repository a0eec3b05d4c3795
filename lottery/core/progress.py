"""Progress of a notebook's experiments: bars in Jupyter, one line per step in a log.

``$LOTTERY_PROGRESS`` picks how: ``bars`` (the default: tqdm.auto, so widgets in JupyterLab and
text bars in a terminal), ``log`` (what ``python -m lottery.run.reproduce`` sets: after each step,
one plain line -- steps done of all, networks trained and loaded, elapsed time and the time
left), or ``off``. The time left is the estimate of the remaining steps (:mod:`lottery.run.estimate`,
from cached calibrations) scaled by how the finished steps compared with their estimates;
without a calibration, the mean time of the steps trained so far.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence

from lottery.core import work
from lottery.core.experiments import ExperimentResult, Network, Runner

PROGRESS_ENV = "LOTTERY_PROGRESS"
MODES = ("bars", "log", "off")


def mode() -> str:
    value = os.environ.get(PROGRESS_ENV, "bars").strip().lower()
    return value if value in MODES else "bars"


class ProgressRunner(Runner):
    """A :class:`Runner` that reports each step of an experiment as ``mode()`` says."""

    def __init__(self, hp, *, label: str = "", cost_of: work.CostOf | None = None,
                 say: Callable[[str], None] = print, **options):
        self.mode = mode()
        options.pop("progress", None)  # the mode decides: bars in Jupyter, lines under reproduce
        super().__init__(hp, progress=self.mode == "bars", **options)
        self.label, self.cost_of, self.say = label or hp.name, cost_of, say
        self._expected: list[float | None] = []
        self._done: list[tuple[float, float | None]] = []  # (seconds, estimate) per step
        self._began = time.perf_counter()

    def _has(self, net: Network) -> bool:
        return self.store.path(*net.path).exists()

    def _step_estimate(self, name: str, networks: Sequence[Network]) -> float | None:
        calls, _, _ = work.missing_calls(self.hp, [(name, list(networks))], self._has)
        try:
            return sum(c.seconds(self.cost_of(c.hp, c.members)) for c in calls) \
                if self.cost_of else None
        except LookupError:  # not calibrated
            return None

    def run(self, method: str) -> ExperimentResult:
        self._expected = [self._step_estimate(name, nets)
                          for name, nets in work.steps(self, method)]
        self._done, self._began = [], time.perf_counter()
        return super().run(method)

    def train_many(self, networks: Sequence[Network], desc: str) -> list[dict]:
        lacking = sum(not self._has(n) for n in networks)
        began = time.perf_counter()
        payloads = super().train_many(networks, desc)
        seconds = time.perf_counter() - began
        step = len(self._done)
        guess = self._expected[step] if step < len(self._expected) else None
        self._done.append((seconds, guess))
        if self.mode == "log":
            self.say(self.line(desc, len(networks), lacking))
        return payloads

    def derived(self, **changes) -> ProgressRunner:
        other = super().derived(**changes)
        other._expected, other._done, other._began = [], [], time.perf_counter()
        return other

    def remaining(self) -> float | None:
        """Seconds left: the remaining steps' estimates scaled by actual / estimated so far."""
        left = self._expected[len(self._done):]
        spent = sum(s for s, _ in self._done)
        guessed = sum(g for _, g in self._done if g is not None)
        if left and all(g is not None for g in left) and guessed > 0:
            return sum(left) * spent / guessed
        if left and all(g is not None for g in left):
            return sum(left)
        return spent / max(1, len(self._done)) * len(left)

    def line(self, desc: str, networks: int, lacking: int) -> str:
        total = max(len(self._expected), len(self._done))
        seconds = self._done[-1][0]
        trained = f"{lacking} trained, {networks - lacking} loaded in " \
                  f"{work.duration(seconds)}"
        elapsed = work.duration(time.perf_counter() - self._began)
        if not self._expected:  # steps asked one by one (a study's stages): no total to tell
            return f"[{self.label}] {desc}: step {len(self._done)}; {trained}; {elapsed} elapsed"
        left = self.remaining()
        rest = "done" if len(self._done) >= total else (
            f"~{work.duration(left)} left" if left is not None else "time left unknown")
        return f"[{self.label}] {desc}: {len(self._done)}/{total} steps; {trained}; " \
               f"{elapsed} elapsed, {rest}"
