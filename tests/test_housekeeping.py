"""python -m lottery store: what the run store holds, and removal only of what is named, only
with --yes; the lottery console script and --version."""

from __future__ import annotations

import sys
from importlib import import_module
from pathlib import Path

import pytest
import torch

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

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
    assert entry is cli.main
    monkeypatch.setattr(sys, "argv", ["/usr/bin/lottery", "--version"])
    with pytest.raises(SystemExit) as done:
        entry(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith("lottery ")
    monkeypatch.setattr(sys, "argv", ["/usr/bin/lottery"])
    assert cli.build_parser([]).prog == "lottery"  # help says how it was called
