"""The registry entry of the stability study (notebook 05; Frankle et al. 2019, 2020)."""

from lottery.core.study import Study
from lottery.studies.stability.command import COMMANDS
from lottery.studies.stability.networks import KINDS
from lottery.studies.stability.plans import PLANS

STUDY = Study("stability", "stability, linear mode connectivity, mask overlap, what tickets "
              "look like", commands=COMMANDS, kinds=KINDS, plans=PLANS)
