"""The registry entry of the stability study (notebook 05; Frankle et al. 2019, 2020)."""

from lottery.core.study import Study
from lottery.studies.stability.claims import claims
from lottery.studies.stability.command import COMMANDS
from lottery.studies.stability.networks import KINDS
from lottery.studies.stability.plans import PLANS
from lottery.studies.stability.study import check_notebook

STUDY = Study("stability", "stability, linear mode connectivity, mask overlap, what tickets "
              "look like", commands=COMMANDS, kinds=KINDS, plans=PLANS,
              checks={"05_stability_and_overlap": check_notebook},
              claims={"05_stability_and_overlap": claims})
