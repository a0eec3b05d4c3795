"""The ray executor: the same networks as the local path, the driver alone keeps the store, and
a stopped driver, a lost worker or a worker without the data each end as they should.

One local Ray instance (2 CPUs, no dashboard) serves the module; every worker trains on one
thread, so a trial trained alone on a worker is bit for bit the trial trained in the local
batch. The tests that need no cluster run without Ray installed."""

from __future__ import annotations

import importlib
import inspect
import json
import os
import socket
import subprocess
import sys
import threading
from dataclasses import replace

import pandas as pd
import pytest
import torch

from lottery.core.executors import (
    GPU_SHARE,
    ExecutorError,
    GroupTask,
    Keep,
    check_reachable,
    init_ray,
    make_executor,
    patient_startup,
)
from lottery.core.experiments import Runner
from lottery.core.hparams import HparamError
from lottery.core.presets import resolve
from lottery.core.store import RunStore
from lottery.core.training import Member, SpeedOptions
from lottery.engine.data import DataUnavailable, load
from lottery.run.cli import main
from lottery.run.session import validate_parameters

HP = resolve("lenet", "smoke", trials=2, levels=2, controls=("reinit",),
             training__iterations=40, training__eval_every=20)
SPEED = SpeedOptions(kernel="eager")  # the same both ways; no compiling in every new worker
NETWORKS = 2 + 2 * 2 * 2  # dense per trial, then per level: ticket and reinit per trial


def _die_once(marks: str):
    """A worker start-up hook: while ``marks/armed`` exists, the first training call on any
    worker ends its process, as a lost machine would (``marks/died`` records that it did)."""
    def hook():
        from lottery.core import executors

        original = executors.train

        def train(*args, **kwargs):
            if os.path.exists(os.path.join(marks, "armed")):
                try:
                    os.close(os.open(os.path.join(marks, "died"), os.O_CREAT | os.O_EXCL))
                except FileExistsError:
                    pass
                else:
                    os._exit(1)
            return original(*args, **kwargs)

        executors.train = train
    return hook


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A local Ray instance for the module; yields the folder of the worker-death marks."""
    ray = pytest.importorskip("ray")
    marks = tmp_path_factory.mktemp("worker-marks")
    if ray.is_initialized():
        ray.shutdown()
    try:  # Ray's own start-up waits fail on a loaded 2-core machine: init_ray lengthens them
        init_ray(ray, num_cpus=2, include_dashboard=False, logging_level="ERROR",
                 runtime_env={"env_vars": {"LOTTERY_OFFLINE": "1"},
                              "worker_process_setup_hook": _die_once(str(marks))})
    except Exception as error:  # noqa: BLE001 - Ray's start-up raises a bare Exception
        ray.shutdown()
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        pytest.skip(f"Ray cannot start on this machine: {type(error).__name__}: {first}")
    yield marks
    ray.shutdown()


@pytest.fixture(scope="module")
def executor(cluster):
    return make_executor("ray", device="cpu")


@pytest.fixture(scope="module")
def local(tmp_path_factory, one_thread):
    """The reference: the experiment on the local path, one thread."""
    return imp(RunStore(tmp_path_factory.mktemp("local")))


def imp(store: RunStore, executor=None):
    """The module's experiment (IMP, 2 trials, 2 levels, reinit control) against ``store``."""
    return Runner(HP, store=store, progress=False, executor=executor, speed=SPEED).imp()


def table(result) -> pd.DataFrame:
    return result.results.sort_values(["level", "variant", "trial"]).reset_index(drop=True)


def assert_same(result, reference) -> None:
    pd.testing.assert_frame_equal(table(result), table(reference))
    assert result.masks.keys() == reference.masks.keys()
    for key, mask in reference.masks.items():
        assert all(torch.equal(mask[n], result.masks[key][n]) for n in mask)


def counting(executor, monkeypatch) -> list[int]:
    """The member count of every group the driver hands to ``executor`` from now on."""
    sizes: list[int] = []
    original = type(executor).train

    def train(self, runner, task, deliver, checkpoint=None):
        sizes.append(len(task.members))
        return original(self, runner, task, deliver, checkpoint)

    monkeypatch.setattr(type(executor), "train", train)
    return sizes


# --- with a cluster -----------------------------------------------------------------------
def test_ray_trains_the_same_networks_as_the_local_path(tmp_path, executor, local):
    store = RunStore(tmp_path)
    result = imp(store, executor)
    assert_same(result, local)
    records = [json.loads(path.read_text())["provenance"] for path in tmp_path.rglob("*.json")]
    assert len(records) == NETWORKS and all(r["executor"] == "ray" for r in records)
    # one task per trial: a level's ticket and reinit of one trial trained together
    assert sorted(r["trained_together"] for r in records) == [1, 1] + [2] * 8


def test_a_stopped_driver_resumes_and_trains_only_what_is_missing(tmp_path, executor, local,
                                                                  monkeypatch):
    class Stopped(Exception):
        pass

    original, stored = RunStore.save, []

    def save(self, *args, **kwargs):
        if len(stored) == 3:  # the dense nets and one network of level 1 are stored
            raise Stopped
        stored.append(original(self, *args, **kwargs))
        return stored[-1]

    monkeypatch.setattr(RunStore, "save", save)
    with pytest.raises(Stopped):
        imp(RunStore(tmp_path), executor)
    monkeypatch.setattr(RunStore, "save", original)
    before = {path: path.stat().st_mtime_ns for path in stored}
    sizes = counting(executor, monkeypatch)
    result = imp(RunStore(tmp_path), executor)
    assert_same(result, local)
    assert sum(sizes) == NETWORKS - 3
    assert {path: path.stat().st_mtime_ns for path in stored} == before  # kept, not redone


def test_a_task_whose_worker_dies_is_rerun_with_the_same_result(tmp_path, cluster, executor,
                                                                 local):
    (cluster / "armed").touch()
    try:
        result = imp(RunStore(tmp_path), executor)
    finally:
        (cluster / "armed").unlink()
    assert (cluster / "died").exists()  # a worker did die mid-task
    assert_same(result, local)


def test_a_worker_without_the_dataset_fails_with_its_one_line_error(tmp_path, cluster,
                                                                    monkeypatch):
    hp = resolve("lenet", "smoke", synthetic=False, trials=1, levels=0,
                 training__iterations=20, training__eval_every=10)
    d = hp.data
    # the driver holds MNIST (a stand-in under its name); the workers look in an empty folder
    driver_data = replace(load("synthetic_mnist", val_size=d.val_size, split_seed=d.split_seed,
                               train_subset=d.train_subset, test_subset=d.test_subset),
                          name="mnist")
    empty = tmp_path / "no-data"
    empty.mkdir()
    monkeypatch.setenv("LOTTERY_OFFLINE", "1")  # as on the workers
    with pytest.raises(DataUnavailable) as here:
        load("mnist", root=empty)
    runner = Runner(hp, store=RunStore(tmp_path / "runs"), data=driver_data, progress=False,
                    executor=make_executor("ray", device="cpu", data_root=empty))
    with pytest.raises(DataUnavailable) as there:
        runner.imp()
    assert str(there.value) == str(here.value)
    assert "\n" not in str(there.value) and "mnist" in str(there.value).lower()
    assert not list((tmp_path / "runs").rglob("*.pt"))


def test_learned_supermasks_train_on_the_cluster_as_locally(tmp_path, executor, one_thread):
    from lottery.studies.deconstruct import supermask

    hp = supermask.hparams(resolve("lenet", "smoke", trials=2), iterations=20)

    def learned(store: RunStore, on=None):
        runner = Runner(hp, store=store, progress=False, executor=on, speed=SPEED)
        return supermask.run(runner, samples=2).results

    here = learned(RunStore(tmp_path / "local"))
    there = learned(RunStore(tmp_path / "ray"), executor)
    # each trial alone on its worker; locally the two share a batch (rounding apart, the same)
    pd.testing.assert_frame_equal(there, here, check_exact=False, atol=1e-5)
    records = [json.loads(path.read_text())["provenance"]
               for path in (tmp_path / "ray").rglob("*.json")]
    assert len(records) == 2 and all(r["executor"] == "ray" for r in records)


def test_map_runs_experiments_side_by_side(executor):
    both = threading.Barrier(2, timeout=30)  # broken unless the two run at the same time

    def one():
        both.wait()
        return "one"

    def two():
        both.wait()
        return "two"

    assert executor.map([one, two]) == ["one", "two"]


def test_map_raises_the_failing_experiments_error_and_stays_usable(executor):
    def fails():
        raise ValueError("the failing experiment")

    with pytest.raises(ValueError, match="the failing experiment"):
        executor.map([lambda: "fine", fails])
    assert executor.map([lambda: 1, lambda: 2]) == [1, 2]


def test_tasks_ask_for_a_share_of_a_gpu_by_model(executor):
    task = group_task([0])
    assert executor.resources(task) == {"num_cpus": 1, "num_gpus": 0}  # a CPU-only cluster
    executor.gpus = True
    try:
        assert executor.resources(task)["num_gpus"] == GPU_SHARE["lenet"] < 1
        vgg = replace(task, model=replace(task.model, name="vgg19"))
        assert executor.resources(vgg)["num_gpus"] == 1
    finally:
        executor.gpus = False


# --- without a cluster --------------------------------------------------------------------
def group_task(trials: list[int]) -> GroupTask:
    member = Member({"w": torch.zeros(1)}, None, 0)
    return GroupTask(HP.model, HP.training, HP.data, (1, 1, 1), {"w": (1,)},
                     tuple(replace(member, data_seed=i) for i in range(len(trials))),
                     tuple(Keep((i,), i == 0) for i in range(len(trials))), tuple(trials), 0,
                     SpeedOptions(), "level 1")


def test_a_group_is_cut_into_one_task_per_trial_keeping_each_members_outputs():
    parts = group_task([0, 1, 0, 1]).by_trial()
    assert [picked for picked, _ in parts] == [[0, 2], [1, 3]]
    first = parts[0][1]
    assert [m.data_seed for m in first.members] == [0, 2] and first.trials == (0, 0)
    assert first.keeps == (Keep((0,), True), Keep((2,), False)) and first.snapshot_at == [0, 2]
    assert parts[1][1].desc == "level 1, trial 1"


def test_an_unknown_executor_is_one_line_before_any_work(monkeypatch, capsys):
    with pytest.raises(ExecutorError, match="executor must be one of local, ray"):
        make_executor("dask")
    monkeypatch.setenv("LOTTERY_EXECUTOR", "local")
    assert make_executor().name == "local"
    with pytest.raises(HparamError, match="parameter executor must be one of local, ray"):
        validate_parameters(profile="smoke", executor="threads")
    code = main(["imp", "--preset", "lenet", "--profile", "smoke", "--executor", "ray",
                 "--checkpoint-every", "10"])
    assert code == 1
    assert capsys.readouterr().err.strip().count("\n") == 0


def test_a_cluster_address_nothing_answers_on_is_one_line_not_minutes_of_retries():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
    with pytest.raises(ExecutorError, match=f"no Ray cluster answers at 127.0.0.1:{port}"):
        check_reachable(f"127.0.0.1:{port}")  # closed now
    with pytest.raises(ExecutorError, match="is not host:port"):
        check_reachable("head-node")
    for left_to_ray in (None, "auto", "ray://head:10001"):
        check_reachable(left_to_ray)


# --- issue 30: a service that is not Ray (class 7); Ray's start-up wait (class 8) -------------
def _serve(reply: bytes | None) -> tuple[socket.socket, int]:
    """A local TCP service that is not Ray: it answers every connection with ``reply`` (an
    HTTP/1 server's) or, for None, says nothing."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def answer():
        while True:
            try:
                link, _ = server.accept()
            except OSError:  # closed: the test is over
                return
            if reply is not None:
                link.recv(1024)
                link.sendall(reply)
                link.close()
            # else: kept open and silent until the server closes
    threading.Thread(target=answer, daemon=True).start()
    return server, server.getsockname()[1]


def test_a_silent_service_at_the_address_is_refused_in_one_line():
    server, port = _serve(None)
    with server, pytest.raises(ExecutorError, match=f"127.0.0.1:{port} is not a Ray cluster"):
        check_reachable(f"127.0.0.1:{port}", timeout=1.0)


def test_the_command_line_refuses_a_web_server_as_a_ray_address(tmp_path):
    pytest.importorskip("ray")
    server, port = _serve(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
    with server:
        done = subprocess.run(
            [sys.executable, "-m", "lottery", "train", "--preset", "lenet", "--profile",
             "smoke", "--iterations", "10", "--executor", "ray", "--address",
             f"127.0.0.1:{port}", "--runs", str(tmp_path)],
            capture_output=True, text=True, timeout=300, env={**os.environ, "RAY_ADDRESS": ""})
    assert done.returncode == 1, done.stderr[-1000:]
    assert done.stderr.strip().splitlines() == [
        f"error: the service at 127.0.0.1:{port} is not a Ray cluster (it does not answer as "
        f"Ray's GCS server does); give the head node's GCS port (6379 unless changed) or leave "
        f"the address out for a local instance"]


def test_the_address_check_lets_a_real_ray_head_through(cluster):
    ray = pytest.importorskip("ray")
    check_reachable(ray.get_runtime_context().gcs_address)


def test_ray_start_up_waits_longer_than_rays_fixed_30_seconds():
    ray = pytest.importorskip("ray")
    node = importlib.import_module("ray._private.node")
    # what the stretch acts on: the fixed wait, measured with the module's time.monotonic
    assert "raylet_start_wait_time_s = 30" in inspect.getsource(node.Node.__init__)
    clock = node.time
    with patient_startup(10):
        slow = node.time.monotonic()
        assert abs(slow * 10 - clock.monotonic()) < 1.0  # a 30 s wait now holds 300 s
        assert node.time.sleep is clock.sleep
        assert os.environ["RAY_raylet_start_wait_time_s"] == "300"  # the raylet's own waits
        assert os.environ["RAY_agent_register_timeout_ms"] == "300000"
    assert node.time is clock and ray is not None
    assert "RAY_raylet_start_wait_time_s" not in os.environ or \
        os.environ["RAY_raylet_start_wait_time_s"] != "300"


def test_a_start_whose_raylet_gave_up_is_tried_again_then_reported():
    class SlowMachine:
        """Ray on a machine where the first ``fails`` starts time out."""

        def __init__(self, fails: int):
            self.fails, self.calls, self.shutdowns = fails, 0, 0

        def init(self, **options):
            self.calls += 1
            if self.calls <= self.fails:
                raise Exception("The current node timed out during startup. This could ...")

        def shutdown(self):
            self.shutdowns += 1

    once = SlowMachine(1)
    init_ray(once, num_cpus=2)
    assert (once.calls, once.shutdowns) == (2, 1)
    always = SlowMachine(10)
    with pytest.raises(Exception, match="timed out during startup"):
        init_ray(always, attempts=3)
    assert always.calls == 3
    remote = SlowMachine(1)  # a cluster's address: nothing of ours to start again
    with pytest.raises(Exception, match="timed out"):
        init_ray(remote, address="head:6379")
    assert remote.calls == 1
