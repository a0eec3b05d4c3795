"""The decoded-dataset cache returns a fresh decode's tensors and never a stale one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from lottery.engine import data, data_cache
from lottery.engine.data import DATASETS, load

pytestmark = pytest.mark.usefixtures("one_thread")


def idx(array: np.ndarray) -> bytes:
    sizes = b"".join(int(size).to_bytes(4, "big") for size in array.shape)
    return bytes([0, 0, 8, array.ndim]) + sizes + array.astype(np.uint8).tobytes()


def write_split(raw: Path, prefix: str, count: int, seed: int, label_shift: int = 0) -> None:
    images = np.random.default_rng(seed).integers(0, 256, (count, 28, 28), dtype=np.uint8)
    (raw / f"{prefix}-images-idx3-ubyte").write_bytes(idx(images))
    (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(idx((np.arange(count) + label_shift) % 10))


def age(root: Path, seconds: int = 60) -> None:
    """Date every source file back (as a dataset fetched a while ago), each to its own time."""
    for i, path in enumerate(sorted((root / "MNIST" / "raw").iterdir())):
        when = os.stat(path).st_mtime_ns - seconds * 10**9 - i
        os.utime(path, ns=(when, when))


@pytest.fixture
def root(tmp_path, monkeypatch) -> Path:
    """A tiny MNIST (12 train, 4 test), its cache in its own folder, settled."""
    monkeypatch.setenv(data_cache.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(data_cache, "SETTLE_NS", 0)
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    write_split(raw, "train", 12, seed=0)
    write_split(raw, "t10k", 4, seed=1)
    return tmp_path / "data"


def cache_file(root: Path) -> Path:
    return data_cache.cache_path(DATASETS["mnist"], root, data_cache.cache_dir())


def loaded(root: Path):
    bundle = load("mnist", root=root, val_size=2, download=False)
    return [t.clone() for split in (bundle.train, bundle.val, bundle.test)
            for t in (split.x, split.y)]


def no_decoding(monkeypatch) -> None:
    def refuse(*args):
        raise AssertionError("decoded although the cache holds the dataset")
    monkeypatch.setattr(data, "_decoded", refuse)


def test_a_cached_load_returns_a_fresh_decodes_tensors_without_decoding(root, monkeypatch):
    fresh = loaded(root)
    assert cache_file(root).is_file()
    no_decoding(monkeypatch)
    again = loaded(root)
    assert all(torch.equal(a, b) and a.dtype == b.dtype for a, b in zip(fresh, again,
                                                                       strict=True))
    monkeypatch.undo()  # decoding again, the cache off: the same tensors
    monkeypatch.setenv(data_cache.CACHE_ENV, "none")
    assert all(torch.equal(a, b) for a, b in zip(fresh, loaded(root), strict=True))


def test_a_changed_source_file_is_decoded_afresh(root):
    before = loaded(root)
    raw = root / "MNIST" / "raw"
    write_split(raw, "t10k", 4, seed=1, label_shift=3)  # same sizes, other labels
    age(root)
    after = loaded(root)
    assert torch.equal(after[5], (before[5] + 3) % 10)  # the test labels changed
    assert data_cache.read(cache_file(root), {"version": data_cache.VERSION, "dataset": "mnist",
                           "files": data_cache.fingerprint(data_cache.source_files(
                               DATASETS["mnist"], root))}) is not None  # rebuilt, current


def test_a_corrupt_cache_file_is_rebuilt(root, monkeypatch):
    fresh = loaded(root)
    path = cache_file(root)
    path.write_bytes(path.read_bytes()[:1000])  # truncated
    assert all(torch.equal(a, b) for a, b in zip(fresh, loaded(root), strict=True))
    no_decoding(monkeypatch)  # the rebuilt file serves the next load
    assert all(torch.equal(a, b) for a, b in zip(fresh, loaded(root), strict=True))


def test_files_changed_just_now_are_not_cached(root, monkeypatch):
    # their change time (which nothing can date back) is within the settling time
    monkeypatch.setattr(data_cache, "SETTLE_NS", 60 * 10**9)
    loaded(root)
    assert not cache_file(root).exists()
    monkeypatch.setattr(data_cache, "SETTLE_NS", 0)
    loaded(root)
    assert cache_file(root).exists()


def test_an_unwritable_cache_folder_only_costs_the_decode(root, monkeypatch, tmp_path):
    (tmp_path / "blocker").write_text("a file, not a folder")
    monkeypatch.setenv(data_cache.CACHE_ENV, str(tmp_path / "blocker" / "cache"))
    first, second = loaded(root), loaded(root)
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))


def test_a_missing_file_is_still_reported_by_the_loader(root):
    (root / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(data.DataUnavailable, match="t10k-labels-idx1-ubyte"):
        loaded(root)


# --- issue 30: a cache that verifies what it loads (classes 2 and 3) --------------------------
def _damaged(root: Path, change) -> None:
    """Rewrite the cache file with ``change`` applied to its tensors, its key kept."""
    path = cache_file(root)
    saved = torch.load(path, weights_only=True)
    change(saved["tensors"])
    torch.save(saved, path)


def test_flipped_bytes_in_the_cache_are_decoded_afresh(root):
    fresh = loaded(root)

    def flip(tensors):
        tensors[0].view(-1)[:50] ^= 0xFF  # training images, as a bad disk would
    _damaged(root, flip)
    assert all(torch.equal(a, b) for a, b in zip(fresh, loaded(root), strict=True))


def test_labels_out_of_range_in_the_cache_are_decoded_afresh(root):
    fresh = loaded(root)

    def shift(tensors):
        tensors[3][0] = 10  # a test label no class has
    _damaged(root, shift)
    path = cache_file(root)  # with a checksum that agrees: only the range check can see it
    saved = torch.load(path, weights_only=True)
    saved["checksum"] = data_cache.checksum(saved["tensors"])
    torch.save(saved, path)
    assert all(torch.equal(a, b) for a, b in zip(fresh, loaded(root), strict=True))


def test_writing_the_cache_sweeps_temporaries_of_dead_writers(root, tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    folder = data_cache.cache_dir()
    folder.mkdir(parents=True)
    orphan = folder / f".mnist-0123456789abcdef.pt.{dead}.0.tmp"
    live = folder / f".mnist-0123456789abcdef.pt.{os.getpid()}.7.tmp"
    for path in (orphan, live):
        path.write_bytes(b"x" * 100)
    loaded(root)
    assert not orphan.exists() and live.exists()
