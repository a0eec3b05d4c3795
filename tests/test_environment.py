"""Project-infrastructure checks: pyproject.toml, environment.yml, Makefile, CI, README.

These guard against the conda and pip dependency specs drifting apart and
against the documented commands disappearing.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]

RUNTIME_DEPS = {
    "torch",
    "torchvision",
    "numpy",
    "pandas",
    "matplotlib",
    "seaborn",
    "tqdm",
    "papermill",
    "jupyterlab",
    "nbval",
    "ipykernel",
}
DEV_DEPS = {"pytest", "hypothesis", "ruff"}
# conda-only entries that are not Python distributions
CONDA_BASE = {"python", "pip"}


# ---------------------------------------------------------------- helpers
def normalize(name: str) -> str:
    """PEP 503 normalised project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def req_name(req: str) -> str:
    """Distribution name of a requirement string: 'torch>=2.4' -> 'torch'."""
    m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", req)
    if not m:
        raise ValueError(f"cannot parse requirement {req!r}")
    return normalize(m.group(1))


def parse_environment_yml(text: str) -> tuple[list[str], list[str]]:
    """Tiny parser for environment.yml (no PyYAML needed).

    Returns (conda_entries, pip_entries) from the ``dependencies:`` block.
    """
    conda: list[str] = []
    pip: list[str] = []
    in_deps = False
    deps_indent = -1
    pip_indent: int | None = None
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        stripped = line.strip()
        if not in_deps:
            if indent == 0 and stripped == "dependencies:":
                in_deps = True
            continue
        if indent == 0:  # next top-level key ends the block
            break
        if deps_indent < 0:
            deps_indent = indent
        if not stripped.startswith("- "):
            continue
        item = stripped[2:].strip().strip("'\"")
        if pip_indent is not None and indent > deps_indent:
            pip.append(item)
            continue
        pip_indent = None
        if item == "pip:":
            pip_indent = indent
        else:
            conda.append(item)
    return conda, pip


def conda_name(entry: str) -> str:
    """'python=3.11' / 'numpy>=1.26' / 'conda-forge::tqdm' -> normalised name."""
    entry = entry.split("::")[-1]
    return normalize(re.split(r"[=<>!~ ]", entry, maxsplit=1)[0])


def editable_self_extras(entry: str) -> set[str] | None:
    """For '-e .[dev]' return {'dev'}; None if entry is not an install of this project."""
    m = re.fullmatch(r"(?:-e|--editable)\s+\.(?:\[([^\]]*)\])?", entry.strip())
    if not m:
        return None
    return {e.strip() for e in (m.group(1) or "").split(",") if e.strip()}


def drift_problems(pyproject: dict, env_text: str) -> list[str]:
    """Every way environment.yml disagrees with pyproject.toml (empty list = in sync)."""
    project = pyproject["project"]
    declared = {req_name(r) for r in project.get("dependencies", [])}
    extras = project.get("optional-dependencies", {})
    for reqs in extras.values():
        declared |= {req_name(r) for r in reqs}

    conda, pip = parse_environment_yml(env_text)
    problems: list[str] = []

    names = {conda_name(c) for c in conda}
    for missing in sorted(CONDA_BASE - names):
        problems.append(f"environment.yml: conda dependencies lack {missing!r}")

    self_installs = [x for x in (editable_self_extras(p) for p in pip) if x is not None]
    if not self_installs:
        problems.append("environment.yml: pip section does not install the project (-e .[dev])")
    elif "dev" not in set().union(*self_installs):
        problems.append("environment.yml: project installed without the [dev] extra")
    for ex in set().union(*self_installs) if self_installs else set():
        if ex not in extras:
            problems.append(f"environment.yml: extra [{ex}] not defined in pyproject.toml")

    for c in conda:
        n = conda_name(c)
        if n not in CONDA_BASE and n not in declared:
            problems.append(f"environment.yml: conda package {n!r} not declared in pyproject")
    for p in pip:
        if editable_self_extras(p) is not None or p.startswith("-"):
            continue
        n = req_name(p)
        if n not in declared:
            problems.append(f"environment.yml: pip package {n!r} not declared in pyproject")
    return problems


@pytest.fixture(scope="module")
def pyproject() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as fh:
        return tomllib.load(fh)


@pytest.fixture(scope="module")
def env_text() -> str:
    return (ROOT / "environment.yml").read_text()


# ---------------------------------------------------------------- (a) drift
def test_environment_yml_matches_pyproject(pyproject, env_text):
    assert drift_problems(pyproject, env_text) == []


def test_environment_yml_parser_reads_real_file(env_text):
    conda, pip = parse_environment_yml(env_text)
    assert {conda_name(c) for c in conda} >= CONDA_BASE
    # the same extras as `make install` (README: conda "installs the same set")
    makefile = (Path(__file__).resolve().parents[1] / "Makefile").read_text()
    installed = re.search(r"pip install -c \$\(PINS\) -e '\.\[([^\]]*)\]'", makefile)
    assert installed, "Makefile's install line not found"
    assert any(editable_self_extras(p) == set(installed.group(1).split(",")) for p in pip)


DRIFTED = [
    # extra conda package not in pyproject
    "name: lottery\ndependencies:\n  - python=3.11\n  - pip\n  - scipy\n"
    "  - pip:\n      - -e .[dev]\n",
    # extra pip package not in pyproject
    "name: lottery\ndependencies:\n  - python=3.11\n  - pip\n  - pip:\n      - -e .[dev]\n"
    "      - wandb>=0.16\n",
    # project not installed at all
    "name: lottery\ndependencies:\n  - python=3.11\n  - pip\n  - pip:\n      - numpy\n",
    # dev extra forgotten
    "name: lottery\ndependencies:\n  - python=3.11\n  - pip\n  - pip:\n      - -e .\n",
    # no pip in conda env
    "name: lottery\ndependencies:\n  - python=3.11\n",
]


@pytest.mark.parametrize("text", DRIFTED)
def test_drift_check_detects_drift(pyproject, text):
    assert drift_problems(pyproject, text), "drift went undetected"


def test_drift_check_accepts_declared_extra_packages(pyproject):
    text = (
        "name: lottery\nchannels:\n  - conda-forge\ndependencies:\n  - python=3.11\n"
        "  - pip\n  - numpy>=1.26  # comment\n  - conda-forge::pandas\n"
        "  - pip:\n      - -e .[dev]\n      - tqdm\n"
    )
    assert drift_problems(pyproject, text) == []


# ---------------------------------------------------------------- (b) pyproject
def test_pyproject_declares_runtime_deps(pyproject):
    declared = {req_name(r) for r in pyproject["project"]["dependencies"]}
    assert RUNTIME_DEPS <= declared, f"missing: {sorted(RUNTIME_DEPS - declared)}"


def test_pyproject_torch_floor(pyproject):
    torch_reqs = [r for r in pyproject["project"]["dependencies"] if req_name(r) == "torch"]
    assert torch_reqs and ">=2.4" in torch_reqs[0].replace(" ", "")


def test_pyproject_dev_extra(pyproject):
    dev = {req_name(r) for r in pyproject["project"]["optional-dependencies"]["dev"]}
    assert DEV_DEPS <= dev, f"missing: {sorted(DEV_DEPS - dev)}"


def test_pyproject_package_and_python(pyproject):
    assert pyproject["project"]["name"] == "lottery"
    # the lock pins numpy 2.4, which needs Python 3.11
    assert pyproject["project"]["requires-python"].replace(" ", "") == ">=3.11"
    include = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    assert "lottery*" in include
    pt = pyproject["tool"]["pytest"]["ini_options"]
    assert pt["testpaths"] == ["tests"]
    assert any(m.split(":")[0].strip() == "slow" for m in pt["markers"])


# ---------------------------------------------------------------- (c) CI / Makefile / README
def test_ci_runs_make_test():
    ci = ROOT / ".ci" / "run"
    assert ci.is_file()
    assert os.access(ci, os.X_OK), ".ci/run must be executable"
    text = ci.read_text()
    assert text.startswith("#!")
    assert "set -euo pipefail" in text
    cmds = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    assert "make test" in cmds, ".ci/run must invoke exactly `make test`"


def test_makefile_targets():
    text = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([A-Za-z][\w.-]*)\s*:(?!=)", text, flags=re.M))
    need = {"install", "test", "lint", "lab", "reproduce-all", "reproduce", "bench", "clean"}
    assert need <= targets, f"missing targets: {sorted(need - targets)}"
    phony = set(re.search(r"^\.PHONY\s*:(.*)$", text, flags=re.M).group(1).split())
    assert need <= phony
    assert "--nbval-lax" in text and "LOTTERY_PROFILE=smoke" in text
    clean = re.search(r"^clean:.*?(?=^\S|\Z)", text, flags=re.M | re.S).group(0)
    for keep in ("data", "runs", "figures"):
        assert not re.search(rf"rm\b[^\n]*\b{keep}\b", clean), f"clean must not remove {keep}/"


def test_readme_documents_commands():
    readme = ROOT / "README.md"
    if not readme.exists():
        pytest.skip("README.md not written yet")
    text = readme.read_text()
    assert "make test" in text
    assert "make reproduce-all" in text
