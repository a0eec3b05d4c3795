"""The registry entry of the open questions (notebook 08): width, init schemes, recipes, and the
information plane."""

from lottery.core.study import Study
from lottery.studies.open_questions.claims import claims
from lottery.studies.open_questions.networks import KINDS
from lottery.studies.open_questions.plans import PLANS

STUDY = Study("open_questions", "width, initialization schemes, pruning recipes, information "
              "plane", kinds=KINDS, plans=PLANS, claims={"08_open_questions": claims})
