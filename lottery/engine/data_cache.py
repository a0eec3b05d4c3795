"""A cache of decoded real datasets: the raw tensors of a dataset's files, kept between processes
while those files are unchanged.

Decoding MNIST takes a tenth of a second, but importing torchvision to do it takes two; a short
job pays that in every process. The cache holds the decoded, checked uint8 images and int64
labels of both official splits (what :func:`lottery.engine.data.load` splits and normalizes), in
``$LOTTERY_CACHE`` (``none`` turns it off), else ``$XDG_CACHE_HOME/lottery``, else
``~/.cache/lottery`` -- not in the data root, which may be shared and read-only. An entry is
keyed by each source file's path, size, modification and change times and inode: any write to
a file (or its replacement) changes its change time, which no tool can set back, so a changed
file is decoded afresh. File times tick coarsely, so files changed in the last few seconds are
not cached yet (a second change within the same tick would look like none). A cache file that
cannot be read is rebuilt; one that cannot be written is skipped.

A cache file carries a sha256 of its tensors, checked on every load (about 0.1 s for MNIST's
55 MB), and its labels must lie in the dataset's class range: a damaged file (flipped bytes, a
label out of range) is decoded afresh from the raw files, never used. Writing one first sweeps
the temporaries of writers that were killed (:mod:`lottery.engine.temporaries`).
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Callable
from pathlib import Path

import torch

from lottery.engine import temporaries
from lottery.engine.atomic import atomic_save

CACHE_ENV = "LOTTERY_CACHE"
VERSION = 2  # of the cached content: raise it when the decoding or the file changes
_TMP = re.compile(r"^\..+\.pt\.(\d+)\.\d+\.tmp$")  # an atomic write's temporary (pid first)
OFF = ("none", "off", "0")
SETTLE_NS = 5 * 10**9  # files changed more recently than this are decoded, not cached
# torchvision's folders of the datasets not read from idx files
FOLDERS = {"CIFAR10": "cifar-10-batches-py", "CIFAR100": "cifar-100-python"}

Raw = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]  # train x, y, test x, y


def idx_files(spec, root: str | Path, train: bool) -> tuple[Path, Path]:
    """(images, labels) idx files of one split of an MNIST-like dataset, torchvision layout."""
    raw = Path(root) / spec.torchvision_class / "raw"
    if spec.torchvision_split:  # EMNIST: one file pair per split, e.g. emnist-letters-test-*
        prefix = f"emnist-{spec.torchvision_split}-{'train' if train else 'test'}"
    else:
        prefix = "train" if train else "t10k"
    return raw / f"{prefix}-images-idx3-ubyte", raw / f"{prefix}-labels-idx1-ubyte"


def cache_dir() -> Path | None:
    """Where decoded datasets are kept; None when caching is turned off."""
    chosen = os.environ.get(CACHE_ENV, "")
    if chosen.lower() in OFF:
        return None
    if chosen:
        return Path(chosen).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "lottery"


def source_files(spec, root: Path) -> list[Path] | None:
    """The files a dataset is decoded from; None for a dataset the cache does not know."""
    if spec.idx:
        return [*idx_files(spec, root, True), *idx_files(spec, root, False)]
    folder = FOLDERS.get(spec.torchvision_class)
    if folder is None or not (root / folder).is_dir():
        return None
    return sorted(p for p in (root / folder).rglob("*") if p.is_file())


def fingerprint(paths: list[Path]) -> list[tuple]:
    """What identifies the files' contents without reading them (OSError if one is missing)."""
    stats = [(str(p.resolve()), p.stat()) for p in paths]
    return [(name, s.st_size, s.st_mtime_ns, s.st_ctime_ns, s.st_ino) for name, s in stats]


def cache_path(spec, root: Path, folder: Path) -> Path:
    """The cache file of dataset ``spec`` read from ``root``."""
    where = hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:16]
    return folder / f"{spec.name}-{where}.pt"


def cached(spec, root: Path, decode: Callable[[], Raw]) -> Raw:
    """``decode()``'s tensors, from the cache when the source files are unchanged."""
    folder, sources = cache_dir(), source_files(spec, root)
    try:
        key = {"version": VERSION, "dataset": spec.name, "files": fingerprint(sources)}
    except (OSError, TypeError):  # a file missing (decode reports it) or sources unknown
        return decode()
    if folder is None:
        return decode()
    path = cache_path(spec, root, folder)
    hit = read(path, key, spec.num_classes)
    if hit is not None:
        return hit
    raw = decode()
    if _settled(sources, key["files"]):
        write(path, key, raw)
    return raw


def _settled(sources: list[Path], files: list[tuple]) -> bool:
    """Whether the files are as fingerprinted before decoding, and not changed just now."""
    try:
        unchanged = fingerprint(sources) == files
    except OSError:
        return False
    now = time.time_ns()
    return unchanged and all(now - entry[3] > SETTLE_NS for entry in files)


def checksum(tensors) -> str:
    """sha256 of the tensors' dtypes, shapes and bytes."""
    digest = hashlib.sha256()
    for t in tensors:
        digest.update(f"{t.dtype} {tuple(t.shape)};".encode())
        digest.update(t.contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def read(path: Path, key: dict, classes: int | None = None) -> Raw | None:
    """The cached tensors when ``path`` holds them under ``key``, intact (checksum) and with
    labels in ``[0, classes)``; None if absent, stale, damaged or unreadable (then it is
    rebuilt)."""
    try:
        saved = torch.load(path, weights_only=True)
        tensors = tuple(saved["tensors"])
        ok = saved["key"] == _jsonable(key) and len(tensors) == 4 and [
            t.dtype for t in tensors] == [torch.uint8, torch.int64] * 2
        ok = ok and saved["checksum"] == checksum(tensors) and all(
            classes is None or len(y) == 0 or 0 <= int(y.min()) and int(y.max()) < classes
            for y in tensors[1::2])
    except Exception:  # noqa: BLE001 - missing, truncated or foreign: decode afresh
        return None
    return tensors if ok else None


def write(path: Path, key: dict, raw: Raw) -> None:
    """Keep ``raw`` under ``key`` (atomically); a cache that cannot be written is skipped."""
    try:
        temporaries.sweep(path.parent, _TMP)
        atomic_save({"key": _jsonable(key), "tensors": list(raw), "checksum": checksum(raw)},
                    path)
    except (OSError, RuntimeError):  # read-only or full: the next run decodes again
        pass


def _jsonable(key: dict) -> dict:
    """The key as it reads back from a weights-only load (tuples become lists)."""
    return {**key, "files": [list(entry) for entry in key["files"]]}
