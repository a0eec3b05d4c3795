"""What identifies a network trained by :mod:`lottery.studies.own_model.search`, and its cached
training.

A user's module has no registry name, so its identity is its **architecture fingerprint**:
every module's qualified name and class, every parameter's and buffer's name, shape and dtype.
Editing the model -- a layer added, a width changed, a ReLU swapped for a GELU -- changes the
fingerprint, and with it every store key: a changed model never reuses a stale entry.

A member's key is content-addressed: the fingerprint, the recipe (budget, optimizer class and
settings, loss, data digests), a hash of its starting tensors, a hash of its mask, its start
iteration, data order and rewind snapshot. So whatever produced a start or a mask (a seed, a
rewind, a criterion), the same network is never trained twice. Entries go through the
project's :class:`~lottery.core.store.RunStore`: written atomically, read back with
``weights_only=True``, unusable files set aside and recomputed.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping

import torch
from torch import Tensor, nn

from lottery.core import provenance
from lottery.core.hparams import fingerprint
from lottery.core.store import RunStore
from lottery.engine.masks import Mask
from lottery.studies.own_model.members import State
from lottery.studies.own_model.training import Trained

FOLDER = "own_model"


def architecture(module: nn.Module) -> dict:
    """The module's structure as plain data (what the fingerprint hashes)."""
    return {"modules": [[name, type(sub).__module__ + "." + type(sub).__qualname__]
                        for name, sub in module.named_modules()],
            "tensors": [[name, list(t.shape), str(t.dtype), kind] for kind, items in
                        (("param", module.named_parameters()), ("buffer", module.named_buffers()))
                        for name, t in items]}


def architecture_fingerprint(module: nn.Module) -> str:
    return fingerprint(architecture(module))


def state_digest(state: Mapping[str, Tensor]) -> str:
    """A hash of tensors' names, shapes, dtypes and bytes."""
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().cpu().contiguous()
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()[:16]


def mask_digest(mask: Mask) -> str:
    return state_digest({name: m.to(torch.uint8) for name, m in mask.items()})


def optimizer_identity(make_optimizer) -> dict:
    """The optimizer a factory makes: its class and settings (a lambda has no other identity)."""
    probe = make_optimizer([nn.Parameter(torch.zeros(1))])
    settings = {k: v for k, v in probe.defaults.items() if isinstance(v, int | float | str | bool
                                                                      | tuple | type(None))}
    return {"class": type(probe).__module__ + "." + type(probe).__qualname__,
            "settings": settings}


def _payload(trained: Trained) -> dict:
    return {"final": trained.final, "snapshot": trained.snapshot or {},
            "metrics": trained.metrics, "curve": torch.tensor(trained.curve).reshape(-1, 3)}


def _trained(payload: dict) -> Trained:
    return Trained(payload["final"], payload["snapshot"] or None, dict(payload["metrics"]),
                   payload["curve"].tolist())


class MemberStore:
    """Trained members of one architecture and recipe, in a :class:`RunStore` (or nowhere)."""

    def __init__(self, store: RunStore | None, arch: str, recipe: dict):
        self.store, self.arch, self.recipe = store, arch, recipe
        self.folder = f"{FOLDER}/{arch}"

    def key(self, start: State, mask: Mask, start_iteration: int, order_seed: int,
            snapshot_at: int | None) -> dict:
        return {"kind": "own_model", "architecture": self.arch, "recipe": self.recipe,
                "start": state_digest(start), "mask": mask_digest(mask),
                "start_iteration": start_iteration, "order_seed": order_seed,
                "snapshot_at": snapshot_at}

    def load(self, key: dict) -> Trained | None:
        if self.store is None:
            return None
        payload = self.store.load(self.folder, RunStore.key_id(key), key)
        return None if payload is None else _trained(payload)

    def save(self, key: dict, trained: Trained, device, seconds: float) -> None:
        if self.store is not None:
            self.store.save(self.folder, RunStore.key_id(key), key, _payload(trained),
                            provenance.provenance(device, seconds))


def timed(fn, *args, **kwargs):
    """``fn``'s result and its wall time in seconds."""
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start
