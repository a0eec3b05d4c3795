"""Seconds-long self-check of the benchmark harness (``run.py --check``; no pytest needed)."""

from __future__ import annotations

import dataclasses
import time

import torch

from benchmarks.baseline import LeNet300100, train_baseline
from benchmarks.harness import per_iteration, repeated
from benchmarks.sections.evaluation import EVAL_EVERY, record_work
from benchmarks.sections.matmul_peak import matmul_gflops
from benchmarks.workloads import LENET_WEIGHTS, engine_runner, lenet_mask, members_for
from lottery.core.hparams import ModelHparams
from lottery.core.presets import PRESETS
from lottery.engine import pruning
from lottery.engine.data import DataBundle, load
from lottery.engine.masks import Mask
from lottery.engine.members import member_state
from lottery.engine.models import build, weight_counts


def check_baseline(data: DataBundle, mask: Mask, device: torch.device) -> None:
    """The baseline computes the engine's network, keeps pruned weights at zero and learns."""
    engine_model = build("lenet", seeds=[3])
    plain = LeNet300100()
    plain.load_state_dict(member_state(engine_model, 0))
    x = torch.randn(7, 1, 28, 28)
    assert torch.allclose(plain(x), engine_model(x)[0], atol=1e-5)
    masks = {n: m.to(device) for n, m in pruning.random_mask_like(mask, seed=1).items()}
    model = train_baseline(data.train.x, data.train.y, masks, 60)
    params = dict(model.named_parameters())
    for name, m in masks.items():
        assert bool((params[name][~m.bool()] == 0).all()), name
    with torch.no_grad():
        acc = (model(data.test.x).argmax(1) == data.test.y).float().mean().item()
    assert acc > 0.3, acc


def check_engine_runner(data: DataBundle, mask: Mask, device: torch.device) -> None:
    """The engine runner trains K members and keeps their masks."""
    members = members_for("lenet", 2, mask)
    run = engine_runner(ModelHparams("lenet"), PRESETS["lenet"].training, data, members, device)
    result = run(30)
    for k, member in enumerate(members):
        for name, m in member.mask.items():
            assert bool((result.final_states[k][name][~m] == 0).all()), (k, name)


def check_record_work(data: DataBundle, device: torch.device) -> None:
    """One timed evaluation point records validation, test only with the test curve, and the
    early-stop snapshot; each repeat gets a fresh loop state."""
    model = build("lenet", seeds=[0, 1]).to(device)
    for test_curve in (True, False):
        hp = dataclasses.replace(PRESETS["lenet"].training, test_curve=test_curve)
        setup, work = record_work(model, data, hp)
        loop = setup()
        work(loop)
        row = loop.history[0]
        assert bool(row[:2].isfinite().all()) and loop.next_point == 1
        assert bool(row[2:4].isfinite().all()) == test_curve, row
        assert bool((loop.best_iteration == EVAL_EVERY).all()), loop.best_iteration
        assert torch.equal(loop.best_val, row[0])
    loops = []

    def keep_and_work(loop) -> None:
        loops.append(loop)
        work(loop)
    repeated(keep_and_work, 2, device, setup=setup)
    assert len({id(loop) for loop in loops}) == 3  # warm-up + 2 repeats, each fresh


def check_timers(device: torch.device) -> None:
    """The differencing timer recovers a known per-iteration cost; the matmul peak runs."""
    stat = per_iteration(lambda n: time.sleep(0.01 + 0.002 * n), (2, 12), 2, device, warmup=0)
    assert 0.0015 < stat.median < 0.004, stat.values
    assert matmul_gflops(256, 2, device).median > 0


def self_check(device: torch.device) -> None:
    torch.manual_seed(0)
    assert weight_counts(build("lenet"))["weights"] == LENET_WEIGHTS
    mask = lenet_mask()
    assert 0.15 < mask.density() < 0.25, mask.density()
    data = load("synthetic_mnist", device=device)
    check_baseline(data, mask, device)
    check_engine_runner(data, mask, device)
    check_record_work(data, device)
    check_timers(device)
    print("self-check passed")
