"""The package's floors hold: no import circles, no function-local imports between its modules
(but optional heavy dependencies), the import-linter contracts kept, and every store key the
notebooks' plans name unchanged since the flat package, so a store made before the floors
loads everything after them (nothing retrains)."""

from __future__ import annotations

import ast
import gzip
import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "lottery"
FIXTURE = ROOT / "tests" / "fixtures" / "store_keys_36ec152.json.gz"


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> tuple[set[str], list[str]]:
    """(package modules imported at module level, function-local package imports)."""
    tree = ast.parse(path.read_text())
    top, local = set(), []
    top_level = {id(n) for n in tree.body}
    guarded = {id(m) for n in tree.body if isinstance(n, ast.If) for m in ast.walk(n)}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("lottery"):
            names = [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names if a.name.startswith("lottery")]
        else:
            continue
        if not names:
            continue
        if id(node) in top_level:
            top.update(names)
        elif id(node) not in guarded:  # TYPE_CHECKING blocks are not imports at run time
            local.append(f"{_module(path)}:{node.lineno}")
    return top, local


def _graph() -> tuple[dict[str, set[str]], list[str]]:
    files = {_module(f): f for f in PACKAGE.rglob("*.py")}
    edges, local = {}, []
    for name, path in files.items():
        top, here = _imports(path)
        # `from lottery.core import jobs` names a module; `from lottery.core.jobs import x`
        # names its module
        edges[name] = {t if t in files else t.rpartition(".")[0] for t in top} & set(files)
        edges[name].discard(name)
        local += here
    return edges, local


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_the_package_has_no_import_circles():
    edges, _ = _graph()
    assert _cycles(edges) == []


def test_the_cycle_finder_finds_a_circle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


# where a late import is the point: the entry point imports the command line inside its Ctrl-C
# guard, so that an interrupt during torch's seconds of start-up imports is one line
LATE_ON_PURPOSE = {"lottery.__main__"}


def test_no_function_local_imports_between_package_modules():
    _, local = _graph()
    assert [place for place in local if place.split(":")[0] not in LATE_ON_PURPOSE] == []


@pytest.mark.skipif(shutil.which("lint-imports") is None and not (ROOT / ".venv" / "bin" /
                    "lint-imports").exists(), reason="import-linter is not installed")
def test_the_import_contracts_are_kept():
    exe = shutil.which("lint-imports") or str(ROOT / ".venv" / "bin" / "lint-imports")
    result = subprocess.run([exe], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:]


@pytest.mark.parametrize("profile", ["smoke", "quick"])
def test_every_planned_network_keeps_its_store_key(profile):
    """Every network the flat package's plans named (fixture made on 36ec152 by
    tests/store_keys.py) keeps its key: a store made then loads it now. The plans may name
    more (the quick profile's trials went from 2 to 5), never fewer or other ones."""
    from store_keys import keys

    expected = json.loads(gzip.decompress(FIXTURE.read_bytes()))["keys"]
    for name, before in sorted(expected.items()):
        notebook, _, at = name.partition("@")
        if at == profile:
            missing = set(before) - set(keys(notebook, profile))
            assert not missing, f"{name}: {len(missing)} keys changed, e.g. {sorted(missing)[0]}"
