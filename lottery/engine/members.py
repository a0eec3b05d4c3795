"""Layers that hold K independent networks ("members") as one batched computation.

Every parameter and buffer carries a leading member dimension ``K``. Member ``k`` of a
K-member model computes exactly what a 1-member model holding member ``k``'s tensors computes:

- fully connected layers are batched matmuls over activations shaped ``(K, B, features)``;
- convolutions are grouped convolutions over activations shaped ``(B, K * channels, H, W)``
  (group ``k`` holds member ``k``'s channels);
- batch norm normalizes each of the ``K * channels`` channels separately, so every member
  keeps its own statistics and running buffers.

A K = 1 model is an ordinary network and takes the same code path, which is what lets the
training engine train trials, tickets and their controls together.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

State = dict[str, Tensor]


class MemberLinear(nn.Module):
    """``K`` fully connected layers ``(K, B, in) -> (K, B, out)``; ``(B, in)`` input is shared."""

    def __init__(self, members: int, in_features: int, out_features: int):
        super().__init__()
        self.members, self.in_features, self.out_features = members, in_features, out_features
        self.weight = nn.Parameter(torch.empty(members, out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(members, out_features))

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() == 2:  # one input shared by all members: a single wide matmul
            out = F.linear(x, self.weight.flatten(0, 1), self.bias.flatten())
            return out.view(x.shape[0], self.members, self.out_features).transpose(0, 1)
        # computed as (W @ x^T)^T so the weight gradient comes out in the weight's own layout
        # (x^T @ grad would need a transposing copy every step); activations stay transposed
        # views, which the next layer's x^T turns back into a contiguous operand for free
        out = torch.baddbmm(self.bias.unsqueeze(2), self.weight, x.transpose(1, 2))
        return out.transpose(1, 2)


class MemberConv2d(nn.Module):
    """``K`` convolutions as one grouped convolution over ``(B, K * in, H, W)``.

    A shared ``(B, in, H, W)`` input (evaluation, or the first layer) is convolved with all
    members' filters at once by an ungrouped convolution. After :func:`use_channels_last` the
    filters and activations are stored channels-last (NHWC).
    """

    channels_last = False

    def __init__(self, members: int, in_channels: int, out_channels: int, kernel_size: int,
                 stride: int = 1, padding: int = 0, bias: bool = True):
        super().__init__()
        self.members, self.in_channels, self.out_channels = members, in_channels, out_channels
        self.stride, self.padding = stride, padding
        shape = (members, out_channels, in_channels, kernel_size, kernel_size)
        self.weight = nn.Parameter(torch.empty(shape))
        self.bias = nn.Parameter(torch.zeros(members, out_channels)) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)  # a no-op after the first layer
        shared = x.shape[1] == self.in_channels and self.members > 1
        bias = None if self.bias is None else self.bias.flatten()
        return F.conv2d(x, self.weight.flatten(0, 1), bias, self.stride, self.padding,
                        groups=1 if shared else self.members)


def use_channels_last(model: nn.Module) -> nn.Module:
    """Store every member convolution's filters channels-last and feed it NHWC activations.

    The filters become a ``(K, out, in, kh, kw)`` parameter laid out as ``(K, out, kh, kw, in)``,
    so the ``(K * out, in, kh, kw)`` view the convolution takes is channels-last with no copy.
    Results change only by float rounding. Call it before creating the optimizer: the filter
    parameters are replaced.
    """
    for module in model.modules():
        if isinstance(module, MemberConv2d) and not module.channels_last:
            k, out_channels, in_channels, kh, kw = module.weight.shape
            nhwc = module.weight.new_empty(k, out_channels, kh, kw, in_channels)
            nhwc = nhwc.permute(0, 1, 4, 2, 3)
            with torch.no_grad():
                nhwc.copy_(module.weight)
            module.weight = nn.Parameter(nhwc)
            module.channels_last = True
    return model


class MemberBatchNorm2d(nn.Module):
    """Batch norm with per-member affine parameters and running statistics."""

    def __init__(self, members: int, channels: int, momentum: float = 0.1, eps: float = 1e-5):
        super().__init__()
        self.members, self.channels, self.momentum, self.eps = members, channels, momentum, eps
        self.weight = nn.Parameter(torch.ones(members, channels))
        self.bias = nn.Parameter(torch.zeros(members, channels))
        self.register_buffer("running_mean", torch.zeros(members, channels))
        self.register_buffer("running_var", torch.ones(members, channels))

    def forward(self, x: Tensor) -> Tensor:
        # flatten() of a contiguous buffer is a view, so batch_norm updates the buffers in place
        return F.batch_norm(x, self.running_mean.flatten(), self.running_var.flatten(),
                            self.weight.flatten(), self.bias.flatten(), self.training,
                            self.momentum, self.eps)


def to_grouped(x: Tensor, members: int) -> Tensor:
    """Per-member images ``(K, B, C, H, W)`` -> ``(B, K * C, H, W)``; shared input stays."""
    if x.dim() == 4:
        return x
    k, b, c, h, w = x.shape
    assert k == members, f"input has {k} members, the model {members}"
    return x.transpose(0, 1).reshape(b, k * c, h, w)


def grouped_to_features(x: Tensor, members: int) -> Tensor:
    """``(B, K * C, H, W)`` -> ``(K, B, C * H * W)``, each member flattened in (C, H, W) order."""
    b = x.shape[0]
    if x.shape[1] // members == 0 or x.shape[1] % members:
        raise ValueError("channel count is not a multiple of the member count")
    return x.reshape(b, members, -1).transpose(0, 1)


def flat_features(x: Tensor) -> Tensor:
    """Images ``(K, B, ...)`` -> ``(K, B, features)``; shared ``(B, ...)`` -> ``(B, features)``."""
    return x.flatten(2) if x.dim() == 5 else x.flatten(1)


def member_state(model: nn.Module, k: int) -> State:
    """Member ``k``'s parameters and buffers, detached CPU copies."""
    return {name: t[k].detach().cpu().clone() for name, t in _tensors(model).items()}


def load_member_state(model: nn.Module, k: int, state: State) -> None:
    """Overwrite member ``k``'s parameters and buffers with ``state`` (one member's tensors)."""
    tensors = _tensors(model)
    missing = set(tensors) ^ set(state)
    if missing:
        raise KeyError(f"state does not match the model; differing entries: {sorted(missing)}")
    with torch.no_grad():
        for name, t in tensors.items():
            t[k].copy_(state[name])


def _tensors(model: nn.Module) -> dict[str, Tensor]:
    return dict(model.named_parameters()) | dict(model.named_buffers())


def glorot_normal_(weight: Tensor, generator: torch.Generator) -> Tensor:
    """Gaussian Glorot init of one member's weight (fan sizes as in ``xavier_normal_``)."""
    receptive = math.prod(weight.shape[2:]) if weight.dim() > 2 else 1
    fan_out, fan_in = weight.shape[0] * receptive, weight.shape[1] * receptive
    std = math.sqrt(2.0 / (fan_in + fan_out))
    with torch.no_grad():
        values = torch.randn(weight.shape, generator=generator, dtype=weight.dtype) * std
        return weight.copy_(values)
