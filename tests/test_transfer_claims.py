"""Notebook 06's claims (Morcos et al. 2019) judged on constructed results with known gaps: per
trial, each direction holds where the phenomenon is built in and is contradicted where it is
reversed,
n/a without the data; the paper gives no numbers, so the number verdict is n/a throughout."""

from __future__ import annotations

import pandas as pd
from pytest import approx

from lottery.claims.framework import NotMeasured
from lottery.run.registry import CLAIMS, paper_vs_ours, verdicts
from lottery.studies.transfer import claims as transfer_claims

NB = "06_ticket_transfer"
SPREAD = {0: -0.1, 1: 0.0, 2: 0.1}  # pp by trial: the per-trial gaps differ, mean = the gap
RANDOM = "MNIST -> Fashion-MNIST: transferred minus random ticket"
FOUND = "MNIST -> Fashion-MNIST: transferred minus target-found ticket"
ASYMMETRY = "Fashion-MNIST -> MNIST minus MNIST -> Fashion-MNIST"


def _found(acc: float) -> pd.DataFrame:
    return pd.DataFrame([{"level": lv, "trial": t, "variant": "ticket",
                          "percent_remaining": 100 * 0.8 ** lv, "early_stop_test_acc": acc}
                         for lv in range(13) for t in SPREAD])


def _moved(acc: float, gap: float, gap_random: float, controls: bool = True) -> pd.DataFrame:
    """Every other level of a transfer: the ticket ``gap`` pp off the target-found one (plus
    the trial's spread), the random ticket ``gap_random`` pp below it."""
    rows = []
    for lv in range(0, 13, 2):
        for t, e in SPREAD.items():
            ticket = acc + (gap + e) / 100 if lv else acc
            variants = {"ticket": ticket}
            if lv and controls:
                variants["random_mask"] = ticket - (gap_random + e) / 100
            rows += [{"level": lv, "trial": t, "variant": v, "percent_remaining":
                      100 * 0.8 ** lv, "early_stop_test_acc": a} for v, a in variants.items()]
    return pd.DataFrame(rows)


def _frames(gap_random=2.0, gap_found=0.0, reverse_gap=1.5, controls=True) -> dict:
    return {"mnist": _found(0.98), "fashion_mnist": _found(0.88),
            "mnist -> fashion_mnist": _moved(0.88, gap_found, gap_random, controls),
            "fashion_mnist -> mnist": _moved(0.98, reverse_gap, gap_random, controls)}


def _judged(frames, profile="paper") -> dict:
    return {v.claim.claim: v for v in verdicts(NB, frames, profile, synthetic=False)}


def _get(judged: dict, start: str):
    (match,) = [v for claim, v in judged.items() if claim.startswith(start)]
    return match


def test_per_trial_gaps_are_read_trial_by_trial():
    frames = _frames()
    worst = transfer_claims.worst_vs_random("mnist -> fashion_mnist")(frames)
    assert worst.values == approx((1.9, 2.0, 2.1))  # 2.0 plus each trial's spread
    assert worst.where.startswith("worst of 5 levels")  # levels 4-12: below 50%
    assert worst.floor == approx(200 * (2 * 0.88 * 0.12 / 10_000) ** 0.5, rel=0.05)
    short = transfer_claims.worst_vs_found("mnist -> fashion_mnist", "fashion_mnist")(frames)
    assert short.values == approx((-0.1, 0.0, 0.1))  # down to ~10%: levels 2-10
    assert transfer_claims.asymmetry("mnist", "fashion_mnist")(frames) == approx(1.5)
    table = transfer_claims.comparison(frames["mnist -> fashion_mnist"], frames["fashion_mnist"])
    assert list(table.index) == [2, 4, 6, 8, 10, 12]
    assert table["transferred - random"].tolist() == approx([2.0] * 6)


def test_the_papers_directions_pass_on_transfers_that_show_them():
    assert NB in CLAIMS
    judged = _judged(_frames())
    assert len(judged) == 5  # both directions' two claims and the asymmetry; no others ran
    assert {v.direction.split()[0] for v in judged.values()} == {"holds"}
    assert {v.number for v in judged.values()} == {"n/a"}  # Morcos et al. give no number
    assert _get(judged, FOUND).mean == approx(0.0)
    assert _get(judged, FOUND).direction.startswith("holds (close: within 1 pp")


def test_reversed_transfers_fail_each_direction():
    judged = _judged(_frames(gap_random=-2.0, gap_found=-3.0, reverse_gap=-5.0))
    assert {v.direction.split()[0] for v in judged.values()} == {"contradicted"}
    assert _get(judged, ASYMMETRY).mean == approx(-2.0)  # -5.0 minus -3.0


def test_claims_without_their_data_are_na():
    judged = _judged(_frames(controls=False))  # no random tickets
    assert (_get(judged, RANDOM).direction, _get(judged, RANDOM).number) == ("n/a", "n/a")
    assert _get(judged, RANDOM).where.startswith("not measured")
    assert _get(judged, FOUND).direction.startswith("holds")
    frames = _frames()
    frames["fashion_mnist"] = frames["fashion_mnist"].assign(trial=7)  # no shared trial
    assert _get(_judged(frames), FOUND).direction == "n/a"
    try:
        transfer_claims.worst_vs_found("mnist -> fashion_mnist", "fashion_mnist")(frames)
        raise AssertionError("measured without a shared trial")
    except NotMeasured:
        pass


def test_smoke_gives_no_verdicts():
    table = paper_vs_ours(NB, _frames(), "smoke")
    assert len(table) == 5 and (table.direction == "n/a").all() and (table.number == "n/a").all()
