"""The registry entry of ticket transfer (notebook 06; Morcos et al. 2019)."""

from lottery.core.study import Study
from lottery.studies.transfer.claims import transfer_claims
from lottery.studies.transfer.command import COMMANDS
from lottery.studies.transfer.networks import KINDS
from lottery.studies.transfer.plans import PLANS

STUDY = Study("transfer", "tickets trained under another dataset or optimizer "
              "(Morcos et al. 2019)", commands=COMMANDS, kinds=KINDS, plans=PLANS,
              claims={"06_ticket_transfer": transfer_claims})
