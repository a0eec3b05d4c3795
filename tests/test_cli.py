"""The command line: listings, an IMP run on the smoke profile (cached on rerun), bad input."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from lottery import cli, experiments
from lottery.models import REGISTRY

ROOT = Path(__file__).resolve().parents[1]
# the smoke profile, cut further (1 trial, 10 iterations) to keep the suite fast
SMOKE = ["--preset", "lenet", "--profile", "smoke", "--trials", "1", "--iterations", "10",
         "--no-progress"]


def run(capsys, *argv) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def smoke(tmp_path_factory) -> tuple[Path, Path, int, str]:
    """One IMP run on the smoke profile: (store root, its CSV, exit code, stdout)."""
    folder = tmp_path_factory.mktemp("smoke")
    runs, csv = folder / "runs", folder / "out.csv"
    with contextlib.redirect_stdout(io.StringIO()) as out:
        code = cli.main(["imp", *SMOKE, "--runs", str(runs), "--csv", str(csv)])
    return runs, csv, code, out.getvalue()


@pytest.fixture
def runs(smoke) -> Path:
    return smoke[0]


@pytest.fixture
def no_training(monkeypatch):
    """Fail if anything trains: every stage must come from the run store."""
    def train(*args, **kwargs):
        raise AssertionError("trained although the stage is cached")
    monkeypatch.setattr(experiments, "train", train)


def test_models(capsys):
    code, out, _ = run(capsys, "models")
    assert code == 0
    assert all(name in out for name in REGISTRY) and len(REGISTRY) == 6
    assert "266,200" in out


def test_presets(capsys):
    code, out, _ = run(capsys, "presets")
    assert code == 0
    assert "lenet" in out and "vgg19_rewind" in out
    assert all(profile in out for profile in ("paper", "quick", "smoke"))


def test_imp_help_mentions_every_flag(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["imp", "--help"])
    assert exit_.value.code == 0
    help_text = capsys.readouterr().out
    for flag in ["--preset", "--profile", "--trials", "--levels", "--iterations", "--rewind",
                 "--controls", "--seed", "--runs", "--data", "--device", "--synthetic",
                 "--checkpoint-every", "--bf16", "--channels-last", "--compile",
                 "--no-progress", "--csv", "LOTTERY_RUNS", "LOTTERY_DATA"]:
        assert flag in help_text, flag


def test_imp_smoke(smoke):
    _, csv, code, out = smoke
    assert code == 0
    assert "early-stop test %" in out and "reinit" in out
    table = pd.read_csv(csv)
    assert sorted(table.level.unique()) == [0, 1, 2]
    assert set(table.variant) == {"ticket", "reinit"}
    assert (table.groupby("level").percent_remaining.max().diff().dropna() < 0).all()


def test_imp_rerun_is_cached_and_identical(capsys, smoke, tmp_path, no_training):
    runs, first = smoke[:2]
    again, third = tmp_path / "again.csv", tmp_path / "third.csv"
    assert run(capsys, "imp", *SMOKE, "--runs", str(runs), "--csv", str(again))[0] == 0
    assert first.read_bytes() == again.read_bytes()
    # end to end through `python -m lottery`, from the same store
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "lottery", "imp", *SMOKE, "--runs", str(runs),
                           "--csv", str(third)], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert first.read_bytes() == third.read_bytes()


def test_train_is_the_cached_dense_run(capsys, runs, no_training):
    code, out, err = run(capsys, "train", *SMOKE, "--runs", str(runs))
    assert code == 0, err
    assert "100.00" in out and "reinit" not in out


def test_oneshot_rounds(capsys, runs, tmp_path):
    csv = tmp_path / "oneshot.csv"
    code, _, err = run(capsys, "oneshot", *SMOKE, "--rounds", "1,3", "--controls", "none",
                       "--runs", str(runs), "--csv", str(csv))
    assert code == 0, err
    table = pd.read_csv(csv)
    assert sorted(table.level.unique()) == [0, 1, 3]
    assert (table.method == "oneshot").all()


def test_iterations_scale_the_schedule():
    args = cli.build_parser().parse_args(["imp", "--preset", "vgg19_rewind", "--profile",
                                          "paper", "--iterations", "11248", "--rewind", "7"])
    hp = cli.experiment_hparams(args)
    assert hp.training.iterations == 11_248
    assert hp.training.milestones == (5_624, 8_436)
    assert hp.rewind_iteration == 7


@pytest.mark.parametrize("flags, field", [(["--trials", "0"], "trials"),
                                          (["--levels", "-1"], "levels"),
                                          (["--controls", "bogus"], "controls"),
                                          (["--csv", "/no/such/dir/x.csv"], "--csv")])
def test_bad_value_is_one_error_line(capsys, runs, flags, field):
    code, _, err = run(capsys, "imp", *SMOKE, *flags, "--runs", str(runs))
    assert code == 1
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("error:") and field in err


def test_unknown_preset_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["imp", "--preset", "lenet5"])
    assert exit_.value.code == 2
    assert "invalid choice: 'lenet5'" in capsys.readouterr().err


def test_missing_mnist_is_one_error_line(capsys, runs, tmp_path):
    folder = tmp_path / "nonexistent"
    code, _, err = run(capsys, "imp", "--preset", "lenet", "--profile", "quick", "--data",
                       str(folder), "--runs", str(runs), "--no-progress")
    assert code == 1
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("error:") and "MNIST" in err and str(folder) in err
    assert not folder.exists()  # nothing downloaded or created without --download
