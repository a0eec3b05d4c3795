"""The architectures of Frankle & Carbin (ICLR 2019), Table 1, as member-batched networks.

Each model holds ``members`` independent networks (see :mod:`lottery.engine.members`) and declares
``prunable``: the name of every prunable weight and its kind (``conv``, ``fc`` or ``output``).
Everything else (biases, batch norm, ResNet shortcuts and classifier, VGG classifier) is never
pruned. Inputs are ``(K, B, C, H, W)`` (one batch per member) or ``(B, C, H, W)`` (shared by
all members); outputs are logits ``(K, B, classes)``.

Use :func:`build` (``lottery.engine.models.build("lenet", seeds=[0, 1])``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lottery.engine.init_schemes import DEFAULT as DEFAULT_INIT
from lottery.engine.init_schemes import initialize_
from lottery.engine.members import (
    MemberBatchNorm2d,
    MemberConv2d,
    MemberLinear,
    flat_features,
    grouped_to_features,
    to_grouped,
)

PRUNE_KINDS = ("conv", "fc", "output")
WIDTH_MODELS = ("lenet", "conv2", "conv4", "conv6")  # the presets with a width multiplier


class LotteryModel(nn.Module):
    """Base class: member count, prunable weights and the paper's initialization."""

    members: int
    prunable: dict[str, str]
    init_scheme: str = DEFAULT_INIT  # see lottery.engine.init_schemes (set by ``build``)

    def __init__(self, members: int):
        super().__init__()
        if members < 1:
            raise ValueError(f"members must be >= 1, got {members}")
        self.members = members
        self.prunable = {}

    def prunable_weights(self) -> dict[str, Tensor]:
        params = dict(self.named_parameters())
        return {name: params[name] for name in self.prunable}

    def initialize(self, seeds: Sequence[int]) -> None:
        """Gaussian Glorot weights (or ``init_scheme``'s), zero biases, unit batch-norm scale;
        member k from seeds[k].

        Each member draws its weights on the CPU from its own generator in parameter order, so
        a (model, seed) pair gives the same weights on every run, device and member position.
        """
        if len(seeds) != self.members:
            raise ValueError(f"need {self.members} seeds, got {len(seeds)}")
        for k, seed in enumerate(seeds):
            generator = torch.Generator().manual_seed(int(seed))
            for module in self.modules():
                if isinstance(module, MemberLinear | MemberConv2d):
                    member_weight = torch.empty(module.weight.shape[1:])
                    initialize_(member_weight, generator, self.init_scheme)
                    with torch.no_grad():
                        module.weight[k].copy_(member_weight)
                        if module.bias is not None:
                            module.bias[k].zero_()
                elif isinstance(module, MemberBatchNorm2d):
                    with torch.no_grad():
                        module.weight[k].fill_(1.0)
                        module.bias[k].zero_()
                        module.running_mean[k].zero_()
                        module.running_var[k].fill_(1.0)


def scaled(units: int, width: float) -> int:
    """A hidden layer's size under the width multiplier (at least one unit)."""
    if not width > 0:
        raise ValueError(f"width must be positive, got {width}")
    return max(1, round(units * width))


class LeNet300100(LotteryModel):
    """LeNet-300-100 for MNIST: fc 300, fc 100, fc 10 (ReLU); ``width`` scales both hidden
    layers (notebook 08: width 2 is LeNet-600-200)."""

    def __init__(self, members: int = 1, input_shape=(1, 28, 28), num_classes: int = 10,
                 width: float = 1.0):
        super().__init__(members)
        features = input_shape[0] * input_shape[1] * input_shape[2]
        h1, h2 = scaled(300, width), scaled(100, width)
        self.fc1 = MemberLinear(members, features, h1)
        self.fc2 = MemberLinear(members, h1, h2)
        self.fc3 = MemberLinear(members, h2, num_classes)
        self.prunable = {"fc1.weight": "fc", "fc2.weight": "fc", "fc3.weight": "output"}

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(self.fc1(flat_features(x)))
        return self.fc3(F.relu(self.fc2(x)))


class ConvNet(LotteryModel):
    """Conv-2/4/6 for CIFAR-10: pairs of 3x3 convs (64, 128, 256) each followed by a 2x2 max-pool,
    then fc 256, fc 256, fc 10. ``dropout`` (LTH Fig. 6) applies to the two hidden fc layers;
    ``width`` scales every conv's channels and both hidden fc layers."""

    def __init__(self, pairs: int, members: int = 1, input_shape=(3, 32, 32),
                 num_classes: int = 10, dropout: float = 0.0, width: float = 1.0):
        super().__init__(members)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.dropout = dropout
        widths = [scaled(c, width) for c in [64, 128, 256][:pairs]]
        hidden = scaled(256, width)
        channels, side = input_shape[0], input_shape[1]
        self.convs = nn.ModuleList()
        for width in widths:
            self.convs.append(MemberConv2d(members, channels, width, 3, padding=1))
            self.convs.append(MemberConv2d(members, width, width, 3, padding=1))
            channels, side = width, side // 2
        self.fc1 = MemberLinear(members, channels * side * side, hidden)
        self.fc2 = MemberLinear(members, hidden, hidden)
        self.fc3 = MemberLinear(members, hidden, num_classes)
        self.prunable = {f"convs.{i}.weight": "conv" for i in range(len(self.convs))}
        self.prunable |= {"fc1.weight": "fc", "fc2.weight": "fc", "fc3.weight": "output"}

    def forward(self, x: Tensor) -> Tensor:
        x = to_grouped(x, self.members)
        for i, conv in enumerate(self.convs):
            x = F.relu(conv(x))
            if i % 2 == 1:
                x = F.max_pool2d(x, 2)
        x = grouped_to_features(x, self.members)
        x = F.dropout(F.relu(self.fc1(x)), self.dropout, self.training)
        x = F.dropout(F.relu(self.fc2(x)), self.dropout, self.training)
        return self.fc3(x)


class ResidualBlock(nn.Module):
    def __init__(self, members: int, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.conv1 = MemberConv2d(members, in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = MemberBatchNorm2d(members, out_channels)
        self.conv2 = MemberConv2d(members, out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = MemberBatchNorm2d(members, out_channels)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                MemberConv2d(members, in_channels, out_channels, 1, stride, 0, bias=False),
                MemberBatchNorm2d(members, out_channels))

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet18(LotteryModel):
    """The LTH paper's "ResNet-18" for CIFAR-10 (widths 16/32/64): conv 16, 3 blocks of
    [16, 16], 3 of [32, 32], 3 of [64, 64], global average pool, fc 10. Prunable: every 3x3
    conv; the 1x1 shortcut convs and the fc layer are never pruned."""

    def __init__(self, members: int = 1, input_shape=(3, 32, 32), num_classes: int = 10):
        super().__init__(members)
        self.conv = MemberConv2d(members, input_shape[0], 16, 3, 1, 1, bias=False)
        self.bn = MemberBatchNorm2d(members, 16)
        blocks, channels = [], 16
        for stage, width in enumerate([16, 32, 64]):
            for i in range(3):
                stride = 2 if stage > 0 and i == 0 else 1
                blocks.append(ResidualBlock(members, channels, width, stride))
                channels = width
        self.blocks = nn.Sequential(*blocks)
        self.fc = MemberLinear(members, 64, num_classes)
        self.prunable = {name: "conv" for name, p in self.named_parameters()
                         if p.dim() == 5 and p.shape[-1] == 3}

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(self.bn(self.conv(to_grouped(x, self.members))))
        x = self.blocks(x)
        x = F.adaptive_avg_pool2d(x, 1)
        return self.fc(grouped_to_features(x, self.members))


VGG19_LAYOUT = (64, 64, "pool", 128, 128, "pool", 256, 256, 256, 256, "pool",
                512, 512, 512, 512, "pool", 512, 512, 512, 512)


class VGG19(LotteryModel):
    """VGG-19 for CIFAR-10 with batch norm: 16 3x3 convs (layout above), global average pool,
    fc 10. Prunable: every conv; the fc layer is never pruned."""

    def __init__(self, members: int = 1, input_shape=(3, 32, 32), num_classes: int = 10):
        super().__init__(members)
        layers: list[nn.Module] = []
        channels = input_shape[0]
        for item in VGG19_LAYOUT:
            if item == "pool":
                layers.append(nn.MaxPool2d(2))
                continue
            layers += [MemberConv2d(members, channels, item, 3, 1, 1, bias=False),
                       MemberBatchNorm2d(members, item), nn.ReLU()]
            channels = item
        self.features = nn.Sequential(*layers)
        self.fc = MemberLinear(members, channels, num_classes)
        self.prunable = {name: "conv" for name, p in self.named_parameters() if p.dim() == 5}

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(to_grouped(x, self.members))
        x = F.adaptive_avg_pool2d(x, 1)
        return self.fc(grouped_to_features(x, self.members))


@dataclass(frozen=True)
class Architecture:
    """A registry entry: how to build the network and the paper's Table 1 size."""

    make: Callable[..., LotteryModel]
    dataset: str
    paper_weights: int
    description: str


REGISTRY: dict[str, Architecture] = {
    "lenet": Architecture(LeNet300100, "mnist", 266_000, "LeNet-300-100 (fc 300, 100, 10)"),
    "conv2": Architecture(lambda **kw: ConvNet(1, **kw), "cifar10", 4_300_000,
                          "Conv-2 (conv 64x2, pool, fc 256, 256, 10)"),
    "conv4": Architecture(lambda **kw: ConvNet(2, **kw), "cifar10", 2_400_000,
                          "Conv-4 (conv 64x2, 128x2, fc 256, 256, 10)"),
    # Table 1 prints 1.7M for Conv-6; its layers give 2,261,184 weights.
    "conv6": Architecture(lambda **kw: ConvNet(3, **kw), "cifar10", 2_260_000,
                          "Conv-6 (conv 64x2, 128x2, 256x2, fc 256, 256, 10)"),
    # Table 1 prints 274K; the stated layers give 270,896 weights (1.1% fewer).
    "resnet18": Architecture(ResNet18, "cifar10", 274_000,
                             "ResNet-18 CIFAR (16, 3x[16,16], 3x[32,32], 3x[64,64], fc 10)"),
    "vgg19": Architecture(VGG19, "cifar10", 20_000_000, "VGG-19 with batch norm (fc 10)"),
}


def build(name: str, seeds: Sequence[int] = (0,), *,
          input_shape: tuple[int, int, int] | None = None,
          num_classes: int = 10, init: str = DEFAULT_INIT, **options) -> LotteryModel:
    """Build ``name`` with one member per seed, initialized as in the paper (or by the scheme
    ``init`` of :mod:`lottery.engine.init_schemes`).

    ``input_shape`` defaults to the architecture's dataset (MNIST or CIFAR-10); ``options`` are
    passed to the architecture (e.g. ``dropout=0.5`` for the Conv nets, ``width=2.0`` for
    LeNet and the Conv nets).
    """
    if name not in REGISTRY:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(REGISTRY)}")
    if input_shape is None:
        input_shape = (1, 28, 28) if REGISTRY[name].dataset == "mnist" else (3, 32, 32)
    seeds = list(seeds)
    model = REGISTRY[name].make(members=len(seeds), input_shape=tuple(input_shape),
                                num_classes=num_classes, **options)
    model.init_scheme = init
    model.initialize(seeds)
    return model


def weight_counts(model: LotteryModel) -> dict[str, int]:
    """Per-member counts: all weights (conv and fc), prunable weights, every parameter."""
    params = dict(model.named_parameters())
    weights = sum(p[0].numel() for p in params.values() if p.dim() >= 3)
    prunable = sum(params[name][0].numel() for name in model.prunable)
    total = sum(p[0].numel() for p in params.values())
    return {"weights": weights, "prunable": prunable, "parameters": total}


def layer_table(model: LotteryModel) -> list[dict[str, object]]:
    """One row per parameter of one member: name, shape, count, prune kind ('-' = never)."""
    return [{"parameter": name, "shape": tuple(p.shape[1:]), "count": p[0].numel(),
             "prune": model.prunable.get(name, "-")}
            for name, p in model.named_parameters()]


def describe_models() -> str:
    """The table printed by ``python -m lottery models``."""
    lines = [f"{'model':<9} {'weights':>11} {'prunable':>11} {'Table 1':>10}  description"]
    for name, arch in REGISTRY.items():
        counts = weight_counts(build(name))
        lines.append(f"{name:<9} {counts['weights']:>11,} {counts['prunable']:>11,} "
                     f"{arch.paper_weights:>10,}  {arch.description}")
    return "\n".join(lines)
