"""Masked fully connected layers computed sparsely: only the kept weights are stored and trained.

A training run's masks are fixed, so the kept positions of a :class:`MemberLinear`'s K member
masks are one fixed CSR pattern: block-diagonal ``(K * out, K * in)`` for per-member input
``(K, B, in)``, stacked ``(K * out, in)`` for a shared ``(B, in)`` input. The kept weights live
in one ``values`` parameter ``(nnz,)``; the forward is one sparse x dense product over all
members, the input gradient the transposed product (its pattern and the permutation of the
values computed once) and the weight gradient the product sampled at the kept positions only.
The optimizer is built over ``values``, so it keeps state for kept weights only, and pruned
weights stay exactly zero because they do not exist.

The dense weight stays the layer's public state (``member_state``, snapshots, checkpoints, the
early-stop copy read it): :meth:`SparseLayers.to_dense` scatters the values into it before such
reads, and a write to it from outside (loading a checkpoint, the early-stop weights put back at
the end) is noticed by its version counter and gathered into the values before the next forward.

Which layers go sparse (``SpeedOptions.sparse``): ``off``; ``on`` (every masked fc layer);
``auto`` (the default): a layer goes sparse when its kept fraction is below the crossover density
*measured* on this device for its shape, member count, batch size and optimizer
(:func:`measure_crossover`, cached in ``<runs>/sparse_crossover.json``). Members whose pruned
weights hold fixed nonzero values (``Member.frozen``) need them in the product, so such a layer
stays dense. Sparse and dense results differ by float rounding (the sums skip the zeros); a
member batched or alone gets bit-identical results on either path, but ``auto`` may choose
differently for different batches, so pin ``on`` or ``off`` where that exactness matters.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import torch
from torch import Tensor, nn

from lottery.engine.members import MemberLinear

MODES = ("auto", "off", "on")
# the member count the crossover is measured at, whatever a call's K: a layer's path then
# depends on its density alone, so a network takes the same path, and gets the same bits,
# trained alone or in any batch (the sparse path is exact batched vs alone, as the dense is)
CROSSOVER_MEMBERS = 5
# densities tried from the top until the sparse step is the faster: the IMP schedules of the
# papers pass through this range at 0.8^n, so its points are about as far apart as levels
LADDER = (0.7, 0.5, 0.35, 0.25, 0.18, 0.12, 0.08, 0.05, 0.03, 0.02, 0.01)

# CSR tensors are beta in PyTorch and say so on every construction; the patterns are built
# valid by construction, so the invariant checks are off on purpose
warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
warnings.filterwarnings("ignore", message="Sparse invariant checks are implicitly disabled")


def _crow(rows: Tensor, count: int) -> Tensor:
    """CSR row pointers of sorted row indices ``rows`` over ``count`` rows."""
    crow = torch.zeros(count + 1, dtype=torch.int64, device=rows.device)
    crow[1:] = torch.bincount(rows, minlength=count).cumsum(0)
    return crow


@dataclass
class Pattern:
    """The kept positions of K members' ``(out, in)`` masks as CSR index arrays."""

    members: int
    out_features: int
    in_features: int
    index: Tensor           # kept positions in the flat (K, out, in) weight, row-major
    rows: Tensor            # CSR row of each kept weight: k * out + o
    crow: Tensor            # row pointers, shared by the block-diagonal and stacked matrices
    cols: dict[bool, Tensor]  # shared input -> column: i (stacked) or k * in + i (block)
    _transposed: dict[bool, tuple[Tensor, Tensor, Tensor]] = field(default_factory=dict)

    @classmethod
    def of(cls, mask: Tensor) -> Pattern:
        """The pattern of a ``(K, out, in)`` boolean mask."""
        k, out_features, in_features = mask.shape
        kept = mask.nonzero()  # sorted row-major: the CSR order
        rows = kept[:, 0] * out_features + kept[:, 1]
        cols = {True: kept[:, 2].contiguous(), False: kept[:, 0] * in_features + kept[:, 2]}
        index = mask.flatten().nonzero().squeeze(1)
        return cls(k, out_features, in_features, index, rows, _crow(rows, k * out_features),
                   cols)

    @property
    def nnz(self) -> int:
        return self.index.numel()

    def shape(self, shared: bool) -> tuple[int, int]:
        return self.members * self.out_features, self.in_features * (1 if shared else
                                                                      self.members)

    def matrix(self, values: Tensor, shared: bool) -> Tensor:
        """The CSR matrix holding ``values`` at the kept positions (no copy)."""
        return torch.sparse_csr_tensor(self.crow, self.cols[shared], values, self.shape(shared),
                                       check_invariants=False)

    def transposed(self, values: Tensor, shared: bool) -> Tensor:
        """The CSR matrix of the transpose, its values permuted from ``values``."""
        if shared not in self._transposed:  # built once per run: the mask is fixed
            cols = self.cols[shared]
            width = self.shape(shared)[1]
            order = torch.argsort(cols * (self.members * self.out_features) + self.rows)
            self._transposed[shared] = (_crow(cols[order], width), self.rows[order].contiguous(),
                                        order)
        crow, cols, order = self._transposed[shared]
        permuted = torch.index_select(values, 0, order)  # much faster than values[order]
        rows, width = self.shape(shared)
        return torch.sparse_csr_tensor(crow, cols, permuted, (width, rows),
                                       check_invariants=False)


class _SparseProduct(torch.autograd.Function):
    """``A @ xt + bias`` for the CSR matrix ``A`` of ``values``: ``(K * out, B)``."""

    @staticmethod
    def forward(ctx, values: Tensor, bias: Tensor, xt: Tensor, pattern: Pattern,
                shared: bool) -> Tensor:
        ctx.save_for_backward(values, xt)
        ctx.pattern, ctx.shared = pattern, shared
        return torch.addmm(bias.reshape(-1, 1), pattern.matrix(values, shared), xt)

    @staticmethod
    def backward(ctx, grad: Tensor):
        values, xt = ctx.saved_tensors
        pattern, shared = ctx.pattern, ctx.shared
        grad = grad.contiguous()
        grad_values = grad_bias = grad_x = None
        if ctx.needs_input_grad[0]:  # dY @ X^T at the kept positions only
            sampled = torch.sparse.sampled_addmm(pattern.matrix(values, shared), grad, xt.t(),
                                                 beta=0.0)
            grad_values = sampled.values()
        if ctx.needs_input_grad[1]:
            grad_bias = grad.sum(1).view(pattern.members, pattern.out_features)
        if ctx.needs_input_grad[2]:
            grad_x = pattern.transposed(values, shared) @ grad
        return grad_values, grad_bias, grad_x, None, None


class SparseLinear:
    """A :class:`MemberLinear` computed on the kept weights of fixed masks (its forward)."""

    def __init__(self, layer: MemberLinear, mask: Tensor):
        self.layer, self.pattern = layer, Pattern.of(mask.bool())
        self.values = nn.Parameter(layer.weight.new_empty(self.pattern.nnz))
        self._seen = -1  # the dense weight's version when values and weight last agreed
        self.sparse_evaluation = True  # False: a shared (evaluation) input takes the dense path
        self.gather()

    def gather(self) -> None:
        """Dense weight -> values."""
        with torch.no_grad():
            torch.index_select(self.layer.weight.flatten(), 0, self.pattern.index,
                               out=self.values)
        self._seen = self.layer.weight._version

    def to_dense(self) -> None:
        """Values -> dense weight, unless the weight was written since (then it is the newer)."""
        weight = self.layer.weight
        if weight._version != self._seen:
            self.gather()
            return
        with torch.no_grad():
            weight.view(-1).index_copy_(0, self.pattern.index, self.values)
        self._seen = weight._version

    def __call__(self, x: Tensor) -> Tensor:
        if self.layer.weight._version != self._seen:
            self.gather()
        p, shared = self.pattern, x.dim() == 2
        if shared and not self.sparse_evaluation:
            self.to_dense()
            return MemberLinear.forward(self.layer, x)
        # activations as (features, batch): the layout the product reads and writes, so a
        # following layer's x^T is this output again with no copy (as MemberLinear's)
        xt = x.t() if shared else x.transpose(1, 2).reshape(p.members * p.in_features, -1)
        out = _SparseProduct.apply(self.values, self.layer.bias, xt, p, shared)
        return out.view(p.members, p.out_features, -1).transpose(1, 2)


@dataclass
class SparseLayers:
    """The sparse layers of one training run (possibly none) and the training loop's hooks."""

    layers: list[SparseLinear]

    def parameters(self, model: nn.Module) -> list[nn.Parameter]:
        """What the optimizer trains: the model's parameters, kept values for dense weights."""
        replaced = {id(s.layer.weight) for s in self.layers}
        return [p for p in model.parameters() if id(p) not in replaced] + \
            [s.values for s in self.layers]

    def dense_rest(self, masked: list[Tensor], masks: list[Tensor],
                   frozen: list[Tensor] | None):
        """The training loop's masked weights, masks and frozen values without the sparse ones."""
        replaced = {id(s.layer.weight) for s in self.layers}
        keep = [i for i, p in enumerate(masked) if id(p) not in replaced]
        return ([masked[i] for i in keep], [masks[i] for i in keep],
                None if frozen is None or not keep else [frozen[i] for i in keep])

    def to_dense(self) -> None:
        """Bring every dense weight up to date (before anything reads the model's tensors)."""
        for layer in self.layers:
            layer.to_dense()


def install(layer: MemberLinear, mask: Tensor) -> SparseLinear:
    """Compute ``layer`` sparsely from now on (its dense weight stops being trained)."""
    sparse = SparseLinear(layer, mask)
    layer.forward = sparse  # an instance attribute: nn.Module.__call__ now runs the sparse one
    layer.weight.requires_grad_(False)
    return sparse


# ------------------------------------------------------------------- choosing and measuring


@dataclass(frozen=True)
class LayerWork:
    """What a layer's training-step cost depends on besides its density."""

    in_features: int
    out_features: int
    members: int
    batch_size: int
    input_grad: bool  # whether the layer's input needs a gradient (not for a first layer)
    # the evaluation forward (no gradient, one input shared by all members, the evaluation
    # batch): large batches favour the dense product, so it has a crossover of its own
    evaluation: bool = False


def density(mask: Tensor) -> float:
    """The kept fraction over all members: what the sparse product's cost scales with."""
    return float(mask.float().mean())


def choose(mode: str, kept: float, crossover: Callable[[], float]) -> bool:
    """Whether a layer with ``kept`` density goes sparse; ``crossover`` measures (auto only)."""
    if mode == "off":
        return False
    if mode == "on":
        return True
    # a measured crossover never exceeds the ladder's top, so a denser layer (a full one
    # above all) is dense without measuring anything
    return kept < min(1.0, LADDER[0]) and kept < crossover()


# ------------------------------------------------------------------- the training engine's hook


def setup(model: nn.Module, masked: Sequence[Tensor], masks: Sequence[Tensor],
          frozen: Sequence[Tensor] | None, speed, hp, input_shape: Sequence[int],
          device: torch.device, crossover: Callable[[LayerWork], float],
          eval_batch: int = 5000) -> SparseLayers:
    """Make the masked fc layers that ``speed.sparse`` chooses sparse; returns them."""
    mode = speed.sparse
    if mode == "auto" and (speed.bf16 or speed.compile):  # the sparse product has neither
        mode = "off"
    candidates = [] if mode == "off" else _candidates(model, masked, masks, frozen)
    if not candidates:
        return SparseLayers([])
    grads = _input_grads(model, [layer for layer, _ in candidates], input_shape, device)
    chosen = []
    for (layer, mask), input_grad in zip(candidates, grads, strict=True):
        train = LayerWork(layer.in_features, layer.out_features, CROSSOVER_MEMBERS,
                          hp.batch_size, input_grad)
        evaluation = replace(train, batch_size=eval_batch, input_grad=False, evaluation=True)

        if choose(mode, density(mask), lambda work=train: crossover(work)):
            chosen.append(install(layer, mask))
            chosen[-1].sparse_evaluation = choose(mode, density(mask),
                                                  lambda work=evaluation: crossover(work))
    return SparseLayers(chosen)


def _candidates(model: nn.Module, masked: Sequence[Tensor], masks: Sequence[Tensor],
                frozen: Sequence[Tensor] | None) -> list[tuple[MemberLinear, Tensor]]:
    """The masked fc layers that can go sparse: float32, and no fixed nonzero pruned values
    (those take part in the product: such a layer stays dense)."""
    owner = {id(m.weight): m for m in model.modules() if isinstance(m, MemberLinear)}
    found = []
    for i, (weight, mask) in enumerate(zip(masked, masks, strict=True)):
        layer = owner.get(id(weight))
        if layer is None or weight.dtype != torch.float32 or not weight.is_contiguous():
            continue
        if frozen is not None and bool(frozen[i].any()):
            continue
        found.append((layer, mask != 0))
    return found


def _input_grads(model: nn.Module, layers: list[MemberLinear], input_shape: Sequence[int],
                 device: torch.device) -> list[bool]:
    """Whether each layer's input needs a gradient in training (one tiny forward, eval mode so
    no running statistic moves): a first layer's does not, and its step skips that product."""
    seen: dict[int, bool] = {}
    hooks = [layer.register_forward_pre_hook(
        lambda module, args: seen.__setitem__(id(module), args[0].requires_grad))
        for layer in layers]
    was_training = model.training
    try:
        model.eval()
        with torch.enable_grad():
            model(torch.zeros(model.members, 2, *input_shape, device=device))
    finally:
        model.train(was_training)
        for hook in hooks:
            hook.remove()
    return [seen.get(id(layer), True) for layer in layers]


def check_optimizer_state(optimizer: torch.optim.Optimizer) -> None:
    """Raise ValueError where loaded optimizer state does not fit its parameter's shape (a
    checkpoint written with another choice of sparse layers)."""
    for param, state in optimizer.state.items():
        for name, value in state.items():
            if isinstance(value, Tensor) and value.dim() and value.shape != param.shape:
                raise ValueError(f"optimizer state {name!r} has shape {tuple(value.shape)}, "
                                 f"its parameter {tuple(param.shape)}")
