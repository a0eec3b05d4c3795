"""The command line's polish (issue 31, point 9): a misspelt flag or subcommand gets the
nearest one suggested in one ``error:`` line, help labels a preset's values with the profile
they are under (the same values ``presets --profile`` lists), every flag has help text."""

from __future__ import annotations

import re

import pytest

from lottery.core import flags
from lottery.core.parser import nearest, unrecognized
from lottery.run import cli


def usage_error(capsys, *argv) -> str:
    with pytest.raises(SystemExit) as exit_:
        cli.main(list(argv))
    assert exit_.value.code == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith("error: ")
    return err


def test_a_misspelt_flag_gets_the_nearest_flag_suggested(capsys):
    err = usage_error(capsys, "imp", "--preset", "lenet", "--trails", "3")
    assert "--trails 3" in err and "did you mean --trials?" in err


def test_the_suggestion_comes_from_the_chosen_subcommands_flags(capsys):
    # --every is imp's own flag (not oneshot's); --pruning.criterion a generated one
    err = usage_error(capsys, "imp", "--preset", "lenet", "--evrey", "2",
                      "--pruning.criterium=magnitude")
    assert "did you mean --every for --evrey, --pruning.criterion for --pruning.criterium?" in err


def test_a_word_like_no_flag_gets_no_suggestion(capsys):
    err = usage_error(capsys, "imp", "--preset", "lenet", "--zzzzzz")
    assert "did you mean" not in err and "--zzzzzz" in err


def test_a_misspelt_subcommand_gets_the_nearest_suggested(capsys):
    err = usage_error(capsys, "ipm", "--preset", "lenet")
    assert err.rstrip().endswith("did you mean imp? (see --help)")


def test_a_misspelt_choice_gets_the_nearest_suggested(capsys):
    err = usage_error(capsys, "imp", "--preset", "lnet")
    assert "did you mean lenet?" in err


def test_nearest_and_unrecognized_on_known_cases():
    assert nearest("--trails", ["--trials", "--seed", "--levels"]) == "--trials"
    assert nearest("--xyz", ["--trials"]) is None
    assert unrecognized(["extra"], ["--trials"]) == "unrecognized argument: extra"


def _help_value(capsys, *argv) -> str:
    with pytest.raises(SystemExit):
        cli.main(["imp", "--help", *argv])
    text = " ".join(capsys.readouterr().out.split())
    return re.search(r"--training\.iterations N training iterations per network \(([^)]*)\)",
                     text).group(1)


def _presets_iterations(capsys, *argv) -> tuple[str, str]:
    assert cli.main(["presets", *argv]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = lines[0]
    lenet = next(line for line in lines if line.startswith("lenet "))
    return header, lenet.split()[5]


@pytest.mark.parametrize("profile", ["quick", "paper", "smoke"])
def test_help_and_presets_show_the_same_value_under_the_same_profile(capsys, profile):
    label = _help_value(capsys, "--preset", "lenet", "--profile", profile)
    header, iterations = _presets_iterations(capsys, "--profile", profile)
    assert label == f"lenet, {profile} profile: {iterations}"
    assert f"under the {profile} profile" in header


def test_help_defaults_to_the_quick_profile_and_presets_to_the_paper_one(capsys):
    assert _help_value(capsys, "--preset", "lenet") == "lenet, quick profile: 5000"
    header, iterations = _presets_iterations(capsys)
    assert "paper profile" in header and iterations == "50000"


def test_every_hyperparameter_flag_has_help_text(capsys):
    assert [path for path, _ in flags.fields() if not flags.HELP.get(path)] == []
    with pytest.raises(SystemExit):
        cli.main(["imp", "--help"])
    text = capsys.readouterr().out
    assert re.search(r"--data\.augment BOOL\s+random flips", text)
