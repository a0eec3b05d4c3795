"""Checks of dataset files on disk: each malformed idx file gets its own one-line message."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

from lottery.engine.data import (
    DATA_ENV,
    DATASETS,
    DataFileError,
    DataUnavailable,
    channel_stats,
    load,
    real_folder,
)

FIX = "re-fetch it with `python -m lottery data mnist` (or `make data`)"
RAW = "$LOTTERY_DATA/MNIST/raw"


def idx(array: np.ndarray, magic_type: int = 8) -> bytes:
    """An idx file: 0, 0, type, dims, big-endian 32-bit sizes, then the uint8 values."""
    sizes = b"".join(int(size).to_bytes(4, "big") for size in array.shape)
    return bytes([0, 0, magic_type, array.ndim]) + sizes + array.astype(np.uint8).tobytes()


def write_split(raw: Path, prefix: str, images: np.ndarray, labels: np.ndarray) -> None:
    raw.mkdir(parents=True, exist_ok=True)
    (raw / f"{prefix}-images-idx3-ubyte").write_bytes(idx(images))
    (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(idx(labels))


def tiny(count: int, seed: int, num_classes: int = 10, first_label: int = 0):
    """``count`` random 28x28 uint8 images and labels cycling from ``first_label``."""
    images = np.random.default_rng(seed).integers(0, 256, (count, 28, 28), dtype=np.uint8)
    return images, first_label + np.arange(count) % num_classes


@pytest.fixture
def mnist_root(tmp_path, monkeypatch) -> Path:
    """A tiny MNIST (6 train, 4 test) in torchvision layout under $LOTTERY_DATA."""
    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    monkeypatch.delenv("LOTTERY_OFFLINE", raising=False)
    raw = tmp_path / "MNIST" / "raw"
    write_split(raw, "train", *tiny(6, seed=0))
    write_split(raw, "t10k", *tiny(4, seed=1))
    return raw


def message_of(**load_args) -> str:
    with pytest.raises(DataUnavailable) as info:
        load("mnist", val_size=2, download=False, **load_args)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_good_tiny_set_loads(mnist_root):
    bundle = load("mnist", val_size=2, download=False)
    assert (len(bundle.train), len(bundle.val), len(bundle.test)) == (4, 2, 4)
    images, labels = tiny(4, seed=1)
    assert torch.equal(bundle.test.y, torch.as_tensor(labels))
    expected = (torch.as_tensor(images, dtype=torch.float32) / 255 - 0.1307) / 0.3081
    assert torch.allclose(bundle.test.x[:, 0], expected, atol=1e-5)


def test_empty_file(mnist_root):
    (mnist_root / "t10k-labels-idx1-ubyte").write_bytes(b"")
    assert message_of() == f"{RAW}/t10k-labels-idx1-ubyte: empty file (0 bytes); {FIX}"


def test_bad_magic(mnist_root):
    labels = mnist_root / "t10k-labels-idx1-ubyte"
    labels.write_bytes(bytes([0, 0, 8, 3]) + labels.read_bytes()[4:])  # an idx3 magic number
    assert message_of() == (
        f"{RAW}/t10k-labels-idx1-ubyte: bad magic number 0x00000803, expected 0x00000801 "
        f"(idx, uint8, 1 dims): not an idx1 file; {FIX}"
    )


def test_gzip_compressed_file_under_the_plain_name(mnist_root):
    images = mnist_root / "train-images-idx3-ubyte"
    images.write_bytes(gzip.compress(images.read_bytes()))
    assert message_of() == (
        f"{RAW}/train-images-idx3-ubyte: gzip-compressed, but torchvision reads idx files "
        f"uncompressed (gunzip it); {FIX}"
    )


def test_truncated_label_file(mnist_root):
    labels = mnist_root / "t10k-labels-idx1-ubyte"
    labels.write_bytes(labels.read_bytes()[:-1])
    assert message_of() == (
        f"{RAW}/t10k-labels-idx1-ubyte: truncated: header declares 4 labels, file holds 3; {FIX}"
    )


def test_truncated_image_file(mnist_root):
    images = mnist_root / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:-100])
    assert message_of() == (
        f"{RAW}/train-images-idx3-ubyte: truncated: header declares 6 images, "
        f"file holds 5 and part of another; {FIX}"
    )


def test_file_shorter_than_its_header(mnist_root):
    images = mnist_root / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:10])
    assert message_of() == (
        f"{RAW}/train-images-idx3-ubyte: truncated: 10 bytes, shorter than the 16-byte "
        f"idx3 header; {FIX}"
    )


def test_stray_bytes_after_the_declared_items(mnist_root):
    labels = mnist_root / "train-labels-idx1-ubyte"
    labels.write_bytes(labels.read_bytes() + b"\0\0")
    assert message_of() == (
        f"{RAW}/train-labels-idx1-ubyte: 2 stray bytes after the 6 labels its header "
        f"declares; {FIX}"
    )


def test_wrong_image_size(mnist_root):
    images = np.zeros((6, 32, 32), dtype=np.uint8)
    (mnist_root / "train-images-idx3-ubyte").write_bytes(idx(images))
    assert message_of() == (
        f"{RAW}/train-images-idx3-ubyte: holds 32x32 images, MNIST needs 28x28; {FIX}"
    )


def test_label_count_differs_from_image_count(mnist_root):
    (mnist_root / "t10k-labels-idx1-ubyte").write_bytes(idx(np.arange(5)))
    assert message_of() == (
        f"{RAW}/t10k-labels-idx1-ubyte holds 5 labels but {RAW}/t10k-images-idx3-ubyte "
        f"holds 4 images; {FIX}"
    )


def test_label_out_of_range(mnist_root):
    (mnist_root / "t10k-labels-idx1-ubyte").write_bytes(idx(np.array([3, 1, 10, 12])))
    with pytest.raises(DataFileError) as info:
        load("mnist", val_size=2, download=False)
    assert str(info.value) == (
        f"MNIST (mnist) test split: label 10 at example 2 outside [0, 10) "
        f"(2 of 4 labels bad); {FIX}"
    )
    assert info.value.paths == (mnist_root / "t10k-labels-idx1-ubyte",)


def test_data_file_error_survives_pickling(mnist_root):
    """A Ray worker's error reaches the driver pickled: message, fields and type intact."""
    import pickle

    (mnist_root / "t10k-labels-idx1-ubyte").write_bytes(idx(np.array([3, 1, 10, 12])))
    with pytest.raises(DataFileError) as info:
        load("mnist", val_size=2, download=False)
    back = pickle.loads(pickle.dumps(info.value))
    assert type(back) is DataFileError
    assert (str(back), back.paths, back.what) == (str(info.value), info.value.paths,
                                                  info.value.what)


def test_missing_file_names_it_and_the_command(mnist_root, tmp_path):
    (mnist_root / "t10k-images-idx3-ubyte").unlink()
    assert message_of(root=tmp_path) == (
        f"MNIST (mnist) not available in {real_folder(tmp_path)}: files missing: "
        "t10k-images-idx3-ubyte; "
        "fix: `python -m lottery data mnist` (or `make data`), or set LOTTERY_DATA to a "
        "folder holding it in torchvision layout"
    )


def test_labels_checked_after_loading_any_dataset(tmp_path, monkeypatch):
    """CIFAR files are pickles torchvision md5-checks; the label range is checked on load."""
    import torchvision.datasets

    class FakeCIFAR10:
        def __init__(self, root, train, download):
            self.data = np.zeros((8 if train else 4, 32, 32, 3), dtype=np.uint8)
            self.targets = [0, 1, 2, 3, 4, 5, 6, 7] if train else [1, -1, 2, 3]

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", FakeCIFAR10)
    with pytest.raises(DataFileError) as info:
        load("cifar10", root=tmp_path, val_size=2, download=False)
    assert str(info.value).startswith(
        "CIFAR-10 (cifar10) test split: label -1 at example 1 outside [0, 10) (1 of 4 labels bad)"
    )


def test_emnist_letters_labels_shifted_images_upright_and_stats_computed(tmp_path):
    raw = tmp_path / "EMNIST" / "raw"
    train_images, train_labels = tiny(30, seed=2, num_classes=26, first_label=1)
    test_images, test_labels = tiny(26, seed=3, num_classes=26, first_label=1)
    # EMNIST stores images transposed; torchvision hands them over as stored.
    write_split(raw, "emnist-letters-train", train_images.transpose(0, 2, 1), train_labels)
    write_split(raw, "emnist-letters-test", test_images.transpose(0, 2, 1), test_labels)
    bundle = load("emnist_letters", root=tmp_path, val_size=4, download=False)
    assert bundle.num_classes == 26 and DATASETS["emnist_letters"].num_classes == 26
    assert torch.equal(bundle.test.y, torch.arange(26))
    # Normalized with the mean/std of the whole official training set (train + val here).
    pool = torch.cat([bundle.train.x, bundle.val.x])
    assert abs(pool.mean().item()) < 1e-5 and abs(pool.std(correction=0).item() - 1) < 1e-5
    mean, std = channel_stats(torch.as_tensor(train_images)[:, None])
    upright = (torch.as_tensor(test_images, dtype=torch.float32) / 255 - mean[0]) / std[0]
    assert torch.allclose(bundle.test.x[:, 0], upright, atol=1e-4)


def test_emnist_letters_label_zero_is_out_of_range(tmp_path):
    raw = tmp_path / "EMNIST" / "raw"
    write_split(raw, "emnist-letters-train", *tiny(30, seed=2, num_classes=26, first_label=1))
    images, labels = tiny(4, seed=3, num_classes=26, first_label=1)
    write_split(raw, "emnist-letters-test", images, np.array([1, 26, 0, 5]))
    with pytest.raises(DataFileError) as info:
        load("emnist_letters", root=tmp_path, val_size=4, download=False)
    assert str(info.value).startswith(
        "EMNIST Letters (emnist_letters) test split: label 0 at example 2 outside [1, 27)"
    )


def test_kmnist_tiny_set_loads(tmp_path):
    raw = tmp_path / "KMNIST" / "raw"
    write_split(raw, "train", *tiny(12, seed=4))
    write_split(raw, "t10k", *tiny(10, seed=5))
    bundle = load("kmnist", root=tmp_path, val_size=2, download=False)
    assert (len(bundle.train), len(bundle.val), len(bundle.test)) == (10, 2, 10)
    assert bundle.num_classes == 10 and torch.equal(bundle.test.y, torch.arange(10))


def test_channel_stats_exact():
    images = torch.zeros(4, 2, 3, 3, dtype=torch.uint8)
    images[:2, 0] = 255  # channel 0: half white, half black; channel 1: all 51
    images[:, 1] = 51
    assert channel_stats(images) == ((0.5, 0.2), (0.5, 0.0))
