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

Removal never leaves the store: it refuses a root that is not a run store (marked by
``.lottery-store``, or laid out as one: :func:`lottery.core.store.recognised`), every item must lie
inside the root's real path with no symbolic link on the way, and a symbolic link is removed
itself, never what it points to.
"""

from __future__ import annotations

import argparse
import datetime
import fnmatch
import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from lottery.core import archive
from lottery.core.store import MARKER, RUNS_ENV, recognised, runs_root


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
    """The files of ``path`` (itself for a file or a symbolic link), links never followed."""
    if path.is_symlink() or not path.is_dir():
        return [path]
    found = []
    for folder, _, names in os.walk(path):  # os.walk does not enter linked folders
        found += [Path(folder) / name for name in names]
    return found


def _item(root: Path, path: Path, recipe: bool) -> Item:
    files = _files(path)
    stats = [p.lstat() for p in files]
    times = [s.st_mtime for s in stats] or [path.lstat().st_mtime]
    return Item(path.relative_to(root).as_posix(), path, sum(s.st_size for s in stats),
                sum(p.suffix == ".pt" for p in files), min(times), max(times),
                describe_recipe(path) if recipe else "",
                sum(p.suffix == ".ckpt" for p in files),
                sum(".corrupt" in p.name for p in files))


def describe_recipe(folder: Path) -> str:
    """A recipe in one line, read from one network's readable copy: iterations, batch, data."""
    for readable in folder.rglob("*.json"):
        try:
            recipe = json.loads(readable.read_text())["recipe"]
            if not isinstance(recipe, dict):
                continue
        except (OSError, ValueError, KeyError, TypeError):  # unreadable, or not an entry's
            continue
        t, d, m = (_mapping(recipe.get(k)) for k in ("training", "dataset", "model"))
        sizes = d.get("sizes", [])
        sizes = "/".join(str(n) for n in sizes) if isinstance(sizes, list) else str(sizes)
        dropout = m.get("dropout")
        return (f"{t.get('optimizer')} lr {t.get('lr')}, {t.get('iterations')} it, batch "
                f"{t.get('batch_size')}, {d.get('name')} {sizes}"
                + (f", dropout {dropout}" if dropout else ""))
    return ""


def _mapping(value) -> dict:
    return value if isinstance(value, dict) else {}


def is_recipe(folder: Path) -> bool:
    """``<model>-<data>/<recipe>``: a folder two levels down whose stages hold networks."""
    return _real_dir(folder) and (any(folder.glob("*/*.pt")) or any(folder.glob("*/*.ckpt")))


def _real_dir(path: Path) -> bool:
    """A folder that is not a symbolic link (nothing under a link is ever listed)."""
    return path.is_dir() and not path.is_symlink()


def inventory(root: Path) -> tuple[list[Item], list[Item]]:
    """(recipe folders, other top-level items) under ``root``; the marker is neither."""
    recipes, others = [], []
    if not root.is_dir():
        return recipes, others
    for top in sorted(root.iterdir()):
        if top.name == MARKER:
            continue
        inner = [f for f in sorted(top.iterdir()) if is_recipe(f)] if _real_dir(top) else []
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
        lines += [f"  {_shown(i):<30} {size_text(i.size):>9}" for i in others]
    lines.append("remove with: python -m lottery store remove NAME... (a dry run; --yes deletes)")
    return "\n".join(lines)


def _shown(item: Item) -> str:
    if item.path.is_symlink():
        return f"{item.name} -> {os.readlink(item.path)}"
    return item.name + ("/" if item.path.is_dir() else "")


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


def check_store(root: Path) -> None:
    """ValueError unless ``root`` is a run store removal may work in."""
    if not root.is_dir():
        raise ValueError(f"{root} is not a folder")
    if not recognised(root):
        raise ValueError(f"{root} is not a run store (no {MARKER} marker and not laid out as "
                         f"one); if it is one, mark it with: touch {root / MARKER}")


def _inside(root: Path, item: Item) -> None:
    """ValueError unless ``item`` lies in ``root``'s real folder with no link on the way (the
    item itself may be a link: then the link alone goes)."""
    relative = Path(item.name)
    expected = root.resolve().joinpath(*relative.parts[:-1])
    if ".." in relative.parts or item.path.parent.resolve() != expected:
        raise ValueError(f"{item.name}: leads out of the run store {root}; nothing removed")


def _delete(path: Path) -> None:
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path)  # never follows links inside (it refuses a linked top itself)


def _line(item: Item) -> str:
    if item.path.is_symlink():
        return f"  {item.name}  (a symbolic link to {os.readlink(item.path)}: the link alone)"
    return f"  {item.name}  ({item.networks} networks, {size_text(item.size)})"


def remove(root: Path, names: list[str], yes: bool) -> str:
    check_store(root)
    items = select(root, names)
    for item in items:
        _inside(root, item)
    size = size_text(sum(i.size for i in items))
    networks = sum(i.networks for i in items)
    lines = [_line(i) for i in items]
    if not yes:
        return "\n".join([f"would remove {len(items)} item(s), {networks} networks, {size}:",
                          *lines, "nothing deleted: add --yes to delete"])
    for i in items:
        _delete(i.path)
    for parent in {i.path.parent for i in items}:  # an emptied model-data folder goes too
        if parent != root and _real_dir(parent) and not any(parent.iterdir()):
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
    except (ValueError, OSError) as error:  # archive.ArchiveError included
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0
