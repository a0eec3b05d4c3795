"""Every study, listed once: the only place the run floor names them.

Adding a study is a folder under :mod:`lottery.studies` with an ``entry.py`` holding its
:class:`~lottery.core.study.Study`, and one line here. The command line's subcommands, the
notebooks' plans (what the estimate prices), the experiment kinds' network listings and the
notebooks' parameter checks are all read from these entries.
"""

from __future__ import annotations

import pandas as pd

from lottery.claims import framework
from lottery.core.study import Study
from lottery.studies.cheap.entry import STUDY as CHEAP
from lottery.studies.deconstruct.entry import STUDY as DECONSTRUCT
from lottery.studies.lth.entry import STUDY as LTH
from lottery.studies.open_questions.entry import STUDY as OPEN_QUESTIONS
from lottery.studies.stability.entry import STUDY as STABILITY
from lottery.studies.transfer.entry import STUDY as TRANSFER
from lottery.studies.transplant.entry import STUDY as TRANSPLANT

STUDIES: tuple[Study, ...] = (LTH, DECONSTRUCT, STABILITY, TRANSFER, CHEAP, OPEN_QUESTIONS,
                              TRANSPLANT)


def _merged(field: str) -> dict:
    """One study field merged over the registry (a name claimed twice is a bug)."""
    out: dict = {}
    for study in STUDIES:
        for name, value in getattr(study, field).items():
            if name in out:
                raise RuntimeError(f"{field} {name!r} is declared by two studies")
            out[name] = value
    return out


PLANS = _merged("plans")            # notebook -> its calls for given parameters
KIND_WORK = _merged("kinds")        # experiment kind -> the networks a call would train
CHECKS = _merged("checks")          # notebook -> its own parameter check
CLAIMS = {notebook: claims() for notebook, claims in _merged("claims").items()}
COMMANDS = {c.name: c for s in STUDIES for c in s.commands}
KINDS = ("imp", "oneshot", "rewind_sweep", *KIND_WORK)   # imp, oneshot and sweeps: the core's


def verdicts(notebook: str, results, profile: str, synthetic: bool | None = None) -> list:
    """``notebook``'s claims judged on ``results`` (see
    :func:`lottery.claims.framework.verdicts`)."""
    return framework.verdicts(CLAIMS[notebook], results, profile, synthetic)


def paper_vs_ours(notebook: str, results, profile: str,
                  synthetic: bool | None = None) -> pd.DataFrame:
    """``notebook``'s paper-vs-ours table (see :func:`lottery.claims.framework.paper_vs_ours`)."""
    return framework.paper_vs_ours(CLAIMS[notebook], results, profile, synthetic)
