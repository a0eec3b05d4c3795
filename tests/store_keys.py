"""The store path of every network the notebooks' plans name, under given profiles, without
training: what `tests/test_architecture.py` compares with the keys the package made before its
floors (a store made then must load everything now). Runs on the flat package too, which is how
the fixture was made: ``python tests/store_keys.py > tests/fixtures/store_keys.json``."""

from __future__ import annotations

import json
import sys
import tempfile
from functools import partial
from pathlib import Path

try:  # the package's floors
    from lottery.core.presets import PROFILES, experiment_hparams
    from lottery.core.store import RunStore
    from lottery.run import estimate, plans
    from lottery.run.session import rewind_points
except ImportError:  # the flat package, before them
    from lottery.core.presets import PROFILES
    from lottery.core.store import RunStore
    from lottery.run import estimate, plans
    from lottery.run.session import experiment_hparams, rewind_points

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def keys(notebook: str, profile: str) -> list[str]:
    """Every network path ``notebook``'s plan names under ``profile`` (sorted, unique)."""
    parameters = plans.notebook_defaults(NOTEBOOKS / f"{notebook}.ipynb") | {"profile": profile}
    hparams = partial(experiment_hparams, profile=profile,
                      synthetic=PROFILES[profile].synthetic,
                      trials=parameters.get("trials"), seed=parameters.get("seed", 0))
    store = RunStore(tempfile.mkdtemp())
    paths = set()
    for item in plans.plan(notebook, parameters):
        work = estimate.planned_work(item, hparams, store, rewind_points)
        paths |= {"/".join(net.path) for _, named in work.runs for _, nets in named
                  for net in nets}
    return sorted(paths)


def all_keys(profiles=("smoke", "quick", "paper")) -> dict:
    return {f"{nb}@{profile}": keys(nb, profile) for nb in sorted(plans.PLANS)
            for profile in profiles}


if __name__ == "__main__":
    json.dump(all_keys(), sys.stdout, indent=0, sort_keys=True)
