"""The networks, masks, data subsets and training runs that the sections time."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import torch

from lottery.core.hparams import ModelHparams, TrainingHparams
from lottery.core.training import DEFAULT_SPEED, Member, SpeedOptions, train
from lottery.engine import pruning
from lottery.engine.data import DataBundle, Split
from lottery.engine.masks import Mask
from lottery.engine.members import member_state
from lottery.engine.models import build

LENET_WEIGHTS = 266_200
LENET_BATCH = 60
PAPER_BATCH = {"conv2": 60, "conv4": 60, "resnet18": 128, "vgg19": 64}


def lenet_mask() -> Mask:
    """Layerwise magnitude pruning of LeNet to 7 rounds (fc 20%, output 10% a round): ~21%."""
    state = member_state(build("lenet", seeds=[0]), 0)
    weights = {n: state[n] for n in ("fc1.weight", "fc2.weight", "fc3.weight")}
    dense = Mask.dense({n: w.shape for n, w in weights.items()})
    rates = {"fc1.weight": 0.2, "fc2.weight": 0.2, "fc3.weight": 0.1}
    return pruning.prune_layerwise(pruning.scores("large_final", weights, weights), dense,
                                   rates, rounds=7)


def members_for(name: str, k: int, mask: Mask | None) -> list[Member]:
    """K members: weights from seed k, a random mask of ``mask``'s per-layer density."""
    out = []
    for i in range(k):
        state = member_state(build(name, seeds=[i]), 0)
        member_mask = None if mask is None else pruning.random_mask_like(mask, seed=100 + i)
        out.append(Member(state, member_mask, data_seed=i))
    return out


def head(split: Split, n: int) -> Split:
    return Split(split.x[:n], split.y[:n])


def with_splits(bundle: DataBundle, train: Split | None = None, val: Split | None = None,
                test: Split | None = None) -> DataBundle:
    return dataclasses.replace(bundle, train=bundle.train if train is None else train,
                               val=bundle.val if val is None else val,
                               test=bundle.test if test is None else test)


def engine_runner(model_hp: ModelHparams, hp: TrainingHparams, data: DataBundle,
                  members: Sequence[Member], device: torch.device,
                  speed: SpeedOptions = DEFAULT_SPEED) -> Callable[[int], object]:
    """``run(n)``: ``train`` for n iterations with evaluation effectively off."""
    def run(n: int):
        hp_n = dataclasses.replace(hp, iterations=n, eval_every=n, test_curve=False,
                                   milestones=(), warmup=0)
        return train(model_hp, hp_n, data, members, device=device, progress=False, speed=speed)
    return run
