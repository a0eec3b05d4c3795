"""Ctrl-C of ``python -m lottery.run.reproduce`` (issue 31, point 2): one line on stderr, exit
130, and the half-run executed copy renamed ``NN_name.incomplete.ipynb``; the estimate path
(``--estimate-only``, what ``make estimate`` runs) the same."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest

from lottery.run import reproduce
from lottery.run.interrupt import Interrupts, incomplete_path, mark_incomplete

ROOT = Path(__file__).resolve().parents[1]


def slow_notebook(folder: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('profile = "quick"')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(
        'import time\nprint("started", flush=True)\ntime.sleep(120)'),
        nbformat.v4.new_code_cell('print("never")')]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    path = folder / "a_slow.ipynb"
    nbformat.write(nb, path)
    return path


def interrupt_after(argv: list[str], tmp_path: Path, marker: str) -> tuple[int, str, str]:
    """Start reproduce with ``argv``, SIGINT it once ``marker`` is printed; (rc, out, err)."""
    env = os.environ | {"PYTHONPATH": str(ROOT), "LOTTERY_RUNS": str(tmp_path / "runs"),
                        "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    out_file, err_file = tmp_path / "out.txt", tmp_path / "err.txt"
    with open(out_file, "w") as out, open(err_file, "w") as err:
        child = subprocess.Popen([sys.executable, "-m", "lottery.run.reproduce", *argv],
                                 cwd=ROOT, env=env, stdout=out, stderr=err)
        try:
            deadline = time.monotonic() + 240
            while marker not in out_file.read_text() and time.monotonic() < deadline:
                assert child.poll() is None, out_file.read_text() + err_file.read_text()
                time.sleep(0.5)
            time.sleep(1)  # well inside the step the marker starts
            child.send_signal(signal.SIGINT)
            code = child.wait(timeout=60)
        finally:
            if child.poll() is None:
                child.kill()
    return code, out_file.read_text(), err_file.read_text()


def test_ctrl_c_of_a_notebook_is_one_line_and_marks_the_copy_incomplete(tmp_path):
    slow_notebook(tmp_path)
    output = tmp_path / "executed"
    code, out, err = interrupt_after(["--notebooks", str(tmp_path), "--output", str(output),
                                      "--profile", "smoke", "--no-estimate"], tmp_path,
                                     "started")
    assert code == 130, out + err
    assert err.splitlines() == [f"interrupted: a_slow stopped; its half-run copy is "
                                f"{output / 'a_slow.incomplete.ipynb'}; finished networks "
                                f"are kept in the run store"]
    assert "Traceback" not in out and "never" not in out
    assert not (output / "a_slow.ipynb").exists()
    half = nbformat.read(output / "a_slow.incomplete.ipynb", as_version=4)
    assert "started" in str(half.cells[-2].outputs)


def test_ctrl_c_of_an_estimate_is_one_line(tmp_path):
    """A cold calibration (empty run store) takes long enough to be interrupted."""
    code, out, err = interrupt_after(["--only", "01_lenet_mnist", "--profile", "quick",
                                      "--estimate-only"], tmp_path, "profile quick")
    assert code == 130, out + err
    assert err.splitlines() == ["interrupted; nothing was running (finished networks are "
                                "kept in the run store)"]
    assert "Traceback" not in out


def test_mark_incomplete_renames_a_half_run_copy_and_replaces_an_older_one(tmp_path):
    output = tmp_path / "04_x.ipynb"
    assert mark_incomplete(output) is None  # papermill had not written it yet
    incomplete_path(output).write_text("older")
    output.write_text("half")
    assert mark_incomplete(output) == tmp_path / "04_x.incomplete.ipynb"
    assert not output.exists() and incomplete_path(output).read_text() == "half"


def test_execute_marks_the_notebook_it_was_running_when_interrupted(tmp_path, monkeypatch):
    source = slow_notebook(tmp_path)

    def half_run(source, output, parameters, kernel, stream=True):
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text("half")
        raise KeyboardInterrupt

    monkeypatch.setattr(reproduce, "run_one", half_run)
    o = reproduce.Outcome(source, {}, {})
    args = SimpleNamespace(kernel=None, no_progress=True, in_place=False, profile="smoke")
    with pytest.raises(KeyboardInterrupt):
        reproduce.execute(o, tmp_path / "out", args)
    assert o.status == "interrupted"
    assert o.reason == str(tmp_path / "out" / "a_slow.incomplete.ipynb")
    assert reproduce.interrupted([o]).startswith("interrupted: a_slow stopped; its half-run")


def test_a_ctrl_c_swallowed_on_the_way_still_stops_at_the_next_step():
    interrupts = Interrupts()
    try:
        interrupts.watch()
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
        interrupts.seen = True  # as if it had landed in a __del__ and been swallowed
        with pytest.raises(KeyboardInterrupt):
            interrupts.check()
    finally:
        interrupts.restore()
    assert signal.getsignal(signal.SIGINT) is not interrupts._handle
