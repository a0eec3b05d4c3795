"""Fetch real datasets into the data root with torchvision's downloaders and md5 lists.

``python -m lottery.engine.download [NAME ...] [--root DIR] [--list]`` (``make data``) fetches
MNIST, Fashion-MNIST and CIFAR-10 by default; CIFAR-100, KMNIST and EMNIST letters by
name.  :func:`ensure` is the check notebooks and the CLI make before a real run.
``$LOTTERY_OFFLINE=1`` forbids every download attempt.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import socket
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from lottery.engine.data import (
    DATASETS,
    DEFAULT_DOWNLOADS,
    OFFLINE_ENV,
    DataFileError,
    DatasetSpec,
    DataUnavailable,
    check_idx_split,
    data_root,
    folders_under,
    idx_files,
    offline,
    remove_new_empty,
    shown,
    unavailable,
)

__all__ = ["DOWNLOADABLE", "Outcome", "download", "ensure", "main"]

DOWNLOADABLE = tuple(name for name, spec in DATASETS.items() if not spec.synthetic)
SOCKET_TIMEOUT_S = 60  # torchvision's urllib calls would otherwise wait forever on a dead link


@dataclass(frozen=True)
class Outcome:
    """What became of one dataset: ``state`` is already present, downloaded, missing or failed."""

    name: str
    state: str
    where: str  # the data root as shown to users
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.state in ("already present", "downloaded")

    def __str__(self) -> str:
        if self.state == "already present":
            return f"{self.name}: already present in {self.where}"
        if self.state == "downloaded":
            replaced = f"; replaced {self.reason}" if self.reason else ""
            return f"{self.name}: downloaded into {self.where} (md5 verified{replaced})"
        if self.state == "missing":
            return f"{self.name}: missing from {self.where} ({self.reason})"
        return f"{self.name}: failed to download into {self.where}: {self.reason}"


def _spec(name: str) -> DatasetSpec:
    """The registry entry of a downloadable dataset; ValueError naming the choices otherwise."""
    if name not in DOWNLOADABLE:
        raise ValueError(f"no downloadable dataset {name!r}; choose from {', '.join(DOWNLOADABLE)}")
    return DATASETS[name]


def _torchvision_class(spec: DatasetSpec):
    import torchvision.datasets  # slow import: only when a real dataset is touched

    return getattr(torchvision.datasets, spec.torchvision_class)


def _archives(spec: DatasetSpec, root: Path) -> list[tuple[Path, str, tuple[Path, ...]]]:
    """torchvision's downloads for ``spec``: (archive, its md5, the files extracted from it)."""
    cls = _torchvision_class(spec)
    raw = root / spec.torchvision_class / "raw"
    if spec.idx and spec.torchvision_split:  # EMNIST: one zip holds every split
        files = idx_files(spec, root, True) + idx_files(spec, root, False)
        return [(raw / Path(cls.url).name, cls.md5, files)]
    if spec.idx:
        return [(raw / name, md5, (raw / name.removesuffix(".gz"),)) for name, md5 in cls.resources]
    files = tuple(root / cls.base_folder / name for name, _ in cls.train_list + cls.test_list)
    return [(root / cls.filename, cls.tgz_md5, files)]


def _inspect(
    spec: DatasetSpec, root: Path, archives: bool
) -> tuple[list[Path], list[tuple[Path, str]]]:
    """(missing files, damaged files with what is wrong) of a real dataset under ``root``.

    idx files get the structural checks of :func:`lottery.engine.data.check_idx_split`, CIFAR
    files torchvision's md5s; with ``archives``, any downloaded archive lying there must
    match its md5 too (a mismatch also condemns the files extracted from it).
    """
    from torchvision.datasets.utils import check_integrity

    missing: list[Path] = []
    damaged: list[tuple[Path, str]] = []
    if spec.idx:
        for train in (True, False):
            absent = [path for path in idx_files(spec, root, train) if not path.is_file()]
            missing += absent
            if absent:
                continue
            try:
                check_idx_split(spec, root, train)
            except DataFileError as error:
                damaged += [(path, error.what) for path in error.paths]
    else:
        cls = _torchvision_class(spec)
        listed = cls.train_list + cls.test_list + [[cls.meta["filename"], cls.meta["md5"]]]
        for name, md5 in listed:
            path = root / cls.base_folder / name
            if not path.is_file():
                missing.append(path)
            elif not check_integrity(path, md5):
                damaged.append((path, f"{name} fails its md5 check"))
    for archive, md5, derived in _archives(spec, root) if archives else []:
        if archive.is_file() and not check_integrity(archive, md5):
            damaged.append((archive, f"{archive.name} fails its md5 check"))
            damaged += [(path, f"{archive.name} is corrupt") for path in derived if path.is_file()]
    return missing, damaged


def _problem(missing: Sequence[Path], damaged: Sequence[tuple[Path, str]]) -> str:
    """One phrase for what :func:`_inspect` found."""
    parts = list(dict.fromkeys(what for _, what in damaged))
    if missing:
        names = [path.name for path in missing]
        more = f" and {len(names) - 2} more" if len(names) > 2 else ""
        parts.insert(0, f"files missing: {', '.join(names[:2])}{more}")
    return "; ".join(parts)


@contextlib.contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    """A default socket timeout for the block, unless the process already set one."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds if previous is None else previous)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def _fetch(spec: DatasetSpec, root: Path, progress: bool) -> None:
    """torchvision's own download of ``spec`` (mirrors, md5 check, extraction) into ``root``."""
    options = {"split": spec.torchvision_split} if spec.torchvision_split else {}
    # torchvision draws its tqdm bars on stderr and offers no switch to hide them.
    quiet = contextlib.nullcontext() if progress else contextlib.redirect_stderr(io.StringIO())
    with quiet, _socket_timeout(SOCKET_TIMEOUT_S):
        _torchvision_class(spec)(str(root), train=True, download=True, **options)


def _reason(error: BaseException) -> str:
    """One line saying why torchvision's download failed."""
    text = " ".join(str(error).split()) or type(error).__name__
    if "corrupted" in text:  # torchvision's word for a download failing its md5
        kind = "checksum mismatch (the downloaded file fails torchvision's md5)"
    elif isinstance(error, OSError) or "urlopen error" in text:
        kind = "server unreachable"
    else:
        kind = type(error).__name__
    return f"{kind}: {text[:240]}"


def _acquire(spec: DatasetSpec, root: Path, progress: bool) -> Outcome:
    """Fetch one dataset unless it is present and sound; damaged files are replaced."""
    where = shown(root)
    missing, damaged = _inspect(spec, root, archives=True)
    if not missing and not damaged:
        return Outcome(spec.name, "already present", where)
    problem = _problem(missing, damaged)
    if offline():
        reason = f"{problem}; {OFFLINE_ENV}=1, so no download attempted"
        return Outcome(spec.name, "missing", where, reason)
    for path, _ in damaged:  # else torchvision would take them for finished downloads
        path.unlink(missing_ok=True)
    folders = folders_under(root)
    try:
        _fetch(spec, root, progress)
    except Exception as error:  # torchvision raises RuntimeError, URLError, OSError, ...
        remove_new_empty(root, folders)  # torchvision makes raw/ before it downloads
        return Outcome(spec.name, "failed", where, _reason(error))
    still_missing, still_damaged = _inspect(spec, root, archives=True)
    if still_missing or still_damaged:
        reason = f"after download: {_problem(still_missing, still_damaged)}"
        return Outcome(spec.name, "failed", where, reason)
    return Outcome(spec.name, "downloaded", where, _problem([], damaged))


def download(
    names: str | Sequence[str], root: str | Path | None = None, progress: bool = True
) -> list[Outcome]:
    """Fetch each named dataset into the data root unless already there; one Outcome each.

    With ``progress``, torchvision's tqdm bars show on stderr and each dataset's line is
    printed when it is done.  Failures are reported, not raised.
    """
    specs = [_spec(name) for name in ([names] if isinstance(names, str) else names)]
    folder = data_root(root)
    outcomes = []
    for spec in specs:
        outcomes.append(_acquire(spec, folder, progress))
        if progress:
            print(outcomes[-1], flush=True)
    return outcomes


def ensure(name: str, root: str | Path | None = None, *, download: bool) -> str:
    """Make sure real dataset ``name`` is on disk (fetching it if ``download``); a status line.

    Raises :class:`lottery.engine.data.DataUnavailable` (one line: the dataset, the folder and
    the command that fixes it) when it is absent or damaged and cannot be fetched.
    Synthetic datasets need nothing.
    """
    if name in DATASETS and DATASETS[name].synthetic:
        return f"{name}: synthetic, generated on load"
    spec = _spec(name)
    folder = data_root(root)
    missing, damaged = _inspect(spec, folder, archives=False)
    if not missing and not damaged:
        return str(Outcome(name, "already present", shown(folder)))
    if not download:
        raise unavailable(spec, folder, f"{_problem(missing, damaged)}; downloading is off")
    outcome = _acquire(spec, folder, progress=True)
    if not outcome.ok:
        raise unavailable(spec, folder, outcome.reason)
    return str(outcome)


def _print_list(names: Sequence[str], root: str | Path | None) -> None:
    """One line per dataset: name, title, classes, and whether it is usable in the data root."""
    folder = data_root(root)
    for name in names:
        spec = _spec(name)
        missing, damaged = _inspect(spec, folder, archives=False)
        state = "damaged" if damaged else "missing" if missing else "present"
        default = "  (default)" if name in DEFAULT_DOWNLOADS else ""
        print(f"{name:<15} {spec.title:<17} {spec.num_classes:>3} classes  "
              f"{state} in {shown(folder)}{default}")  # fmt: skip


def main(argv: Sequence[str] | None = None, prog: str = "python -m lottery.engine.download") -> int:
    """Command line: download the named datasets; 1 with one ``error:`` line on failure."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Download real datasets, md5-checked, into the data root "
        "(--root, else $LOTTERY_DATA, else ./data).",
    )
    parser.add_argument(
        "names", nargs="*", metavar="NAME",
        help=f"datasets to fetch (default: {' '.join(DEFAULT_DOWNLOADS)}); "
        f"any of {', '.join(DOWNLOADABLE)}",
    )  # fmt: skip
    parser.add_argument("--root", help="data root to download into")
    parser.add_argument("--list", action="store_true", help="show what is there; fetch nothing")
    args = parser.parse_args(argv)
    try:
        if args.list:
            _print_list(args.names or DOWNLOADABLE, args.root)
            return 0
        outcomes = download(args.names or DEFAULT_DOWNLOADS, args.root)
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    failed = [outcome.name for outcome in outcomes if not outcome.ok]
    if failed:
        print(f"error: {len(failed)} of {len(outcomes)} datasets unavailable "
              f"({', '.join(failed)}); see the lines above", file=sys.stderr)  # fmt: skip
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


def real_data_available(dataset: str, root: str | Path | None = None) -> bool:
    """Whether the real ``dataset`` loads from disk (no download attempted)."""
    try:
        ensure(dataset, root, download=False)
    except DataUnavailable:
        return False
    return True
