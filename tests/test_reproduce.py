"""python -m lottery.run.reproduce and make: parameters reach the executed notebook, a budget runs
what fits and names the command for the rest, the summary table, no kernel warning."""

from __future__ import annotations

import inspect
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from lottery.core.hparams import HparamError
from lottery.run import reproduce
from lottery.run.registry import CHECKS

ROOT = Path(__file__).resolve().parents[1]
CONV = ROOT / "notebooks" / "02_conv_cifar10.ipynb"
ENV = ("LOTTERY_DATA", "LOTTERY_PROFILE", "LOTTERY_PROGRESS", "LOTTERY_RECORD")


def test_assignments_are_python_literals_else_text():
    given = reproduce.parse_assignments(
        ["dropout=True trials=3", "models=['conv2', 'conv4'] device=cuda:1", ""])
    assert given == {"dropout": True, "trials": 3, "models": ["conv2", "conv4"],
                     "device": "cuda:1"}
    with pytest.raises(HparamError, match="NAME=VALUE"):
        reproduce.parse_assignments(["dropout"])


def test_parameters_are_checked_by_the_notebooks_own_checks():
    values, injected = reproduce.notebook_parameters(CONV, "quick", {"dropout": True,
                                                                     "unrelated": 1})
    assert injected == {"profile": "quick", "dropout": True} and values["models"]
    with pytest.raises(HparamError, match="02_conv_cifar10: parameter dropout must be True or"):
        reproduce.notebook_parameters(CONV, "quick", {"dropout": "yes"})


def test_a_parameter_no_notebook_declares_is_refused():
    with pytest.raises(HparamError, match="'dropuot' is not declared.*dropout"):
        reproduce.check_given([CONV], {"dropuot": True})
    with pytest.raises(HparamError, match="PROFILE="):
        reproduce.check_given([CONV], {"profile": "paper"})


def test_make_command_repeats_the_parameters():
    assert reproduce.make_command("02_conv_cifar10", "quick", {
        "profile": "quick", "dropout": True, "device": "cuda"}) == \
        'make reproduce NB=02_conv_cifar10 PROFILE=quick P="dropout=True device=\'cuda\'"'


def test_summary_puts_estimate_beside_actual():
    done = reproduce.Outcome(CONV, {}, {}, estimate=3600.0, status="ok", seconds=4000.0,
                             record={"data": "CIFAR-10", "figures": ["a", "b"],
                                     "verdicts": {"direction": {"holds": 3, "n/a": 5,
                                                                "inconclusive": 2},
                                                  "number": {"consistent": 3, "differs": 1,
                                                             "holds": 1, "contradicted": 1,
                                                             "n/a": 4}}})
    row = reproduce.summary([done], "quick").splitlines()[-1].split()
    assert row[:3] == ["02_conv_cifar10", "quick", "CIFAR-10"]
    assert "1 h 00 min" in " ".join(row) and "1 h 07 min" in " ".join(row)
    # holds-contradicted-inconclusive (directions and the paper's bounds) / consistent-differs
    assert row[-5:] == ["4-1-2", "/", "3-1", "2", "ok"]


def tiny_notebook(folder: Path, name: str) -> Path:
    """A notebook with a parameters cell (profile, x) that prints x."""
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('profile = "quick"\nx = 1')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell('print(f"x={x!r} profile={profile}")')]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    path = folder / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.fixture
def restore_env(monkeypatch):
    for name in ENV:  # registered, so whatever main sets is undone after the test
        monkeypatch.setenv(name, os.environ.get(name, ""))
    monkeypatch.setenv("LOTTERY_PROGRESS", "log")


def test_parameter_reaches_the_notebook_and_the_budget_skips_the_rest(
        tmp_path, monkeypatch, capfd, restore_env):
    tiny_notebook(tmp_path, "a_fits")
    tiny_notebook(tmp_path, "b_too_long")

    def made_up_estimates(outcomes, device, check=None):
        for o in outcomes:
            o.estimate = 60.0 if o.name == "a_fits" else 7200.0

    monkeypatch.setattr(reproduce, "estimate_all", made_up_estimates)
    status = reproduce.main(["--notebooks", str(tmp_path), "--output", str(tmp_path / "out"),
                             "--profile", "smoke", "--param", "x=[5, 'five']",
                             "--budget", "1h"])
    out, err = capfd.readouterr()
    assert status == 0
    executed = nbformat.read(tmp_path / "out" / "a_fits.ipynb", as_version=4)
    assert "x=[5, 'five'] profile=smoke" in executed.cells[-1].outputs[0]["text"]
    assert "x=[5, 'five'] profile=smoke" in out  # streamed as it ran
    assert not (tmp_path / "out" / "b_too_long.ipynb").exists()
    assert "b_too_long (estimate 2 h 00 min): make reproduce NB=b_too_long PROFILE=smoke " \
           "P=\"x=[5, 'five']\"" in out
    assert "without encryption" not in out + err


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_passes_P_intact(tmp_path):
    """P's quotes, brackets and spaces reach reproduce as one argument, BUDGET as --budget."""
    fake = tmp_path / "python"
    fake.write_text(f"#!{sys.executable}\nimport json, sys\nprint(json.dumps(sys.argv[1:]))\n")
    fake.chmod(0o755)
    params = "models=['conv2', 'conv4'] dropout=True"
    done = subprocess.run(["make", "-s", "-o", "install", "reproduce", "NB=02_conv_cifar10",
                           f"P={params}", "BUDGET=2h", f"PY={fake}"], cwd=ROOT,
                          capture_output=True, text=True, check=True)
    argv = json.loads(done.stdout.strip().splitlines()[-1])
    assert argv[argv.index("--param") + 1] == params
    assert argv[argv.index("--budget") + 1] == "2h"
    assert argv[argv.index("--only") + 1] == "02_conv_cifar10"
    assert reproduce.parse_assignments([params]) == {"models": ["conv2", "conv4"],
                                                     "dropout": True}


# --- issue 30: every notebook's parameters checked before any kernel starts (class 5) --------
@pytest.mark.parametrize("notebook, param, message", [
    ("04_deconstructing_tickets", "criteria=['largest']", "criteria must be a list"),
    ("04_deconstructing_tickets", "quick_cut={'levels': 3}", "quick_cut must map"),
    ("05_stability_and_overlap", "focus_level=0", "focus_level must be an integer >= 1"),
    ("05_stability_and_overlap", "preset='lenett'", "preset must be one of"),
    ("07_cheap_tickets", "preset='vgg19'", "preset must be one of lenet, conv2, resnet18"),
    ("07_cheap_tickets", "focus_densities=[0.5]", "focus_densities must be"),
])
def test_a_study_parameter_is_one_error_line_before_any_kernel(
        notebook, param, message, tmp_path, monkeypatch, capsys, restore_env):
    started = []
    monkeypatch.setattr(reproduce, "run_one", lambda *a, **k: started.append(a))
    monkeypatch.setattr(reproduce, "estimate_all", lambda *a: started.append(a))
    status = reproduce.main(["--only", notebook, "--param", param, "--profile", "smoke",
                             "--output", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and not started
    assert len(err) == 1 and err[0].startswith(f"error: {notebook}: parameter")
    assert message in err[0]


def test_the_summary_prints_when_a_plan_cannot_be_made_after_a_failure(
        tmp_path, monkeypatch, capsys, restore_env):
    def fails(*args, **kwargs):
        raise RuntimeError("the kernel died")

    def no_plan(*args):
        raise HparamError("parameter preset must be one of lenet")

    monkeypatch.setattr(reproduce, "run_one", fails)
    monkeypatch.setattr(reproduce.plans, "plan", no_plan)
    status = reproduce.main(["--only", "01_lenet_mnist", "--profile", "smoke", "--no-estimate",
                             "--output", str(tmp_path)])
    out = capsys.readouterr().out
    assert status == 1
    assert "01_lenet_mnist" in out.split("status")[-1] and "FAILED" in out
    assert "its plan could not be compared" in out


def test_every_study_check_gets_all_its_parameters_from_its_notebook():
    """A registry check skips a check whose parameters it lacks: none may lack any, and every
    notebook's own defaults pass its check."""
    for notebook, check in CHECKS.items():
        defaults = reproduce.plans.notebook_defaults(ROOT / "notebooks" / f"{notebook}.ipynb")
        known = {*defaults, "profile"}
        for one in getattr(check, "checks", ()):
            assert set(inspect.signature(one).parameters) <= known, notebook
        check(defaults | {"profile": "quick"})
