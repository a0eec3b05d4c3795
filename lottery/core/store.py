"""The run store: every trained network on disk, keyed by everything that determines it.

An entry is one file, ``root/<folder>/<name>.pt``: a ``torch.save`` of plain containers and
tensors (read back with ``weights_only=True``, so a stored file cannot execute code) holding the
key, the payload and the provenance. Beside it, ``<name>.json`` is a readable copy of key and
provenance, derived from the entry: rewritten when missing, so an entry is whole or absent.

Writes are atomic (a temporary file unique to the process and write, then a rename), and a
failed write removes its temporary file; temporaries of dead processes are swept when a store
opens. A file that cannot be used (unreadable, truncated, another key) is reported in one line
and set aside as ``<name>.pt.corrupt`` (``.corrupt.1``, ``.corrupt.2`` ... when that exists:
nothing set aside is ever overwritten or deleted), and the caller recomputes it.

A store's root carries a marker file, ``.lottery-store``, written when the store is created
(or first written to while it holds nothing but store items), so that removal
(:mod:`lottery.run.store_command`) can refuse a folder that is not a run store.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import torch

from lottery.core import provenance as prov
from lottery.core.hparams import fingerprint
from lottery.engine import temporaries
from lottery.engine.atomic import (  # noqa: F401 (the store's writes; users import them here)
    StoreError,
    atomic_save,
    atomic_write,
    atomic_write_text,
)

STORE_VERSION = 2
# a payload imported without some of its weights (lottery.core.archive) names them under this key:
# {"final": True, "snapshots": [iterations]}; the runner retrains the network if they are read
OMITTED = "omitted"
RUNS_ENV = "LOTTERY_RUNS"
_TMP = re.compile(r"^\..+\.(\d+)\.\d+\.tmp$")
MARKER = ".lottery-store"
# what else the suite leaves at a store's top level (reproduce, calibration, sparse training)
KNOWN_ITEMS = frozenset({"notebooks", "figures-smoke", "calibration.json",
                         "sparse_crossover.json"})
_RECIPE = re.compile(r"^[0-9a-f]{16}$")  # a recipe folder: hparams.fingerprint


def runs_root(root: str | Path | None = None) -> Path:
    """``root``, else ``$LOTTERY_RUNS``, else the project's ``runs/``: one folder whatever the
    current directory (a notebook's kernel runs in ``notebooks/``; a cwd-relative default
    left a stray ``notebooks/runs/`` there). Outside a checkout: ``./runs``."""
    if root or os.environ.get(RUNS_ENV):
        return Path(root or os.environ[RUNS_ENV])
    checkout = Path(__file__).resolve().parents[2]
    return checkout / "runs" if (checkout / "pyproject.toml").exists() else Path("runs")


def store_layout(root: Path) -> tuple[bool, int]:
    """(whether every top-level item of ``root`` is one the suite writes, the number of recipe
    folders): ``<model>-<data>/<16 hex digits>/`` folders, no symbolic links anywhere on the
    way, and the known files and folders."""
    recipes = 0
    for top in root.iterdir():
        if top.name == MARKER or _TMP.match(top.name):
            continue
        if top.is_symlink():
            return False, recipes
        if top.name in KNOWN_ITEMS:
            continue
        if not top.is_dir() or "-" not in top.name:
            return False, recipes
        inner = list(top.iterdir())
        if not inner or any(f.is_symlink() or not f.is_dir() or not _RECIPE.match(f.name)
                            for f in inner):
            return False, recipes
        recipes += len(inner)
    return True, recipes


def is_marked(root: Path) -> bool:
    marker = root / MARKER
    return marker.is_file() and not marker.is_symlink()


def recognised(root: Path) -> bool:
    """Whether ``root`` is a run store: marked, or (made before markers) laid out as one with
    at least one recipe folder and nothing else."""
    if is_marked(root):
        return True
    if not root.is_dir():
        return False
    known, recipes = store_layout(root)
    return known and recipes > 0


def claim(root: Path) -> None:
    """Mark ``root`` as a run store where it is new, empty or holds only store items (a folder
    with anything else stays unmarked: removal refuses it)."""
    root = Path(root)
    if is_marked(root):
        return
    if root.is_dir() and not store_layout(root)[0]:
        return
    root.mkdir(parents=True, exist_ok=True)
    atomic_write_text("a lottery run store: `python -m lottery store` lists it\n",
                      root / MARKER)


def notice(message: str) -> None:
    """One line on stderr (no warning machinery: no source line, no repeat filter)."""
    print(message, file=sys.stderr, flush=True)


def _short(text: str, limit: int = 160) -> str:
    """``text`` on one line, cut at a word boundary."""
    text = " ".join(str(text).split())
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] + " ..."


def describe(error: BaseException) -> str:
    """An exception as one readable line: its type and the line of its message that says
    what went wrong (a weights-only load failure hides it after a page of advice)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error))
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    telling = next((line for line in lines if "Unpickler error" in line), lines[0] if lines
                   else "")
    return f"{type(error).__name__}: {telling}" if telling else type(error).__name__


def sweep_temporaries(root: Path) -> int:
    """Remove the temporary files that dead processes left under ``root``; returns the count."""
    return temporaries.sweep(root, _TMP, recursive=True)


def set_aside(path: Path, reason: str, then: str = "recomputing") -> Path:
    """Move an unusable file to the first free ``<name>.corrupt[.N]`` and say so in one line."""
    aside = path.with_name(path.name + ".corrupt")
    for n in itertools.count(1):
        if not aside.exists():
            break
        aside = path.with_name(f"{path.name}.corrupt.{n}")
    os.replace(path, aside)
    notice(f"run store: {path} {_short(reason)}; set aside as {aside.name}, {then}")
    return aside


class RunStore:
    """Entries live at ``root/<folder>/<name>.pt``; ``key`` is any JSON-able description."""

    def __init__(self, root: str | Path | None = None):
        self.root = runs_root(root)
        self._warned_versions: set = set()
        self._claimed = False
        sweep_temporaries(self.root)

    def path(self, folder: str, name: str) -> Path:
        return self.root / folder / f"{name}.pt"

    @staticmethod
    def key_id(key: dict[str, Any]) -> str:
        return fingerprint({"store_version": STORE_VERSION, **key})

    def load(self, folder: str, name: str, key: dict[str, Any]) -> dict[str, Any] | None:
        """The stored payload for ``key``, or None when absent or unusable (set aside)."""
        path = self.path(folder, name)
        if not path.exists():
            return None
        try:
            entry = torch.load(path, map_location="cpu", weights_only=True)
            if not isinstance(entry, dict) or entry.get("key_id") != self.key_id(key):
                raise ValueError("stored key differs from the requested one")
            payload = entry["payload"]
        except Exception as error:  # unreadable, truncated, or from another configuration
            set_aside(path, f"unusable ({describe(error)})")
            return None
        if not path.with_suffix(".json").exists():  # a write stopped between the two files
            self._write_readable(path, key, entry.get("provenance", {}))
        self._check_versions(path, entry.get("provenance", {}))
        return payload

    def save(self, folder: str, name: str, key: dict[str, Any], payload: dict[str, Any],
             provenance: dict | None = None) -> Path:
        path = self.path(folder, name)
        record = provenance or {}
        if not self._claimed:
            claim(self.root)
            self._claimed = True
        atomic_save({"key_id": self.key_id(key), "key": key, "provenance": record,
                     "payload": payload}, path)
        self._write_readable(path, key, record)
        return path

    def _write_readable(self, path: Path, key: dict, record: dict) -> None:
        text = json.dumps({"store_version": STORE_VERSION, **key, "provenance": record},
                          indent=1, sort_keys=True, default=str)
        atomic_write_text(text, path.with_suffix(".json"))

    def _check_versions(self, path: Path, record: dict) -> None:
        """Say once per set of differing versions that a loaded result was made under others."""
        changed = prov.differences(record)
        if changed and tuple(sorted(changed.items())) not in self._warned_versions:
            self._warned_versions.add(tuple(sorted(changed.items())))
            text = ", ".join(f"{k} {a} (now {b})" for k, (a, b) in changed.items())
            notice(f"run store: loaded results made under {text}, e.g. {path.name}; "
                   f"kept (delete the entries to recompute)")

    def checkpoint_path(self, folder: str, name: str) -> Path:
        return self.root / folder / f"{name}.ckpt"

    # A group checkpoint (``<name>.ckpt``) serves one batched training call; ``<name>.group``
    # beside it lists the key ids of the call's entries, so that a checkpoint whose entries are
    # all stored (a kill fell between storing them and deleting it) is known to be finished.
    def begin_group(self, folder: str, name: str, key_ids: list[str]) -> None:
        atomic_write_text(json.dumps(sorted(key_ids)), self.root / folder / f"{name}.group")

    def end_group(self, folder: str, name: str) -> None:
        """Delete the group's checkpoint (only once every entry is stored), then its list."""
        self.checkpoint_path(folder, name).unlink(missing_ok=True)
        (self.root / folder / f"{name}.group").unlink(missing_ok=True)

    def sweep_finished_groups(self, folder: str) -> int:
        """End every group under ``folder`` whose entries are all stored; returns how many."""
        directory, ended = self.root / folder, 0
        for listed in directory.glob("*.group") if directory.is_dir() else ():
            try:
                ids = json.loads(listed.read_text())
            except (OSError, ValueError):
                continue
            if isinstance(ids, list) and all(isinstance(i, str) and any(
                    directory.glob(f"*-{i}.pt")) for i in ids):
                self.end_group(folder, listed.stem)
                ended += 1
        return ended
