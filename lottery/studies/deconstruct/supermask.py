"""Learned supermasks (Zhou et al. 2019, Sec. 5.3): train the mask, never the weights.

Every weight of the network is frozen (the prunable ones at their signed-constant init, ±σ of
the layer's init with the init's sign; biases at init); each prunable weight gets a real-valued
score ``s``. A forward pass in training samples the mask ``m ~ Bernoulli(sigmoid(s))`` and uses
``w * m``; the backward pass treats the sample as ``sigmoid(s)`` (straight-through), so Adam
trains the scores. Evaluation also samples the mask (one sample per evaluation point; the test
accuracy at the early-stop point is the mean over ``samples`` masks), as Zhou et al. do.

Early stopping selects the evaluation with the lowest validation loss, through the training
engine's :func:`~lottery.core.training.record` and :class:`~lottery.core.training.LoopState`. Each trial's
supermask is one entry of the run store (stage ``supermask``), keyed by the recipe (the scores'
Adam schedule as the training hyperparameters), the weights, the score init and the seeds.
Members are sampled from their own generators, so a network does not depend on its batch.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from lottery.core.experiments import Network, Runner, data_seed, init_seed
from lottery.core.hparams import ExperimentHparams, HparamError, ModelHparams, TrainingHparams
from lottery.core.provenance import provenance
from lottery.core.results import ExperimentResult, experiment_tables
from lottery.core.training import (
    METRICS,
    LoopState,
    evaluate,
    evaluation_iterations,
    make_optimizer,
    model_tensors,
    record,
)
from lottery.engine import mask1_actions as mask1
from lottery.engine.data import DataBundle, MemberBatches
from lottery.engine.masks import Mask
from lottery.engine.members import State, load_member_state
from lottery.engine.models import LotteryModel, build

WEIGHTS = ("signed_constant", "init")  # what the frozen prunable weights hold
DEFAULT_LR = 0.1  # Adam on the scores (calibrated on MNIST; Zhou et al. use SGD at lr 100)


def fixed_weights(init: State, prunable: Sequence[str], weights: str) -> State:
    """The frozen weights of a supermask network: ``init``, its prunable layers as signed
    constants when ``weights`` is ``signed_constant``."""
    if weights == "init":
        return dict(init)
    dense = Mask.dense({name: init[name].shape for name in prunable})
    return mask1.signed_constant(init, dense, init)


class StraightThrough(torch.autograd.Function):
    """The sampled mask forward (exactly 0 or 1), its probabilities' gradient backward."""

    @staticmethod
    def forward(ctx, sample: Tensor, probs: Tensor) -> Tensor:
        return sample.clone()

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[None, Tensor]:
        return None, grad


class SupermaskNet(nn.Module):
    """A K-member network with frozen weights, gated by a Bernoulli mask of learned scores."""

    def __init__(self, inner: LotteryModel, score_init: float, seeds: Sequence[int]):
        super().__init__()
        self.inner, self.members, self.names = inner, inner.members, list(inner.prunable)
        for p in inner.parameters():
            p.requires_grad_(False)
        weights = inner.prunable_weights()
        self.scores = nn.ParameterList([nn.Parameter(torch.full_like(weights[n], score_init))
                                        for n in self.names])
        for i, name in enumerate(self.names):  # the mask evaluations use (resampled per point)
            self.register_buffer(f"eval_mask{i}", torch.ones_like(weights[name]))
        device = weights[self.names[0]].device
        self.train_draws = [torch.Generator(device).manual_seed(int(s)) for s in seeds]
        self.eval_draws = [torch.Generator(device).manual_seed(int(s) + 1) for s in seeds]

    def sample(self, generators: list[torch.Generator],
               probs: list[Tensor] | None = None) -> list[Tensor]:
        """One mask per layer, member k drawn from ``generators[k]``: 1 where u < sigmoid(s)
        (``probs``: the sigmoids, when already computed)."""
        probs = probs or [torch.sigmoid(s.detach()) for s in self.scores]
        masks = []
        for p in probs:
            u = torch.empty_like(p)
            for k, g in enumerate(generators):
                u[k].uniform_(generator=g)
            masks.append((u < p.detach()).to(p.dtype))
        return masks

    def resample_eval_masks(self) -> None:
        for i, mask in enumerate(self.sample(self.eval_draws)):
            getattr(self, f"eval_mask{i}").copy_(mask)

    def eval_masks(self) -> list[Tensor]:
        return [getattr(self, f"eval_mask{i}") for i in range(len(self.names))]

    def forward(self, x: Tensor) -> Tensor:
        if self.training:  # straight through: the sample forward, sigmoid's gradient backward
            probs = [torch.sigmoid(s) for s in self.scores]
            masks = [StraightThrough.apply(m, p) for m, p in zip(
                self.sample(self.train_draws, probs), probs, strict=True)]
        else:
            masks = self.eval_masks()
        weights = self.inner.prunable_weights()
        gated = {n: weights[n] * m for n, m in zip(self.names, masks, strict=True)}
        return functional_call(self.inner, gated, (x,))

    def density(self) -> Tensor:
        """Per member, the expected fraction of prunable weights kept: mean of sigmoid(s)."""
        kept = sum(torch.sigmoid(s.detach()).flatten(1).sum(1) for s in self.scores)
        return kept / sum(s[0].numel() for s in self.scores)


@dataclass
class SupermaskMember:
    """One supermask to train: the frozen weights (a full state) and its seeds."""

    weights: State
    data_seed: int
    sample_seed: int


def build_net(model_hp: ModelHparams, data: DataBundle, members: Sequence[SupermaskMember],
              score_init: float, device: torch.device) -> SupermaskNet:
    inner = build(model_hp.name, seeds=[0] * len(members), input_shape=data.input_shape,
                  num_classes=data.num_classes, **model_hp.options())
    for k, member in enumerate(members):
        load_member_state(inner, k, member.weights)
    return SupermaskNet(inner.to(device), score_init, [m.sample_seed for m in members])


def train_supermasks(model_hp: ModelHparams, hp: TrainingHparams, data: DataBundle,
                     members: Sequence[SupermaskMember], *, device: torch.device | str,
                     score_init: float = 0.0, samples: int = 10,
                     eval_batch_size: int = 5000) -> list[dict]:
    """Train the members' scores together; per member the stored payload (summary, history,
    early-stop scores, the first sampled test mask)."""
    device = torch.device(device)
    net = build_net(model_hp, data, members, score_init, device)
    optimizer = make_optimizer(net.scores.parameters(), hp, device)  # the engine's exact Adam
    batches = MemberBatches(data.train, [m.data_seed for m in members], hp.batch_size,
                            augment=data.augment)
    loop = LoopState.fresh(net, evaluation_iterations(hp, 0), 0)
    net.train()
    for iteration in range(hp.iterations):
        if loop.points[loop.next_point] == iteration:
            net.resample_eval_masks()
            record(net, data, hp, loop, iteration, eval_batch_size)
        x, y = batches.get(iteration)
        logits = net(x)
        per_example = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none")
        member_loss = per_example.view(net.members, -1).mean(1)
        optimizer.zero_grad(set_to_none=True)
        member_loss.sum().backward()
        optimizer.step()
        with torch.no_grad():
            loop.running[0] += member_loss.detach()
            loop.running[1] += (logits.argmax(-1) == y).float().mean(1)
        loop.running_steps += 1
    net.resample_eval_masks()
    record(net, data, hp, loop, hp.iterations, eval_batch_size)
    return _finish(net, data, loop, samples, eval_batch_size)


def _finish(net: SupermaskNet, data: DataBundle, loop: LoopState, samples: int,
            eval_batch_size: int) -> list[dict]:
    """Restore the early-stop scores; test accuracy over ``samples`` sampled masks."""
    history = loop.history.cpu()
    with torch.no_grad():
        for name, t in model_tensors(net).items():
            t.copy_(loop.best[name])
    density = net.density().cpu()
    losses, accs, first_masks = [], [], None
    for _ in range(samples):
        net.resample_eval_masks()
        first_masks = first_masks or [m.detach().cpu().bool() for m in net.eval_masks()]
        loss, acc = evaluate(net, data.test, eval_batch_size)
        losses.append(loss.cpu())
        accs.append(acc.cpu())
    loss, acc = torch.stack(losses).mean(0), torch.stack(accs).mean(0)
    payloads = []
    for k in range(net.members):
        rows = _history_rows(loop, history, k)
        summary = {"early_stop_iteration": int(loop.best_iteration[k]),
                   "early_stop_val_loss": float(loop.best_val[k]),
                   "early_stop_test_loss": float(loss[k]), "early_stop_test_acc": float(acc[k]),
                   "final_val_loss": rows["val_loss"][-1], "final_test_acc": rows["test_acc"][-1],
                   "density": float(density[k])}
        mask = Mask({n: m[k] for n, m in zip(net.names, first_masks, strict=True)})
        summary |= {f"sampled_density:{n}": v for n, v in mask.layer_density().items()}
        payloads.append({"summary": summary, "history": rows, "mask": mask.pack(),
                         "scores": {n: s[k].detach().cpu().clone()
                                    for n, s in zip(net.names, net.scores, strict=True)}})
    return payloads


def _history_rows(loop: LoopState, history: Tensor, k: int) -> dict[str, list]:
    rows = {"iteration": list(loop.points)}
    rows |= {m: [float(history[j, i, k]) for j in range(len(loop.points))]
             for i, m in enumerate(METRICS)}
    return rows


# --- the stage --------------------------------------------------------------------------------

def hparams(hp: ExperimentHparams, lr: float = DEFAULT_LR,
            iterations: int | None = None) -> ExperimentHparams:
    """``hp`` with its training turned into the scores' schedule: Adam at ``lr`` (no weight
    decay, warmup or milestones), ``iterations`` (default: the profile's), no pruning levels."""
    t = hp.training
    iterations = iterations or t.iterations
    training = TrainingHparams("adam", lr=lr, iterations=iterations, batch_size=t.batch_size,
                               eval_every=min(t.eval_every, iterations),
                               test_curve=t.test_curve)
    return hp.replace(training=training, levels=0, controls=(), rewind_iteration=0)


def run(runner: Runner, weights: str = "signed_constant", score_init: float = 0.0,
        samples: int = 10) -> ExperimentResult:
    """A learned supermask per trial of ``runner.hp`` (see :func:`hparams`), loaded from the
    store when there, else trained (the missing trials together) and stored."""
    if weights not in WEIGHTS:
        raise HparamError(f"supermask weights must be one of {', '.join(WEIGHTS)}; "
                          f"got {weights!r}")
    if not (isinstance(samples, int) and samples >= 1):
        raise HparamError(f"supermask samples must be a positive integer; got {samples!r}")
    hp = runner.hp
    networks = supermask_networks(runner, weights, score_init, samples)
    payloads = [runner.store.load(*n.path, n.key) for n in networks]
    missing = [t for t, p in enumerate(payloads) if p is None]
    if missing:
        members = [SupermaskMember(fixed_weights(runner.fresh_init(init_seed(hp, t)),
                                                 list(runner.kinds), weights),
                                   data_seed(hp, t), init_seed(hp, t)) for t in missing]
        began = time.perf_counter()
        trained = train_supermasks(hp.model, hp.training, runner.data, members,
                                   device=runner.device, score_init=score_init, samples=samples)
        origin = provenance(runner.device, time.perf_counter() - began) | {
            "trained_together": len(members)}
        for t, payload in zip(missing, trained, strict=True):
            runner.store.save(*networks[t].path, networks[t].key, payload, origin)
            payloads[t] = payload
    results, histories = experiment_tables(
        [({"method": "supermask", **n.labels}, p) for n, p in zip(networks, payloads,
                                                                   strict=True)])
    masks = {(t, 0): Mask.unpack(p["mask"]) for t, p in enumerate(payloads)}
    return ExperimentResult(hp, results, histories, masks, runner.data.description,
                            runner.data.synthetic)


def supermask_networks(runner: Runner, weights: str = "signed_constant",
                       score_init: float = 0.0, samples: int = 10) -> list[Network]:
    """The stored identity of each trial's learned supermask (what :func:`run` loads or
    trains; the estimate asks the store for the same)."""
    hp = runner.hp
    return [runner.network("supermask", {
        "mode": "learned_supermask", "weights": weights, "score_init": float(score_init),
        "samples": samples, "init_seed": init_seed(hp, t), "data_seed": data_seed(hp, t)},
        {"trial": t, "level": 0, "variant": "supermask"}, lambda: None)
        for t in range(hp.trials)]


def summary(result: ExperimentResult | pd.DataFrame) -> pd.DataFrame:
    """Per trial: test accuracy at early stop (%), its iteration and the expected density (%)."""
    rows = result.results if isinstance(result, ExperimentResult) else result
    return pd.DataFrame({"trial": rows.trial,
                         "test accuracy at early stop (%)": 100 * rows.early_stop_test_acc,
                         "early-stop iteration": rows.early_stop_iteration,
                         "weights kept (%)": 100 * rows.density})

