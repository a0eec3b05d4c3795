"""The user's data for :mod:`lottery.studies.own_model.search`: tensors or a ``DataLoader``, as
batches.

Tensors ``(x, y)`` (or a ``TensorDataset``) are drawn by index: each member has a data-order
seed, epochs are seeded permutations, so the batch a member sees at iteration ``i`` depends on
its seed and ``i`` alone -- a member trained in a batch of members and alone sees the same
data, and a network rewound to iteration k (Frankle et al. 2019) resumes the order at k. A
``DataLoader`` is iterated as the user built it, every member seeing the same batches; its
shuffling is seeded from the order seed for the time it draws its order (the global RNG is
restored after), so a rerun gives the same batches.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.utils.data import DataLoader, TensorDataset


@dataclass(frozen=True)
class TensorData:
    """Examples held as two tensors; batches drawn by index per member."""

    x: Tensor
    y: Tensor

    def __len__(self) -> int:
        return self.x.shape[0]

    def indices(self, seed: int, iteration: int, batch_size: int) -> Tensor:
        """The example indices of member-seed ``seed``'s batch at ``iteration``."""
        per_epoch = max(1, len(self) // batch_size)
        epoch, position = divmod(iteration, per_epoch)
        generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        order = torch.randperm(len(self), generator=generator)
        return order[position * batch_size:(position + 1) * batch_size]

    def chunks(self, size: int) -> Iterator[tuple[Tensor, Tensor]]:
        for start in range(0, len(self), size):
            yield self.x[start:start + size], self.y[start:start + size]

    def digest(self) -> str:
        """A content hash: a changed example gives another store key."""
        h = hashlib.sha256()
        for t in (self.x, self.y):
            h.update(str((tuple(t.shape), t.dtype)).encode())
            h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
        return h.hexdigest()[:16]


@dataclass(frozen=True)
class LoaderData:
    """A user's ``DataLoader``: every member sees the same batches."""

    loader: DataLoader

    def batches(self, seed: int, start: int) -> Iterator[tuple[Tensor, Tensor]]:
        """Batches from iteration ``start`` on, epoch after epoch."""
        epoch, skipped = 0, 0
        while True:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed * 1_000_003 + epoch)
                iterator = iter(self.loader)
                first = next(iterator, None)  # the sampler draws its order here
            if first is None:
                raise ValueError("the training DataLoader yields no batch")
            for batch in _chain(first, iterator):
                if skipped < start:
                    skipped += 1
                    continue
                yield _pair(batch)
            epoch += 1

    def chunks(self, size: int) -> Iterator[tuple[Tensor, Tensor]]:
        for batch in self.loader:
            yield _pair(batch)

    def digest(self) -> str:
        """The dataset's type and length and its first batch's content (a DataLoader cannot be
        hashed whole cheaply: pass ``data_id`` to name a changed dataset of that shape)."""
        x, y = next(iter(self.loader)) if len(self.loader) else (torch.zeros(0), torch.zeros(0))
        first = TensorData(x, y).digest()
        return hashlib.sha256(f"{type(self.loader.dataset).__name__}:"
                              f"{len(self.loader.dataset)}:{first}".encode()).hexdigest()[:16]


def _chain(first, rest):
    yield first
    yield from rest


def _pair(batch) -> tuple[Tensor, Tensor]:
    if not isinstance(batch, list | tuple) or len(batch) != 2:
        raise ValueError("a DataLoader batch must be (inputs, targets)")
    return batch[0], batch[1]


def as_data(data, name: str) -> TensorData | LoaderData:
    """``data`` -- ``(x, y)`` tensors, a ``TensorDataset`` or a ``DataLoader`` -- as batches;
    anything else is one ``ValueError`` line naming the argument."""
    if isinstance(data, DataLoader):
        return LoaderData(data)
    if isinstance(data, TensorDataset) and len(data.tensors) == 2:
        data = data.tensors
    if isinstance(data, list | tuple) and len(data) == 2 and all(
            isinstance(t, Tensor) for t in data):
        x, y = data
        if x.shape[0] != y.shape[0] or x.shape[0] == 0:
            raise ValueError(f"{name}: inputs and targets must hold the same number (> 0) of "
                             f"examples; got {x.shape[0]} and {y.shape[0]}")
        return TensorData(x, y)
    raise ValueError(f"{name} must be (inputs, targets) tensors, a TensorDataset or a "
                     f"DataLoader; got {type(data).__name__}")
