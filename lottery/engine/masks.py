"""Pruning masks: which prunable weights of one network survive.

A :class:`Mask` maps each prunable weight's name to a boolean tensor of that weight's shape
(one member). Layers that are never pruned have no entry. :func:`stack` turns the masks of K
members into the float tensors the training engine multiplies into the batched weights.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor


class Mask(dict[str, Tensor]):
    """Layer name -> bool tensor (True = the weight survives)."""

    @classmethod
    def dense(cls, shapes: Mapping[str, torch.Size | Sequence[int]]) -> Mask:
        return cls({name: torch.ones(tuple(shape), dtype=torch.bool)
                    for name, shape in shapes.items()})

    @classmethod
    def of(cls, mapping: Mapping[str, Tensor]) -> Mask:
        """A mask from any mapping of tensors (e.g. loaded from disk), checked to be 0/1."""
        mask = cls()
        for name, t in mapping.items():
            if t.dtype != torch.bool and not bool(((t == 0) | (t == 1)).all()):
                raise ValueError(f"mask entry {name!r} holds values other than 0 and 1")
            mask[name] = t.detach().to("cpu", torch.bool)
        return mask

    def alive(self) -> int:
        return sum(int(m.sum()) for m in self.values())

    def size(self) -> int:
        return sum(m.numel() for m in self.values())

    def density(self) -> float:
        """Fraction of prunable weights that survive."""
        return self.alive() / self.size()

    def layer_density(self) -> dict[str, float]:
        return {name: float(m.float().mean()) for name, m in self.items()}

    def report(self) -> pd.DataFrame:
        """Per-layer and overall density, as a table."""
        rows = [{"layer": name, "alive": int(m.sum()), "size": m.numel(),
                 "density": float(m.float().mean())} for name, m in self.items()]
        rows.append({"layer": "(all prunable)", "alive": self.alive(), "size": self.size(),
                     "density": self.density()})
        return pd.DataFrame(rows)

    def is_subset_of(self, other: Mask) -> bool:
        """True when every weight alive here is alive in ``other`` (masks nest across rounds)."""
        return all(bool((self[n] & ~other[n]).sum() == 0) for n in self)

    def to_state(self) -> dict[str, Tensor]:
        """A plain dict for ``torch.save`` (loads with ``weights_only=True``)."""
        return {name: m.clone() for name, m in self.items()}

    def pack(self) -> dict[str, dict]:
        """A compact storable form: per layer the shape and one bit per weight."""
        return {name: {"shape": list(m.shape),
                       "bits": torch.from_numpy(np.packbits(m.flatten().numpy()))}
                for name, m in self.items()}

    @classmethod
    def unpack(cls, packed: Mapping[str, dict]) -> Mask:
        """The mask that :meth:`pack` stored."""
        mask = cls()
        for name, entry in packed.items():
            count = math.prod(entry["shape"])
            bits = np.unpackbits(entry["bits"].numpy())[:count]
            mask[name] = torch.from_numpy(bits.astype(bool)).view(*entry["shape"])
        return mask


def stack(masks: Sequence[Mask], device: torch.device | str,
          dtype=torch.float32) -> dict[str, Tensor]:
    """K members' masks -> name -> ``(K, *shape)`` tensors of 0.0/1.0 on ``device``."""
    names = list(masks[0])
    for mask in masks[1:]:
        if list(mask) != names:
            raise ValueError("all members' masks must cover the same layers")
    return {name: torch.stack([m[name] for m in masks]).to(device=device, dtype=dtype)
            for name in names}
