"""The repository stands on its own: the papers' numbers and protocol it cites are in
docs/PAPERS.md, every citation points there, and no test or module names a folder of our
development machines."""

from __future__ import annotations

import re
from pathlib import Path

from lottery.claims import paper_values

ROOT = Path(__file__).resolve().parents[1]
PAPERS = ROOT / "docs" / "PAPERS.md"
CITING = [ROOT / "README.md", *(ROOT / "lottery").glob("*.py"), *(ROOT / "notebooks").glob(
    "*.ipynb"), *(ROOT / "benchmarks").rglob("*.py"), *(ROOT / "benchmarks").glob("*.md")]
SOURCES = [*(ROOT / "lottery").glob("*.py"), *(ROOT / "tests").glob("*.py"),
           *(ROOT / "benchmarks").rglob("*.py")]
# a string literal that starts at a machine's own folders
MACHINE_PATH = re.compile(r"""["'](/work/|/home/|/Users/|/root/|[A-Z]:\\\\)""")


def test_every_citation_of_papers_md_points_at_the_file_in_the_repository():
    assert PAPERS.is_file()
    for path in CITING:
        text = path.read_text()
        bare = [m.start() for m in re.finditer(r"PAPERS\.md", text)
                if text[max(0, m.start() - 5):m.start()] != "docs/"]
        assert not bare, f"{path.relative_to(ROOT)} cites PAPERS.md outside docs/"


def test_the_numbers_the_figures_draw_are_in_docs_papers_md():
    text = PAPERS.read_text()
    for point in paper_values.POINTS:
        if point.percent != 100.0:
            assert f"{point.percent:g}%" in text, (point.preset, point.percent, point.what)
        if not point.relative and not point.approximate:  # [~] values may be derived
            assert f"{point.value:g}" in text, (point.preset, point.value, point.what)


def test_no_absolute_machine_path_in_code_or_tests():
    for path in SOURCES:
        found = MACHINE_PATH.search(path.read_text())
        assert found is None, f"{path.relative_to(ROOT)}: {found.group(0)}..."
