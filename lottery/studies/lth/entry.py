"""The registry entry of Frankle & Carbin (2019)'s experiments (notebooks 01-03)."""

from lottery.core.study import Study
from lottery.studies.lth.claims import CLAIMS
from lottery.studies.lth.command import COMMANDS
from lottery.studies.lth.plans import PLANS

STUDY = Study("lth", "IMP and one-shot pruning with their controls (Frankle & Carbin 2019)",
              commands=COMMANDS, plans=PLANS,
              claims=CLAIMS)
