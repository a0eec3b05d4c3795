"""Where training runs: in this process (``local``) or as Ray tasks on a cluster (``ray``).

The unit of work is one batched training call, a :class:`GroupTask`: model and training
hyperparameters, the data's identity, the members' starting states and masks, what to keep of
each and the speed options -- nothing of the driver's (no store, no paths, no data tensors), so a
worker anywhere can run it and return the payloads the store keeps. The driver alone writes the
run store, each result as it arrives: a killed driver resumes from what it stored, and a task
lost with its worker is rerun by Ray (``max_retries``) with the same seeds, so the same result.

``local`` (the default) trains a whole group in this process as one batched call, as before.
``ray`` cuts a group into one task per trial (the trials of a level are independent), sizes each
by the model (:data:`GPU_SHARE`: LeNet trials share a GPU, a VGG-19 trial takes one) and still
batches a trial's ticket and controls in its task; :meth:`RayExecutor.map` runs independent
experiments (rewind points, presets) side by side. The levels of one trial stay in order: a
level is pruned from the one before.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import socket
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import TYPE_CHECKING, Protocol, TypeVar

import torch
from tqdm.auto import tqdm

from lottery.core.crossover import Crossovers
from lottery.core.hparams import DataHparams, ModelHparams, TrainingHparams
from lottery.core.provenance import provenance
from lottery.core.training import Member, Parameterisation, SpeedOptions, TrainResult, train
from lottery.engine.data import DataBundle, DataUnavailable, load, with_augmentation
from lottery.engine.masks import Mask

if TYPE_CHECKING:
    from pathlib import Path

    from lottery.core.experiments import Runner

EXECUTORS = ("local", "ray")
EXECUTOR_ENV = "LOTTERY_EXECUTOR"
ADDRESS_ENV = "RAY_ADDRESS"
# The fraction of a GPU one task (one trial's members) takes: the small networks leave most of
# a GPU idle, so several of their tasks share one; a model not listed takes a whole GPU.
GPU_SHARE = {"lenet": 0.25, "conv2": 0.25, "conv4": 0.25, "conv6": 0.5, "resnet18": 0.5,
             "vgg19": 1.0}
MAX_RETRIES = 3   # reruns of a task whose worker died (a raised error is never retried)
POLL_S = 0.5      # how often a waiting experiment checks whether it should stop

T = TypeVar("T")
# (member indices in the task, their payloads, the provenance record): the driver stores them
Deliver = Callable[[list[int], list[dict], dict], None]


class ExecutorError(RuntimeError):
    """An executor that cannot be used as asked (one line)."""


@dataclass(frozen=True)
class Keep:
    """What the store keeps of one member: the snapshots its stage asked for, its final
    weights when a later stage needs them."""

    snapshots: tuple[int, ...]
    keep_final: bool


@dataclass(frozen=True)
class GroupTask:
    """One batched training call: everything a worker needs, nothing of the driver's."""

    model: ModelHparams
    training: TrainingHparams
    data: DataHparams
    data_sizes: tuple[int, int, int]    # train/val/test as the driver loaded them
    layer_shapes: dict[str, tuple]      # prunable weight -> its shape: the dense mask
    members: tuple[Member, ...]
    keeps: tuple[Keep, ...]
    trials: tuple[int, ...]             # each member's trial
    start: int                          # the iteration training starts from
    speed: SpeedOptions
    desc: str
    parameterisation: Parameterisation | None = None  # what trains instead of the weights

    @property
    def snapshot_at(self) -> list[int]:
        return sorted({i for keep in self.keeps for i in keep.snapshots})

    def dense_mask(self) -> Mask:
        return Mask.dense(self.layer_shapes)

    def by_trial(self) -> list[tuple[list[int], GroupTask]]:
        """The task cut into one part per trial: (member indices, part), trials in order."""
        parts = []
        for trial in dict.fromkeys(self.trials):
            picked = [i for i, t in enumerate(self.trials) if t == trial]
            parts.append((picked, replace(
                self, members=tuple(self.members[i] for i in picked),
                keeps=tuple(self.keeps[i] for i in picked), trials=(trial,) * len(picked),
                desc=f"{self.desc}, trial {trial}")))
        return parts


class Executor(Protocol):
    """Runs the training of a :class:`~lottery.core.experiments.Runner`'s groups."""

    name: str

    def train(self, runner: Runner, task: GroupTask, deliver: Deliver,
              checkpoint: Path | None = None) -> None:
        """Train ``task``, calling ``deliver`` with each part's payloads as it finishes."""

    def map(self, experiments: Sequence[Callable[[], T]]) -> list[T]:
        """Run independent experiments (thunks), their results in order."""

    def describe(self) -> str:
        """One line for banners: the executor and where it trains."""

    def finished(self, runner: Runner) -> None:
        """``runner``'s experiment is done (its progress bar, if any, closes)."""


class LocalExecutor:
    """Each group as one batched call in this process, on the runner's device (the default)."""

    name = "local"

    def train(self, runner: Runner, task: GroupTask, deliver: Deliver,
              checkpoint: Path | None = None) -> None:

        payloads, record = train_payloads(task, runner.data, runner.device,
                                          checkpoint=checkpoint,
                                          checkpoint_every=runner.checkpoint_every,
                                          progress=runner.progress,
                                          crossovers=runner.crossovers)
        deliver(list(range(len(task.members))), payloads, record)

    def map(self, experiments: Sequence[Callable[[], T]]) -> list[T]:
        return [run() for run in experiments]

    def describe(self) -> str:
        return "local (this process)"

    def finished(self, runner: Runner) -> None:
        pass


def make_executor(name: str | None = None, *, address: str | None = None,
                  device: str | None = "auto", data_root: str | os.PathLike | None = None,
                  ) -> LocalExecutor | RayExecutor:
    """The executor ``name`` (None: ``$LOTTERY_EXECUTOR``, else local); ``ray`` connects to
    ``address`` (else ``$RAY_ADDRESS``, else a local instance) before returning."""
    name = name or os.environ.get(EXECUTOR_ENV) or "local"
    if name not in EXECUTORS:
        raise ExecutorError(f"executor must be one of {', '.join(EXECUTORS)}; got {name!r}")
    if name == "local":
        return LocalExecutor()
    return RayExecutor(address, device=device or "auto", data_root=data_root)


def check_reachable(address: str | None, timeout: float = 10.0) -> None:
    """Refuse, in one line, a ``host:port`` where no Ray cluster answers: nothing listening
    (Ray itself retries for minutes) or a service that is not Ray's GCS (Ray waits on it with
    no end); ``auto``, ``local`` and ``ray://`` addresses are left to Ray."""
    if not address or address in ("auto", "local") or "://" in address:
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ExecutorError(f"Ray address {address!r} is not host:port (e.g. head-node:6379)")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout) as link:
            speaks = os.environ.get("RAY_USE_TLS", "0").lower() in ("1", "true") or \
                speaks_grpc(link, timeout)
    except OSError as error:
        raise ExecutorError(f"no Ray cluster answers at {address} ({error.strerror or error}); "
                            f"start one with `ray start --head` or leave the address out for "
                            f"a local instance") from None
    if not speaks:
        raise ExecutorError(f"the service at {address} is not a Ray cluster (it does not answer "
                            f"as Ray's GCS server does); give the head node's GCS port (6379 "
                            f"unless changed) or leave the address out for a local instance")


# an HTTP/2 client's opening: the preface, then an empty SETTINGS frame (RFC 7540, 3.5)
_HTTP2_OPENING = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])
_SETTINGS = 4  # the frame type an HTTP/2 server must send first


def speaks_grpc(link: socket.socket, timeout: float) -> bool:
    """Whether the server on ``link`` answers as a gRPC (HTTP/2) server does, as Ray's GCS
    does: its first frame is SETTINGS, sent within ``timeout`` seconds."""
    link.settimeout(timeout)
    try:
        link.sendall(_HTTP2_OPENING)
        head = b""
        while len(head) < 9:  # a frame header: length (3), type, flags, stream (4)
            chunk = link.recv(9 - len(head))
            if not chunk:
                return False
            head += chunk
    except OSError:  # silent past the timeout, or reset: not a gRPC server
        return False
    return head[3] == _SETTINGS and not head[4] & 1  # not an acknowledgement


# A local Ray instance's start-up has fixed waits that a loaded 2-core machine outlasts: the
# driver waits 30 s for the raylet to register (ray._private.node, no setting changes it), the
# raylet waits for its agents (15 s for each one's port file, fixed; RAY_* settings for the
# rest). While one starts, that module's clock runs STARTUP_PATIENCE times slower and the
# settings are as many times longer; a start whose raylet still gave up is tried again (the
# agents' code is in the page cache the second time), STARTUP_ATTEMPTS times in all.
STARTUP_PATIENCE = 3  # a raylet that died is only noticed at the end of the wait
STARTUP_ATTEMPTS = 4
_TIMED_OUT = "timed out during startup"  # what Ray's start-up says when the raylet gave up
_RAYLET_WAITS = {"RAY_raylet_start_wait_time_s": 30, "RAY_agent_register_timeout_ms": 30_000,
                 "RAY_worker_register_timeout_seconds": 60}


class _SlowClock:
    """A ``time`` module whose ``monotonic`` runs ``factor`` times slower; the rest is time's."""

    def __init__(self, clock, factor: float):
        self._clock, self._factor = clock, factor

    def monotonic(self) -> float:
        return self._clock.monotonic() / self._factor

    def __getattr__(self, name: str):
        return getattr(self._clock, name)


def _swap(module, name: str, make) -> Callable[[], None]:
    """Replace ``module.name`` by ``make(it)``; returns what undoes it (nothing where Ray's
    internals moved: then its own waits apply)."""
    original = getattr(module, name, None)
    if original is None:
        return lambda: None
    setattr(module, name, make(original))
    return lambda: setattr(module, name, original)


@contextlib.contextmanager
def patient_startup(factor: float = STARTUP_PATIENCE):
    """Lengthen a local Ray instance's start-up waits by ``factor`` inside the block."""
    undo = []
    try:
        undo.append(_swap(importlib.import_module("ray._private.node"), "time",
                          lambda clock: _SlowClock(clock, factor)))
    except ImportError:
        pass
    given = {name: os.environ.get(name) for name in _RAYLET_WAITS}
    for name, default in _RAYLET_WAITS.items():  # a value the user set is kept
        os.environ.setdefault(name, str(int(default * factor)))
    try:
        yield
    finally:
        for step in undo:
            step()
        for name, value in given.items():
            if value is None:
                os.environ.pop(name, None)


def init_ray(ray, attempts: int = STARTUP_ATTEMPTS, **options) -> None:
    """``ray.init(**options)`` with patient start-up waits; a local instance whose start timed
    out is shut down and started again, up to ``attempts`` times in all."""
    for attempt in range(1, attempts + 1):
        try:
            with patient_startup():
                ray.init(**options)
            return
        except Exception as error:  # Ray's start-up timeout is a bare Exception
            if options.get("address") or attempt == attempts or _TIMED_OUT not in str(error):
                raise
            ray.shutdown()


def _import_ray():
    try:
        import ray
    except ImportError:
        raise ExecutorError("executor ray needs Ray: pip install -e '.[cluster]' (or "
                            "`make install`, which includes it)") from None
    return ray


class RayExecutor:
    """Groups cut into one Ray task per trial, sized by the model; see the module docstring.

    ``address``: a running cluster (else ``$RAY_ADDRESS``, else a local instance on this
    machine's CPUs and GPUs; an instance this process already started is reused). ``device``:
    ``auto`` (GPUs when the cluster has them), ``cpu`` or ``cuda``. ``data_root``: where workers
    find the data (None: each worker's ``$LOTTERY_DATA`` or ``./data``, downloading when
    missing). ``cpus_per_task``: CPUs, and torch threads, of one task. In-training checkpoints
    are local only: a rerun task starts its stage again.
    """

    name = "ray"

    def __init__(self, address: str | None = None, *, device: str = "auto",
                 data_root: str | os.PathLike | None = None, cpus_per_task: int = 1,
                 max_retries: int = MAX_RETRIES):
        self.ray = _import_ray()
        self.address = address or os.environ.get(ADDRESS_ENV) or None
        self.data_root = None if data_root is None else str(data_root)
        self.cpus_per_task, self.max_retries = cpus_per_task, max_retries
        self._connect()
        self.gpus = self._gpus(device)
        # max_calls=0: a worker process is reused (Ray's default for GPU tasks is one call per
        # process), so it loads its dataset and starts CUDA once
        self._remote = self.ray.remote(max_calls=0)(_work)
        self._bars: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._stop = threading.Event()

    def _connect(self) -> None:
        if self.ray.is_initialized():
            return
        check_reachable(self.address)
        try:
            init_ray(self.ray, address=self.address, logging_level=logging.WARNING)
        except Exception as error:  # noqa: BLE001 - Ray raises bare Exceptions too
            if not isinstance(error, ConnectionError | RuntimeError | ValueError) and \
                    _TIMED_OUT not in str(error):
                raise
            where = self.address or "a local instance"
            first = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise ExecutorError(f"cannot start Ray on {where}: {type(error).__name__}: "
                                f"{first}") from None

    def _gpus(self, device: str) -> bool:
        """Whether tasks ask for GPUs; ``cuda`` on a cluster without any is refused."""
        try:
            kind = torch.device("cuda" if device == "auto" else device).type
        except (RuntimeError, TypeError):
            raise ExecutorError(f"device {device!r} is not a torch device") from None
        have = self.ray.cluster_resources().get("GPU", 0) > 0
        if kind == "cuda" and device != "auto" and not have:
            raise ExecutorError(f"device {device}: the Ray cluster has no GPUs")
        if kind not in ("cpu", "cuda"):
            raise ExecutorError(f"device must be auto, cpu or cuda under ray; got {device!r}")
        return kind == "cuda" and have

    def describe(self) -> str:
        total = self.ray.cluster_resources()
        where = self.address or "a local instance"
        return (f"ray ({where}: {total.get('CPU', 0):g} CPUs, {total.get('GPU', 0):g} GPUs; "
                f"tasks on {'GPUs' if self.gpus else 'CPUs'})")

    def resources(self, task: GroupTask) -> dict:
        """What one task of ``task``'s model asks Ray for."""
        return {"num_cpus": self.cpus_per_task,
                "num_gpus": GPU_SHARE.get(task.model.name, 1.0) if self.gpus else 0}

    def train(self, runner: Runner, task: GroupTask, deliver: Deliver,
              checkpoint: Path | None = None) -> None:
        """One task per trial, submitted together; each part delivered as it finishes."""
        refs = {self._remote.options(**self.resources(task), max_retries=self.max_retries)
                .remote(part, self.data_root, self.cpus_per_task): picked
                for picked, part in task.by_trial()}
        bar = self._bar(runner, len(task.members))
        pending = list(refs)
        try:
            while pending:
                if self._stop.is_set():
                    raise ExecutorError("stopped: another experiment failed")
                done, pending = self.ray.wait(pending, num_returns=1, timeout=POLL_S)
                for ref in done:
                    payloads, record = self._fetch(ref)
                    deliver(refs[ref], payloads, record)
                    bar.update(len(refs[ref]))
        finally:
            for ref in pending:  # interrupted: free the workers (stored results are kept)
                self.ray.cancel(ref)

    def _fetch(self, ref) -> tuple[list[dict], dict]:
        """A task's result; a worker's one-line error (missing data, bad value) is re-raised
        as itself, not wrapped in Ray's traceback."""
        try:
            return self.ray.get(ref)
        except self.ray.exceptions.RayTaskError as error:
            if isinstance(error.cause, DataUnavailable | ValueError):
                raise error.cause from None
            raise

    def _bar(self, runner: Runner, members: int) -> tqdm:
        """The runner's progress bar (one per experiment), grown by ``members``."""
        bar = self._bars.get(runner)
        if bar is None:
            hp = runner.hp
            name = f"{hp.model.name} {runner.data.name}" + (
                f" k={hp.rewind_iteration}" if hp.rewind_iteration else "")
            bar = tqdm(total=members, desc=name, unit="net", disable=not runner.progress)
            self._bars[runner] = bar
            weakref.finalize(runner, bar.close)
        else:
            bar.total += members
            bar.refresh()
        return bar

    def finished(self, runner: Runner) -> None:
        bar = self._bars.pop(runner, None)
        if bar is not None:
            bar.close()

    def map(self, experiments: Sequence[Callable[[], T]]) -> list[T]:
        """The experiments side by side (one driver thread each, training on the cluster);
        when one fails, the others stop at their next result and the first error is raised.
        Experiments that share networks (IMP and one-shot share the dense level) should train
        the shared stage first, as ``Session.rewind_sweep`` does, or train it twice."""
        if len(experiments) <= 1:
            return [run() for run in experiments]
        with ThreadPoolExecutor(len(experiments), thread_name_prefix="experiment") as pool:
            futures = [pool.submit(run) for run in experiments]
            try:
                done, _ = wait(futures, return_when=FIRST_EXCEPTION)
                failed = [f.exception() for f in done if f.exception() is not None]
                if failed:
                    raise failed[0]
            except BaseException:  # an error or Ctrl-C: stop the others, keep what is stored
                self._stop.set()
                raise
            finally:
                pool.shutdown(wait=True)
                self._stop.clear()
        return [future.result() for future in futures]


@lru_cache(maxsize=2)
def worker_data(data: DataHparams, device: str, root: str | None) -> DataBundle:
    """A worker's copy of the data (loaded once per process), augmented as the preset says."""
    return with_augmentation(load(data.dataset, root=root, device=device,
                                  val_size=data.val_size, split_seed=data.split_seed,
                                  train_subset=data.train_subset,
                                  test_subset=data.test_subset), data.augment)


def _work(task: GroupTask, data_root: str | None, threads: int) -> tuple[list[dict], dict]:
    """A Ray task: the group trained on this worker's device; its payloads and record."""
    import ray


    torch.set_num_threads(threads)
    device = "cuda" if ray.get_gpu_ids() else "cpu"  # Ray shows a task only its own GPU
    try:
        data = worker_data(task.data, device, data_root)
    except DataUnavailable as error:  # a subclass need not survive pickling; its line does
        raise DataUnavailable(str(error)) from None
    sizes = (len(data.train), len(data.val), len(data.test))
    if sizes != tuple(task.data_sizes):
        raise DataUnavailable(f"{data.name} on this worker has train/val/test sizes {sizes}, "
                              f"the driver's {tuple(task.data_sizes)}: give the workers the "
                              f"same dataset files")
    payloads, record = train_payloads(task, data, torch.device(device))
    return payloads, record | {"executor": "ray"}


def train_payloads(task: GroupTask, data: DataBundle, device: torch.device, *,
                   checkpoint: Path | None = None, checkpoint_every: int = 0,
                   progress: bool = False, crossovers: Crossovers | None = None,
                   ) -> tuple[list[dict], dict]:
    """Train one group and return what the store keeps of each member, with the provenance
    record: the unit of work an executor runs, in this process or on a worker
    (``crossovers``: the run store's measured sparse crossovers)."""
    began = time.perf_counter()
    result = train(task.model, task.training, data, list(task.members), device=device,
                   start_iteration=task.start, snapshot_at=task.snapshot_at,
                   checkpoint=checkpoint, checkpoint_every=checkpoint_every, speed=task.speed,
                   progress=progress, desc=task.desc, parameterisation=task.parameterisation,
                   crossovers=crossovers)
    record = provenance(device, time.perf_counter() - began) | {
        "trained_together": len(task.members)}
    dense = task.dense_mask()
    return [network_payload(result, k, keep, member.mask, dense)
            for k, (keep, member) in enumerate(zip(task.keeps, task.members, strict=True))
            ], record


def network_payload(result: TrainResult, k: int, net: Keep, mask: Mask | None,
                    dense: Mask) -> dict:
    """What the store keeps of member ``k``: its summary, history, mask (the one training chose,
    else its own), final weights (when a later stage needs them), the snapshots it asked for and
    what else training returned of it. The summary's density is the mask's unless training
    reported one (a learned supermask's expected density)."""
    summary = result.summary[result.summary.member == k].drop(columns="member")
    row = {c: summary[c].iloc[0].item() for c in summary.columns}
    if result.masks is not None:
        mask = result.masks[k]
    used = mask if mask is not None else dense
    row.setdefault("density", used.density())
    row |= {f"density:{name}": value for name, value in used.layer_density().items()}
    history = result.history[result.history.member == k].drop(columns="member")
    payload = {"summary": row, "history": history.to_dict("list"),
               "mask": None if mask is None else mask.pack(),
               "snapshots": {i: states[k] for i, states in result.snapshots.items()
                             if i in net.snapshots}}
    if net.keep_final:
        payload["final"] = result.final_states[k]
    return payload | (result.extras[k] if result.extras else {})
