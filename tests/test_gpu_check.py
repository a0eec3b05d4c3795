"""The GPU readiness check (``make gpu-check``) in its CPU mode, so it cannot rot where no GPU
is lent: every path has a row, the CPU-capable ones pass, the CUDA ones are skipped; and the
pieces it relies on, on cases with known answers: the memory estimate, the refusal before
allocating, CUDA's free memory counting the allocator's cache, the device check, and the
notebook projection from the estimate."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/ is not installed

from benchmarks import gpu_check  # noqa: E402
from benchmarks.gpu_paths import PATHS, update_difference  # noqa: E402
from lottery.core import training  # noqa: E402
from lottery.core.calibration import Cost  # noqa: E402
from lottery.core.hparams import HparamError, ModelHparams  # noqa: E402
from lottery.engine.data import DataBundle, Split  # noqa: E402
from lottery.run.session import _checked_device  # noqa: E402

LENET_PARAMS = 784 * 300 + 300 + 300 * 100 + 100 + 100 * 10 + 10


@pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU mode's skips need no CUDA")
def test_cpu_smoke_lists_every_path_passes_the_cpu_ones_and_skips_the_cuda_ones(
        capsys, tmp_path, one_thread):
    written = tmp_path / "RESULTS-gpu.md"
    code = gpu_check.main(["--cpu-smoke", "--write", str(written)])
    out = capsys.readouterr().out
    rows = {line.split("|")[1].strip(): line.split("|")[2].strip()
            for line in out.splitlines() if line.startswith("| ") and "---" not in line}
    rows.pop("path")
    assert list(rows) == [p.name for p in PATHS]
    for path in PATHS:
        assert rows[path.name] == ("skipped" if path.cuda_only else "pass"), path.name
    assert code == 0
    assert not written.exists() and "no CUDA device" in out  # no GPU result to record


def test_update_difference_is_relative_to_how_far_training_moved():
    start = [{"w": torch.zeros(4), "steps": torch.tensor(3)}]
    moved = [{"w": torch.ones(4), "steps": torch.tensor(3)}]
    assert update_difference(moved, moved, start) == 0.0
    assert update_difference([{"w": torch.full((4,), 1.5)}], moved, start) == pytest.approx(0.5)
    assert update_difference(start, moved, start) == pytest.approx(1.0)  # no update at all


def test_projection_prices_each_notebook_under_each_profile(tmp_path):
    def cost(hp, members, device, speed):
        return Cost(step_s=1e-3 * members, eval_s=1e-6, call_s=0.5)

    rows = gpu_check.projections("cpu", ["01_lenet_mnist"], cost)
    assert rows[0]["notebook"] == "01_lenet_mnist"
    # paper trains 10x the iterations, 18 levels and more trials: far dearer than quick
    assert 0 < rows[0]["quick"] < rows[0]["paper"] / 5
    table = gpu_check.projection_table(rows)
    assert "| 01_lenet_mnist |" in table and table.count("|---") == 3


def test_memory_estimate_of_lenet_counts_parameter_copies_and_activations():
    got = training.memory_estimate(ModelHparams("lenet"), (1, 28, 28), 10, k_members=2,
                                   batch_size=60, eval_batch=5000)
    assert got.state == training.STATE_COPIES * 4 * LENET_PARAMS * 2
    outputs, largest = 300 + 100 + 10, 300  # fc1, fc2, output per example
    assert got.training == 4 * (outputs + 2 * largest) * 60 * 2
    assert got.evaluation == 4 * 2 * largest * 5000 * 2
    assert got.total == got.state + got.evaluation


def _bundle(n: int) -> DataBundle:
    split = Split(torch.zeros(n, 1, 28, 28), torch.zeros(n, dtype=torch.long))
    return DataBundle("t", split, split, split, 10, (1, 28, 28), False, True, "t")


def test_check_memory_refuses_before_allocating_with_the_estimate(monkeypatch):
    monkeypatch.setattr(training, "free_memory", lambda device: 100 * 2**20)
    lenet = ModelHparams("lenet")
    training.check_memory(lenet, _bundle(100), 2, torch.device("cpu"), 60, 5000)  # fits
    with pytest.raises(training.TooLarge, match=r"20 members of lenet .* 0\.1 GiB is free"):
        training.check_memory(lenet, _bundle(100), 20, torch.device("cpu"), 60, 5000)


def test_cuda_free_memory_counts_what_the_allocator_caches(monkeypatch):
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device: (1_000, 8_000))
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda device: 5_000)
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda device: 3_000)
    assert training.free_memory(torch.device("cuda")) == 1_000 + 2_000


def test_a_cuda_index_beyond_the_machines_devices_is_one_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert _checked_device("cuda:0") == "cuda:0" and _checked_device("auto") == "cuda"
    with pytest.raises(HparamError, match=r"'cuda:1'.* 1 CUDA device"):
        _checked_device("cuda:1")
