"""The networks of notebook 08's call, named by the study's own code without weights (for the
estimate)."""

from __future__ import annotations

from lottery.core.hparams import ExperimentHparams
from lottery.core.presets import PRESETS
from lottery.core.store import RunStore
from lottery.core.work import Hparams, Planned, Work, offline_runner
from lottery.studies.open_questions.study import OpenQuestionsStudy, make_plan, study_hparams


def open_questions_work(item: Planned, hparams: Hparams, store: RunStore) -> Work:
    """Every lineage, the rewind run and the fine-tuned networks (``Session.open_questions``),
    named by the study's own code on runners that know the data's sizes only."""
    o = dict(item.options)
    base, profile = hparams(item.preset), o.pop("profile")
    hp = study_hparams(base, profile, o["iterations"] or base.training.iterations,
                       o["levels"] or base.levels)
    listed: dict[ExperimentHparams, list] = {}

    class Listing(OpenQuestionsStudy):
        def train(self, runner, networks, desc):
            listed.setdefault(runner.hp, []).append((desc, list(networks)))
            return [None] * len(networks)

    plan = make_plan(hp, PRESETS[item.preset].training.iterations, profile,
                     **{k: v for k, v in o.items() if k not in ("iterations", "levels")})
    study = Listing(hp, plan, lambda h, label: offline_runner(h, store))
    for width in plan.widths:
        study.lineage(width)
    for scheme in plan.inits:
        study.lineage(1.0, scheme)
    if plan.rewind_k:
        study.lineage(k=plan.rewind_k)
    study.finetuned()
    return Work(list(listed.items()),
                notes=["08: information-plane estimates (no training) not priced"])


KINDS = {"open_questions": open_questions_work}
