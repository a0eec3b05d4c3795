"""Plans of the study notebooks (04-07): what they declare, what the estimate counts."""

import json
from pathlib import Path

import pytest

from lottery.core.calibration import Cost
from lottery.core.store import RunStore
from lottery.run import estimate, plans
from lottery.run.session import experiment_hparams, rewind_points

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
STUDIES = ("04_deconstructing_tickets", "05_stability_and_overlap", "06_ticket_transfer",
           "07_cheap_tickets", "08_open_questions")


def smoke(notebook: str, **changes) -> dict:
    return plans.notebook_defaults(NOTEBOOKS / f"{notebook}.ipynb") | {"profile": "smoke"} | changes


def priced(notebook: str, parameters: dict, store: RunStore) -> estimate.NotebookEstimate:
    def hparams(preset, **overrides):
        given = {"trials": parameters.get("trials"), "seed": 0} | overrides
        return experiment_hparams(preset, "smoke", synthetic=True, **given)

    return estimate.estimate(notebook, "smoke", "cpu", plans.plan(notebook, parameters),
                             hparams, store, lambda hp, k: Cost(1.0, 0.0), rewind_points)


def as_recorded(item: plans.Planned) -> plans.Planned:
    """``item`` as a notebook's record lists it (JSON, the options beside the call)."""
    entry = {"kind": item.kind, "preset": item.preset, "overrides": dict(item.overrides),
             **dict(item.options)}
    return plans.Planned.from_record(json.loads(json.dumps(entry, default=str)))


@pytest.mark.parametrize("notebook", STUDIES)
def test_every_study_notebook_declares_a_plan_of_known_kinds(notebook):
    planned = plans.plan(notebook, smoke(notebook))
    assert planned and {p.kind for p in planned} <= set(plans.KINDS)
    # a call read back from the record matches its declaration; another option does not
    assert plans.undeclared(planned, [as_recorded(p) for p in planned]) == []


def test_a_changed_option_is_undeclared():
    planned = plans.plan("04_deconstructing_tickets", smoke("04_deconstructing_tickets"))
    ran = as_recorded(planned[1])
    other = plans.Planned(ran.kind, ran.preset, ran.overrides, options={**ran.options,
                                                                       "every": 1})
    assert plans.undeclared(planned, [ran, other]) == [other]


def test_notebook_01_declares_the_oneshot_reinit_control():
    planned = plans.plan("01_lenet_mnist", smoke("01_lenet_mnist"))
    ran = plans.Planned("oneshot", "lenet", {"controls": ["reinit"], "oneshot_rounds":
                                             list(smoke("01_lenet_mnist")["oneshot_rounds"])})
    assert plans.undeclared(planned, [ran]) == []


def test_zhou_counts_by_hand(tmp_path):
    """Smoke cut, 1 trial, one pruned level (6 rounds): criteria = 1 dense + 1 ticket per
    criterion; mask-1 = the shared dense + ticket + one per action; mask-0 = one lineage per
    action whose 'zero' ticket is criteria's large_final ticket."""
    p = smoke("04_deconstructing_tickets", criteria=["large_final", "random"],
              mask1_actions=["reinit", "reshuffle"], mask0_actions=["zero", "freeze_init"])
    found = priced("04_deconstructing_tickets", p, RunStore(tmp_path))
    by = {e.label: (e.networks, e.missing) for e in found.experiments}
    assert by["criteria lenet"] == (3, 3)
    assert by["mask1 lenet"] == (4, 2)   # dense and ticket shared with criteria
    assert by["mask0 lenet"] == (3, 1)   # dense and zero's ticket shared
    assert by["untrained lenet"] == (1, 0)
    assert by["learned_supermask lenet"] == (1, 1)


def test_a_warm_store_makes_the_stored_networks_free(tmp_path):
    p = smoke("04_deconstructing_tickets", criteria=["large_final"], mask1_actions=["reinit"],
              mask0_actions=["zero"])
    store = RunStore(tmp_path)
    cold = priced("04_deconstructing_tickets", p, store)
    first = cold.experiments[0].calls
    assert first and cold.experiments[0].missing == 2
    hp = experiment_hparams("lenet", "smoke", synthetic=True, controls=(), levels=6, trials=1,
                            training__iterations=30, training__test_curve=False)
    for net in estimate.offline_runner(hp, store).dense_networks():
        path = store.path(*net.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"stored")
    warm = priced("04_deconstructing_tickets", p, store)
    assert warm.experiments[0].missing == 1
    assert warm.experiments[0].seconds < cold.experiments[0].seconds


def test_stability_counts_the_studys_networks(tmp_path):
    """Smoke: 1 level and the focus cut to the profile's 2 levels; the study's networks are
    A and B to depth 2, a rewind run per k > 0, the copies and the reinit companions."""
    p = smoke("05_stability_and_overlap", stability_levels=[1], focus_level=1,
              connectivity_level=1, rewind_ks=[0])
    found = priced("05_stability_and_overlap", p, RunStore(tmp_path))
    (study,) = found.experiments
    trials = experiment_hparams("lenet", "smoke", synthetic=True).trials
    # A, B: dense + 1 level each; copies at level 1: ticket, reinit, random_mask twins (3),
    # their originals beside A's ticket (reinit, random_mask: 2), reinit companions (1),
    # dense twins are B's dense networks
    assert study.networks == trials * (2 * 2 + 3 + 2 + 1)
    assert any(isinstance(c, estimate.Evaluation) for c in study.calls)


def test_cheap_counts_the_stop_rule_networks_by_count(tmp_path):
    found = priced("07_cheap_tickets", smoke("07_cheap_tickets"), RunStore(tmp_path))
    (cheap,) = found.experiments
    assert cheap.networks == cheap.missing > 0
    assert any("stop-rule" in note for note in found.notes)


def test_open_questions_prices_every_lineage_the_study_trains(tmp_path):
    """Notebook 08 under smoke: widths 0.5, 1, 2 and two init schemes (one shared with width
    1), each IMP lineage dense + 2 levels x (ticket, reinit), the base one with random pruning
    and lr rewinding too, the rewind run's tickets and the fine-tuned networks."""
    found = priced("08_open_questions", smoke("08_open_questions"), RunStore(tmp_path))
    (study,) = found.experiments
    trials = experiment_hparams("lenet", "smoke", synthetic=True).trials
    lineages = 4 * (1 + 2 * 2)          # widths 0.5, 2; kaiming_normal; the base
    extra = 2 * 2                       # the base's random pruning and lr rewinding, 2 levels
    rewind = 2                          # the rewind run's tickets (its dense is the base's)
    finetune = 2
    assert study.missing == trials * (lineages + extra + rewind + finetune)
    assert study.networks == study.missing + trials  # the rewind run loads the base's dense
