"""The registry entry of Zhou et al. (2019), Deconstructing lottery tickets (notebook 04)."""

from lottery.core.study import Study, keyword_check
from lottery.studies.deconstruct.claims import claims
from lottery.studies.deconstruct.command import COMMANDS
from lottery.studies.deconstruct.networks import KINDS
from lottery.studies.deconstruct.plans import PLANS
from lottery.studies.deconstruct.study import check_parameters, profile_cut


def _quick_cut(*, profile, quick_cut, trials) -> None:
    profile_cut(profile, quick_cut, trials)  # raises on a bad quick cut


STUDY = Study("deconstruct", "mask criteria, mask-1 and mask-0 actions, supermasks "
              "(Zhou et al. 2019)", commands=COMMANDS, kinds=KINDS, plans=PLANS,
              checks={"04_deconstructing_tickets": keyword_check(check_parameters, _quick_cut)},
              claims={"04_deconstructing_tickets": claims})
