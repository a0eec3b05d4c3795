"""A notebook asked for by name whose data cannot be had (issue 31, point 4): non-zero exit,
one complete line with the fix (never cut), the real folder named (not ``$LOTTERY_DATA``
when the user did not set it), no empty ``MNIST/raw`` left behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lottery.engine.data import DATA_ENV, OFFLINE_ENV, DataUnavailable, load, real_folder
from lottery.run import reproduce

ROOT = Path(__file__).resolve().parents[1]


class NotebookError(Exception):
    """What papermill raises: the kernel's exception name and value."""

    def __init__(self, ename: str, evalue: str):
        super().__init__(evalue)
        self.ename, self.evalue = ename, evalue


def test_a_long_data_error_keeps_its_fix_and_others_are_cut_in_the_middle():
    long = "MNIST (mnist) not available in /x: " + "reason " * 80 + "; fix: `python -m lottery " \
           "data mnist`"
    assert reproduce.one_line(NotebookError("DataUnavailable", long)) == \
        f"DataUnavailable: {long}"
    cut = reproduce.one_line(NotebookError("ValueError", "a" * 400 + "END"))
    assert len(cut) < 330 and cut.endswith("aEND") and " ... " in cut


def _outcome(status: str) -> reproduce.Outcome:
    return reproduce.Outcome(ROOT / "notebooks" / "01_lenet_mnist.ipynb", {}, {},
                             status=status, reason="DataUnavailable: ...")


@pytest.mark.parametrize(("asked", "status"), [(True, 1), (False, 0)])
def test_a_skip_fails_the_run_only_when_the_notebook_was_asked_for(
        tmp_path, monkeypatch, capsys, asked, status):
    monkeypatch.setenv("LOTTERY_RUNS", str(tmp_path))
    assert reproduce.report([_outcome("skipped")], "quick", asked=asked) == status
    assert reproduce.report([_outcome("ok")], "quick", asked=asked) == 0


def test_the_message_names_the_real_folder_when_the_variable_is_unset(tmp_path, monkeypatch):
    monkeypatch.delenv(DATA_ENV, raising=False)
    monkeypatch.setenv(OFFLINE_ENV, "1")
    with pytest.raises(DataUnavailable) as info:
        load("mnist", root=tmp_path, download=True)
    message = str(info.value)
    assert f"not available in {real_folder(tmp_path)}:" in message
    assert "$LOTTERY_DATA" not in message and "\n" not in message
    assert list(tmp_path.iterdir()) == []


def test_reproduce_of_01_without_data_offline_exits_1_with_one_whole_line(tmp_path):
    data, runs = tmp_path / "data", tmp_path / "runs"
    data.mkdir()
    env = os.environ | {DATA_ENV: str(data), OFFLINE_ENV: "1", "LOTTERY_RUNS": str(runs),
                        "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    env.pop("LOTTERY_PROFILE", None)
    done = subprocess.run([sys.executable, "-m", "lottery.run.reproduce", "--only",
                           "01_lenet_mnist", "--profile", "quick", "--no-estimate",
                           "--no-progress"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr
    [line] = [x for x in done.stdout.splitlines() if x.startswith("  01_lenet_mnist: ")]
    assert f"DataUnavailable: MNIST (mnist) not available in {real_folder(data)}" in line
    assert line.endswith("fix: `python -m lottery data mnist` (or `make data`), or set "
                         "LOTTERY_DATA to a folder holding it in torchvision layout")
    assert list(data.iterdir()) == []  # no empty MNIST/raw
