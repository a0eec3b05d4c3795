"""Section 5: the projected wall time of the paper-scale LeNet Fig. 4, from the measured
K-member steps (section 1) and evaluation points (section 3)."""

from __future__ import annotations

from dataclasses import dataclass

from benchmarks.report import Target
from benchmarks.sections.evaluation import Evaluation
from benchmarks.sections.lenet_engine import DEFAULT, EAGER, LenetEngine, Variant

TRIALS, LEVELS, ITERATIONS, EVAL_EVERY = 5, 18, 50_000, 100
FIRST_K, LATER_K = TRIALS, 2 * TRIALS  # level 0: the trials; later: tickets + reinits
TARGET_HOURS = 2.0


@dataclass
class ProjectionRow:
    name: str          # the engine variant, as the report names it
    tag: str           # its suffix in the targets table
    test_curve: bool
    step5: float       # seconds per step: level 0 (K = 5), later levels (K = 10)
    step10: float
    e5: float          # evaluation time per training time between two evaluation points
    e10: float

    @property
    def seconds(self) -> float:
        return ITERATIONS * (self.step5 * (1 + self.e5)
                             + LEVELS * self.step10 * (1 + self.e10))

    def render(self) -> str:
        return (f"- {self.name}, test_curve={self.test_curve}: T = {ITERATIONS:,} x "
                f"[{self.step5 * 1e3:.2f} ms x (1 + {self.e5:.3f}) + {LEVELS} x "
                f"{self.step10 * 1e3:.2f} ms x (1 + {self.e10:.3f})] = "
                f"**{self.seconds / 3600:.2f} h**")


@dataclass
class Projection:
    rows: list[ProjectionRow]

    def render(self) -> list[str]:
        return ["## 5. Projected paper-scale LeNet Fig. 4", "",
                f"{TRIALS} trials batched; level 0: {FIRST_K} members, levels 1-{LEVELS}: "
                f"{LATER_K} members ({TRIALS} tickets + {TRIALS} reinit); {ITERATIONS:,} "
                f"iterations; evaluation every {EVAL_EVERY}.", "",
                f"T = iterations x [step(K={FIRST_K}) x (1 + e{FIRST_K}) + {LEVELS} x "
                f"step(K={LATER_K}) x (1 + e{LATER_K})]", "",
                *(row.render() for row in self.rows), "",
                "(Excludes per-level fixed costs: final train-set and early-stop evaluations, "
                "pruning, storage.)", ""]

    def targets(self) -> list[Target]:
        return [Target(f"projected Fig. 4 <= {TARGET_HOURS:g} h (test_curve={r.test_curve}"
                       f"{r.tag})", f"{r.seconds / 3600:.2f} h",
                       r.seconds <= TARGET_HOURS * 3600) for r in self.rows]


def project(name: str, tag: str, lenet: LenetEngine, variant: Variant,
            evals: Evaluation) -> list[ProjectionRow]:
    """Both curve settings for one engine variant: evaluation seconds measured directly,
    over this variant's training time."""
    step5 = lenet.step(FIRST_K, variant).median
    step10 = lenet.step(LATER_K, variant).median
    rows = []
    for test_curve in (True, False):
        e5 = evals.seconds("lenet", FIRST_K, test_curve).median / (EVAL_EVERY * step5)
        e10 = evals.seconds("lenet", LATER_K, test_curve).median / (EVAL_EVERY * step10)
        rows.append(ProjectionRow(name, tag, test_curve, step5, step10, e5, e10))
    return rows


def derive(lenet: LenetEngine, evals: Evaluation) -> Projection:
    return Projection(project("default", "", lenet, DEFAULT, evals)
                      + project('eager Adam (`kernel="eager"`)', ", eager Adam", lenet, EAGER,
                                evals))


# ---------------------------------------------------------------- 5b: per-level, sparse path
#
# With the sparse path a step's cost falls with the level's density, so the projection sums
# the levels: level 0 at K = FIRST_K, levels 1..LEVELS at K = LATER_K, each with its own
# measured step and evaluation point (section 6).


@dataclass
class LevelProjectionRow:
    path: str          # the SpeedOptions.sparse value timed
    test_curve: bool
    train_s: float     # ITERATIONS x the sum of the levels' step seconds
    eval_s: float      # ITERATIONS / EVAL_EVERY x the sum of the levels' evaluation points

    @property
    def seconds(self) -> float:
        return self.train_s + self.eval_s

    def render(self) -> str:
        return (f"- sparse={self.path!r}, test_curve={self.test_curve}: training "
                f"{self.train_s / 3600:.2f} h + evaluation {self.eval_s / 3600:.2f} h = "
                f"**{self.seconds / 3600:.2f} h**")


@dataclass
class LevelProjection:
    rows: list[LevelProjectionRow]

    def render(self) -> list[str]:
        return ["## 5b. Projected paper-scale LeNet Fig. 4, level by level (section 6)", "",
                f"T = sum over levels of {ITERATIONS:,} x [step(level) + eval point(level) / "
                f"{EVAL_EVERY}]; level 0 with K = {FIRST_K}, levels 1-{LEVELS} with K = "
                f"{LATER_K}; before (`sparse='off'`) and after (`sparse='auto'`).", "",
                *(row.render() for row in self.rows), ""]

    def targets(self) -> list[Target]:
        return [Target(f"projected Fig. 4 per level <= {TARGET_HOURS:g} h (sparse={r.path}, "
                       f"test_curve={r.test_curve})", f"{r.seconds / 3600:.2f} h",
                       r.seconds <= TARGET_HOURS * 3600) for r in self.rows]


def level_row(section, path: str, test_curve: bool) -> LevelProjectionRow:
    """One path's projection from section 6's per-level step and evaluation timings."""
    rows = [section.row(FIRST_K, 0)] + [section.row(LATER_K, n) for n in range(1, LEVELS + 1)]
    train_s = ITERATIONS * sum(r.steps[path].median for r in rows)
    eval_s = ITERATIONS / EVAL_EVERY * sum(r.evals[(path, test_curve)].median for r in rows)
    return LevelProjectionRow(path, test_curve, train_s, eval_s)


def derive_levels(section) -> LevelProjection:
    return LevelProjection([level_row(section, path, curve) for path in ("off", "auto")
                            for curve in (True, False)])
