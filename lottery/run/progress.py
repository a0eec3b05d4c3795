"""Progress of a notebook's experiments: bars in Jupyter, one line per step in a log.

``$LOTTERY_PROGRESS`` picks how: ``bars`` (the default: tqdm.auto, so widgets in JupyterLab and
text bars in a terminal), ``log`` (what ``python -m lottery.run.reproduce`` sets: after each step,
one plain line -- steps done of all, networks trained and loaded, elapsed time and the time
left), or ``off``. The time left is the estimate of the remaining steps
(:mod:`lottery.run.estimate`, from cached calibrations) scaled by how the finished steps compared
with their estimates; without a calibration, the mean time of the steps trained so far.

A :class:`StepReporter` is the :class:`~lottery.core.experiments.RunObserver` a runner is given
(:func:`reporting` gives the runner options: the reporter and bars only in ``bars`` mode); one
reporter may watch many runners (a study's), keeping each runner's steps apart.
"""

from __future__ import annotations

import os
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from lottery.core import work
from lottery.core.experiments import Network, Runner

PROGRESS_ENV = "LOTTERY_PROGRESS"
MODES = ("bars", "log", "off")


def mode() -> str:
    value = os.environ.get(PROGRESS_ENV, "bars").strip().lower()
    return value if value in MODES else "bars"


@dataclass
class Steps:
    """One runner's steps: the estimate of each step of its experiment (empty when its steps
    are asked one by one), (seconds, estimate) of each step done, and when the first began."""

    expected: list[float | None] = field(default_factory=list)
    done: list[tuple[float, float | None]] = field(default_factory=list)
    began: float = field(default_factory=time.perf_counter)

    def remaining(self) -> float | None:
        """Seconds left: the remaining steps' estimates scaled by actual / estimated so far."""
        left = self.expected[len(self.done):]
        spent = sum(s for s, _ in self.done)
        guessed = sum(g for _, g in self.done if g is not None)
        if left and all(g is not None for g in left) and guessed > 0:
            return sum(left) * spent / guessed
        if left and all(g is not None for g in left):
            return sum(left)
        return spent / max(1, len(self.done)) * len(left)


class StepReporter:
    """Reports each step of the runners it watches as ``mode()`` says (lines under ``log``),
    each line labelled ``label`` (else the runner's experiment name)."""

    def __init__(self, label: str = "", cost_of: work.CostOf | None = None,
                 say: Callable[[str], None] = print):
        self.mode = mode()
        self.label, self.cost_of, self.say = label, cost_of, say
        self._steps: weakref.WeakKeyDictionary[Runner, Steps] = weakref.WeakKeyDictionary()

    @property
    def bars(self) -> bool:
        """Whether the runners' own progress bars show (the mode decides: bars in Jupyter,
        lines under reproduce)."""
        return self.mode == "bars"

    def steps(self, runner: Runner) -> Steps:
        """``runner``'s steps so far (a runner derived from another starts afresh)."""
        return self._steps.setdefault(runner, Steps())

    def on_run_start(self, runner: Runner, method: str) -> None:
        self._steps[runner] = Steps([self._step_estimate(runner, name, nets)
                                     for name, nets in work.steps(runner, method)])

    def on_step(self, runner: Runner, desc: str, networks: Sequence[Network], lacking: int,
                seconds: float) -> None:
        if runner not in self._steps:  # its first step: the clock starts with it
            self._steps[runner] = Steps(began=time.perf_counter() - seconds)
        steps = self._steps[runner]
        step = len(steps.done)
        steps.done.append((seconds, steps.expected[step] if step < len(steps.expected)
                           else None))
        if self.mode == "log":
            self.say(self.line(runner, desc, len(networks), lacking))

    def _step_estimate(self, runner: Runner, name: str,
                       networks: Sequence[Network]) -> float | None:
        def have(net: Network) -> bool:
            return runner.store.path(*net.path).exists()

        calls, _, _ = work.missing_calls(runner.hp, [(name, list(networks))], have)
        try:
            return sum(c.seconds(self.cost_of(c.hp, c.members)) for c in calls) \
                if self.cost_of else None
        except LookupError:  # not calibrated
            return None

    def line(self, runner: Runner, desc: str, networks: int, lacking: int) -> str:
        steps, label = self.steps(runner), self.label or runner.hp.name
        total = max(len(steps.expected), len(steps.done))
        trained = f"{lacking} trained, {networks - lacking} loaded in " \
                  f"{work.duration(steps.done[-1][0])}"
        elapsed = work.duration(time.perf_counter() - steps.began)
        if not steps.expected:  # steps asked one by one (a study's stages): no total to tell
            return f"[{label}] {desc}: step {len(steps.done)}; {trained}; {elapsed} elapsed"
        left = steps.remaining()
        rest = "done" if len(steps.done) >= total else (
            f"~{work.duration(left)} left" if left is not None else "time left unknown")
        return f"[{label}] {desc}: {len(steps.done)}/{total} steps; {trained}; " \
               f"{elapsed} elapsed, {rest}"


def reporting(label: str = "", cost_of: work.CostOf | None = None,
              say: Callable[[str], None] = print) -> dict:
    """Runner options that report as ``mode()`` says: a :class:`StepReporter` as the observer,
    and the runner's own bars only in ``bars`` mode."""
    reporter = StepReporter(label, cost_of, say)
    return {"observer": reporter, "progress": reporter.bars}
