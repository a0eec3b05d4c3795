"""The README's "Your own model" example runs as it stands (issue #28)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Your own model", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_example_runs_and_prints_its_tables(tmp_path):
    code = readme_example()
    assert "lottery.find_ticket(" in code and len(code.strip().splitlines()) <= 20
    env = os.environ | {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "random_mask" in out.stdout and "sparse / dense" in out.stdout
    assert (tmp_path / "ticket.pt").exists() and any((tmp_path / "runs").rglob("*.pt"))
