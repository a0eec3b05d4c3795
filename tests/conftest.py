"""Shared fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


def _torch_threads(n: int) -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(n)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def one_thread():
    """Single-threaded torch for a whole module: small ops only lose to thread sync on a
    shared 2-core box."""
    yield from _torch_threads(1)


@pytest.fixture
def single_thread():
    """Single-threaded torch for one test. On several threads MKL partitions a batched matmul
    differently from a single one, so batched members agree with members trained alone only to
    float rounding, which training amplifies; on one thread the batched and the alone
    computations are the same arithmetic, bit for bit."""
    yield from _torch_threads(1)


@pytest.fixture
def interrupt_at(monkeypatch):
    """``interrupt_at(n)``: training raises KeyboardInterrupt when it asks for iteration n's
    batch (a Ctrl-C mid-run); ``interrupt_at(None)`` restores normal batches."""
    from lottery.engine.data import MemberBatches

    original = MemberBatches.get

    def arm(iteration: int | None) -> None:
        def get(self, i):
            if i == iteration:
                raise KeyboardInterrupt("simulated Ctrl-C")
            return original(self, i)
        monkeypatch.setattr(MemberBatches, "get", original if iteration is None else get)
    return arm


@pytest.fixture
def trained(monkeypatch):
    """The member counts of every training call made while the test runs."""
    from lottery.core import executors

    calls: list[int] = []
    original = executors.train

    def counting(model_hp, hp, data, members, **kwargs):
        calls.append(len(members))
        return original(model_hp, hp, data, members, **kwargs)

    monkeypatch.setattr(executors, "train", counting)
    return calls


@pytest.fixture(autouse=True, scope="session")
def _dataset_cache(tmp_path_factory):
    """Decoded datasets cached in a folder of this session, never the user's ~/.cache."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LOTTERY_CACHE", str(tmp_path_factory.mktemp("dataset-cache")))
        yield


@pytest.fixture(autouse=True, scope="session")
def _run_store(tmp_path_factory):
    """Every output a test makes without naming its folder -- the run store, executed
    notebooks, smoke figures, the calibration and the sparse crossovers -- goes to a folder of
    this session (``$LOTTERY_RUNS``), never the user's ``runs/``; subprocesses inherit it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LOTTERY_RUNS", str(tmp_path_factory.mktemp("store") / "runs"))
        yield


@pytest.fixture(autouse=True)
def no_sparse_timing(monkeypatch):
    """``SpeedOptions.sparse="auto"`` chooses a layer's path by timing it, and a test must not
    depend on timings (a path chosen differently in a batch and alone would also break the
    batched == alone exactness the training tests assert): under test the measurement finds
    sparse never faster, so "auto" is the dense path. Tests of the sparse path ask for "on" or
    inject their own measurement (tests/test_sparse.py)."""
    from lottery.core import crossover

    monkeypatch.setattr(crossover, "_default", crossover.Crossovers(None, lambda *args: 0.0))
