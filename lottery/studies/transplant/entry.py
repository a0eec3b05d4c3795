"""The registry entry of the mask-transplant study (the README's worked example)."""

from lottery.core.study import Study
from lottery.studies.transplant.command import COMMANDS

STUDY = Study("transplant", "a ticket's mask on another trial's init", commands=COMMANDS)
