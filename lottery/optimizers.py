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

Adam's update can also run compiled (:func:`compiled_adam_update`, the CPU default of
:func:`lottery.training.make_optimizer`): one pass over each tensor instead of seven. Compiling
costs seconds per process, so the first :data:`EMULATED_UPDATES` element updates of a process
evaluate the compiled kernel's arithmetic with numpy instead (:mod:`lottery.adam_emulation`, bit
for bit the same): a short job never pays for the compiler.
"""

from __future__ import annotations

import contextlib
import logging
import math
import warnings

import numpy as np
import torch
from torch import Tensor

from lottery import adam_emulation


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
    the CPU, one compiled pass per tensor (:func:`compiled_adam_update`; the optimizer step is
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
        """1-D aliases of (param, grad, exp_avg, exp_avg_sq) for the compiled kernel; those of
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
# outgrow the cache that is most of the optimizer's time. Compiled by inductor, the update is a
# single pass. To compile once per process, not once per model or member count, every call has
# the same structure: GROUP tensors (padded with scratch tensors), each a 1-D alias of its
# memory in storage order (not a view: the compiler would guard on the viewed tensor's shape),
# with dynamic sizes that are not "duck" shared (equal sizes would be guarded equal).

GROUP = 8
_kernel = None
_kernel_ran = False
_compile_failed = False
# element updates per process done by the emulation before compiling: the emulation runs at
# 15-120 ns an element (measured: LeNet K=1 4 ms a step, K=15 0.47 s), so this budget costs
# at most about 2 s, less than the compile it saves for a short job (a 20-iteration LeNet job
# uses 5M); a longer job compiles early. The numbers are the same either way.
EMULATED_UPDATES = 20_000_000
_emulated = 0
_scratch: dict[tuple, list[list[Tensor]]] = {}


def _adam_kernel(params: list[Tensor], grads: list[Tensor], exp_avg: list[Tensor],
                 exp_avg_sq: list[Tensor], step_size: Tensor, bias2_sqrt: Tensor, beta1: float,
                 beta2: float, eps: float) -> None:
    for p, g, m, v in zip(params, grads, exp_avg, exp_avg_sq, strict=True):
        m.lerp_(g, 1 - beta1)
        v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
        p.sub_(m / (v.sqrt() / bias2_sqrt + eps) * step_size)


def storage_order_flat(t: Tensor) -> Tensor | None:
    """A 1-D tensor over a dense tensor's memory in storage order (e.g. a channels-last weight),
    or None when there is none (overlapping or gapped strides). It aliases the memory without
    being a view, so the compiler sees a plain 1-D tensor and guards nothing about ``t``."""
    order = sorted(range(t.dim()), key=lambda d: (-t.stride(d), -t.shape[d]))
    if not t.permute(order).is_contiguous():
        return None
    return t.new_empty(0).set_(t.untyped_storage(), t.storage_offset(), (t.numel(),), (1,))


@contextlib.contextmanager
def _quiet_first_compile():
    """Compiling for the CPU on a machine without CUDA logs a warning about CUDA_HOME; hide it
    while the kernel is first compiled (and only then, leaving the logger as it was)."""
    if _kernel_ran:
        yield
        return
    logger = logging.getLogger("torch.utils.cpp_extension")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _emulate(flat: list[list[Tensor]], beta1: float) -> bool:
    """Whether this update goes to the numpy emulation: while the process's budget lasts and
    nothing is compiled yet, or for good once compiling has failed."""
    global _emulated
    if _kernel_ran or not adam_emulation.supported(flat, beta1):
        return False
    if _compile_failed:
        return True
    size = sum(tensors[0].numel() for tensors in flat)
    if _emulated + size > EMULATED_UPDATES:
        return False
    _emulated += size
    return True


def end_emulation() -> None:
    """Spend what is left of the process's emulation budget, so later updates run compiled (a
    timing of the steady state, e.g. a calibration, must not see the emulated start)."""
    global _emulated
    _emulated = EMULATED_UPDATES


def compiled_adam_update(flat: list[list[Tensor]], step_size: float, bias2_sqrt: float,
                         beta1: float, beta2: float, eps: float) -> bool:
    """Apply the Adam update with the compiled kernel (or its exact numpy emulation, see
    :data:`EMULATED_UPDATES`) to ``flat``: one ``[param, grad, exp_avg, exp_avg_sq]`` set a
    tensor, each a 1-D CPU alias (:func:`storage_order_flat`). Returns False, having changed
    nothing, where neither can run. A compiler that fails at the first compile is warned about
    once and the emulation takes over (the same numbers, slower); a later failure is an error,
    so a run never switches arithmetic half-way."""
    if _emulate(flat, beta1):
        adam_emulation.update(flat, step_size, bias2_sqrt, beta1, beta2, eps)
        return True
    if _compile_failed:
        return False
    try:
        _run_kernel(flat, step_size, bias2_sqrt, beta1, beta2, eps)
    except _FirstCompileFailed as failed:
        return _after_failed_compile(failed.__cause__, flat, step_size, bias2_sqrt, beta1,
                                     beta2, eps)
    return True


class _FirstCompileFailed(Exception):
    """The kernel's first compile failed before it changed anything."""


def _run_kernel(flat: list[list[Tensor]], step_size: float, bias2_sqrt: float, beta1: float,
                beta2: float, eps: float) -> None:
    """The compiled kernel over ``flat``, GROUP sets a call (compiled at the first call)."""
    global _kernel, _kernel_ran
    if _kernel is None:
        _kernel = torch.compile(_adam_kernel, dynamic=True, fullgraph=True)
    dtype = flat[0][0].dtype  # scalars rounded as PyTorch's own kernels round them
    scalars = (torch.tensor(step_size, dtype=dtype), torch.tensor(bias2_sqrt, dtype=dtype),
               beta1, beta2, eps)
    key = (dtype,)
    if key not in _scratch:  # distinct tensors: repeated ones would be guarded as aliases
        _scratch[key] = [[torch.zeros(2, dtype=dtype) for _ in range(4)] for _ in range(GROUP)]
    start = 0
    try:
        with torch.fx.experimental._config.patch(use_duck_shape=False), \
                _quiet_first_compile():
            for start in range(0, len(flat), GROUP):
                chunk = flat[start:start + GROUP]
                chunk += _scratch[key][:GROUP - len(chunk)]
                _kernel(*[list(column) for column in zip(*chunk, strict=True)], *scalars)
    except Exception as error:  # noqa: BLE001 - a compiler failure: the caller falls back
        if _kernel_ran or start:
            raise
        raise _FirstCompileFailed from error
    _kernel_ran = True


def _after_failed_compile(error: BaseException, flat: list[list[Tensor]], step_size: float,
                          bias2_sqrt: float, beta1: float, beta2: float, eps: float) -> bool:
    """Warn once that compiling failed; apply the update with the emulation where it can."""
    global _compile_failed
    _compile_failed = True
    reason = str(error).splitlines()[0] if str(error) else ""
    emulated = adam_emulation.supported(flat, beta1)
    instead = ("evaluating its arithmetic with numpy for the rest of this process (slower; the "
               "same numbers)") if emulated else ("using the eager update for the rest of this "
                                                  "process (slower; differs by float rounding)")
    warnings.warn(f"compiling the Adam update failed ({type(error).__name__}: {reason}); "
                  f"{instead}", RuntimeWarning, stacklevel=4)
    if emulated:
        adam_emulation.update(flat, step_size, bias2_sqrt, beta1, beta2, eps)
    return emulated


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
