"""Section 6: the sparse path of masked fc layers (``SpeedOptions.sparse``) on LeNet.

ms per network-iteration with the dense path (``off``), the sparse path (``on``) and the
default chooser (``auto``) at the density of every IMP level of the paper's LeNet schedule
(fc 0.8^n, output 0.9^n), K = 1, 5 and 10, timed as section 1 (two iteration counts, fixed
costs cancel); one evaluation point per path and level as section 3; the crossover densities
the chooser measured. The per-level figures feed the Fig. 4 projection (section 5b).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from benchmarks.context import Context
from benchmarks.harness import Stat, per_iteration
from benchmarks.report import Target
from benchmarks.sections.evaluation import EVAL_TEST, EVAL_VAL, point_seconds
from benchmarks.workloads import engine_runner, head, with_splits
from lottery.core import crossover
from lottery.core.hparams import ModelHparams
from lottery.core.presets import PRESETS
from lottery.core.training import Member, SpeedOptions
from lottery.engine import pruning, sparse
from lottery.engine.data import DataBundle
from lottery.engine.masks import Mask
from lottery.engine.members import member_state
from lottery.engine.models import build

LEVELS = 18          # levels 1..18 after level 0, as the Fig. 4 projection
MEMBERS = (1, 5, 10)
PATHS = ("off", "on", "auto")
RATES = {"fc1.weight": 0.2, "fc2.weight": 0.2, "fc3.weight": 0.1}
TRAIN_EXAMPLES = 1_200


@dataclass
class LevelRow:
    k: int
    level: int
    fc: float                         # kept fraction of the hidden fc layers
    output: float                     # of the output layer
    steps: dict[str, Stat]            # path -> seconds per K-member step
    evals: dict[tuple[str, bool], Stat]  # (path, test_curve) -> seconds per evaluation point


@dataclass
class SparseSection:
    rows: list[LevelRow]
    crossovers: dict[int, dict[str, float]]  # K -> layer -> measured crossover density
    iters: tuple[int, int]
    repeats: int

    def row(self, k: int, level: int) -> LevelRow:
        return next(r for r in self.rows if (r.k, r.level) == (k, level))

    def render(self) -> list[str]:
        n1, n2 = self.iters
        lines = ["## 6. Sparse masked fc layers: LeNet ms per network-iteration by IMP level", "",
                 f"Adam 1.2e-3, batch 60; level n keeps 0.8^n of fc1/fc2 and 0.9^n of the output "
                 f"layer (random masks of that density per member). ms/iteration = (T({n2}) - "
                 f"T({n1})) / {n2 - n1}, {self.repeats} repeats; eval = one evaluation point "
                 f"({EVAL_VAL:,} val + {EVAL_TEST:,} test, scaled per example), ms per network.",
                 "", "Crossover densities measured by the chooser (sparse below):", ""]
        lines += [f"- K={k}: " + ", ".join(f"{n} {100 * c:.1f}%" for n, c in layers.items())
                  for k, layers in self.crossovers.items()]
        lines += ["", "| K | level | fc kept | dense ms | sparse ms | auto ms | sparse speed-up "
                  "| eval dense ms | eval auto ms |", "|---|---|---|---|---|---|---|---|---|"]
        for r in self.rows:
            per = {p: r.steps[p].scaled(1e3 / r.k) for p in PATHS}
            ev = {p: r.evals[(p, True)].scaled(1e3 / r.k) for p in ("off", "auto")}
            lines.append(f"| {r.k} | {r.level} | {100 * r.fc:.1f}% | {per['off'].fmt(3)} "
                         f"| {per['on'].fmt(3)} | {per['auto'].fmt(3)} "
                         f"| {per['off'].median / per['on'].median:.2f}x "
                         f"| {ev['off'].fmt(2)} | {ev['auto'].fmt(2)} |")
        return lines + [""]

    def targets(self) -> list[Target]:
        """``auto`` is never much slower than the faster of the two paths (20% noise margin)."""
        out = []
        for k in MEMBERS:
            rows = [r for r in self.rows if r.k == k]
            worst = max(r.steps["auto"].median / min(r.steps["off"].median,
                                                     r.steps["on"].median) for r in rows)
            out.append(Target(f"sparse auto within 20% of the faster path at every level, K={k}",
                              f"{worst:.2f}x", worst <= 1.2))
        return out


def level_members(k: int, level: int) -> list[Member]:
    """K LeNet members at IMP level ``level``: random masks of that level's densities."""
    weights = {n: member_state(build("lenet", [0]), 0)[n] for n in RATES}
    dense = Mask.dense({n: w.shape for n, w in weights.items()})
    mask = pruning.prune_layerwise(pruning.scores("large_final", weights, weights), dense,
                                   RATES, rounds=level) if level else dense
    return [Member(member_state(build("lenet", [i]), 0),
                   pruning.random_mask_like(mask, seed=100 + i) if level else None, i)
            for i in range(k)]


def masked_model(members: list[Member], path: str, device: torch.device):
    """The K-member LeNet holding ``members``' masked weights, its fc layers on ``path``."""
    model = build("lenet", seeds=range(len(members))).to(device)
    params = dict(model.named_parameters())
    masked = [params[n] for n in RATES]
    masks = [torch.stack([m.mask[n] if m.mask is not None else torch.ones_like(m.state[n])
                          for m in members]).float().to(device) for n in RATES]
    with torch.no_grad():
        torch._foreach_mul_(masked, masks)
    training = PRESETS["lenet"].training
    sparse.setup(model, masked, masks, None, SpeedOptions(sparse=path), training, (1, 28, 28),
                 device, crossover.provider(None, training, device, "auto"))
    return model


@contextlib.contextmanager
def fresh_crossovers() -> Iterator[crossover.Crossovers]:
    """Crossovers measured in this run (not read from, nor written to, a runs folder)."""
    saved = crossover._default
    crossover._default = crossover.Crossovers(None, crossover.measure_crossover)
    try:
        yield crossover._default
    finally:
        crossover._default = saved


def measured_crossovers(crossovers: crossover.Crossovers, k: int,
                        device: torch.device) -> dict[str, float]:
    hp = PRESETS["lenet"].training
    shapes = {"fc1": (784, 300, False), "fc2": (300, 100, True), "fc3": (100, 10, True)}
    return {name: crossovers.get(sparse.LayerWork(n_in, n_out, k, hp.batch_size, grad), hp,
                                 device, "auto")
            for name, (n_in, n_out, grad) in shapes.items()}


def level_row(ctx: Context, train_data: DataBundle, eval_data: DataBundle, k: int,
              level: int, iters: tuple[int, int], repeats: int) -> LevelRow:
    members = level_members(k, level)
    hp = PRESETS["lenet"].training
    steps = {p: per_iteration(engine_runner(ModelHparams("lenet"), hp, train_data, members,
                                            ctx.device, SpeedOptions(sparse=p)),
                              iters, repeats, ctx.device) for p in PATHS}
    evals = {}
    for p in ("off", "auto"):
        model = masked_model(members, p, ctx.device)
        for curve in (True, False):
            measured = len(eval_data.val) + (len(eval_data.test) if curve else 0)
            real = EVAL_VAL + (EVAL_TEST if curve else 0)
            evals[(p, curve)] = point_seconds(ctx, model, eval_data, hp, curve,
                                              repeats).scaled(real / measured)
    return LevelRow(k, level, 0.8 ** level, 0.9 ** level, steps, evals)


def measure(ctx: Context) -> SparseSection:
    cfg = ctx.cfg
    mnist = ctx.mnist
    tiny = head(mnist.val, 500)
    # few training examples: which ones does not change a step's time, and the evaluation of
    # the training set that every train() call ends with is a fixed cost, many per level here
    train_data = with_splits(mnist, train=head(mnist.train, TRAIN_EXAMPLES), val=tiny,
                             test=tiny)
    n_val, n_test = cfg.sparse_eval_examples
    eval_data = with_splits(mnist, val=head(mnist.val, n_val), test=head(mnist.test, n_test))
    rows, crossovers = [], {}
    with fresh_crossovers() as measured:
        for k in MEMBERS:
            ctx.log(f"[6] sparse: crossovers K={k} ...")
            crossovers[k] = measured_crossovers(measured, k, ctx.device)
            for level in range(LEVELS + 1):
                ctx.log(f"[6] sparse: K={k} level {level} ...")
                rows.append(level_row(ctx, train_data, eval_data, k, level, cfg.sparse_iters,
                                      cfg.sparse_repeats))
    return SparseSection(rows, crossovers, cfg.sparse_iters, cfg.sparse_repeats)

