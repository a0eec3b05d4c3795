"""Notebook prose rendered from the tables it describes, so the words cannot drift from them.

A notebook states its verdicts in sentences generated here from its paper-vs-ours table (the
outcome words of :mod:`lottery.claims.verdicts`) and its orderings from its ranking tables; the
narrative markdown describes the papers' claims and our protocol, never our outcome.
"""

from __future__ import annotations

import pandas as pd

from lottery.claims.verdicts import CONTRADICTED, HOLDS, INCONCLUSIVE

_VERB = {HOLDS: "holds", CONTRADICTED: "is contradicted", INCONCLUSIVE: "is inconclusive"}


def outcome(label: str) -> str:
    """The outcome word of a verdict label ("holds (ticket > reinit)" -> "holds")."""
    return str(label).split(" ", 1)[0]


def _reason(label: str) -> str:
    """What a label says after the word, without the claim's own test text."""
    inside = str(label).partition("(")[2].rstrip(")")
    return inside.split("; ", 1)[1] if "; " in inside else ""


def claim_sentence(row: pd.Series) -> str:
    """One claim's direction verdict as a sentence: the claim, the outcome, our interval and,
    when inconclusive, what would settle it."""
    word = outcome(row["direction"])
    verb = _VERB.get(word, "has no verdict here")
    why = _reason(row["direction"])
    tail = f"; {why}" if why and word != HOLDS else ""
    return f"- *{row['claim']}*: {verb} (ours {row['ours']}{tail})."


def verdicts_in_words(table: pd.DataFrame) -> str:
    """The direction verdicts of a paper-vs-ours table as markdown: the count of each outcome,
    then one sentence per claim (claims without a direction verdict are left out)."""
    judged = table[table.direction.map(outcome).isin(list(_VERB))]
    if judged.empty:
        return "No direction verdicts here (synthetic data, the smoke profile, or nothing " \
               "measured): the table above is a pipeline check."
    counts = judged.direction.map(outcome).value_counts()
    head = (f"Of {len(judged)} claims with a direction verdict, {counts.get(HOLDS, 0)} hold, "
            f"{counts.get(CONTRADICTED, 0)} are contradicted and "
            f"{counts.get(INCONCLUSIVE, 0)} are inconclusive at this profile's trials "
            f"(95% t intervals over trials):")
    return "\n".join([head, *(claim_sentence(r) for _, r in judged.iterrows())])


def order_in_words(ranking: pd.DataFrame, resolution: float, trials: int | None = None) -> str:
    """A ranking table (best first, first column the score) as one sentence, saying which
    neighbours lie within ``resolution`` of each other (not separated by the test set)."""
    column = ranking.columns[0]
    scores = ranking[column].dropna()
    parts = [f"{name} {value:.2f}" for name, value in scores.items()]
    close = [f"{a} and {b}" for (a, x), (b, y) in zip(scores.items(), list(scores.items())[1:],
                                                       strict=False) if x - y < resolution]
    who = f" ({trials} trial{'s' * (trials != 1)})" if trials else ""
    text = f"In our runs{who}, by {column}: " + " > ".join(parts) + "."
    if close:
        text += (f" Within the test set's resolution ({resolution:.2f} pp), so not ordered by "
                 f"these runs: {'; '.join(close)}.")
    return text
