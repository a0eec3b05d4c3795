"""Atomic files: a write goes to a temporary name carrying the writer's process id, then is
renamed into place, so a crash never leaves half a file (and :mod:`lottery.engine.temporaries`
sweeps what a killed writer left). The run store, the dataset cache, the kernel library and
the sparse crossovers all write through here; a full disk is reported as such, in one line."""

from __future__ import annotations

import errno
import io
import itertools
import os
from pathlib import Path

import torch

_writes = itertools.count()


class StoreError(OSError):
    """A store write that failed for a reason the user can act on (one line)."""


def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.{next(_writes)}.tmp")


def _write_atomically(path: Path, write) -> None:
    """``write(tmp)`` then rename onto ``path``; on any failure the temporary is removed and a
    full disk is reported as such."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException as error:
        tmp.unlink(missing_ok=True)
        if _no_space(error):
            raise StoreError(errno.ENOSPC, f"no space left on device writing {path}") from None
        raise


def _no_space(error: BaseException) -> bool:
    while error is not None:
        if isinstance(error, OSError) and error.errno == errno.ENOSPC:
            return True
        if "No space left on device" in str(error):
            return True
        error = error.__cause__ or error.__context__
    return False


def atomic_save(payload, path: Path) -> None:
    """``torch.save`` to a temporary file, then rename: a crash never leaves half a file.

    The payload is serialized in memory and written by Python: torch's zip writer reports a
    failed write (a full disk) as ``RuntimeError: ... unexpected pos``, losing the errno."""
    def write(tmp: Path) -> None:
        buffer = io.BytesIO()
        torch.save(payload, buffer)
        with open(tmp, "wb") as file:
            file.write(buffer.getbuffer())

    _write_atomically(Path(path), write)


def atomic_write(path: Path, write) -> None:
    """``write(tmp)`` a file of any kind, then rename it onto ``path`` (see :func:`atomic_save`)."""
    _write_atomically(Path(path), write)


def atomic_write_text(text: str, path: Path) -> None:
    _write_atomically(Path(path), lambda tmp: tmp.write_text(text))
