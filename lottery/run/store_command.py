"""What the run store holds, and removing what a user names: ``python -m lottery store``.

The store keeps one file per trained network under ``<runs>/<model>-<data>/<recipe>/<stage>/``
(:mod:`lottery.core.store`); a recipe folder is one experiment setting (model, data, training,
speed options). ``store`` (or ``store list``) lists each recipe folder with its number of
networks, size, dates and a one-line recipe, then everything else under the root (executed
notebooks, smoke figures, the calibration cache). ``store remove NAME...`` removes recipe
folders (``lenet-mnist/0123abcd...``), all recipes of a model and dataset (``lenet-mnist``),
shell-style patterns of them (``'*synthetic*'``: what the smoke profile trained) or top-level
items (``figures-smoke``). It is a dry run unless ``--yes`` is given, and a name that matches
nothing is an error, so nothing finished is deleted by a typo.

``store export [NAME...] --output FILE [--weights resume|none|all]`` packs the networks of the
named settings (the same names as ``remove``; none: everything) into a portable archive, and
``store import FILE`` adds an archive's networks to the store (:mod:`lottery.core.archive`).
"""

from __future__ import annotations

import argparse
import datetime
import fnmatch
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from lottery.core import archive
from lottery.core.store import RUNS_ENV, runs_root


@dataclass(frozen=True)
class Item:
    """A recipe folder (``networks`` > 0 or stage folders below) or a top-level item."""

    name: str          # relative to the store root, with "/"
    path: Path
    size: int
    networks: int
    first: float       # modification times (seconds since the epoch)
    last: float
    recipe: str = ""
    unfinished: int = 0  # checkpoints of runs in progress or interrupted
    set_aside: int = 0   # unusable files moved aside (.corrupt)


def _files(path: Path) -> list[Path]:
    return [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]


def _item(root: Path, path: Path, recipe: bool) -> Item:
    files = _files(path)
    times = [p.stat().st_mtime for p in files] or [path.stat().st_mtime]
    return Item(path.relative_to(root).as_posix(), path, sum(p.stat().st_size for p in files),
                sum(p.suffix == ".pt" for p in files), min(times), max(times),
                describe_recipe(path) if recipe else "",
                sum(p.suffix == ".ckpt" for p in files),
                sum(".corrupt" in p.name for p in files))


def describe_recipe(folder: Path) -> str:
    """A recipe in one line, read from one network's readable copy: iterations, batch, data."""
    for readable in folder.rglob("*.json"):
        try:
            recipe = json.loads(readable.read_text())["recipe"]
        except (OSError, ValueError, KeyError):
            continue
        t, d = recipe.get("training", {}), recipe.get("dataset", {})
        sizes = "/".join(str(n) for n in d.get("sizes", []))
        dropout = recipe.get("model", {}).get("dropout")
        return (f"{t.get('optimizer')} lr {t.get('lr')}, {t.get('iterations')} it, batch "
                f"{t.get('batch_size')}, {d.get('name')} {sizes}"
                + (f", dropout {dropout}" if dropout else ""))
    return ""


def is_recipe(folder: Path) -> bool:
    """``<model>-<data>/<recipe>``: a folder two levels down whose stages hold networks."""
    return folder.is_dir() and (any(folder.glob("*/*.pt")) or any(folder.glob("*/*.ckpt")))


def inventory(root: Path) -> tuple[list[Item], list[Item]]:
    """(recipe folders, other top-level items) under ``root``."""
    recipes, others = [], []
    if not root.is_dir():
        return recipes, others
    for top in sorted(root.iterdir()):
        inner = [f for f in sorted(top.iterdir()) if is_recipe(f)] if top.is_dir() else []
        recipes += [_item(root, f, True) for f in inner]
        if not inner:
            others.append(_item(root, top, False))
    return recipes, others


def size_text(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def _day(t: float) -> str:
    return datetime.datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M")


def listing(root: Path) -> str:
    recipes, others = inventory(root)
    total = sum(i.size for i in recipes + others)
    lines = [f"run store {root} ({size_text(total)})"]
    if recipes:
        width = max(len(i.name) for i in recipes)
        lines.append(f"{'experiment (model-data/recipe)':<{width}}  networks      size  "
                     f"{'first':<16}  {'last':<16}  recipe")
        for i in recipes:
            notes = "".join([f"; {i.unfinished} unfinished" if i.unfinished else "",
                             f"; {i.set_aside} set aside" if i.set_aside else ""])
            lines.append(f"{i.name:<{width}}  {i.networks:>8}  {size_text(i.size):>8}  "
                         f"{_day(i.first)}  {_day(i.last)}  {i.recipe}{notes}")
    else:
        lines.append("no trained networks")
    if others:
        lines.append("other:")
        lines += [f"  {i.name + ('/' if i.path.is_dir() else ''):<30} {size_text(i.size):>9}"
                  for i in others]
    lines.append("remove with: python -m lottery store remove NAME... (a dry run; --yes deletes)")
    return "\n".join(lines)


def select(root: Path, names: list[str]) -> list[Item]:
    """The items ``names`` name (exact, a model-data prefix, or a pattern); ValueError for a
    name that matches nothing or leaves the root."""
    recipes, others = inventory(root)
    chosen: dict[str, Item] = {}
    for name in names:
        clean = name.strip().strip("/")
        if not clean or ".." in Path(clean).parts or Path(clean).is_absolute():
            raise ValueError(f"{name!r}: name a recipe folder or item inside {root}")
        found = [i for i in recipes + others if fnmatch.fnmatchcase(i.name, clean)
                 or i.name.startswith(clean + "/")]
        if not found:
            known = ", ".join(sorted({i.name.split("/")[0] for i in recipes + others}))
            raise ValueError(f"{name!r} matches nothing in {root} (there: {known or 'nothing'})")
        chosen.update({i.name: i for i in found})
    return list(chosen.values())


def remove(root: Path, names: list[str], yes: bool) -> str:
    items = select(root, names)
    size = size_text(sum(i.size for i in items))
    networks = sum(i.networks for i in items)
    lines = [f"  {i.name}  ({i.networks} networks, {size_text(i.size)})" for i in items]
    if not yes:
        return "\n".join([f"would remove {len(items)} item(s), {networks} networks, {size}:",
                          *lines, "nothing deleted: add --yes to delete"])
    for i in items:
        shutil.rmtree(i.path) if i.path.is_dir() else i.path.unlink()
    for parent in {i.path.parent for i in items}:  # an emptied model-data folder goes too
        if parent != root and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
    return "\n".join([f"removed {len(items)} item(s), {networks} networks, {size}:", *lines])


def export(root: Path, names: list[str], output: str | None, weights: str) -> str:
    """The archive of the recipe folders ``names`` selects (all when none)."""
    if not output:
        raise ValueError("export needs --output FILE (e.g. results/lenet-paper.zip)")
    items = select(root, names) if names else inventory(root)[0]
    folders = [i.path for i in items if i.networks or i.unfinished]
    if not folders:
        raise ValueError(f"{' '.join(names) or root} holds no trained networks")
    return archive.export(root, folders, Path(output), weights)


def main(argv: list[str] | None = None, prog: str = "python -m lottery store") -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", nargs="?", default="list",
                        choices=("list", "remove", "export", "import"))
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help="remove, export: recipe folders, model-data prefixes, patterns or "
                             "items; import: the archive file")
    parser.add_argument("--runs", metavar="DIR",
                        help=f"run store root (default: ${RUNS_ENV} or runs/)")
    parser.add_argument("--yes", action="store_true", help="remove: really delete")
    parser.add_argument("--output", "-o", metavar="FILE", help="export: the archive to write")
    parser.add_argument("--weights", choices=archive.WEIGHTS, default="resume",
                        help="export: trained weights to keep: resume (what a later stage "
                             "needs: the default), none (tables and figures only), all")
    args = parser.parse_args(argv)
    root = runs_root(args.runs)
    if args.action == "list":
        print(listing(root))
        return 0
    if args.action == "import" and len(args.names) != 1:
        parser.error("import needs exactly one archive FILE")
    if args.action == "remove" and not args.names:
        parser.error("remove needs at least one NAME (see the list: python -m lottery store)")
    try:
        if args.action == "export":
            print(export(root, args.names, args.output, args.weights))
        elif args.action == "import":
            print(archive.import_(Path(args.names[0]), root))
        else:
            print(remove(root, args.names, args.yes))
    except ValueError as error:  # archive.ArchiveError included
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0
