"""Notebook prose generated from the tables it describes: the sentences follow the verdicts,
and every notebook with a paper-vs-ours table renders its verdicts from it (none are written
by hand in markdown)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pandas as pd
import pytest

from lottery.claims import framework as report
from lottery.claims.framework import Claim, Measurement, Runs
from lottery.claims.prose import order_in_words, verdicts_in_words
from lottery.run import registry

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
WITH_TABLES = ["01_lenet_mnist", "04_deconstructing_tickets", "05_stability_and_overlap",
               "06_ticket_transfer", "07_cheap_tickets"]


def _table(*claims: tuple[str, tuple[float, ...]]) -> pd.DataFrame:
    verdicts = [report.judge(Claim(name, float("nan"), per_trial=lambda r, v=v: Measurement(v),
                                   direction="> 0"), Runs({}), "paper") for name, v in claims]
    return pd.DataFrame([report.row(v) for v in verdicts], columns=report.COLUMNS)


def test_the_sentences_follow_the_table():
    table = _table(("ticket beats reinit", (1.0, 1.1, 0.9)),
                   ("ticket beats dense", (-1.0, -1.1, -0.9)),
                   ("ticket beats random", (-0.5, 1.0, 0.4)))
    words = verdicts_in_words(table)
    assert words.startswith("Of 3 claims with a direction verdict, 1 hold, 1 are contradicted "
                            "and 1 are inconclusive")
    lines = words.splitlines()[1:]
    assert lines[0].startswith("- *ticket beats reinit*: holds (ours 1.00 ± 0.25 (3 trials)")
    assert lines[1].startswith("- *ticket beats dense*: is contradicted")
    assert "is inconclusive" in lines[2] and "trials would settle it" in lines[2]


def test_a_table_without_verdicts_says_so():
    table = registry.paper_vs_ours("01_lenet_mnist", {}, "smoke")
    assert verdicts_in_words(table).startswith("No direction verdicts here")


def test_an_ordering_names_the_neighbours_the_test_set_cannot_separate():
    ranking = pd.DataFrame({"test acc (%)": [98.13, 98.07, 97.69]},
                           index=["freeze_shrunk_to_zero", "zero", "freeze_init"])
    text = order_in_words(ranking, 0.48, trials=1)
    assert text.startswith("In our runs (1 trial), by test acc (%): freeze_shrunk_to_zero 98.13 "
                           "> zero 98.07 > freeze_init 97.69.")
    assert "not ordered by these runs: freeze_shrunk_to_zero and zero; zero and freeze_init" \
        in text


@pytest.mark.parametrize("name", WITH_TABLES)
def test_each_notebook_renders_its_verdicts_from_its_table(name):
    book = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    code = [c.source for c in book.cells if c.cell_type == "code"]
    at = next(i for i, s in enumerate(code) if "session.paper_vs_ours(" in s)
    assert code[at].startswith("table = ")
    assert code[at + 1].strip() == "Markdown(verdicts_in_words(table))"
    # the markdown describes the rule, never an outcome of ours
    prose = "\n".join(c.source for c in book.cells if c.cell_type == "markdown")
    assert "95% Student t interval" in prose
    for stale in ("± 2 standard errors", "judged on our mean", "does our interval reach it",
                  "in-between"):
        assert stale not in prose, (name, stale)
