"""The networks of notebook 05's study call, named without weights for the estimate."""

from __future__ import annotations

from lottery.core.hparams import ExperimentHparams
from lottery.core.presets import PRESETS
from lottery.core.store import RunStore
from lottery.core.work import Evaluation, Hparams, Planned, Work, data_sizes, sized_data
from lottery.studies.stability.study import StabilityStudy, make_plan, study_hparams


def _listing_study(hp: ExperimentHparams, plan, store: RunStore):
    """A :class:`~lottery.studies.stability.study.StabilityStudy` that lists what it would train."""
    class Listing(StabilityStudy):
        def train(self, networks, desc):
            new = {n.path: n for n in networks if n.path not in self._payloads}
            self.listed.append((desc, list(new.values())))
            self._payloads |= dict.fromkeys(new)
            return [None] * len(networks)

    study = Listing(hp, plan, data=sized_data(hp.data), store=store, device="cpu")
    study.listed = []
    return study


def stability_work(item: Planned, hparams: Hparams, store: RunStore) -> Work:
    """The study's IMP runs and copies (``Session.stability_study``), and its line
    evaluations (``line_points`` networks per pair on the test set)."""
    o = item.options
    hp = study_hparams(hparams(item.preset, **item.overrides), item.preset, o["iterations"])
    plan = make_plan(hp, PRESETS[item.preset].training.iterations, levels=o["levels"],
                     focus=o["focus_level"], connectivity=o["connectivity_level"],
                     rewind_ks=o["rewind_ks"], points=o["line_points"],
                     info_inputs=o["info_inputs"], info_bins=o["info_bins"])
    study = _listing_study(hp, plan, store)
    study.chains()
    study.pair_payloads()
    lines = len(study.pairs()) * plan.points
    return Work([(study.hp, study.listed)],
                [Evaluation("lines between copies", study.hp, lines, data_sizes(hp.data)[2])],
                ["05: information plane and ticket properties (no training) not priced"])


KINDS = {"stability": stability_work}
