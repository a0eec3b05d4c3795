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

from lottery.core import crossover, executors, flags, jobs
from lottery.core.presets import PRESETS
from lottery.engine.models import REGISTRY
from lottery.run import cli

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
    monkeypatch.setattr(executors, "train", train)


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
                 "--checkpoint-every", "--bf16", "--channels-last", "--compile", "--sparse",
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
    argv = ["imp", "--preset", "vgg19_rewind", "--profile", "paper", "--iterations", "11248",
            "--rewind", "7"]
    args = cli.build_parser(argv).parse_args(argv)
    hp = jobs.experiment_hparams(args)
    assert hp.training.iterations == 11_248
    assert hp.training.milestones == (5_624, 8_436)
    assert hp.rewind_iteration == 7


def test_every_hyperparameter_is_a_flag_with_the_presets_value_in_help(capsys):
    with pytest.raises(SystemExit):
        cli.main(["imp", "--preset", "vgg19", "--profile", "paper", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    for path, _ in flags.fields():
        assert f"--{path}" in help_text, path
    assert "--training.lr X learning rate (vgg19, paper profile: 0.1)" in help_text
    assert "--pruning.strategy NAME" in help_text and "(vgg19, paper profile: global)" in help_text


def test_generated_flags_reach_the_hyperparameters():
    argv = ["imp", "--preset", "lenet", "--profile", "smoke", "--training.lr", "0.01",
            "--pruning.criterion", "magnitude_increase", "--pruning.strategy", "global",
            "--pruning.global_rate", "0.3", "--training.momentum", "0.5",
            "--training.weight_decay", "1e-4", "--data.split_seed", "3", "--controls", "none",
            "--training.milestones", "20,40", "--training.test_curve", "false"]
    hp = jobs.experiment_hparams(cli.build_parser(argv).parse_args(argv))
    assert hp.training.lr == 0.01 and hp.training.momentum == 0.5
    assert hp.training.weight_decay == 1e-4 and hp.training.milestones == (20, 40)
    assert hp.pruning.criterion == "magnitude_increase" and hp.pruning.strategy == "global"
    assert hp.pruning.global_rate == 0.3 and hp.data.split_seed == 3
    assert hp.controls == () and hp.training.test_curve is False


def test_the_cli_evaluates_what_its_tables_need_unless_told_otherwise():
    base = ["imp", "--preset", "lenet", "--profile", "paper"]
    for argv in (base, [*base, "--iterations", "1000"]):
        t = jobs.experiment_hparams(cli.build_parser(argv).parse_args(argv)).training
        assert t.test_curve is False and t.final_train_subset == 10_000, argv
        assert t.eval_every == 100  # the paper's validation schedule picks the early stop
    argv = [*base, "--training.test_curve", "true", "--training.final_train_subset", "none"]
    t = jobs.experiment_hparams(cli.build_parser(argv).parse_args(argv)).training
    assert t.test_curve is True and t.final_train_subset is None
    assert t == PRESETS["lenet"].training  # the paper's evaluation, as the notebooks run it


@pytest.mark.parametrize("flags_, field", [
    (["--trials", "0"], "trials"),
    (["--trials", str(10**9)], "trials"),
    (["--levels", "-1"], "levels"),
    (["--levels", "1000000"], "levels"),
    (["--controls", "bogus"], "controls"),
    (["--controls", "reinit,reinit"], "controls"),
    (["--seed", "-1"], "seed"),
    (["--seed", str(10**30)], "seed"),
    (["--iterations", str(10**12)], "training.iterations"),
    (["--training.lr", "-1"], "training.lr"),
    (["--pruning.criterion", "biggest"], "pruning.criterion"),
    (["--csv", "/no/such/dir/x.csv"], "--csv"),
    (["--device", "mps"], "--device"),
    (["--device", "meta"], "--device"),
    (["--device", "cuda:7"], "--device"),
])
def test_bad_value_is_one_error_line(capsys, runs, flags_, field):
    code, _, err = run(capsys, "imp", *SMOKE, *flags_, "--runs", str(runs))
    assert code == 1, err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("error:") and field in err


def test_oneshot_rounds_past_an_empty_layer_are_refused(capsys, runs):
    code, _, err = run(capsys, "oneshot", *SMOKE, "--rounds", "1,1e9", "--runs", str(runs))
    assert code == 1 and len(err.strip().splitlines()) == 1 and "oneshot_rounds" in err
    code, _, err = run(capsys, "oneshot", *SMOKE, "--rounds", "inf", "--runs", str(runs))
    assert code == 1 and "oneshot_rounds" in err


@pytest.mark.parametrize("flags_", [["--training.lr", "abc"], ["--trials", "2.5"],
                                    ["--training.test_curve", "maybe"]])
def test_unparsable_value_is_one_usage_line(capsys, flags_):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["imp", *SMOKE, *flags_])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith("error:") and flags_[0].lstrip("-") in err


@pytest.mark.parametrize("make, flag", [
    (lambda tmp: (tmp / "afile").write_text("x") and tmp / "afile", "--runs"),
    (lambda tmp: tmp, "--csv"),
])
def test_unusable_output_paths_fail_before_training(capsys, tmp_path, no_training, make, flag):
    target = make(tmp_path)
    runs = tmp_path / "store"
    argv = ["--runs", str(target)] if flag == "--runs" else ["--runs", str(runs), "--csv",
                                                             str(target)]
    code, _, err = run(capsys, "imp", *SMOKE, *argv)
    assert code == 1 and len(err.strip().splitlines()) == 1 and flag in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folders_fail_before_training(capsys, tmp_path, no_training):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    code, _, err = run(capsys, "imp", *SMOKE, "--runs", str(locked / "runs"))
    assert code == 1 and "--runs" in err and "cannot write" in err


def test_csv_failure_after_training_keeps_the_results(capsys, runs, tmp_path, monkeypatch,
                                                      no_training):
    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(pd.DataFrame, "to_csv", refuse)
    code, out, err = run(capsys, "imp", *SMOKE, "--runs", str(runs), "--csv",
                         str(tmp_path / "x.csv"))
    assert code == 1 and "early-stop test %" in out  # the table was still printed
    assert err.startswith("error: --csv") and "kept in" in err


def test_a_full_disk_during_the_run_is_one_line(capsys, tmp_path, monkeypatch):
    import errno

    from lottery.core import store

    def full(payload, path):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store.torch, "save", full)
    code, _, err = run(capsys, "imp", *SMOKE, "--runs", str(tmp_path / "runs"))
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "no space left on device" in err


def test_ctrl_c_during_start_up_is_one_line_and_exit_130(capsys, monkeypatch, tmp_path):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(jobs, "load", interrupted)
    code, _, err = run(capsys, "imp", *SMOKE, "--runs", str(tmp_path / "runs"))
    assert code == 130 and len(err.strip().splitlines()) == 1 and "interrupted" in err


def test_unknown_preset_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["imp", "--preset", "lenet5"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'lenet5'" in err and len(err.strip().splitlines()) == 1


def test_missing_mnist_is_one_error_line(capsys, runs, tmp_path):
    folder = tmp_path / "nonexistent"
    code, _, err = run(capsys, "imp", "--preset", "lenet", "--profile", "quick", "--data",
                       str(folder), "--runs", str(runs), "--no-progress")
    assert code == 1
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("error:") and "MNIST" in err and str(folder) in err
    assert not folder.exists()  # nothing downloaded or created without --download


def test_sparse_crossovers_are_kept_in_the_run_store_named(capsys, tmp_path, monkeypatch):
    """Issue 30 class 3: not in runs/ of whatever folder the command ran from."""
    monkeypatch.chdir(tmp_path)
    measured = []
    monkeypatch.setattr(crossover, "measure_crossover",
                        lambda *args: measured.append(args) or 0.01)  # dense is faster
    store = tmp_path / "elsewhere" / "store"
    code, _, err = run(capsys, "oneshot", *SMOKE, "--rounds", "4", "--controls", "none",
                       "--runs", str(store))
    assert code == 0, err
    assert measured and (store / "sparse_crossover.json").is_file()
    assert not (tmp_path / "runs").exists()


# --- issue 30 class 6: bad input is one error line before any training -----------------------
@pytest.mark.parametrize("argv, says", [
    (["oneshot", *SMOKE, "--rounds", ""], "oneshot_rounds must list at least one"),
    (["train", *SMOKE, "--controls", "reinit"], "--controls: train trains the dense network"),
    (["imp", *SMOKE, "--model.name", "vgg19"], "model.name vgg19 takes 3x32x32 inputs"),
    (["imp", *SMOKE, "--data.dataset", "synthetic_cifar10"], "model.name lenet takes 1x28x28"),
    (["stability", *SMOKE, "--ks", "-100"],
     "parameter rewind_ks must be a non-empty list of iterations >= 0"),
    (["stability", *SMOKE, "--ks", "0,1000000"], "rewind points must be paper iterations"),
    (["atinit", *SMOKE, "--method", "synflow", "--densities", "0.5",
      "--synflow.iterations", "-1"], "synflow.iterations must be an integer >= 1"),
    (["atinit", *SMOKE, "--method", "grasp", "--densities", "0.5",
      "--grasp.temperature", "0"], "grasp.temperature must be a positive number"),
])
def test_bad_input_is_refused_before_training(capsys, tmp_path, no_training, argv, says):
    code, _, err = run(capsys, *argv, "--runs", str(tmp_path))
    assert code == 1, err
    assert err.startswith("error:") and len(err.strip().splitlines()) == 1, err
    assert says in err


def test_transfer_every_only_picks_levels_its_tickets_are_imps(capsys, tmp_path, monkeypatch):
    """``--every 2`` transfers levels 2, 4 of IMP's tickets, found one round at a time: the
    IMP run of the same recipe afterwards has every ticket it needs in the store."""
    code, out, err = run(capsys, "transfer", *SMOKE, "--levels", "2", "--every", "2",
                         "--transfer-controls", "none", "--runs", str(tmp_path))
    assert code == 0, err
    assert "levels [2]" in out

    def train(*args, **kwargs):
        raise AssertionError("IMP's tickets are not the ones transfer found")
    monkeypatch.setattr(executors, "train", train)
    code, _, err = run(capsys, "imp", *SMOKE, "--levels", "2", "--controls", "none",
                       "--runs", str(tmp_path))
    assert code == 0, err
