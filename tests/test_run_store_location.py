"""Every output goes under the run store -- ``$LOTTERY_RUNS``, else the project's ``runs/``
whatever the current folder -- and tests never write into the user's ``runs/``."""

from __future__ import annotations

from pathlib import Path

from lottery.core import crossover
from lottery.core.store import RUNS_ENV, runs_root
from lottery.run import reproduce
from lottery.run.session import default_store, project_root, setup


def test_the_test_session_keeps_its_outputs_out_of_the_projects_runs():
    root = runs_root()
    assert not root.resolve().is_relative_to(project_root().resolve())


def test_without_lottery_runs_the_store_is_the_projects_runs_from_any_folder(
        monkeypatch, tmp_path):
    monkeypatch.delenv(RUNS_ENV)
    monkeypatch.chdir(tmp_path)  # as a kernel in notebooks/ is: no stray <cwd>/runs
    assert runs_root() == project_root() / "runs"
    assert runs_root(tmp_path / "mine") == tmp_path / "mine"


def test_every_output_honours_lottery_runs(monkeypatch, tmp_path):
    store = tmp_path / "elsewhere"
    monkeypatch.setenv(RUNS_ENV, str(store))
    assert default_store().root == store
    smoke = setup("nb", "mnist", "smoke", data_root=tmp_path)
    assert smoke.output_dir == store / "figures-smoke"
    args = reproduce._parser(project_root()).parse_args([])
    assert args.output == store / "notebooks"
    monkeypatch.setattr(crossover, "_default", None)  # the process's crossovers, made afresh
    assert crossover.default_crossovers().path == store / crossover.CROSSOVER_FILE
    assert not (Path(project_root()) / "notebooks" / "runs").exists()
