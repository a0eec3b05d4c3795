"""python -m lottery store: what the run store holds, and removal only of what is named, only
with --yes; the lottery console script and --version."""

from __future__ import annotations

import subprocess
import sys
from importlib import import_module
from pathlib import Path

import pytest
import torch

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

from lottery import __main__ as lottery_main
from lottery.core.store import RunStore
from lottery.run import cli
from lottery.run import store_command as housekeeping

ROOT = Path(__file__).resolve().parents[1]


def recipe(model: str, data: str, iterations: int) -> dict:
    return {"recipe": {"model": {"name": model, "dropout": 0.0},
                       "dataset": {"name": data, "sizes": [2500, 500, 1000]},
                       "training": {"optimizer": "adam", "lr": 0.0012,
                                    "iterations": iterations, "batch_size": 60}}}


@pytest.fixture
def store(tmp_path) -> Path:
    """Two experiments on real MNIST-like names, one on the synthetic stand-in, plus other
    things reproduce leaves under runs/."""
    runs = RunStore(tmp_path / "runs")
    payload = {"summary": {}, "final": {"w": torch.zeros(1000)}}
    for model, data, fp, networks in (("lenet", "mnist", "aaaa", 3), ("lenet", "mnist", "bbbb", 1),
                                      ("vgg19", "synthetic_cifar10", "cccc", 2)):
        for i in range(networks):
            runs.save(f"{model}-{data}/{fp}/dense", f"ticket-t{i}-x", recipe(model, data, 60),
                      payload)
    (runs.root / "figures-smoke").mkdir()
    (runs.root / "figures-smoke" / "fig.png").write_bytes(b"x" * 100)
    (runs.root / "calibration.json").write_text("{}")
    return runs.root


def test_listing_shows_experiments_networks_and_the_rest(store):
    text = housekeeping.listing(store)
    rows = {line.split()[0]: line for line in text.splitlines()[2:] if line.strip()}
    assert rows["lenet-mnist/aaaa"].split()[1] == "3"
    assert rows["vgg19-synthetic_cifar10/cccc"].split()[1] == "2"
    assert "adam lr 0.0012, 60 it, batch 60, mnist 2500/500/1000" in rows["lenet-mnist/aaaa"]
    assert "figures-smoke/" in text and "calibration.json" in text
    assert "remove with" in text


def test_removal_is_a_dry_run_without_yes(store, capsys):
    before = sorted(p for p in store.rglob("*"))
    assert housekeeping.main(["remove", "lenet-mnist", "--runs", str(store)]) == 0
    out = capsys.readouterr().out
    assert "would remove 2 item(s), 4 networks" in out and "nothing deleted" in out
    assert sorted(p for p in store.rglob("*")) == before


def test_removal_with_yes_deletes_only_what_is_named(store):
    assert housekeeping.main(["remove", "*synthetic*", "figures-smoke", "--yes",
                              "--runs", str(store)]) == 0
    assert not (store / "vgg19-synthetic_cifar10").exists()  # emptied model-data folder too
    assert not (store / "figures-smoke").exists()
    assert len(list((store / "lenet-mnist").rglob("*.pt"))) == 4
    assert (store / "calibration.json").exists()


@pytest.mark.parametrize("name", ["lenet-mnst", "../elsewhere", "/"])
def test_a_name_that_matches_nothing_deletes_nothing(store, name, capsys):
    before = sorted(p for p in store.rglob("*"))
    assert housekeeping.main(["remove", name, "--yes", "--runs", str(store)]) == 1
    assert "error:" in capsys.readouterr().err
    assert sorted(p for p in store.rglob("*")) == before


def test_store_subcommand_through_the_cli(store, capsys):
    assert cli.main(["store", "--runs", str(store)]) == 0
    assert "lenet-mnist/aaaa" in capsys.readouterr().out


def test_console_script_and_version(capsys, monkeypatch):
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, function = scripts["lottery"].partition(":")
    entry = getattr(import_module(module), function)
    assert entry is lottery_main.main
    monkeypatch.setattr(sys, "argv", ["/usr/bin/lottery", "--version"])
    with pytest.raises(SystemExit) as done:
        entry(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith("lottery ")
    monkeypatch.setattr(sys, "argv", ["/usr/bin/lottery"])
    assert cli.build_parser([]).prog == "lottery"  # help says how it was called


# --- removal never leaves the store (issue 30, class 1) --------------------------------------
@pytest.fixture
def outside(tmp_path) -> Path:
    """A folder of someone's files beside the store."""
    folder = tmp_path / "precious"
    (folder / "sub").mkdir(parents=True)
    (folder / "notes.txt").write_text("keep me")
    (folder / "sub" / "data.bin").write_bytes(b"\0" * 10)
    return folder


def _tree(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


def test_a_new_store_is_marked(store):
    assert (store / ".lottery-store").is_file()
    assert ".lottery-store" not in housekeeping.listing(store)


@pytest.mark.parametrize("name", ["link", "*"])
def test_a_linked_folder_at_the_top_loses_only_the_link(store, outside, name, capsys):
    (store / "link").symlink_to(outside, target_is_directory=True)
    before = _tree(outside)
    assert housekeeping.main(["remove", name, "--runs", str(store)]) == 0
    assert "link  (a symbolic link to" in capsys.readouterr().out  # the dry run says so
    assert housekeeping.main(["remove", name, "--yes", "--runs", str(store)]) == 0
    assert not (store / "link").is_symlink()
    assert _tree(outside) == before and (outside / "notes.txt").read_text() == "keep me"


def test_a_linked_model_data_folder_is_never_entered(store, outside, tmp_path):
    elsewhere = tmp_path / "elsewhere-runs"
    RunStore(elsewhere).save("lenet-fashion/dddd/dense", "x", recipe("lenet", "fashion", 6),
                             {"final": {}})
    (store / "lenet-fashion").symlink_to(elsewhere / "lenet-fashion")
    assert housekeeping.main(["remove", "lenet-fashion", "--yes", "--runs", str(store)]) == 0
    assert len(list((elsewhere / "lenet-fashion").rglob("*.pt"))) == 1
    assert not (store / "lenet-fashion").exists()


def test_a_file_link_loses_only_the_link(store, outside):
    (store / "notes").symlink_to(outside / "notes.txt")
    assert housekeeping.main(["remove", "notes", "--yes", "--runs", str(store)]) == 0
    assert (outside / "notes.txt").read_text() == "keep me"


def test_a_folder_that_is_not_a_store_is_refused(outside, capsys):
    before = _tree(outside)
    assert housekeeping.main(["remove", "*", "--yes", "--runs", str(outside)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error:") and len(err.strip().splitlines()) == 1
    assert "touch" in err and ".lottery-store" in err
    assert _tree(outside) == before


def test_a_store_made_before_markers_is_recognised_by_its_layout(tmp_path, capsys):
    runs = RunStore(tmp_path / "old")
    for model in ("lenet", "conv2"):  # recipe folders named as the runner names them
        runs.save(f"{model}-mnist/0123456789abcdef/dense", "x", recipe(model, "mnist", 6), {})
    (runs.root / "calibration.json").write_text("{}")
    (runs.root / ".lottery-store").unlink()
    store = str(runs.root)
    assert housekeeping.main(["remove", "conv2-mnist", "--yes", "--runs", store]) == 0
    assert not (runs.root / "conv2-mnist").exists()
    (runs.root / "mine.txt").write_text("x")  # anything else: not recognisably a store
    assert housekeeping.main(["remove", "lenet-mnist", "--yes", "--runs", store]) == 1
    assert "not a run store" in capsys.readouterr().err
    assert (runs.root / "lenet-mnist").exists()


def test_a_non_empty_foreign_folder_is_not_marked_by_a_write(outside):
    RunStore(outside).save("lenet-mnist/eeee/dense", "x", recipe("lenet", "mnist", 6),
                           {"final": {}})
    assert not (outside / ".lottery-store").exists()


def test_listing_survives_an_entry_json_holding_a_list(store, capsys):
    for readable in (store / "lenet-mnist" / "aaaa").rglob("*.json"):
        readable.write_text("[1, 2]")
    assert housekeeping.main(["list", "--runs", str(store)]) == 0
    assert "lenet-mnist/aaaa" in capsys.readouterr().out


# Ctrl-C while torch is still importing: the finder raises it where the import would start
_INTERRUPTED_IMPORT = """
import sys

class Interrupt:
    def find_spec(self, name, path=None, target=None):
        if name == "torch":
            raise KeyboardInterrupt
        return None

sys.meta_path.insert(0, Interrupt())
sys.argv = ["lottery", "models"]
import runpy
runpy.run_module("lottery", run_name="__main__")
"""


def test_ctrl_c_during_start_up_imports_is_one_line():
    done = subprocess.run([sys.executable, "-c", _INTERRUPTED_IMPORT], capture_output=True,
                          text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 130
    assert done.stderr.strip() == "interrupted while starting; nothing was run"
