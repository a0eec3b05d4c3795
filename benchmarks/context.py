"""What a benchmark run measures (full or fast settings) and what its sections share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import torch

from lottery.engine.data import DataBundle, load


@dataclass(frozen=True)
class Config:
    repeats: int            # LeNet training repeats (each: one n1 run and one n2 run)
    lenet_iters: tuple[int, int]
    lenet_train: int        # training examples used for the training-speed runs
    matmul_size: int
    matmul_repeats: int
    eval_repeats: int
    conv_repeats: int
    conv_iters: dict[str, tuple[int, int]]
    lenet_members: tuple[int, ...] = (5, 10)
    conv_warmup: int = 1    # warm-up runs before the conv-net repeats
    conv_eval_examples: tuple[int, int] | None = None  # (val, test) subset of the stand-in
    option_repeats: int = 3  # repeats of the section 1b variants
    sparse_iters: tuple[int, int] = (40, 120)  # section 6, per level, path and K
    sparse_repeats: int = 3
    sparse_eval_examples: tuple[int, int] = (5_000, 10_000)  # (val, test) of section 6


FULL = Config(repeats=5, lenet_iters=(100, 300), lenet_train=12_000, matmul_size=4096,
              matmul_repeats=5, eval_repeats=5, conv_repeats=3,
              conv_iters={"conv2": (1, 3), "conv4": (1, 3), "resnet18": (1, 3), "vgg19": (1, 2)})
FAST = Config(repeats=2, lenet_iters=(20, 60), lenet_train=6_000, matmul_size=2048,
              matmul_repeats=3, eval_repeats=2, conv_repeats=1,
              conv_iters={"conv2": (1, 2), "conv4": (1, 2), "resnet18": (1, 2), "vgg19": (1, 2)},
              conv_warmup=0, conv_eval_examples=(100, 200), option_repeats=1,
              sparse_iters=(3, 8), sparse_repeats=1, sparse_eval_examples=(250, 500))


@dataclass
class Context:
    """The settings, device, log and data of one run; each data set loads once, on first use."""

    cfg: Config
    device: torch.device
    log: Callable[[str], None] = print
    data_root: Path | None = None

    @cached_property
    def mnist(self) -> DataBundle:
        self.log("loading MNIST ...")
        return load("mnist", root=self.data_root, device=self.device, download=False)

    @cached_property
    def cifar(self) -> DataBundle:
        self.log("loading synthetic CIFAR-10 stand-in ...")
        return load("synthetic_cifar10", device=self.device)
