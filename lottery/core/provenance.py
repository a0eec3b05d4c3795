"""What produced a result: package versions, device, threads, the project's commit, the date.

Recorded with every stored run and shown in notebook banners; paths are never recorded (a
result must not carry the absolute paths of the machine that made it).
"""

from __future__ import annotations

import datetime
import importlib.metadata
import importlib.util
import platform
import re
import subprocess
from functools import lru_cache
from pathlib import Path

import torch

# the versions whose change can change a number; a result made under others says so on load
VERSION_KEYS = ("python", "torch", "numpy")


@lru_cache(maxsize=1)
def versions() -> dict[str, str]:
    import numpy

    # plain str: torch's version object is not among the types a weights-only load accepts
    return {"python": platform.python_version(), "torch": str(torch.__version__),
            "torchvision": torchvision_version(), "numpy": str(numpy.__version__)}


def torchvision_version() -> str:
    """torchvision's ``__version__`` read from its ``version.py``: importing torchvision would
    import torch's compiler stack too (seconds), and a training job needs neither."""
    spec = importlib.util.find_spec("torchvision")
    if spec is None or spec.origin is None:
        return "absent"
    try:
        text = (Path(spec.origin).parent / "version.py").read_text()
    except OSError:
        text = ""
    found = re.search(r"^__version__ = ['\"]([^'\"]+)['\"]", text, re.MULTILINE)
    return found.group(1) if found else importlib.metadata.version("torchvision")


@lru_cache(maxsize=1)
def git_commit() -> str:
    """The project's commit, "+dirty" when tracked files differ from it; "unknown" outside git."""
    root = Path(__file__).resolve().parents[2]
    try:
        def git(*args):
            return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                                  timeout=10, check=True).stdout.strip()
        commit = git("rev-parse", "--short=12", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", "lottery")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def device_name(device: torch.device | str) -> str:
    device = torch.device(device)
    if device.type == "cuda" and torch.cuda.is_available():
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()} CPU"


def provenance(device: torch.device | str, wall_time: float | None = None) -> dict:
    """The record stored beside a result."""
    record = {**versions(), "device": device_name(device), "threads": torch.get_num_threads(),
              "commit": git_commit(),
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    if wall_time is not None:
        record["wall_time_s"] = round(wall_time, 3)
    return record


def differences(stored: dict) -> dict[str, tuple[str, str]]:
    """{package: (stored version, current version)} for the versions that differ."""
    now = versions()
    return {k: (stored[k], now[k]) for k in VERSION_KEYS if k in stored and stored[k] != now[k]}


def summary(record: dict) -> str:
    """One line: versions, device, threads, commit."""
    return (f"python {record.get('python')}, torch {record.get('torch')}, "
            f"torchvision {record.get('torchvision')}, numpy {record.get('numpy')}; "
            f"{record.get('device')}, {record.get('threads')} threads; "
            f"commit {record.get('commit')}")


def project_root() -> Path:
    """The repository holding the package (where ``figures/`` and ``runs/`` live), else cwd."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").exists() else Path.cwd()
