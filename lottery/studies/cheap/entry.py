"""The registry entry of cheap tickets (notebook 07): pruning at init, early-bird, random."""

from lottery.core.study import Study, keyword_check
from lottery.studies.cheap.claims import claims
from lottery.studies.cheap.command import COMMANDS
from lottery.studies.cheap.networks import KINDS
from lottery.studies.cheap.plans import PLANS
from lottery.studies.cheap.study import check_parameters

STUDY = Study("cheap", "cheaper tickets: pruning at initialization, early-bird, random masks",
              commands=COMMANDS, kinds=KINDS, plans=PLANS,
              checks={"07_cheap_tickets": keyword_check(check_parameters)},
              claims={"07_cheap_tickets": claims})
