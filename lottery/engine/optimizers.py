"""Adam and SGD written for the CPU hot loop: exact elementwise and allocation-free.

PyTorch's CPU choices are either fused (one pass, but an element's rounding depends on where it
falls in its tensor, so a member trained in a batch and alone drift apart) or foreach (exact, but
every step allocates fresh buffers for intermediate results, and on the CPU each fresh buffer
costs page faults). These keep their intermediate buffers between steps and use only
elementwise in-place ops, so they are exact per element and allocate nothing after the first
step. The update rules are PyTorch's Adam (no amsgrad) and SGD with momentum (no dampening,
no Nesterov), weight decay added to the gradient.

One deliberate difference: Adam's square root. PyTorch's CPU ``sqrt`` (a vectorized math
library; measured, not documented) is one ulp off the correctly rounded value for about 20% of
inputs, and 7x slower on zeros and 30x slower on subnormals than on ordinary numbers. A pruned
weight's second moment is exactly zero, so at 20% density that square root was 30% of a whole
LeNet training step. We take the IEEE square root (numpy's, correctly rounded, the same speed
on any input): SGD is bit-identical to PyTorch's, Adam agrees with it to an ulp per step and is
exact per element (a member batched or alone gets identical numbers).

Adam's update can also run as one compiled pass over each tensor instead of seven
(:func:`compiled_adam_update`, the CPU default of :func:`lottery.core.training.make_optimizer`): a
small C kernel (:mod:`lottery.engine.adam_kernel`), built once per machine and cached, because
compiling it with torch.compile cost seconds in every new process, which dominated short jobs.
Without a C compiler its exact numpy emulation (:mod:`lottery.engine.adam_emulation`) runs instead:
the same numbers, slower.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
from torch import Tensor

from lottery.engine import adam_emulation, adam_kernel


def ieee_sqrt_(source: Tensor, out: Tensor) -> Tensor:
    """Correctly rounded elementwise square root of ``source`` into ``out`` (same shape)."""
    if source.device.type == "cpu" and not source.requires_grad:
        np.sqrt(source.numpy(), out=out.numpy())
        return out
    return torch.sqrt(source, out=out)  # CUDA's sqrt is already correctly rounded


class _InPlaceOptimizer(torch.optim.Optimizer):
    # torch wraps these to keep dynamo out, and the wrapper's first call imports dynamo (a
    # second or more per process); nothing here runs under dynamo, so take them unwrapped
    add_param_group = torch.optim.Optimizer.add_param_group.__wrapped__
    zero_grad = torch.optim.Optimizer.zero_grad.__wrapped__

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            grads = [p.grad for p in params]
            if group["weight_decay"]:
                torch._foreach_add_(grads, params, alpha=group["weight_decay"])  # grads are ours
            self._update(group, params, grads)

    def _update(self, group: dict, params: list[Tensor], grads: list[Tensor]) -> None:
        raise NotImplementedError


class Adam(_InPlaceOptimizer):
    """Adam (no amsgrad): a sequence of in-place elementwise passes or, with ``compiled`` on
    the CPU, one pass per tensor of a C kernel (:func:`compiled_adam_update`; the step is
    2-3x faster once K members' moments outgrow the cache). Either way every element goes
    through the same arithmetic wherever it sits, so batched and alone agree exactly; the two
    ways differ from each other, and from PyTorch's Adam, only by float rounding."""

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, compiled: bool = False):
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps,
                                  "weight_decay": weight_decay})
        self.compiled = compiled
        self._aliases: dict[Tensor, tuple[Tensor, Tensor, Tensor]] = {}

    def _flat_sets(self, params, grads, states) -> list[list[Tensor]] | None:
        """1-D aliases of (param, grad, exp_avg, exp_avg_sq) for the C kernel; those of
        the long-lived tensors are kept between steps. None where it cannot run (not on the
        CPU, layouts that differ or have gaps)."""
        if params[0].device.type != "cpu":
            return None
        sets = []
        for p, g, state in zip(params, grads, states, strict=True):
            tensors = (p, g, state["exp_avg"], state["exp_avg_sq"])
            if len({t.stride() for t in tensors}) != 1:
                return None
            lasting = (p, state["exp_avg"], state["exp_avg_sq"])  # loading a state replaces these
            kept = self._aliases.get(p)
            if kept is None or any(a.data_ptr() != t.data_ptr()
                                   for a, t in zip(kept, lasting, strict=True)):
                kept = tuple(storage_order_flat(t) for t in lasting)
                if any(a is None for a in kept):
                    return None
                self._aliases[p] = kept
            grad = storage_order_flat(g)
            if grad is None:
                return None
            sets.append([kept[0], grad, kept[1], kept[2]])
        return sets

    def _update(self, group: dict, params: list[Tensor], grads: list[Tensor]) -> None:
        beta1, beta2 = group["betas"]
        states = [self.state[p] for p in params]
        for p, state in zip(params, states, strict=True):
            if not state:
                state["step"] = 0
                state["exp_avg"] = torch.zeros_like(p)
                state["exp_avg_sq"] = torch.zeros_like(p)
            state["step"] += 1
        exp_avg = [s["exp_avg"] for s in states]
        exp_avg_sq = [s["exp_avg_sq"] for s in states]
        step = states[0]["step"]
        step_size = group["lr"] / (1 - beta1 ** step)
        bias2_sqrt = math.sqrt(1 - beta2 ** step)
        flat = self._flat_sets(params, grads, states) if self.compiled else None
        if flat is not None and compiled_adam_update(flat, step_size, bias2_sqrt, beta1, beta2,
                                                     group["eps"]):
            return
        for p, state in zip(params, states, strict=True):
            if "denom" not in state:
                state["denom"] = torch.zeros_like(p)
        denom = [s["denom"] for s in states]
        torch._foreach_lerp_(exp_avg, grads, 1 - beta1)
        torch._foreach_mul_(exp_avg_sq, beta2)
        torch._foreach_addcmul_(exp_avg_sq, grads, grads, value=1 - beta2)
        for d, v in zip(denom, exp_avg_sq, strict=True):
            ieee_sqrt_(v, d)
        torch._foreach_div_(denom, bias2_sqrt)
        torch._foreach_add_(denom, group["eps"])
        torch._foreach_addcdiv_(params, exp_avg, denom, value=-step_size)


# ------------------------------------------------------------------ the compiled Adam update
#
# Eager Adam streams every tensor through memory seven times a step; once K members' moments
# outgrow the cache that is most of the optimizer's time. The C kernel makes it a single pass,
# split over torch's threads for large tensors. It was an inductor kernel, but importing the
# compiler and tracing cost ~3.4 s in every process (a 1000-iteration LeNet job takes ~30 s);
# loading the cached C library costs milliseconds and gives the same bits.

_kernel: adam_kernel.Kernel | None = None
_kernel_failed = False  # no kernel in this process: the emulation runs instead


def storage_order_flat(t: Tensor) -> Tensor | None:
    """A 1-D tensor over a dense tensor's memory in storage order (e.g. a channels-last weight),
    or None when there is none (overlapping or gapped strides)."""
    order = sorted(range(t.dim()), key=lambda d: (-t.stride(d), -t.shape[d]))
    if not t.permute(order).is_contiguous():
        return None
    return t.new_empty(0).set_(t.untyped_storage(), t.storage_offset(), (t.numel(),), (1,))


def loaded_kernel() -> adam_kernel.Kernel | None:
    """The C kernel, loaded (or built) at the first call; None, warned about once, where it
    cannot be built."""
    global _kernel, _kernel_failed
    if _kernel is None and not _kernel_failed:
        try:
            _kernel = adam_kernel.load()
        except (adam_kernel.BuildError, OSError) as error:
            _kernel_failed = True
            warnings.warn(f"the C Adam kernel cannot be built ({error}); evaluating its "
                          "arithmetic with numpy for the rest of this process (slower; the "
                          "same numbers)", RuntimeWarning, stacklevel=3)
    return _kernel


def compiled_adam_update(flat: list[list[Tensor]], step_size: float, bias2_sqrt: float,
                         beta1: float, beta2: float, eps: float) -> bool:
    """Apply the Adam update with the C kernel (or, without a compiler, its exact numpy
    emulation) to ``flat``: one ``[param, grad, exp_avg, exp_avg_sq]`` set a tensor, each a 1-D
    CPU alias (:func:`storage_order_flat`). Returns False, having changed nothing, where the
    kernel does not apply (:func:`lottery.engine.adam_emulation.supported`)."""
    if not adam_emulation.supported(flat, beta1):
        return False
    kernel = loaded_kernel()
    if kernel is None:
        adam_emulation.update(flat, step_size, bias2_sqrt, beta1, beta2, eps)
    else:
        kernel.update(flat, step_size, bias2_sqrt, beta1, beta2, eps, torch.get_num_threads())
    return True


class SGD(_InPlaceOptimizer):
    def __init__(self, params, lr: float, momentum: float = 0.0, weight_decay: float = 0.0):
        super().__init__(params, {"lr": lr, "momentum": momentum, "weight_decay": weight_decay})

    def _update(self, group: dict, params: list[Tensor], grads: list[Tensor]) -> None:
        if group["momentum"]:
            buffers, updates = [], []
            for p, g in zip(params, grads, strict=True):
                state = self.state[p]
                if "momentum_buffer" in state:
                    buffers.append(state["momentum_buffer"])
                    updates.append(g)
                else:  # first step: the buffer starts as the gradient
                    state["momentum_buffer"] = g.clone()
            if buffers:
                torch._foreach_mul_(buffers, group["momentum"])
                torch._foreach_add_(buffers, updates)
            grads = [self.state[p]["momentum_buffer"] for p in params]
        torch._foreach_add_(params, grads, alpha=-group["lr"])


def make_optimizer(params, hp, device: torch.device,
                   kernel: str = "auto") -> torch.optim.Optimizer:
    """Adam or SGD with momentum (``hp``: the training hyperparameters' optimizer, lr, momentum,
    weight decay), with the update ``kernel`` (auto, eager, torch_fused) of the speed options."""
    params = list(params)
    if kernel == "torch_fused" or (kernel == "auto" and device.type == "cuda"):
        if hp.optimizer == "adam":
            return torch.optim.Adam(params, lr=hp.lr, weight_decay=hp.weight_decay, fused=True)
        return torch.optim.SGD(params, lr=hp.lr, momentum=hp.momentum,
                               weight_decay=hp.weight_decay, fused=True)
    if hp.optimizer == "adam":
        return Adam(params, lr=hp.lr, weight_decay=hp.weight_decay,
                               compiled=kernel == "auto")
    return SGD(params, lr=hp.lr, momentum=hp.momentum, weight_decay=hp.weight_decay)
