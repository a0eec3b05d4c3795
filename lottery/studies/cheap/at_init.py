"""Cheaper ways to find sparse subnetworks: pruning at (or near) initialization.

Every method scores the prunable weights of one member of a :mod:`lottery.engine.models` network
(layer name -> tensor shaped like that member's weight; higher = keep) without training it to
the end, or, for iterative SynFlow, returns the :class:`~lottery.engine.masks.Mask` itself.
:func:`mask_at_density` turns scores into a mask with an exact number of survivors, globally or
with given per-layer densities (e.g. those of an IMP ticket). Scores are computed on a scratch
copy: the model's weights, buffers, gradients and train/eval mode are left as they were.
SNIP and GraSP score in train mode (batch statistics, as the first training step sees them;
dropout, where a model has it, is active); SynFlow in eval mode.

Calling convention of :data:`METHODS` (``member`` picks one network of a K-member model;
members are independent, so member k's scores equal those of a 1-member model holding its
weights):

- ``magnitude_init(model)`` and ``early_bird(state, names)`` -> scores, no data;
- ``snip(model, batch)`` and ``grasp(model, batches)`` -> scores, one or a few ``(x, y)``;
- ``synflow(model, density, input_shape=...)`` -> mask, data-free and iterative.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lottery.engine.masks import Mask
from lottery.engine.members import MemberConv2d, MemberLinear
from lottery.engine.pruning import random_mask_like, remove_lowest

Scores = dict[str, Tensor]
Batch = tuple[Tensor, Tensor]


# ---------------------------------------------------------------------------------------------
# scores -> mask


def _keep_count(density: float, alive: Tensor) -> int:
    if not 0.0 <= density <= 1.0:
        raise ValueError(f"density must be in [0, 1], got {density}")
    keep = int(density * alive.numel() + 0.5)
    if keep > int(alive.sum()):
        raise ValueError(f"density {density} keeps {keep} weights but only "
                         f"{int(alive.sum())} of {alive.numel()} survive in the mask")
    return keep


def mask_at_density(scores: Mapping[str, Tensor], mask: Mask, density: float,
                    strategy: str | Mapping[str, float] = "global") -> Mask:
    """Keep the highest-scoring survivors of ``mask``: round(density * size) of them.

    ``density`` is a fraction of all the mask's weights (not of its survivors), ranked together
    across layers (``strategy="global"``); a dict of per-layer densities keeps
    round(density[layer] * layer size) in each layer instead and ignores ``density``. Ties and
    NaN scores are ranked as in :func:`lottery.engine.pruning.remove_lowest`.
    """
    if isinstance(strategy, Mapping):
        return Mask({name: remove_lowest(scores[name].cpu(), alive,
                                         int(alive.sum()) - _keep_count(strategy[name], alive))
                     for name, alive in mask.items()})
    if strategy != "global":
        raise ValueError(f"strategy must be 'global' or a dict of layer densities, "
                         f"got {strategy!r}")
    names = list(mask)
    flat_scores = torch.cat([scores[n].detach().cpu().flatten().double() for n in names])
    flat_alive = torch.cat([mask[n].flatten() for n in names])
    count = int(flat_alive.sum()) - _keep_count(density, flat_alive)
    survivors = remove_lowest(flat_scores, flat_alive, count)
    sizes = [mask[n].numel() for n in names]
    return Mask({n: part.view_as(mask[n])
                 for n, part in zip(names, survivors.split(sizes), strict=True)})


# ---------------------------------------------------------------------------------------------
# shared machinery


def _scratch_copy(model: nn.Module, train: bool, dtype: torch.dtype | None = None) -> nn.Module:
    """A deep copy to score on, so forward passes never touch the model's buffers or grads."""
    net = copy.deepcopy(model)
    net.train(train)
    if dtype is not None:
        net.to(dtype)
    for p in net.parameters():
        p.requires_grad_(True)
        p.grad = None
    return net


def _member_scores(batched: Mapping[str, Tensor], member: int) -> Scores:
    return {name: t[member].detach().cpu().clone() for name, t in batched.items()}


def _loss(net: nn.Module, batch: Batch, temperature: float = 1.0) -> Tensor:
    """Sum over members of each member's mean cross-entropy, so member gradients are exact."""
    x, y = batch
    param = next(net.parameters())
    logits = net(x.to(param.device, param.dtype)) / temperature
    members, size = logits.shape[:2]
    targets = y.to(param.device).expand(members, size)
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction="sum") / size


def _mean_gradient(net: nn.Module, batches: Sequence[Batch], params: list[Tensor],
                   temperature: float = 1.0) -> list[Tensor]:
    total = [torch.zeros_like(p) for p in params]
    for batch in batches:
        grads = torch.autograd.grad(_loss(net, batch, temperature), params)
        for t, g in zip(total, grads, strict=True):
            t += g / len(batches)
    return total


# ---------------------------------------------------------------------------------------------
# the methods


def magnitude_init(model: nn.Module, *, member: int = 0) -> Scores:
    """Magnitude at initialization, |w_init| (the "magnitude" baseline of Frankle et al. 2021)."""
    return _member_scores({n: w.abs() for n, w in model.prunable_weights().items()}, member)


def snip(model: nn.Module, batch: Batch, *, member: int = 0) -> Scores:
    """SNIP (Lee et al., ICLR 2019): connection sensitivity |dL/dc| = |g * w| at mask c = 1."""
    # train mode: batch statistics, as in the first training step that the mask is made for
    net = _scratch_copy(model, train=True)
    weights = net.prunable_weights()
    grads = _mean_gradient(net, [batch], list(weights.values()))
    return _member_scores({n: (g * w).abs() for (n, w), g in
                           zip(weights.items(), grads, strict=True)}, member)


def hessian_gradient_product(net: nn.Module, batches: Sequence[Batch], names: Sequence[str],
                             temperature: float = 1.0) -> dict[str, Tensor]:
    """H g of the mean loss over ``batches`` w.r.t. parameters ``names`` (all members), by
    double backprop: the gradient of (g_stopped . g(w))."""
    params = dict(net.named_parameters())
    chosen = [params[n] for n in names]
    g = [t.detach() for t in _mean_gradient(net, batches, chosen, temperature)]
    hg = [torch.zeros_like(p) for p in chosen]
    for batch in batches:
        grads = torch.autograd.grad(_loss(net, batch, temperature), chosen, create_graph=True)
        z = sum((a * b).sum() for a, b in zip(g, grads, strict=True))
        for total, part in zip(hg, torch.autograd.grad(z, chosen), strict=True):
            total += part / len(batches)
    return dict(zip(names, hg, strict=True))


def grasp(model: nn.Module, batches: Sequence[Batch], *, temperature: float = 200.0,
          member: int = 0) -> Scores:
    """GraSP (Wang et al., ICLR 2020): keep-score w * Hg (Eq. 8 gives S(-w) = -w * Hg)."""
    # Sign: Eq. 8 scores S(-w) = -w * Hg (the first-order change of the gradient norm when w is
    # removed, up to sign conventions) and Algorithm 1 / the official code remove the weights
    # with the HIGHEST S(-w). In this module's higher = keep convention that is w * Hg: GraSP
    # keeps the highest w * Hg and prunes the lowest (Tanaka et al.'s reimplementation uses the
    # same w * Hg, "negate to remove top percent"). Frankle et al. 2021 report that inverted
    # GraSP does about as well, so a sign slip would not show up as a collapse: mind it here.
    # Temperature 200 divides the logits as in both implementations; the gradient norm covers
    # every conv and fc weight (prunable or not), biases and batch norm excluded, as the
    # official code does.
    net = _scratch_copy(model, train=True)
    names = [n for n, p in net.named_parameters() if p.dim() >= 3]  # (K, out, in, ...) weights
    hg = hessian_gradient_product(net, batches, names, temperature)
    weights = net.prunable_weights()
    return _member_scores({n: w.detach() * hg[n] for n, w in weights.items()}, member)


def _linearized(model: nn.Module) -> tuple[nn.Module, dict[str, Tensor]]:
    """A float64 eval-mode copy with every parameter and buffer replaced by its absolute value,
    and the prunable weights' |w| kept aside for re-masking."""
    # float64: SynFlow's R multiplies |w| along every path, which overflows float32 in deep
    # nets (Tanaka et al. score in float64); eval mode makes batch norm a fixed affine map
    net = _scratch_copy(model, train=False, dtype=torch.float64)
    with torch.no_grad():
        for t in itertools.chain(net.parameters(), net.buffers()):
            if t.is_floating_point():
                t.abs_()
    return net, {n: w.detach().clone() for n, w in net.prunable_weights().items()}


def _synflow_pass(net: nn.Module, originals: Mapping[str, Tensor], mask: Mask,
                  input_shape: Sequence[int], member: int) -> Scores:
    """|dR/dw * w| with R the summed output on an all-ones input, the mask applied."""
    weights = net.prunable_weights()
    with torch.no_grad():
        for name, w in weights.items():
            w[member].copy_(originals[name][member] * mask[name].to(w.device, w.dtype))
    device = next(iter(originals.values())).device
    ones = torch.ones((1, *input_shape), dtype=torch.float64, device=device)
    grads = torch.autograd.grad(net(ones).sum(), list(weights.values()))
    return _member_scores({n: (g * w).abs() for (n, w), g in
                           zip(weights.items(), grads, strict=True)}, member)


def synflow_scores(model: nn.Module, mask: Mask | None = None, *,
                   input_shape: Sequence[int], member: int = 0) -> Scores:
    """One SynFlow scoring pass (Tanaka et al., NeurIPS 2020): |dR/dw * w|, no data."""
    net, originals = _linearized(model)
    if mask is None:
        mask = Mask.dense({n: w.shape[1:] for n, w in originals.items()})
    return _synflow_pass(net, originals, mask, input_shape, member)


def synflow(model: nn.Module, density: float, *, input_shape: Sequence[int],
            iterations: int = 100, mask: Mask | None = None, member: int = 0) -> Mask:
    """SynFlow (Tanaka et al., NeurIPS 2020): data-free, rescored over ``iterations`` rounds."""
    # round i keeps density ** (i / iterations) of all weights (the paper's exponential schedule,
    # 100 rounds), ranked globally with the scores of the mask of round i - 1
    net, originals = _linearized(model)
    if mask is None:
        mask = Mask.dense({n: w.shape[1:] for n, w in originals.items()})
    for i in range(1, iterations + 1):
        scores = _synflow_pass(net, originals, mask, input_shape, member)
        mask = mask_at_density(scores, mask, density ** (i / iterations))
    return mask


def early_bird(state: Mapping[str, Tensor], names: Iterable[str]) -> Scores:
    """Early-bird ticket (You et al., ICLR 2020): |w_t| of the dense weights after t iterations."""
    # You et al. prune channels by batch-norm scale; this is its unstructured analogue: the
    # magnitude mask of the dense network's weights at iteration t (``state`` as from
    # lottery.engine.members.member_state), compared across checkpoints by early_bird_stop
    return {name: state[name].detach().abs().cpu() for name in names}


METHODS: dict[str, Callable[..., Scores | Mask]] = {
    "magnitude_init": magnitude_init,
    "snip": snip,
    "grasp": grasp,
    "synflow": synflow,
    "early_bird": early_bird,
}


# ---------------------------------------------------------------------------------------------
# early-bird stopping rule and the layer-shuffle ablation


def mask_distance(a: Mask, b: Mask) -> float:
    """Normalized Hamming distance: the fraction of prunable weights kept by one mask only."""
    if list(a) != list(b):
        raise ValueError("the masks cover different layers")
    differing = sum(int((a[n] != b[n]).sum()) for n in a)
    return differing / a.size()


def early_bird_stop(masks: Sequence[Mask], window: int = 5,
                    threshold: float = 0.1) -> int | None:
    """Index of the first mask whose last ``window`` consecutive distances are all below
    ``threshold`` (You et al. 2020: a FIFO of 5, epsilon 0.1); None if the masks never settle."""
    # distance[j] is between masks j and j + 1; mask i closes the pairs (i - window, ..., i)
    distance = [mask_distance(a, b) for a, b in itertools.pairwise(masks)]
    for i in range(window, len(masks)):
        if max(distance[i - window:i]) < threshold:
            return i
    return None


def shuffle_within_layers(mask: Mask, seed: int) -> Mask:
    """Same per-layer counts, positions drawn anew in each layer (Frankle et al., ICLR 2021)."""
    # random_mask_like already draws each layer's survivors uniformly at the mask's counts,
    # which is exactly a within-layer permutation of the mask's positions
    return random_mask_like(mask, seed)


# ---------------------------------------------------------------------------------------------
# cost accounting


def forward_flops(model: nn.Module, input_shape: Sequence[int]) -> int:
    """FLOPs (2 per multiply-add) of one member's conv and fc layers on one example, dense."""
    counts: list[int] = []

    def hook(module: nn.Module, _inputs, output: Tensor) -> None:
        if isinstance(module, MemberLinear):
            counts.append(2 * module.in_features * module.out_features)
        else:
            kernel = module.weight[0, 0].numel()  # in_channels * kh * kw of one member's filter
            counts.append(2 * module.out_channels * output.shape[-2:].numel() * kernel)

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, MemberLinear | MemberConv2d)]
    training = model.training
    try:
        model.eval()  # eval: batch norm reads its running statistics and updates nothing
        param = next(model.parameters())
        with torch.no_grad():
            model(torch.zeros((1, *input_shape), dtype=param.dtype, device=param.device))
    finally:
        model.train(training)
        for handle in handles:
            handle.remove()
    return sum(counts)


def cost(method: str, *, flops: int, batch_size: int = 0, iterations: int = 0,
         levels: int = 0, batches: int = 1, synflow_iterations: int = 100) -> dict[str, float]:
    """Training iterations and approximate FLOPs spent finding a mask, before the final training.

    Assumptions: ``flops`` is :func:`forward_flops` (one example, dense: sparse weights save
    nothing on dense hardware); a backward pass costs two forwards, a training step 3 x flops
    per example; a Hessian-vector product by double backprop costs two gradients. Per method:
    magnitude_init (and shuffling) nothing; snip one gradient of one batch; grasp one gradient
    and one Hessian-gradient product on each of ``batches`` batches; synflow
    ``synflow_iterations`` gradients of one all-ones example; early_bird ``iterations`` (= t)
    steps of dense training; imp ``levels`` training runs of ``iterations`` steps each.
    Mask computations (sorting, distances) are ignored.
    """
    step = 3 * flops * batch_size
    table = {
        "magnitude_init": (0, 0),
        "snip": (0, step),
        "grasp": (0, 3 * step * batches),
        "synflow": (0, 3 * flops * synflow_iterations),
        "early_bird": (iterations, step * iterations),
        "imp": (levels * iterations, step * levels * iterations),
    }
    if method not in table:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(table)}")
    spent, total = table[method]
    return {"iterations": spent, "flops": float(total)}
