"""Tests for lottery.engine.data: loading, splits, normalization, member batches, augmentation."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from lottery.engine import data
from lottery.engine.data import (
    DATA_ENV,
    DATASETS,
    DataUnavailable,
    MemberBatches,
    Split,
    augment_batch,
    data_root,
    evaluation_batches,
    load,
)


def _real_root() -> Path | None:
    """Folder holding MNIST in torchvision layout: ``$LOTTERY_DATA``, else the project's data/
    (what ``make data`` fills)."""
    default = Path(__file__).resolve().parents[1] / "data"
    for candidate in (os.environ.get(DATA_ENV), default):
        if candidate and (Path(candidate) / "MNIST" / "raw" / "train-images-idx3-ubyte").exists():
            return Path(candidate)
    return None


REAL_ROOT = _real_root()
needs_mnist = pytest.mark.skipif(
    REAL_ROOT is None, reason=f"real MNIST not found: set ${DATA_ENV} to a folder holding "
                              f"MNIST/raw, or run `make data` (downloads it into data/)")


@pytest.fixture(scope="module")
def mnist():
    return load("mnist", root=REAL_ROOT, download=False)


def _fingerprints(images: torch.Tensor) -> Counter:
    """Multiset of row fingerprints of uint8 images: dot products with random integers,
    exact in float64 (255 * 2**31 * 784 < 2**53)."""
    flat = images.reshape(images.shape[0], -1).to(torch.float64)
    generator = torch.Generator().manual_seed(7)
    weights = torch.randint(0, 2**31, (2, flat.shape[1]), generator=generator).double()
    keys = (flat @ weights.T).tolist()
    return Counter(map(tuple, keys))


def _to_uint8(x: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    return torch.round((x * std + mean) * 255).to(torch.uint8)


# --------------------------------------------------------------------------- loading


def test_data_root_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "env"))
    assert data_root(tmp_path / "explicit") == tmp_path / "explicit"
    assert data_root() == tmp_path / "env"
    monkeypatch.delenv(DATA_ENV)
    assert data_root() == Path("data")


@needs_mnist
def test_mnist_sizes_shapes_and_description(mnist):
    assert (len(mnist.train), len(mnist.val), len(mnist.test)) == (55000, 5000, 10000)
    assert mnist.input_shape == (1, 28, 28) and mnist.num_classes == 10
    assert not mnist.augment and not mnist.synthetic
    for split in (mnist.train, mnist.val, mnist.test):
        assert split.x.dtype == torch.float32 and split.y.dtype == torch.int64
        assert split.x.shape[1:] == (1, 28, 28)
    assert "55000/5000/10000" in mnist.description and "real" in mnist.description
    assert "\n" not in mnist.description


@needs_mnist
def test_mnist_normalized_statistics(mnist):
    assert abs(mnist.train.x.mean().item()) < 0.02
    assert abs(mnist.train.x.std().item() - 1) < 0.02


@needs_mnist
def test_mnist_val_and_train_partition_the_training_set(mnist):
    import torchvision

    raw = torchvision.datasets.MNIST(str(REAL_ROOT), train=True, download=False)
    mean, std = DATASETS["mnist"].mean[0], DATASETS["mnist"].std[0]
    train = _fingerprints(_to_uint8(mnist.train.x, mean, std))
    val = _fingerprints(_to_uint8(mnist.val.x, mean, std))
    # Multisets, so exact duplicate images in MNIST cannot fake or hide an overlap.
    assert train + val == _fingerprints(raw.data)
    assert Counter(mnist.train.y.tolist()) + Counter(mnist.val.y.tolist()) == Counter(
        raw.targets.tolist()
    )
    # The test set is the untouched official one.
    raw_test = torchvision.datasets.MNIST(str(REAL_ROOT), train=False, download=False)
    assert torch.equal(_to_uint8(mnist.test.x, mean, std)[:, 0], raw_test.data)


@needs_mnist
def test_mnist_split_fixed_by_seed_and_subset_is_prefix(mnist):
    same = load("mnist", root=REAL_ROOT, download=False, split_seed=0, train_subset=1000)
    other = load("mnist", root=REAL_ROOT, download=False, split_seed=1)
    assert torch.equal(same.val.x, mnist.val.x) and torch.equal(same.val.y, mnist.val.y)
    assert torch.equal(same.train.x, mnist.train.x[:1000])
    assert len(same.train) == 1000 and "1000/5000/10000" in same.description
    assert not torch.equal(other.val.x, mnist.val.x)


def test_missing_data_raises_one_line_message(tmp_path):
    with pytest.raises(DataUnavailable) as info:
        load("mnist", root=tmp_path, download=False)
    message = str(info.value)
    assert "MNIST" in message and str(tmp_path.resolve()) in message and DATA_ENV in message
    assert "\n" not in message


def test_failed_download_raises_one_line_message(tmp_path, monkeypatch):
    import torchvision.datasets

    def offline(root, train, download):
        raise RuntimeError(
            "Dataset not found.\nYou can use download=True"
            if not download
            else "URLError: <urlopen error [Errno -3] no network>\n"
        )

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", offline)
    with pytest.raises(DataUnavailable) as info:
        load("cifar10", root=tmp_path, download=True)
    message = str(info.value)
    assert "CIFAR-10" in message and "download failed" in message and "\n" not in message


def test_unknown_name_lists_allowed_names():
    with pytest.raises(ValueError) as info:
        load("imagenet")
    for name in ("mnist", "fashion_mnist", "cifar10", "cifar100", "synthetic_mnist"):
        assert name in str(info.value)


def test_cifar_path_with_fake_cifar_shaped_arrays(tmp_path, monkeypatch):
    """The CIFAR branch (numpy HWC uint8, list targets) through load(), no real files."""
    import torchvision.datasets

    rng = np.random.default_rng(0)

    class FakeCIFAR10:
        def __init__(self, root, train, download):
            count = 600 if train else 200
            self.data = rng.integers(0, 256, (count, 32, 32, 3), dtype=np.uint8)
            self.data[:, 0, 0, :] = (10, 20, 30)  # known pixel to check channel order
            self.targets = list(rng.integers(0, 10, count))

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", FakeCIFAR10)
    bundle = load("cifar10", root=tmp_path, val_size=100, split_seed=3)
    assert bundle.augment and not bundle.synthetic and bundle.input_shape == (3, 32, 32)
    assert (len(bundle.train), len(bundle.val), len(bundle.test)) == (500, 100, 200)
    assert bundle.train.x.shape == (500, 3, 32, 32) and bundle.train.y.dtype == torch.int64
    spec = DATASETS["cifar10"]
    expected = [
        (v / 255 - m) / s for v, m, s in zip((10, 20, 30), spec.mean, spec.std, strict=True)
    ]
    assert torch.allclose(bundle.test.x[0, :, 0, 0], torch.tensor(expected), atol=1e-5)


# --------------------------------------------------------------------------- synthetic


@pytest.mark.parametrize(
    "name, shape", [("synthetic_mnist", (1, 28, 28)), ("synthetic_cifar10", (3, 32, 32))]
)
def test_synthetic_deterministic_normalized_and_sized(name, shape):
    first, second = load(name), load(name)
    for a, b in ((first.train, second.train), (first.val, second.val), (first.test, second.test)):
        assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    assert first.synthetic and first.input_shape == shape and first.num_classes == 10
    assert first.augment == (name == "synthetic_cifar10")
    assert (len(first.train), len(first.val), len(first.test)) == (2500, 500, 1000)
    assert abs(first.train.x.mean().item()) < 0.05 and abs(first.train.x.std().item() - 1) < 0.05
    assert set(first.train.y.tolist()) == set(range(10))
    assert "synthetic" in first.description and "\n" not in first.description


def test_synthetic_val_size_and_subset():
    bundle = load("synthetic_mnist", val_size=200, train_subset=300, split_seed=5)
    assert (len(bundle.train), len(bundle.val)) == (300, 200)


# --------------------------------------------------------------------------- batches


@pytest.fixture(scope="module")
def tiny_split() -> Split:
    """103 distinct examples whose pixel value encodes their index."""
    count = 103
    x = torch.arange(count, dtype=torch.float32).view(-1, 1, 1, 1).expand(count, 1, 4, 4)
    return Split(x.contiguous(), torch.arange(count))


def test_member_equals_single_member_across_epochs(tiny_split):
    seeds = [11, 22, 33]
    many = MemberBatches(tiny_split, seeds, batch_size=10, augment=False)
    singles = [MemberBatches(tiny_split, [seed], batch_size=10, augment=False) for seed in seeds]
    assert many.iterations_per_epoch == 10
    for iteration in range(7, 24):  # crosses the epoch boundaries at 10 and 20
        x, y = many.get(iteration)
        assert x.shape == (3, 10, 1, 4, 4) and y.shape == (3, 10)
        assert torch.equal(x[:, :, 0, 0, 0], y.float())  # each image beside its own label
        for k, single in enumerate(singles):
            x1, y1 = single.get(iteration)
            assert torch.equal(x[k], x1[0]) and torch.equal(y[k], y1[0])


def test_get_independent_of_call_history(tiny_split):
    fresh = MemberBatches(tiny_split, [4, 5], batch_size=8, augment=False)
    expected = {i: fresh.get(i) for i in (3, 15, 40)}
    used = MemberBatches(tiny_split, [4, 5], batch_size=8, augment=False)
    for i in (40, 0, 27, 15, 3, 40, 14, 3):
        x, y = used.get(i)
        if i in expected:
            assert torch.equal(x, expected[i][0]) and torch.equal(y, expected[i][1])


def test_different_seeds_and_epochs_give_different_orders(tiny_split):
    batches = MemberBatches(tiny_split, [0, 1], batch_size=50, augment=False)
    _, y = batches.get(0)
    assert not torch.equal(y[0], y[1])
    _, y_next_epoch = batches.get(batches.iterations_per_epoch)
    assert not torch.equal(y[0], y_next_epoch[0])


def test_each_example_once_per_epoch(tiny_split):
    batches = MemberBatches(tiny_split, [9, 10], batch_size=10, augment=False)
    for epoch in range(2):
        start = epoch * batches.iterations_per_epoch
        ys = torch.cat([batches.get(start + i)[1] for i in range(batches.iterations_per_epoch)], 1)
        for k in range(2):
            seen = ys[k].tolist()
            assert len(seen) == 100 and len(set(seen)) == 100  # 3 dropped (drop-last)
            # labels equal the pixel-encoded index, so x and y stay paired
        x, y = batches.get(start)
        assert torch.equal(x[:, :, 0, 0, 0].long(), y)


def test_batches_and_eval_on_split_device():
    bundle = load("synthetic_mnist", train_subset=200)
    x, y = MemberBatches(bundle.train, [0, 1], batch_size=32, augment=True).get(0)
    assert x.device == bundle.train.x.device and y.device == bundle.train.y.device
    chunks = list(evaluation_batches(bundle.test, 300))
    assert [len(c[1]) for c in chunks] == [300, 300, 300, 100]
    assert torch.equal(torch.cat([c[0] for c in chunks]), bundle.test.x)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_batches_match_cpu():
    cpu = load("synthetic_cifar10", train_subset=300)
    gpu = load("synthetic_cifar10", train_subset=300, device="cuda")
    xc, yc = MemberBatches(cpu.train, [3], 64, augment=True).get(5)
    xg, yg = MemberBatches(gpu.train, [3], 64, augment=True).get(5)
    assert xg.is_cuda and torch.equal(yc, yg.cpu()) and torch.allclose(xc, xg.cpu())


# --------------------------------------------------------------------------- augmentation


def test_augment_identity_flip_and_corner_crop():
    x = torch.randn(2, 5, 3, 32, 32)
    offsets = torch.full((2, 5, 2), 4)
    no_flip = torch.zeros(2, 5, dtype=torch.bool)
    assert torch.equal(augment_batch(x, no_flip, offsets), x)
    assert torch.equal(augment_batch(x, ~no_flip, offsets), x.flip(-1))
    corner = augment_batch(x, no_flip, torch.zeros(2, 5, 2, dtype=torch.long))
    assert torch.equal(corner[..., 4:, 4:], x[..., :-4, :-4])
    assert (corner[..., :4, :] == 0).all() and (corner[..., :, :4] == 0).all()
    # Row offset 8, column offset 2, flipped: crop first, then mirror.
    mixed = augment_batch(x[:1, :1], torch.ones(1, 1, dtype=torch.bool), torch.tensor([[[8, 2]]]))
    padded = torch.nn.functional.pad(x[:1, :1], (4, 4, 4, 4))
    assert torch.equal(mixed, padded[..., 8:40, 2:34].flip(-1))


def test_augmented_member_batches_shape_and_reproducible():
    bundle = load("synthetic_cifar10", train_subset=256)
    seeds = [0, 1, 2]
    augmented = MemberBatches(bundle.train, seeds, batch_size=32, augment=True)
    plain = MemberBatches(bundle.train, seeds, batch_size=32, augment=False)
    x, y = augmented.get(3)
    assert x.shape == (3, 32, 3, 32, 32) and y.shape == (3, 32)
    again = MemberBatches(bundle.train, seeds, batch_size=32, augment=True)
    assert torch.equal(again.get(3)[0], x)
    single = MemberBatches(bundle.train, [seeds[1]], batch_size=32, augment=True)
    assert torch.equal(single.get(3)[0][0], x[1])
    x_plain, y_plain = plain.get(3)
    assert torch.equal(y, y_plain)  # same order; augmentation draws come after it
    assert not torch.equal(x, x_plain)
    # Each augmented image is one of the 2 * 9 * 9 flips/crops of its source image.
    flips = torch.tensor([f for f in (False, True) for _ in range(81)])
    offsets = torch.tensor([(dy, dx) for _ in range(2) for dy in range(9) for dx in range(9)])
    sources = x_plain[0, :8, None].expand(8, 162, 3, 32, 32)
    candidates = augment_batch(sources, flips.expand(8, 162), offsets.expand(8, 162, 2))
    matches = (candidates == x[0, :8, None]).flatten(2).all(-1)
    assert matches.any(1).all()


def test_epoch_seed_is_deterministic_and_distinct():
    seeds = {data.epoch_seed(s, e) for s in range(20) for e in range(20)}
    assert len(seeds) == 400
    assert data.epoch_seed(3, 4) == data.epoch_seed(3, 4) and 0 <= data.epoch_seed(3, 4) < 2**63
