"""Reliability of the run store: nothing left behind, every damaged file recovered from,
nothing set aside ever lost, concurrent writers safe."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from lottery.core import store as store_module
from lottery.core.store import RunStore, StoreError, atomic_save, set_aside, sweep_temporaries
from lottery.core.training import TrainingHparams, train
from lottery.engine import atomic


def entry(store: RunStore, key=None, value=1.0):
    key = key or {"a": 1}
    store.save("g", "e", key, {"value": torch.full((3,), value)})
    return store.path("g", "e")


def test_a_failed_write_leaves_no_temporary_file(tmp_path):
    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("cannot serialize")

    with pytest.raises(RuntimeError):
        atomic_save({"x": Unpicklable()}, tmp_path / "entry.pt")
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_is_reported_as_such_and_leaves_nothing(tmp_path, monkeypatch):
    def no_space(payload, target):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store_module.torch, "save", no_space)
    with pytest.raises(StoreError, match="no space left on device"):
        RunStore(tmp_path).save("g", "e", {"a": 1}, {"v": 1})
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and p.name != ".lottery-store"]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
def test_a_full_disk_under_the_zip_writer_is_reported_as_such(tmp_path, monkeypatch):
    """torch's zip writer says ``unexpected pos`` when a write fails; the store still says
    "no space left" (the CLI prints a StoreError as one error line)."""
    full = tmp_path / "full"
    full.symlink_to("/dev/full")  # every write to it fails with ENOSPC
    monkeypatch.setattr(atomic, "_temporary", lambda path: full)  # where writes are made
    with pytest.raises(StoreError, match="no space left on device"):
        store_module.atomic_save({"w": torch.zeros(10_000)}, tmp_path / "g" / "e.pt")
    assert not full.is_symlink() and not (tmp_path / "g" / "e.pt").exists()


def test_opening_a_store_sweeps_temporaries_of_dead_processes_only(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    folder = tmp_path / "g"
    folder.mkdir()
    orphan = folder / f".e.pt.{dead}.0.tmp"
    mine = folder / f".e.pt.{os.getpid()}.3.tmp"
    other = folder / ".notes.tmp"  # not ours: never touched
    for path in (orphan, mine, other):
        path.write_bytes(b"x" * 10)
    RunStore(tmp_path)
    assert not orphan.exists() and mine.exists() and other.exists()
    assert sweep_temporaries(tmp_path) == 0


def test_an_entry_is_whole_a_missing_readable_key_is_rewritten(tmp_path):
    store = RunStore(tmp_path)
    path = entry(store)
    readable = path.with_suffix(".json")
    readable.unlink()  # a kill between the entry and its readable copy
    assert torch.equal(store.load("g", "e", {"a": 1})["value"], torch.ones(3))
    assert json.loads(readable.read_text())["a"] == 1


def test_set_aside_copies_are_numbered_never_overwritten(tmp_path, capsys):
    store = RunStore(tmp_path)
    contents = []
    for value in (1.0, 2.0, 3.0):
        path = entry(store, value=value)
        path.write_bytes(path.read_bytes()[:50] + bytes([int(value)]))
        contents.append(path.read_bytes())
        assert store.load("g", "e", {"a": 1}) is None
    asides = sorted(path.parent.glob("e.pt.corrupt*"))
    assert [p.name for p in asides] == ["e.pt.corrupt", "e.pt.corrupt.1", "e.pt.corrupt.2"]
    assert sorted(p.read_bytes() for p in asides) == sorted(contents)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 3 and all("set aside" in line for line in lines)


def test_a_long_reason_is_one_line_cut_at_a_word(tmp_path, capsys):
    path = tmp_path / "x.pt"
    path.write_bytes(b"x")
    set_aside(path, "word " * 100 + "\nsecond line")
    line = capsys.readouterr().err
    assert line.count("\n") == 1 and "word ..." in line and "wor;" not in line


def test_an_entry_with_another_key_is_set_aside(tmp_path, capsys):
    store = RunStore(tmp_path)
    entry(store)
    assert store.load("g", "e", {"a": 2}) is None
    assert "stored key differs" in capsys.readouterr().err


def test_a_result_made_under_other_versions_says_so_once_and_is_kept(tmp_path, capsys):
    store = RunStore(tmp_path)
    record = store_module.prov.provenance("cpu") | {"torch": "1.0.0"}
    store.save("g", "e", {"a": 1}, {"v": 1}, record)
    store.save("g", "f", {"a": 2}, {"v": 2}, record)
    assert store.load("g", "e", {"a": 1}) == {"v": 1}
    assert store.load("g", "f", {"a": 2}) == {"v": 2}
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "torch 1.0.0" in lines[0]


def test_provenance_names_no_paths_and_the_project_commit(tmp_path):
    record = store_module.prov.provenance("cpu", wall_time=1.5)
    assert {"torch", "numpy", "python", "device", "threads", "commit", "date"} <= set(record)
    assert record["wall_time_s"] == 1.5
    assert not any("/" in str(v) for k, v in record.items() if k != "date")


WRITER = textwrap.dedent("""
    import sys, torch
    from lottery.core.store import RunStore
    store = RunStore(sys.argv[1])
    for i in range(int(sys.argv[2])):
        store.save("g", "e", {"a": 1}, {"value": torch.zeros(50_000)})
""")


def test_two_processes_writing_one_entry_both_succeed(tmp_path):
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), "30"],
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    errors = [p.communicate()[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    assert RunStore(tmp_path).load("g", "e", {"a": 1})["value"].shape == (50_000,)
    assert not list(tmp_path.rglob("*.tmp"))


def test_a_process_killed_while_writing_leaves_a_loadable_store(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), "100000"])
    deadline = time.time() + 60
    while not (tmp_path / "g" / "e.pt").exists() and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    store = RunStore(tmp_path)  # sweeps what the dead writer left
    assert not list(tmp_path.rglob("*.tmp"))
    assert store.load("g", "e", {"a": 1})["value"].shape == (50_000,)


def test_a_damaged_checkpoint_is_set_aside_and_training_starts_afresh(tmp_path, capsys):
    from lottery.core.hparams import ModelHparams
    from lottery.core.training import Member
    from lottery.engine.data import load
    from lottery.engine.members import member_state
    from lottery.engine.models import build

    data = load("synthetic_mnist", val_size=200)
    hp = TrainingHparams("adam", lr=1e-3, iterations=20, batch_size=60, eval_every=10)
    members = [Member(member_state(build("lenet", [0]), 0), None, 1)]
    reference = train(ModelHparams("lenet"), hp, data, members, progress=False)
    checkpoint = tmp_path / "run.ckpt"
    checkpoint.write_bytes(b"not a checkpoint")
    again = train(ModelHparams("lenet"), hp, data, members, checkpoint=checkpoint,
                  checkpoint_every=5, progress=False)
    assert "checkpoint unusable" in capsys.readouterr().err
    assert (tmp_path / "run.ckpt.corrupt").read_bytes() == b"not a checkpoint"
    for name, value in reference.final_states[0].items():
        assert torch.equal(again.final_states[0][name], value)
