"""Learned supermasks (Zhou et al. 2019, Sec. 5.3): train the mask, never the weights.

Every weight of the network is frozen (the prunable ones at their signed-constant init, ±σ of
the layer's init with the init's sign; biases at init); each prunable weight gets a real-valued
score ``s``. A forward pass in training samples the mask ``m ~ Bernoulli(sigmoid(s))`` and uses
``w * m``; the backward pass treats the sample as ``sigmoid(s)`` (straight-through), so Adam
trains the scores. Evaluation also samples the mask (one sample per evaluation point; the test
accuracy at the early-stop point is the mean over ``samples`` masks), as Zhou et al. do.

The scores train through the training engine itself (:func:`lottery.core.training.train` with
the :class:`LearnedSupermask` parameterisation: the same batches, optimizer, evaluation points,
early stopping on the lowest validation loss, and checkpoints, the mask generators included)
and through the runner's :meth:`~lottery.core.experiments.Runner.train_many`, so on its executor
(Ray included) and with its progress reporting. Each trial's supermask is one entry of the run
store (stage ``supermask``), keyed by the recipe (the scores' Adam schedule as the training
hyperparameters), the weights, the score init, the samples and the seeds; it keeps the scores,
the first sampled test mask (its ``density:<layer>``) and the expected density (``density``:
mean sigmoid of the scores). Members are sampled from their own generators, so a network does
not depend on its batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import torch
from torch import Tensor, nn
from torch.func import functional_call

from lottery.core.experiments import Network, Runner, data_seed, init_seed
from lottery.core.hparams import ExperimentHparams, HparamError, TrainingHparams
from lottery.core.results import ExperimentResult, experiment_tables
from lottery.core.training import (
    LoopState,
    Member,
    TrainResult,
    evaluate,
    history_frame,
    model_tensors,
)
from lottery.engine import mask1_actions as mask1
from lottery.engine.data import DataBundle
from lottery.engine.masks import Mask
from lottery.engine.members import State, member_state
from lottery.engine.models import LotteryModel

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

    def get_extra_state(self) -> dict:
        """The mask generators' states: a checkpoint resumes the same samples."""
        return {"train": [g.get_state() for g in self.train_draws],
                "eval": [g.get_state() for g in self.eval_draws]}

    def set_extra_state(self, state: dict) -> None:
        for g, saved in zip(self.train_draws + self.eval_draws, state["train"] + state["eval"],
                            strict=True):
            g.set_state(saved.cpu())

    def density(self) -> Tensor:
        """Per member, the expected fraction of prunable weights kept: mean of sigmoid(s)."""
        kept = sum(torch.sigmoid(s.detach()).flatten(1).sum(1) for s in self.scores)
        return kept / sum(s[0].numel() for s in self.scores)


@dataclass(frozen=True)
class LearnedSupermask:
    """Scores trained in place of the weights: the
    :class:`~lottery.core.training.Parameterisation` :func:`~lottery.core.training.train` takes.
    Its members start from their frozen weights (a full state, mask None) and sample their
    masks from their ``sample_seed``; ``samples`` masks are drawn for the test accuracy at the
    early-stop point."""

    score_init: float = 0.0
    samples: int = 10

    def module(self, model: LotteryModel, members: Sequence[Member]) -> SupermaskNet:
        return SupermaskNet(model, self.score_init, [m.sample_seed for m in members])

    def before_record(self, net: SupermaskNet) -> None:
        net.resample_eval_masks()  # one mask sample per evaluation point

    def finish(self, net: SupermaskNet, data: DataBundle, loop: LoopState,
               eval_batch_size: int, autocast=None) -> TrainResult:
        """Restore the early-stop scores; test accuracy over ``samples`` sampled masks, the
        first of them kept as each member's mask."""
        with torch.no_grad():
            for name, t in model_tensors(net).items():
                t.copy_(loop.best[name])
        density = net.density().cpu()
        losses, accs, first_masks = [], [], None
        for _ in range(self.samples):
            net.resample_eval_masks()
            first_masks = first_masks or [m.detach().cpu().bool() for m in net.eval_masks()]
            loss, acc = evaluate(net, data.test, eval_batch_size, autocast)
            losses.append(loss.cpu())
            accs.append(acc.cpu())
        loss, acc = torch.stack(losses).mean(0), torch.stack(accs).mean(0)
        history = history_frame(loop)
        last = history[history.iteration == loop.points[-1]].set_index("member")
        members = range(net.members)
        summary = pd.DataFrame({
            "member": members, "early_stop_iteration": loop.best_iteration.cpu().tolist(),
            "early_stop_val_loss": loop.best_val.cpu().tolist(),
            "early_stop_test_loss": loss.tolist(), "early_stop_test_acc": acc.tolist(),
            "final_val_loss": last.val_loss.tolist(), "final_test_acc": last.test_acc.tolist(),
            "density": density.tolist()})
        masks = [Mask({n: m[k] for n, m in zip(net.names, first_masks, strict=True)})
                 for k in members]
        scores = [{"scores": {n: s[k].detach().cpu().clone()
                              for n, s in zip(net.names, net.scores, strict=True)}}
                  for k in members]
        weights = [member_state(net.inner, k) for k in members]  # frozen: as they started
        return TrainResult(history, summary, weights, {}, masks, scores)


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
    store when there, else trained through the runner (the missing trials together, on its
    executor) and stored."""
    if weights not in WEIGHTS:
        raise HparamError(f"supermask weights must be one of {', '.join(WEIGHTS)}; "
                          f"got {weights!r}")
    if not (isinstance(samples, int) and samples >= 1):
        raise HparamError(f"supermask samples must be a positive integer; got {samples!r}")
    networks = supermask_networks(runner, weights, score_init, samples)
    payloads = runner.train_many(networks, "learned supermask")
    results, histories = experiment_tables(
        [({"method": "supermask", **n.labels}, p) for n, p in zip(networks, payloads,
                                                                   strict=True)])
    masks = {(t, 0): Mask.unpack(p["mask"]) for t, p in enumerate(payloads)}
    return ExperimentResult(runner.hp, results, histories, masks, runner.data.description,
                            runner.data.synthetic)


def supermask_networks(runner: Runner, weights: str = "signed_constant",
                       score_init: float = 0.0, samples: int = 10) -> list[Network]:
    """Each trial's learned supermask: its stored identity (what :func:`run` loads or trains;
    the estimate asks the store for the same) and its member, the frozen ``weights`` of the
    trial's init, sampling its masks from the init seed."""
    hp, how = runner.hp, LearnedSupermask(float(score_init), samples)

    def member(t: int) -> Member:
        seed = init_seed(hp, t)
        return Member(fixed_weights(runner.fresh_init(seed), list(runner.kinds), weights), None,
                      data_seed(hp, t), sample_seed=seed)

    return [runner.network("supermask", {
        "mode": "learned_supermask", "weights": weights, "score_init": float(score_init),
        "samples": samples, "init_seed": init_seed(hp, t), "data_seed": data_seed(hp, t)},
        {"trial": t, "level": 0, "variant": "supermask"}, lambda t=t: member(t),
        keep_final=False, parameterisation=how) for t in range(hp.trials)]


def summary(result: ExperimentResult | pd.DataFrame) -> pd.DataFrame:
    """Per trial: test accuracy at early stop (%), its iteration and the expected density (%)."""
    rows = result.results if isinstance(result, ExperimentResult) else result
    return pd.DataFrame({"trial": rows.trial,
                         "test accuracy at early stop (%)": 100 * rows.early_stop_test_acc,
                         "early-stop iteration": rows.early_stop_iteration,
                         "weights kept (%)": 100 * rows.density})

