"""The run store: every finished stage of an experiment, on disk, keyed by what determines it.

An entry is a ``torch.save`` file of plain containers and tensors (loaded back with
``weights_only=True``) beside a readable ``.json`` of its key. Entries are written atomically
(temporary file, then rename), so a crash leaves either the whole entry or none. A file that
cannot be read, or whose stored key differs from the one asked for, is reported in one line,
moved aside (``*.corrupt``, never deleted) and recomputed by the caller.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import torch

from lottery.hparams import fingerprint
from lottery.training import atomic_save

STORE_VERSION = 1
RUNS_ENV = "LOTTERY_RUNS"


class CorruptEntryWarning(UserWarning):
    """A stored entry could not be used and will be recomputed."""


def runs_root(root: str | Path | None = None) -> Path:
    return Path(root or os.environ.get(RUNS_ENV) or "runs")


class RunStore:
    """Entries live at ``root/<group>/<name>.pt``; ``key`` is any JSON-able description."""

    def __init__(self, root: str | Path | None = None):
        self.root = runs_root(root)

    def path(self, group: str, name: str) -> Path:
        return self.root / group / f"{name}.pt"

    @staticmethod
    def key_id(key: dict[str, Any]) -> str:
        return fingerprint({"store_version": STORE_VERSION, **key})

    def load(self, group: str, name: str, key: dict[str, Any]) -> dict[str, Any] | None:
        """The stored payload for ``key``, or None when absent or unusable."""
        path = self.path(group, name)
        if not path.exists():
            return None
        try:
            entry = torch.load(path, map_location="cpu", weights_only=True)
            if entry.get("key_id") != self.key_id(key):
                raise ValueError("stored key differs from the requested one")
            return entry["payload"]
        except Exception as error:  # unreadable, truncated, or from another configuration
            aside = path.with_suffix(".corrupt")
            os.replace(path, aside)
            reason = str(error).splitlines()[0][:120] if str(error) else ""
            warnings.warn(f"run store: {path} unusable ({type(error).__name__}: {reason}); "
                          f"moved to {aside.name}, recomputing",
                          CorruptEntryWarning, stacklevel=2)
            return None

    def save(self, group: str, name: str, key: dict[str, Any], payload: dict[str, Any]) -> Path:
        path = self.path(group, name)
        atomic_save({"key_id": self.key_id(key), "payload": payload}, path)
        readable = path.with_suffix(".json")
        tmp = readable.with_name(f".{readable.name}.tmp")
        tmp.write_text(json.dumps({"store_version": STORE_VERSION, **key}, indent=1,
                                  sort_keys=True, default=str))
        os.replace(tmp, readable)
        return path

    def checkpoint_path(self, group: str, name: str) -> Path:
        return self.root / group / f"{name}.ckpt"
