"""What a notebook run did, written beside its executed copy for the reproduce summary.

``python -m lottery.run.reproduce`` names a file in ``$LOTTERY_RECORD`` for each notebook it runs;
the notebook's :class:`~lottery.run.session.Session` adds to it as it goes (its data, the estimate,
each experiment call, each figure written, the paper-vs-ours verdicts). Outside reproduce the
variable is unset and nothing is written.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from lottery.core.store import atomic_write_text

RECORD_ENV = "LOTTERY_RECORD"


def path() -> Path | None:
    value = os.environ.get(RECORD_ENV)
    return Path(value) if value else None


def read(file: str | Path | None = None) -> dict:
    """The record (empty when absent or unreadable)."""
    file = file or path()
    try:
        return json.loads(Path(file).read_text()) if file else {}
    except (OSError, ValueError):
        return {}


def update(**fields) -> None:
    """Set ``fields`` in the current record."""
    if (file := path()) is not None:
        atomic_write_text(json.dumps(read(file) | fields, indent=1, default=str), file)


def append(name: str, item) -> None:
    """Add ``item`` to the list ``name`` of the current record."""
    if (file := path()) is not None:
        update(**{name: [*read(file).get(name, []), item]})
