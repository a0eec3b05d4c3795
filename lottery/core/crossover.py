"""Where the sparse path pays off: the crossover density below which a masked fc layer's sparse
training step (or evaluation forward) beats the dense one on this device, measured once per
layer shape, member count, batch and optimizer and cached in the run store
(``<runs>/sparse_crossover.json``). The engine's sparse path (:mod:`lottery.engine.sparse`)
asks :meth:`Crossovers.get` through the provider :func:`provider` gives it."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import torch

from lottery.core.hparams import fingerprint
from lottery.core.provenance import device_name, versions
from lottery.core.store import runs_root
from lottery.engine.atomic import atomic_write_text
from lottery.engine.members import MemberLinear
from lottery.engine.optimizers import make_optimizer
from lottery.engine.sparse import LADDER, LayerWork, SparseLinear

CROSSOVER_FILE = "sparse_crossover.json"


REPEATS = 3  # timed steps per point; the fastest counts (other load only ever adds time)


def crossover_key(work: LayerWork, device: torch.device, optimizer: str, kernel: str) -> dict:
    """Everything a measured crossover depends on (its cache key)."""
    return {"device": str(device), "device_name": device_name(device),
            "threads": torch.get_num_threads(), "torch": versions()["torch"],
            "in": work.in_features, "out": work.out_features, "members": work.members,
            "batch": work.batch_size, "input_grad": work.input_grad, "optimizer": optimizer,
            "kernel": kernel} | ({"evaluation": True} if work.evaluation else {})


class Crossovers:
    """Measured crossover densities, cached in ``path`` (None: in memory only)."""

    def __init__(self, path: Path | None, measure: Callable[..., float]):
        self.path, self._measure = path, measure
        self._memory: dict[str, float] = {}

    def _read(self) -> dict:
        try:
            return json.loads(self.path.read_text()) if self.path is not None else {}
        except (OSError, ValueError):
            return {}

    def get(self, work: LayerWork, hp, device: torch.device, kernel: str) -> float:
        """The crossover for ``work`` trained with ``hp``: cached or measured now."""
        key = crossover_key(work, device, hp.optimizer, kernel)
        name = fingerprint(key)
        if name not in self._memory:
            entry = self._read().get(name)
            if entry is None:
                entry = {"key": key, "crossover": self._measure(work, hp, device, kernel)}
                self._write(name, entry)
            self._memory[name] = float(entry["crossover"])
        return self._memory[name]

    def _write(self, name: str, entry: dict) -> None:
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(json.dumps(self._read() | {name: entry}, indent=1,
                                         sort_keys=True), self.path)
        except OSError:  # a read-only runs folder: measure again next process, no harm
            pass


_default: Crossovers | None = None


_by_folder: dict[Path, Crossovers] = {}


def default_crossovers() -> Crossovers:
    """The process's crossovers when no run store is named: ``$LOTTERY_RUNS``, else ``runs/``
    of the current folder (what the command line's store defaults to)."""
    global _default
    if _default is None:
        _default = Crossovers(runs_root() / CROSSOVER_FILE, measure_crossover)
    return _default


def crossovers_in(folder: Path) -> Crossovers:
    """The crossovers cached in run store ``folder`` (one instance per folder and process), so
    that ``--runs`` and the notebooks' store keep them, not the current folder's ``runs/``."""
    folder = Path(folder).resolve()
    if folder not in _by_folder:
        _by_folder[folder] = Crossovers(folder / CROSSOVER_FILE, measure_crossover)
    return _by_folder[folder]


def measure_crossover(work: LayerWork, hp, device: torch.device, kernel: str) -> float:
    """The density below which ``work``'s sparse training step beats its dense one (timed)."""
    dense_step = _step(work, None, hp, device, kernel)
    times: dict[int, float] = {}
    dense = float("inf")  # the fastest dense step seen: other load only ever adds time

    def sparse_wins(i: int) -> bool:
        nonlocal dense
        if i not in times:
            dense_s, times[i] = _race(dense_step, _step(work, LADDER[i], hp, device, kernel),
                                      device)
            dense = min(dense, dense_s)
        return times[i] <= dense

    # bisection for the first winning point of the descending ladder (the sparse step's cost
    # grows with density): a few points, and rarely the dearest, the densest ones
    low, high = 0, len(LADDER)
    while low < high:
        middle = (low + high) // 2
        low, high = (low, middle) if sparse_wins(middle) else (middle + 1, high)
    if low == len(LADDER):
        return 0.0
    if low == 0:
        return LADDER[0]
    sparse_wins(low - 1)  # linear between the last losing and the first winning point
    (high_d, slow), (low_d, fast) = (LADDER[low - 1], times[low - 1]), (LADDER[low], times[low])
    return low_d + (high_d - low_d) * (dense - fast) / max(slow - fast, 1e-12)


def _step(work: LayerWork, kept: float | None, hp, device: torch.device,
          kernel: str) -> Callable[[], None]:
    """One training step of the layer alone: dense (``kept`` None) or sparse."""
    if work.evaluation:
        return _forward(work, kept, device)

    generator = torch.Generator().manual_seed(0)
    k, n_in, n_out, batch = (work.members, work.in_features, work.out_features,
                             work.batch_size)
    layer = MemberLinear(k, n_in, n_out).to(device)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(layer.weight.shape, generator=generator) * 0.05)
    mask = (torch.rand(layer.weight.shape, generator=generator) < (kept or 1.0)).to(device)
    # a later layer's input is a transposed view, a first layer's a plain batch (as in training)
    x = torch.randn(k, n_in, batch, generator=generator).to(device).transpose(1, 2) \
        if work.input_grad else torch.randn(k, batch, n_in, generator=generator).to(device)
    x.requires_grad_(work.input_grad)
    grad = torch.randn(k, batch, n_out, generator=generator).to(device)
    if kept is None:
        masks = [mask.float()]
        optimizer = make_optimizer(layer.parameters(), hp, device, kernel)

        def step():
            layer(x).backward(grad)
            torch._foreach_mul_([layer.weight.grad], masks)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            with torch.no_grad():
                torch._foreach_mul_([layer.weight], masks)
    else:
        sparse = SparseLinear(layer, mask)
        optimizer = make_optimizer([sparse.values, layer.bias], hp, device, kernel)

        def step():
            sparse(x).backward(grad)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
    return step


def _forward(work: LayerWork, kept: float | None, device: torch.device) -> Callable[[], None]:
    """One evaluation forward of the layer alone on a shared input: dense or sparse."""
    generator = torch.Generator().manual_seed(0)
    layer = MemberLinear(work.members, work.in_features, work.out_features).to(device)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(layer.weight.shape, generator=generator) * 0.05)
    x = torch.randn(work.batch_size, work.in_features, generator=generator).to(device)
    mask = (torch.rand(layer.weight.shape, generator=generator) < (kept or 1.0)).to(device)
    forward = layer if kept is None else SparseLinear(layer, mask)

    def step():
        with torch.no_grad():
            forward(x)
    return step


def _race(dense: Callable[[], None], sparse: Callable[[], None],
          device: torch.device) -> tuple[float, float]:
    """The fastest of :data:`REPEATS` timed calls of each, alternated so that a change of the
    machine's load hits both alike, after an untimed one (state, compiling)."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    best = {dense: float("inf"), sparse: float("inf")}
    for repeat in range(REPEATS + 1):
        for step in (dense, sparse):
            sync()
            began = time.perf_counter()
            step()
            sync()
            if repeat:
                best[step] = min(best[step], time.perf_counter() - began)
    return best[dense], best[sparse]


def provider(crossovers: Crossovers | None, hp, device: torch.device,
             kernel: str) -> Callable[[LayerWork], float]:
    """What :func:`lottery.engine.sparse.setup` asks: a layer's crossover under ``hp`` (the
    run store's ``crossovers``, else the process default's)."""
    return lambda work: (crossovers or default_crossovers()).get(work, hp, device, kernel)
