"""The registry entry of Zhou et al. (2019), Deconstructing lottery tickets (notebook 04)."""

from lottery.core.study import Study
from lottery.studies.deconstruct.command import COMMANDS
from lottery.studies.deconstruct.networks import KINDS
from lottery.studies.deconstruct.plans import PLANS

STUDY = Study("deconstruct", "mask criteria, mask-1 and mask-0 actions, supermasks "
              "(Zhou et al. 2019)", commands=COMMANDS, kinds=KINDS, plans=PLANS)
