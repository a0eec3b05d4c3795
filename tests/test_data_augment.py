"""The per-preset augmentation switch: Conv-2/4/6 train without augmentation (LTH App. H.1),
VGG-19 and ResNet-18 with the CIFAR-10 default (App. I); keys stored before the switch existed
stay as they were."""

from __future__ import annotations

import dataclasses

import pytest

from lottery.core.experiments import Runner
from lottery.core.hparams import DataHparams, HparamError, fingerprint, to_dict
from lottery.core.presets import PRESETS, PROFILES, resolve
from lottery.engine.data import load, with_augmentation


def test_the_default_leaves_every_key_as_it_was():
    for name in PRESETS:
        for profile in PROFILES:
            hp = resolve(name, profile)
            before = dataclasses.asdict(hp.data)
            if hp.data.augment is None:  # what keys held before the field existed
                del before["augment"]
                assert to_dict(hp.data) == before
                assert fingerprint(hp.data) == fingerprint(before)
            else:
                assert to_dict(hp.data)["augment"] is hp.data.augment
    assert to_dict(resolve("lenet", "paper"))["data"] == {
        "dataset": "mnist", "val_size": 5000, "split_seed": 0, "train_subset": None,
        "test_subset": None}


def test_conv_presets_train_without_augmentation_and_the_deep_nets_with_it():
    for name, hp in PRESETS.items():
        conv = name.startswith(("conv2", "conv4", "conv6"))
        assert hp.data.augment is (False if conv else None), name
        for profile in PROFILES:  # every profile keeps the preset's choice
            assert resolve(name, profile).data.augment is hp.data.augment


def test_augment_accepts_only_booleans_or_none():
    for bad in (1, 0.0, "no"):
        with pytest.raises(HparamError, match="data.augment"):
            DataHparams("cifar10", augment=bad)


def test_the_runner_trains_with_the_presets_choice():
    cifar = load("synthetic_cifar10", val_size=32, train_subset=64, test_subset=16)
    assert cifar.augment  # the dataset's default
    assert with_augmentation(cifar, None) is cifar and with_augmentation(cifar, True) is cifar
    assert not with_augmentation(cifar, False).augment
    for preset, expected in (("conv2", False), ("resnet18", True)):
        hp = resolve(preset, "smoke")
        assert Runner(hp, data=cifar, progress=False).data.augment is expected
