"""The registry entry of cheap tickets (notebook 07): pruning at init, early-bird, random."""

from lottery.core.study import Study
from lottery.studies.cheap.command import COMMANDS
from lottery.studies.cheap.networks import KINDS
from lottery.studies.cheap.plans import PLANS

STUDY = Study("cheap", "cheaper tickets: pruning at initialization, early-bird, random masks",
              commands=COMMANDS, kinds=KINDS, plans=PLANS)
