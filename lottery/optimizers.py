"""Adam and SGD written for the CPU hot loop: exact elementwise and allocation-free.

PyTorch's CPU choices are either fused (one pass, but an element's rounding depends on where it
falls in its tensor, so a member trained in a batch and alone drift apart) or foreach (exact, but
every step allocates fresh buffers for intermediate results, and on the CPU each fresh buffer
costs page faults). These keep their intermediate buffers between steps and use only
elementwise in-place ops, so they are exact per element and allocate nothing after the first
step. The update rules are PyTorch's Adam (no amsgrad) and SGD with momentum (no dampening,
no Nesterov), weight decay added to the gradient.

One deliberate difference: Adam's square root. PyTorch's CPU ``sqrt`` goes through MKL's
vector math in a low-accuracy mode: about 20% of its results are one ulp off the correctly
rounded value, and it is 7x slower on zeros and 30x slower on subnormals than on ordinary
numbers. A pruned weight's second moment is exactly zero, so at 20% density that square root
was 30% of a whole LeNet training step. We take the IEEE square root (numpy's, correctly
rounded, the same speed on any input): SGD is bit-identical to PyTorch's, Adam agrees with it to
an ulp per step and is exact per element (a member batched or alone gets identical numbers).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor


def ieee_sqrt_(source: Tensor, out: Tensor) -> Tensor:
    """Correctly rounded elementwise square root of ``source`` into ``out`` (same shape)."""
    if source.device.type == "cpu" and not source.requires_grad:
        np.sqrt(source.numpy(), out=out.numpy())
        return out
    return torch.sqrt(source, out=out)  # CUDA's sqrt is already correctly rounded


class _InPlaceOptimizer(torch.optim.Optimizer):
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
    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0):
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps,
                                  "weight_decay": weight_decay})

    def _update(self, group: dict, params: list[Tensor], grads: list[Tensor]) -> None:
        beta1, beta2 = group["betas"]
        states = [self.state[p] for p in params]
        for p, state in zip(params, states, strict=True):
            if not state:
                state["step"] = 0
                state["exp_avg"] = torch.zeros_like(p)
                state["exp_avg_sq"] = torch.zeros_like(p)
                state["denom"] = torch.zeros_like(p)
            state["step"] += 1
        exp_avg = [s["exp_avg"] for s in states]
        exp_avg_sq = [s["exp_avg_sq"] for s in states]
        denom = [s["denom"] for s in states]
        step = states[0]["step"]
        torch._foreach_lerp_(exp_avg, grads, 1 - beta1)
        torch._foreach_mul_(exp_avg_sq, beta2)
        torch._foreach_addcmul_(exp_avg_sq, grads, grads, value=1 - beta2)
        for d, v in zip(denom, exp_avg_sq, strict=True):
            ieee_sqrt_(v, d)
        torch._foreach_div_(denom, math.sqrt(1 - beta2 ** step))
        torch._foreach_add_(denom, group["eps"])
        step_size = group["lr"] / (1 - beta1 ** step)
        torch._foreach_addcdiv_(params, exp_avg, denom, value=-step_size)


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
