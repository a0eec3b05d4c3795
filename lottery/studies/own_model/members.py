"""Train several copies ("members") of any ``nn.Module`` as one computation.

The trials and controls of one IMP level (Frankle & Carbin 2019) are independent networks of
one architecture. ``torch.func.stack_module_state`` stacks their parameters and buffers along
a new leading dimension and ``vmap`` over ``functional_call`` runs all of them in one forward
and backward; batch norm's running statistics are stacked buffers, updated per member. The
loss is the sum of the members' losses, so each member's gradient is its own; an element-wise
optimizer (SGD, Adam ...) then updates each member as it would alone.

Not every module can be vectorized: random operations (dropout) would share or break their
draws, data-dependent control flow and ``.item()`` calls fail under ``vmap``. :func:`probe`
tries one step on copies and compares it with the members run one at a time; where it fails,
the caller trains the members one at a time (a group of one, the same loop without ``vmap``).
Batched and alone agree to float rounding, not bit for bit: ``vmap`` turns convolutions into
grouped ones and matmuls into batched ones, whose summation order differs.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap

State = dict[str, Tensor]
# optimizers whose update of an element depends on that element's history alone
ELEMENTWISE_OPTIMIZERS = ("SGD", "Adam", "AdamW", "Adamax", "NAdam", "RAdam", "RMSprop",
                          "Adagrad", "Adadelta")


def module_state(module: nn.Module) -> State:
    """Every parameter and buffer of ``module``, detached copies on the CPU."""
    return {n: t.detach().cpu().clone() for n, t in
            [*module.named_parameters(), *module.named_buffers()]}


@torch.no_grad()
def load_state(module: nn.Module, state: Mapping[str, Tensor]) -> nn.Module:
    """Copy ``state`` (as :func:`module_state` gives it) into ``module`` in place."""
    own = dict([*module.named_parameters(), *module.named_buffers()])
    missing = sorted(set(own) - set(state))
    if missing:
        raise ValueError(f"state lacks {missing[:3]} of {type(module).__name__}")
    for name, tensor in own.items():
        tensor.copy_(state[name])
    return module


def _output_metrics(out: Tensor, y: Tensor, loss_fn) -> tuple[Tensor, Tensor]:
    """Loss, and accuracy where outputs are class scores and targets class indices (else 0)."""
    loss = loss_fn(out, y)
    if out.dim() == 2 and not y.is_floating_point():
        return loss, (out.argmax(-1) == y).float().mean()
    return loss, torch.zeros((), device=out.device)


@dataclass
class Group:
    """K members of ``module``'s architecture, their tensors stacked ``(K, ...)``.

    ``vectorized``: one ``vmap`` over members; otherwise K must be 1 and the module runs as it
    is (the fallback)."""

    module: nn.Module
    params: dict[str, Tensor]
    buffers: dict[str, Tensor]
    vectorized: bool
    loss_fn: Callable = field(default=nn.functional.cross_entropy)

    @classmethod
    def of(cls, module: nn.Module, states: Sequence[State], device, vectorized: bool,
           loss_fn: Callable) -> Group:
        if not vectorized and len(states) != 1:
            raise ValueError("a group trained without vmap holds one member")
        copies = [load_state(copy.deepcopy(module), s).to(device) for s in states]
        params, buffers = stack_module_state(copies)
        base = copy.deepcopy(copies[0])
        return cls(base, params, buffers, vectorized, loss_fn)

    @property
    def size(self) -> int:
        return next(iter(self.params.values())).shape[0]

    def _one(self, params, buffers, x, y):
        return _output_metrics(functional_call(self.module, (params, buffers), (x,)), y,
                               self.loss_fn)

    def _run(self, params, buffers, x, y, shared: bool):
        """Per-member (loss, accuracy), each shaped (K,)."""
        if self.vectorized:
            dims = None if shared else 0
            return vmap(self._one, in_dims=(0, 0, dims, dims), randomness="error")(
                params, buffers, x, y)
        loss, acc = self._one({n: p[0] for n, p in params.items()},
                              {n: b[0] for n, b in buffers.items()},
                              x if shared else x[0], y if shared else y[0])
        return loss.unsqueeze(0), acc.unsqueeze(0)

    def step_loss(self, x: Tensor, y: Tensor, shared: bool) -> tuple[Tensor, Tensor]:
        """Training-mode forward of a batch: ``shared`` (B, ...) for all, else (K, B, ...)."""
        self.module.train()
        return self._run(self.params, self.buffers, x, y, shared)

    @torch.no_grad()
    def evaluate(self, chunks, device, state: tuple[dict, dict] | None = None
                 ) -> tuple[Tensor, Tensor]:
        """Mean loss and accuracy per member over ``chunks`` of (x, y), in eval mode, with the
        members' current tensors or ``state`` (stacked params, buffers)."""
        params, buffers = state or (self.params, self.buffers)
        self.module.eval()
        total_loss = total_acc = 0.0
        count = 0
        for x, y in chunks:  # member by member: vmap over a shared input was 2x slower on a CPU
            x, y = x.to(device), y.to(device)
            loss, acc = (torch.stack(v) for v in zip(*[self._one(
                {n: p[k] for n, p in params.items()}, {n: b[k] for n, b in buffers.items()},
                x, y) for k in range(self.size)], strict=True))
            total_loss, total_acc = total_loss + loss * len(y), total_acc + acc * len(y)
            count += len(y)
        return (total_loss / count).cpu(), (total_acc / count).cpu()

    def snapshot(self) -> tuple[dict, dict]:
        return ({n: p.detach().clone() for n, p in self.params.items()},
                {n: b.clone() for n, b in self.buffers.items()})

    def member_state(self, k: int, state: tuple[dict, dict] | None = None) -> State:
        params, buffers = state or (self.params, self.buffers)
        return {n: t[k].detach().cpu().clone() for n, t in [*params.items(), *buffers.items()]}


def elementwise(optimizer: torch.optim.Optimizer) -> bool:
    """Whether ``optimizer`` updates each element from its own history alone (then stacked
    members update exactly as they would alone)."""
    return type(optimizer).__name__ in ELEMENTWISE_OPTIMIZERS


def probe(module: nn.Module, x: Tensor, y: Tensor, loss_fn: Callable,
          make_optimizer: Callable) -> str | None:
    """Why ``module`` cannot be trained members-batched (None: it can): one forward and
    backward of two copies under ``vmap`` on the example batch ``(x, y)`` must run and match
    the copies run alone."""
    state = module_state(module)
    optimizer = make_optimizer([nn.Parameter(torch.zeros(1))])
    if not elementwise(optimizer):
        return (f"optimizer {type(optimizer).__name__} is not known to be element-wise "
                f"(known: {', '.join(ELEMENTWISE_OPTIMIZERS)})")
    device = x.device
    try:
        batched = Group.of(module, [state, state], device, True, loss_fn)
        loss, _ = batched.step_loss(x, y, shared=True)
        loss.sum().backward()
    except Exception as error:  # vmap refuses: randomness, data-dependent flow, .item() ...
        text = str(error).strip().splitlines()[0] if str(error).strip() else ""
        return f"{type(error).__name__} under vmap: {text[:140]}"
    alone = Group.of(module, [state], device, False, loss_fn)
    single, _ = alone.step_loss(x, y, shared=True)
    single.sum().backward()
    for name, p in alone.params.items():
        if not torch.allclose(batched.params[name].grad[0], p.grad[0], rtol=1e-3, atol=1e-5):
            return f"vmap's gradient of {name} differs from the module's own"
    return None
