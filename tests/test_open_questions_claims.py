"""Notebook 08's verdicts and its generated closing note, on tables with known answers."""

from __future__ import annotations

import pytest
from open_questions_fakes import info_table, init_table, results, width_table  # tests/ on path

from lottery.run.registry import paper_vs_ours, verdicts
from lottery.studies.open_questions.answers import answers, reading
from lottery.studies.open_questions.claims import INFO, INIT, WIDTH

NB = "08_open_questions"


def test_each_reading_follows_its_known_answer():
    table = paper_vs_ours(NB, results(), "quick", synthetic=False)
    by = dict(zip(table.claim, table.direction, strict=True))
    assert by["width: wider minus narrower ticket at equal remaining weights, test acc at early "
              "stop (pp)"].startswith("holds")
    assert by["width: wider minus narrower ticket at equal remaining weights, early-stop "
              "iteration"].startswith("holds")
    assert by["width: ticket - reinit gap per doubling of width (pp)"].startswith("holds")
    assert by["init orthogonal: ticket - reinit, test acc at early stop, mean over pruned "
              "levels (pp)"].startswith("holds")
    assert by["recipes, sparsest level: fine-tune minus random reinit (pp)"].startswith("holds")
    assert by["recipes, sparsest level: lr rewinding minus reset-to-init ticket (pp)"
              ].startswith("holds")
    assert by["information plane: log2(inputs) minus binned (30 bins) I(X;T), dense fc1 at the "
              "end (bits; 0 = saturated)"].startswith("holds")
    assert by["information plane: ticket minus reinit I(T;Y), fc2 at the end (bits, noisy "
              "estimator)"].startswith("holds")
    # schemes not run are listed as not measured, never judged
    assert by["init kaiming_uniform: ticket - reinit, test acc at early stop, mean over pruned "
              "levels (pp)"] == "n/a"
    assert (table.number == "n/a").all()  # no paper gives these numbers


def test_the_opposite_tables_fail():
    flipped = results(**{WIDTH: width_table(wider_gain=-0.01, gap_per_width=-0.02),
                         INIT: init_table(gap=-0.01), INFO: info_table(gap=-0.3)})
    table = paper_vs_ours(NB, flipped, "quick", synthetic=False)
    failing = table[table.direction.str.startswith("contradicted")].claim
    assert sum(c.startswith("width:") for c in failing) == 3
    assert any(c.startswith("init glorot_normal") for c in failing)
    assert any(c.startswith("information plane: ticket minus reinit") for c in failing)


def test_the_closing_note_quotes_the_numbers_and_reads_the_intervals():
    note = answers(results(), "quick", comparable=True)
    assert note.count("**yes**") >= 6
    assert "**Width.**" in note and "**Initialization.**" in note
    assert "**Pruning recipes** at 64.0%" in note and "lr rewinding 98.12%" in note
    assert "+1.00 ± " in note  # wider minus narrower: 1 pp at equal weights
    assert "-300.00 ± 100.00 iterations" in note  # one evaluation interval is the floor
    smoke = answers(results(), "smoke", comparable=False)
    assert "**yes**" not in smoke and "synthetic stand-in" in smoke


def test_reading_an_interval():
    (v,) = [v for v in verdicts(NB, results(), "quick", synthetic=False)
            if v.claim.claim.startswith("width: ticket - reinit gap")]
    assert reading(v, True) == "**yes**"
    unsettled = type(v)(v.claim, 0.1, 0.5, 2, v.direction, v.number, v.where)
    assert reading(unsettled, True).startswith("**not settled")
    opposite = type(v)(v.claim, -1.0, 0.5, 2, v.direction, v.number, v.where)
    assert reading(opposite, True).startswith("**no**")
    assert reading(v, False) == "n/a"
    assert v.mean == pytest.approx(3.0)  # gaps 2, 4, 8 pp at widths 1, 2, 4
