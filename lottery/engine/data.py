"""Datasets as device tensors, train/validation splits and per-member batches.

Airbench style: each split lives whole on the target device as normalized float32
tensors; batches are drawn by indexing, augmentation is done on batches on the
device, and there is no DataLoader.  The training engine trains K "members" at
once; :class:`MemberBatches` gives each member its own reproducible data order.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from math import prod
from pathlib import Path

import torch
import torch.nn.functional as F

from lottery.engine import data_cache
from lottery.engine.data_cache import idx_files  # noqa: F401 (the data's file layout; users import it here)

__all__ = [
    "DATA_ENV",
    "DATASETS",
    "DEFAULT_DOWNLOADS",
    "OFFLINE_ENV",
    "DataBundle",
    "DataFileError",
    "DataUnavailable",
    "DatasetSpec",
    "MemberBatches",
    "Split",
    "augment_batch",
    "check_idx_split",
    "data_root",
    "epoch_seed",
    "channel_stats",
    "evaluation_batches",
    "fix_hint",
    "folders_under",
    "idx_files",
    "load",
    "offline",
    "real_folder",
    "remove_new_empty",
    "shown",
    "split_indices",
    "unavailable",
    "with_augmentation",
]

DATA_ENV = "LOTTERY_DATA"
OFFLINE_ENV = "LOTTERY_OFFLINE"  # set to 1: never attempt a download
CROP_PADDING = 4  # pixels of zero padding before the random crop (CIFAR recipe)


def data_root(root: str | Path | None = None) -> Path:
    """Dataset folder: ``root`` if given, else ``$LOTTERY_DATA``, else ``./data``."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser()
    return Path("data")


def offline() -> bool:
    """Whether ``$LOTTERY_OFFLINE`` forbids downloads (any value but empty, 0, false, no)."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def shown(path: str | Path) -> str:
    """``path`` for messages: under ``$LOTTERY_DATA``, ``./`` or ``~/`` when it is, else absolute.

    Messages end up in notebooks and bug reports, where one machine's absolute paths
    say little and leak a home folder.
    """
    full = Path(path).expanduser().resolve()
    env = os.environ.get(DATA_ENV)
    bases = [(Path(env).expanduser().resolve(), f"${DATA_ENV}")] if env else []
    bases += [(Path.cwd().resolve(), "."), (Path.home().resolve(), "~")]
    for base, label in bases:
        if full == base:
            return label
        if full.is_relative_to(base):
            return f"{label}/{full.relative_to(base).as_posix()}"
    return str(full)


class DataUnavailable(RuntimeError):
    """A real dataset is neither on disk nor downloadable (one-line message)."""


class DataFileError(DataUnavailable):
    """A dataset file on disk is malformed: ``what`` is wrong with ``paths``, and the fix."""

    def __init__(self, what: str, paths: Sequence[Path], fix: str) -> None:
        super().__init__(f"{what}; re-fetch it with {fix}")
        self.what = what
        self.paths = tuple(paths)
        self.fix = fix

    def __reduce__(self):
        # rebuilt from its own fields: a Ray worker's error must reach the driver intact
        return type(self), (self.what, self.paths, self.fix)


@dataclass(frozen=True)
class Split:
    """One split: normalized float32 images ``x`` (N, C, H, W) and int64 labels ``y`` (N,)."""

    x: torch.Tensor
    y: torch.Tensor

    def __post_init__(self) -> None:
        if self.x.ndim != 4 or self.y.ndim != 1 or self.x.shape[0] != self.y.shape[0]:
            raise ValueError(
                f"Split needs x (N, C, H, W) and y (N,); got {tuple(self.x.shape)} "
                f"and {tuple(self.y.shape)}"
            )

    def __len__(self) -> int:
        return self.x.shape[0]

    @property
    def device(self) -> torch.device:
        return self.x.device


@dataclass(frozen=True)
class DataBundle:
    """A dataset loaded for an experiment: train/val/test splits plus metadata."""

    name: str
    train: Split
    val: Split
    test: Split
    num_classes: int
    input_shape: tuple[int, int, int]
    augment: bool
    synthetic: bool
    description: str


@dataclass(frozen=True)
class DatasetSpec:
    """Registry entry.  ``mean``/``std`` are per-channel normalization constants."""

    name: str
    title: str
    num_classes: int
    input_shape: tuple[int, int, int]
    augment: bool
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    torchvision_class: str | None = None  # real datasets
    torchvision_split: str | None = None  # EMNIST's ``split`` argument
    label_offset: int = 0  # subtracted from the file's labels (EMNIST letters count from 1)
    transpose: bool = False  # EMNIST stores its images transposed relative to MNIST
    synthetic_seed: int | None = None  # synthetic datasets
    synthetic_train: int = 3000  # synthetic train pool (validation is split from it)
    synthetic_test: int = 1000

    @property
    def synthetic(self) -> bool:
        return self.torchvision_class is None

    @property
    def idx(self) -> bool:
        """Whether torchvision reads it from MNIST-style idx files."""
        return self.torchvision_class in IDX_CLASSES


IDX_CLASSES = frozenset({"MNIST", "FashionMNIST", "KMNIST", "EMNIST"})

# Datasets without mean/std get them on load, exactly, from the pixel histogram of the whole
# official training set (as the constants above are): KMNIST and EMNIST letters are optional
# extras whose files were not at hand to compute constants from once.
DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec("mnist", "MNIST", 10, (1, 28, 28), False,
                    (0.1307,), (0.3081,), torchvision_class="MNIST"),
        DatasetSpec("fashion_mnist", "Fashion-MNIST", 10, (1, 28, 28), False,
                    (0.2860,), (0.3530,), torchvision_class="FashionMNIST"),
        DatasetSpec("cifar10", "CIFAR-10", 10, (3, 32, 32), True,
                    (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616),
                    torchvision_class="CIFAR10"),
        DatasetSpec("cifar100", "CIFAR-100", 100, (3, 32, 32), True,
                    (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762),
                    torchvision_class="CIFAR100"),
        DatasetSpec("kmnist", "Kuzushiji-MNIST", 10, (1, 28, 28), False,
                    torchvision_class="KMNIST"),
        DatasetSpec("emnist_letters", "EMNIST Letters", 26, (1, 28, 28), False,
                    torchvision_class="EMNIST", torchvision_split="letters", label_offset=1,
                    transpose=True),
        DatasetSpec("synthetic_mnist", "synthetic MNIST-shaped stand-in", 10, (1, 28, 28),
                    False, synthetic_seed=1_000),
        DatasetSpec("synthetic_cifar10", "synthetic CIFAR-10-shaped stand-in", 10, (3, 32, 32),
                    True, synthetic_seed=2_000),
    )
}  # fmt: skip


def split_indices(
    num_train: int, val_size: int, split_seed: int, train_subset: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, val) indices into the original training set.

    A permutation seeded by ``split_seed`` holds out its first ``val_size`` entries
    as validation; training keeps the rest in permuted order, truncated to the first
    ``train_subset`` (clamped to what is available) when given.
    """
    if not 0 <= val_size < num_train:
        raise ValueError(f"val_size must be in [0, {num_train}); got {val_size}")
    if train_subset is not None and train_subset < 1:
        raise ValueError(f"train_subset must be positive; got {train_subset}")
    generator = torch.Generator().manual_seed(split_seed)
    order = torch.randperm(num_train, generator=generator)
    val, train = order[:val_size], order[val_size:]
    if train_subset is not None:
        train = train[:train_subset]
    return train, val


DEFAULT_DOWNLOADS = ("mnist", "fashion_mnist", "cifar10")  # what ``make data`` fetches


def fix_hint(name: str, root: str | Path | None = None) -> str:
    """The shell command(s), in backticks, that fetch dataset ``name`` into ``root``."""
    command = f"python -m lottery data {name}"
    folder = data_root(root).expanduser().resolve()
    if folder != data_root().expanduser().resolve():
        return f"`{command} --root {shown(folder)}`"
    return f"`{command}` (or `make data`)" if name in DEFAULT_DOWNLOADS else f"`{command}`"


def real_folder(path: str | Path) -> str:
    """``path`` as the folder it really is (under ``./`` or ``~/`` when it is, else absolute),
    never as ``$LOTTERY_DATA``: an error must name a folder the user can look in, and
    ``reproduce`` sets that variable for its kernels even when the user did not."""
    full = Path(path).expanduser().resolve()
    for base, label in ((Path.cwd().resolve(), "."), (Path.home().resolve(), "~")):
        if full == base:
            return label
        if full.is_relative_to(base):
            return f"{label}/{full.relative_to(base).as_posix()}"
    return str(full)


def unavailable(spec: DatasetSpec, root: str | Path, reason: str) -> DataUnavailable:
    """The one-line error for a dataset that cannot be loaded from ``root``."""
    reason = " ".join(reason.split())
    return DataUnavailable(
        f"{spec.title} ({spec.name}) not available in {real_folder(root)}: {reason}; "
        f"fix: {fix_hint(spec.name, root)}, or set {DATA_ENV} to a folder holding it "
        f"in torchvision layout"
    )


# --------------------------------------------------------------------------- file checks

IDX_MAGIC = {3: 0x00000803, 1: 0x00000801}  # idx: 0, 0, type 0x08 (uint8), number of dims
GZIP_MAGIC = b"\x1f\x8b"


def _idx_count(spec: DatasetSpec, root: str | Path, path: Path, ndim: int) -> int:
    """Items in an idx file whose header, item shape and length agree; else DataFileError."""

    def bad(what: str) -> DataFileError:
        return DataFileError(f"{shown(path)}: {what}", [path], fix_hint(spec.name, root))

    size = path.stat().st_size
    header = 4 + 4 * ndim
    with path.open("rb") as f:
        head = f.read(header)
    if size == 0:
        raise bad("empty file (0 bytes)")
    if head[:2] == GZIP_MAGIC:
        raise bad("gzip-compressed, but torchvision reads idx files uncompressed (gunzip it)")
    if len(head) >= 4 and int.from_bytes(head[:4], "big") != IDX_MAGIC[ndim]:
        raise bad(
            f"bad magic number 0x{head[:4].hex()}, expected 0x{IDX_MAGIC[ndim]:08x} "
            f"(idx, uint8, {ndim} dims): not an idx{ndim} file"
        )
    if size < header:
        raise bad(f"truncated: {size} bytes, shorter than the {header}-byte idx{ndim} header")
    count, *shape = (int.from_bytes(head[i : i + 4], "big") for i in range(4, header, 4))
    if shape and tuple(shape) != spec.input_shape[1:]:
        want = "x".join(map(str, spec.input_shape[1:]))
        raise bad(f"holds {'x'.join(map(str, shape))} images, {spec.title} needs {want}")
    noun, per_item = ("images" if shape else "labels"), prod(shape)
    payload = size - header
    if payload < count * per_item:
        partial = " and part of another" if payload % per_item else ""
        raise bad(
            f"truncated: header declares {count} {noun}, file holds {payload // per_item}{partial}"
        )
    if payload > count * per_item:
        raise bad(
            f"{payload - count * per_item} stray bytes after the {count} {noun} its header declares"
        )
    return count


def check_idx_split(spec: DatasetSpec, root: str | Path, train: bool) -> None:
    """Check one split's image and label idx files before torchvision reads them.

    Raises :class:`DataFileError` naming the file and what is wrong with it: empty,
    gzip-compressed, bad magic number, wrong image size, truncated, trailing bytes, or
    a label count that differs from the image count, or a label out of range.
    """
    images, labels = idx_files(spec, root, train)
    num_images = _idx_count(spec, root, images, 3)
    num_labels = _idx_count(spec, root, labels, 1)
    if num_images != num_labels:
        raise DataFileError(
            f"{shown(labels)} holds {num_labels} labels but {shown(images)} holds "
            f"{num_images} images",
            [images, labels],
            fix_hint(spec.name, root),
        )
    if num_labels:  # frombuffer refuses an empty buffer
        values = torch.frombuffer(bytearray(labels.read_bytes()[8:]), dtype=torch.uint8)
        _checked_labels(spec, root, "train" if train else "test", values.long(), [labels])


def _checked_labels(
    spec: DatasetSpec, root: Path, split: str, labels: torch.Tensor, paths: Sequence[Path] = ()
) -> torch.Tensor:
    """File labels shifted to ``[0, num_classes)``; any label outside is a DataFileError."""
    labels = labels - spec.label_offset
    outside = (labels < 0) | (labels >= spec.num_classes)
    if outside.any():
        index = int(outside.nonzero()[0, 0])
        low, high = spec.label_offset, spec.label_offset + spec.num_classes
        raise DataFileError(
            f"{spec.title} ({spec.name}) {split} split: label {int(labels[index]) + low} at "
            f"example {index} outside [{low}, {high}) ({int(outside.sum())} of {len(labels)} "
            f"labels bad)",
            paths,
            fix_hint(spec.name, root),
        )
    return labels


def _missing_reason(spec: DatasetSpec, root: Path, cls) -> str | None:
    """Which files are missing (or, CIFAR, fail torchvision's md5); None if none."""
    from torchvision.datasets.utils import check_integrity

    if spec.idx:  # torchvision wants both splits' files before it opens either
        files = idx_files(spec, root, True) + idx_files(spec, root, False)
        absent = [path.name for path in files if not path.is_file()]
        return f"files missing: {', '.join(absent)}" if absent else None
    base = getattr(cls, "base_folder", "")
    listed = getattr(cls, "train_list", []) + getattr(cls, "test_list", [])
    for name, md5 in listed:
        if not (Path(root) / base / name).is_file():
            return f"files missing: {base}/{name}"
        if not check_integrity(Path(root) / base / name, md5):
            return f"{base}/{name} fails its md5 check (corrupt)"
    return None


def _torchvision_split(spec: DatasetSpec, root: Path, train: bool, download: bool):
    """Open one torchvision split: from disk first, then (optionally) by downloading."""
    import torchvision.datasets

    cls = getattr(torchvision.datasets, spec.torchvision_class)
    options = {"split": spec.torchvision_split} if spec.torchvision_split else {}
    problem = _missing_reason(spec, root, cls) if spec.idx else None
    if problem is None:
        if spec.idx:
            check_idx_split(spec, root, train)
        try:
            return cls(str(root), train=train, download=False, **options)
        except Exception as failed:  # torchvision raises RuntimeError for missing files
            problem = _missing_reason(spec, root, cls)
            problem = problem or f"torchvision could not open it ({type(failed).__name__})"
            if not download:
                raise unavailable(spec, root, problem) from failed
    if not download:
        raise unavailable(spec, root, problem)
    if offline():
        raise unavailable(spec, root, f"{problem}; {OFFLINE_ENV}=1, so no download attempted")
    folders = folders_under(root)
    try:
        return cls(str(root), train=train, download=True, **options)
    except Exception as failed:
        remove_new_empty(root, folders)  # torchvision makes raw/ before it downloads
        reason = f"download failed: {type(failed).__name__}: {str(failed)[:200]}"
        raise unavailable(spec, root, reason) from failed


def folders_under(root: Path) -> set[Path]:
    """Every folder under ``root`` (with it) that exists now."""
    root = Path(root)
    return {root, *(p for p in root.rglob("*") if p.is_dir())} if root.is_dir() else set()


def remove_new_empty(root: Path, before: set[Path]) -> None:
    """Remove the empty folders under ``root`` that a failed download made (not in
    ``before``), deepest first; ``root`` itself too if it is new and left empty."""
    for folder in sorted(folders_under(root) - before, key=lambda p: len(p.parts), reverse=True):
        with contextlib.suppress(OSError):  # not empty (or gone): leave it
            folder.rmdir()


def _raw_tensors(
    spec: DatasetSpec, root: Path, dataset, split: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images (N, C, H, W) and checked int64 labels from a torchvision dataset, no PIL."""
    data = torch.as_tensor(dataset.data)
    if data.ndim == 3:  # MNIST-like: (N, H, W)
        data = data.unsqueeze(1)
    else:  # CIFAR-like: numpy (N, H, W, C)
        data = data.permute(0, 3, 1, 2)
    if spec.transpose:
        data = data.transpose(-1, -2)
    labels = torch.as_tensor(dataset.targets, dtype=torch.int64)
    labels = _checked_labels(spec, root, split, labels)
    return data.contiguous(), labels


def _decoded(
    spec: DatasetSpec, root: Path, download: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Both official splits' raw images and checked labels, read by torchvision."""
    train_x, train_y = _raw_tensors(spec, root, _torchvision_split(spec, root, True, download),
                                    "train")
    test_x, test_y = _raw_tensors(spec, root, _torchvision_split(spec, root, False, download),
                                  "test")
    return train_x, train_y, test_x, test_y


def channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of uint8 images (N, C, H, W) scaled to [0, 1].

    Exact (float64 over a 256-bin histogram), without a float copy of the images.
    """
    levels = torch.arange(256, dtype=torch.float64) / 255
    means, stds = [], []
    for channel in range(images.shape[1]):
        counts = torch.bincount(images[:, channel].reshape(-1), minlength=256).double()
        total = counts.sum()
        mean = (counts * levels).sum() / total
        variance = (counts * levels.square()).sum() / total - mean.square()
        means.append(round(float(mean), 6))
        stds.append(round(float(variance.clamp_min(0).sqrt()), 6))
    return tuple(means), tuple(stds)


def _normalized(
    images: torch.Tensor, mean: Sequence[float], std: Sequence[float], device: torch.device
) -> torch.Tensor:
    """uint8 -> float32 in [0, 1] -> per-channel standardized, on ``device``."""
    x = images.to(device).to(torch.float32).div_(255.0)
    mean_t = torch.tensor(mean, dtype=torch.float32, device=device).view(1, -1, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32, device=device).view(1, -1, 1, 1)
    return x.sub_(mean_t).div_(std_t)


def _synthetic_pool(
    spec: DatasetSpec,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Deterministic class-structured images: (train_x, train_y, test_x, test_y) on the CPU.

    Each class has a smooth, left-right symmetric random prototype (so flip/crop
    augmentation keeps the class); an example is its class prototype at a random
    contrast in [0.2, 0.8], plus a class-independent smooth pattern and pixel noise
    (unit std each).  LeNet-300-100 reaches ~70% test accuracy, a small convnet ~80%,
    within a few hundred Adam steps.  Standardized per channel with the statistics of
    the training pool.
    """
    channels, height, width = spec.input_shape
    generator = torch.Generator().manual_seed(spec.synthetic_seed)

    def smooth(count: int) -> torch.Tensor:
        coarse = torch.randn(count, channels, height // 4, width // 4, generator=generator)
        fine = F.interpolate(coarse, size=(height, width), mode="bilinear", align_corners=False)
        fine = (fine + fine.flip(-1)) / 2
        return fine / fine.flatten(1).std(dim=1).view(-1, 1, 1, 1)

    prototypes = smooth(spec.num_classes)

    def sample(count: int) -> tuple[torch.Tensor, torch.Tensor]:
        labels = torch.arange(count) % spec.num_classes
        labels = labels[torch.randperm(count, generator=generator)]
        contrast = 0.2 + 0.6 * torch.rand(count, 1, 1, 1, generator=generator)
        nuisance = smooth(count)
        noise = torch.randn(count, channels, height, width, generator=generator)
        images = contrast * prototypes[labels] + nuisance + noise
        return images, labels

    train_x, train_y = sample(spec.synthetic_train)
    test_x, test_y = sample(spec.synthetic_test)
    mean = train_x.mean(dim=(0, 2, 3), keepdim=True)
    std = train_x.std(dim=(0, 2, 3), keepdim=True)
    return (train_x - mean) / std, train_y, (test_x - mean) / std, test_y


def load(
    name: str,
    root: str | Path | None = None,
    device: str | torch.device = "cpu",
    val_size: int = 5000,
    split_seed: int = 0,
    train_subset: int | None = None,
    download: bool = True,
    test_subset: int | None = None,
) -> DataBundle:
    """Load dataset ``name`` whole onto ``device`` with a seeded train/validation split.

    ``val_size`` examples are held out of the training set by a permutation fixed
    by ``split_seed`` (the test set is untouched); synthetic datasets use
    ``min(val_size, train_pool // 6)``.  ``train_subset`` keeps the first n of the
    remaining (permuted) training examples, ``test_subset`` the first n test
    examples (both data hyperparameters: the smoke profile cuts data this way).
    Real datasets come from torchvision files under :func:`data_root`; missing files
    raise :class:`DataUnavailable`, malformed ones (or labels outside
    ``[0, num_classes)``) :class:`DataFileError`.  With ``download`` torchvision
    fetches missing files, unless ``$LOTTERY_OFFLINE`` is set.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(DATASETS)}")
    spec = DATASETS[name]
    device = torch.device(device)

    if spec.synthetic:
        train_x, train_y, test_x, test_y = _synthetic_pool(spec)
        val_size = min(val_size, len(train_y) // 6)
        train_idx, val_idx = split_indices(len(train_y), val_size, split_seed, train_subset)

        def make(x: torch.Tensor, y: torch.Tensor) -> Split:
            return Split(x.to(device, torch.float32), y.to(device, torch.int64))

        train = make(train_x[train_idx], train_y[train_idx])
        val = make(train_x[val_idx], train_y[val_idx])
        test = make(test_x, test_y)
        source = f"seed {spec.synthetic_seed}"
    else:
        folder = data_root(root)
        raw_train_x, raw_train_y, raw_test_x, raw_test_y = data_cache.cached(
            spec, folder, lambda: _decoded(spec, folder, download))
        train_idx, val_idx = split_indices(len(raw_train_y), val_size, split_seed, train_subset)
        mean, std = (spec.mean, spec.std) if spec.mean else channel_stats(raw_train_x)

        def make(x: torch.Tensor, y: torch.Tensor) -> Split:
            return Split(_normalized(x, mean, std, device), y.to(device))

        train = make(raw_train_x[train_idx], raw_train_y[train_idx])
        val = make(raw_train_x[val_idx], raw_train_y[val_idx])
        test = make(raw_test_x, raw_test_y)
        source = f"real, {shown(folder)}"  # no machine paths in results or notebooks

    if test_subset is not None:
        test = Split(test.x[:test_subset], test.y[:test_subset])
    sizes = f"{len(train)}/{len(val)}/{len(test)}"
    return DataBundle(
        name=spec.name,
        train=train,
        val=val,
        test=test,
        num_classes=spec.num_classes,
        input_shape=spec.input_shape,
        augment=spec.augment,
        synthetic=spec.synthetic,
        description=f"{spec.title} ({source}, {sizes})",
    )


def with_augmentation(bundle: DataBundle, augment: bool | None) -> DataBundle:
    """``bundle`` with training augmentation on or off as ``augment`` says (None: the
    dataset's default, as loaded); a preset's ``data.augment`` reaches training through this."""
    if augment is None or augment == bundle.augment:
        return bundle
    return replace(bundle, augment=augment)


# --------------------------------------------------------------------------- batches


def epoch_seed(data_seed: int, epoch: int) -> int:
    """Generator seed for one member's epoch: a SplitMix64 mix of (data_seed, epoch)."""
    mask = (1 << 64) - 1
    z = (data_seed * 0x9E3779B97F4A7C15 + epoch + 0x632BE59BD9B4E019) & mask
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
    return (z ^ (z >> 31)) >> 1  # 63 bits: a valid torch seed


def augment_batch(
    x: torch.Tensor, flip: torch.Tensor, offsets: torch.Tensor, padding: int = CROP_PADDING
) -> torch.Tensor:
    """Flip and pad-crop a batch in one gather.

    ``x`` is (..., C, H, W); ``flip`` (...) bool; ``offsets`` (..., 2) integer (row, col)
    crop corners in ``[0, 2 * padding]`` within the zero-padded image.  Offset
    ``(padding, padding)`` without flip returns ``x`` unchanged.  The padding is zero
    in the *normalized* space, i.e. the per-channel dataset mean rather than black:
    a deliberate, harmless departure from torchvision's ``RandomCrop(padding=4)``.
    """
    *lead, channels, height, width = x.shape
    flat = x.reshape(-1, channels, height, width)
    padded = F.pad(flat, (padding, padding, padding, padding))
    flip = flip.reshape(-1, 1).to(x.device)
    offsets = offsets.reshape(-1, 2).to(x.device)
    rows = offsets[:, :1] + torch.arange(height, device=x.device)  # (M, H)
    cols_forward = torch.arange(width, device=x.device)
    cols = offsets[:, 1:] + torch.where(flip, cols_forward.flip(0), cols_forward)  # (M, W)
    index = torch.arange(flat.shape[0], device=x.device)
    out = padded[
        index[:, None, None, None],
        torch.arange(channels, device=x.device)[None, :, None, None],
        rows[:, None, :, None],
        cols[:, None, None, :],
    ]
    return out.reshape(*lead, channels, height, width)


class MemberBatches:
    """Per-member batches drawn by index from a Split on its device.

    Member k's epoch e uses a CPU ``torch.Generator`` seeded by
    ``epoch_seed(data_seeds[k], e)`` for, in order, its permutation, flips and crop
    offsets.  So member k equals a one-member instance with the same seed, and
    ``get(i)`` does not depend on earlier calls.  The current epoch's order (and
    augmentation draws) are cached on the device; each step only indexes.
    """

    def __init__(
        self, split: Split, data_seeds: Sequence[int], batch_size: int, augment: bool
    ) -> None:
        if len(data_seeds) == 0:
            raise ValueError("data_seeds must name at least one member")
        if not 0 < batch_size <= len(split):
            raise ValueError(f"batch_size must be in [1, {len(split)}]; got {batch_size}")
        self.split = split
        self.data_seeds = tuple(int(seed) for seed in data_seeds)
        self.batch_size = batch_size
        self.augment = augment
        self.iterations_per_epoch = len(split) // batch_size
        self._epoch: int | None = None
        self._order: torch.Tensor | None = None  # (K, N) example indices
        self._flip: torch.Tensor | None = None  # (K, N) bool, by position in the order
        self._offsets: torch.Tensor | None = None  # (K, N, 2)

    @property
    def num_members(self) -> int:
        return len(self.data_seeds)

    def _draw_epoch(self, epoch: int) -> None:
        size = len(self.split)
        orders, flips, offsets = [], [], []
        for seed in self.data_seeds:
            generator = torch.Generator().manual_seed(epoch_seed(seed, epoch))
            orders.append(torch.randperm(size, generator=generator))
            if self.augment:
                flips.append(torch.rand(size, generator=generator) < 0.5)
                offsets.append(
                    torch.randint(0, 2 * CROP_PADDING + 1, (size, 2), generator=generator)
                )
        device = self.split.device
        self._order = torch.stack(orders).to(device)
        if self.augment:
            self._flip = torch.stack(flips).to(device)
            self._offsets = torch.stack(offsets).to(device)
        self._epoch = epoch

    def get(self, iteration: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Batch for global ``iteration``: x (K, B, C, H, W), y (K, B) on the split's device."""
        if iteration < 0:
            raise ValueError(f"iteration must be non-negative; got {iteration}")
        epoch, step = divmod(iteration, self.iterations_per_epoch)
        if epoch != self._epoch:
            self._draw_epoch(epoch)
        window = slice(step * self.batch_size, (step + 1) * self.batch_size)
        index = self._order[:, window]  # (K, B)
        # index_select of the flat index: the same rows as x[index], 3x faster on the CPU
        flat = index.flatten()
        x = self.split.x.index_select(0, flat).view(*index.shape, *self.split.x.shape[1:])
        y = self.split.y.index_select(0, flat).view(index.shape)
        if self.augment:
            x = augment_batch(x, self._flip[:, window], self._offsets[:, window])
        return x, y


def evaluation_batches(
    split: Split, batch_size: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Sequential (x, y) slices of ``split`` covering every example (last one may be short)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive; got {batch_size}")
    for start in range(0, len(split), batch_size):
        yield split.x[start : start + batch_size], split.y[start : start + batch_size]
