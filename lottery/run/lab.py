"""``make lab``: JupyterLab on ``notebooks/``, also where the user is root (most containers).

Jupyter refuses to start as root unless told ``--allow-root`` ("Running as root is not
recommended"); a container's only user is usually root, so the flag is added exactly then.
Further arguments pass through to ``jupyter lab`` (``make lab LAB_ARGS="--port 8899"``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence


def running_as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def lab_command(extra: Sequence[str] = ()) -> list[str]:
    """The ``jupyter lab`` command line, ``--allow-root`` added when the user is root."""
    command = [sys.executable, "-m", "jupyter", "lab"]
    if running_as_root() and "--allow-root" not in extra:
        command.append("--allow-root")
    return command + list(extra)


def main(argv: Sequence[str] | None = None) -> int:
    command = lab_command(sys.argv[1:] if argv is None else argv)
    try:
        return subprocess.call(command)
    except KeyboardInterrupt:  # Jupyter has already said goodbye on its own terminal line
        return 130


if __name__ == "__main__":
    sys.exit(main())
