"""Temporary files of interrupted writers: every atomic write in the suite (run store, dataset
cache, kernel library) goes to a temporary name that carries the writer's process id, then is
renamed into place. A process killed in between (``kill -9``, a lost machine) leaves its
temporary behind; :func:`sweep` removes those whose process is gone, never a live writer's."""

from __future__ import annotations

import os
import re
from pathlib import Path


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists (one of another user counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep(folder: Path, pattern: re.Pattern, recursive: bool = False) -> int:
    """Remove the files in ``folder`` whose name ``pattern`` matches with the writer's pid as
    its first group, where that process is gone (not this one); returns how many."""
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    removed = 0
    for path in folder.rglob(".*") if recursive else folder.glob(".*"):
        match = pattern.match(path.name)
        if not match or path.is_dir() and not path.is_symlink():
            continue
        pid = int(match.group(1))
        if pid != os.getpid() and not alive(pid):
            path.unlink(missing_ok=True)
            removed += 1
    return removed
