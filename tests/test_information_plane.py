"""The noisy-layer information estimator (lottery.engine.information_plane) on cases with known
answers."""

import math

import pytest
import torch

from lottery.engine.analysis import binned_mutual_information
from lottery.engine.information_plane import (
    kde_bounds,
    noisy_information,
    relative_sigma,
    squared_distances,
)


def _gaussian(n, d, variance, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64) * math.sqrt(variance)


@pytest.mark.parametrize("d,snr", [(1, 3.0), (2, 3.0), (3, 15.0)])
def test_gaussian_channel_matches_half_log_one_plus_snr(d, snr):
    # X ~ N(0, snr I_d), T = X + N(0, I_d): I(X;T) = d/2 log2(1 + snr) (Shannon); 4,000 draws
    # of X stand in for the Gaussian, so allow 0.1 bit (sampling and the mixture's finite N)
    x = _gaussian(4000, d, snr, seed=1)
    labels = (x[:, 0] > 0).long()
    got = noisy_information(x, labels, sigma=1.0)["I(X;T)"]
    assert got == pytest.approx(d / 2 * math.log2(1 + snr), abs=0.1)
    lower, upper = kde_bounds(x, 1.0)
    assert lower - 0.05 <= got <= upper + 0.05  # Kolchinsky & Tracey's bracket holds it
    assert upper - lower > 0.3                 # and is loose: the bounds alone would not do


def test_label_information_of_a_gaussian_split_by_sign():
    # Y = sign(X), X ~ N(0, 1) seen through N(0, 0.01^2) noise: almost every T tells the sign,
    # so I(T;Y) is close to H(Y) = 1 bit; with huge noise it is close to 0
    x = _gaussian(3000, 1, 1.0, seed=2)
    labels = (x[:, 0] > 0).long()
    assert noisy_information(x, labels, sigma=0.01)["I(T;Y)"] == pytest.approx(1.0, abs=0.03)
    assert noisy_information(x, labels, sigma=100.0)["I(T;Y)"] == pytest.approx(0.0, abs=0.02)


def test_a_deterministic_layer_of_separated_clusters_gives_log_clusters_and_h_y():
    # 8 distinct activation vectors, far apart relative to sigma, each shared by 250 inputs;
    # labels a function of the cluster (4 classes): I(X;T) = H(T) = 3 bits, I(T;Y) = H(Y) = 2
    centres = torch.eye(8, dtype=torch.float64) * 100.0
    cluster = torch.arange(2000) % 8
    h, labels = centres[cluster], cluster % 4
    got = noisy_information(h, labels, sigma=1.0)
    assert got["I(X;T)"] == pytest.approx(3.0, abs=1e-6)
    assert got["I(T;Y)"] == pytest.approx(2.0, abs=1e-6)
    assert got["H(Y)"] == pytest.approx(2.0)
    lower, upper = kde_bounds(h, 1.0)
    assert lower == pytest.approx(3.0, abs=1e-6) and upper == pytest.approx(3.0, abs=1e-6)


def test_it_does_not_saturate_where_binning_does():
    # 2,000 inputs in a 300-unit layer: 30 equal-width bins give every input its own pattern
    # (log2 N, the saturation of notebook 05); the noisy estimate with the relative noise stays
    # well inside (0, log2 N) and ranks a class-clustered layer above a class-blind one (whose
    # I(T;Y) is not 0 on a finite sample: Y is a function of the N inputs, so a T that
    # identifies the input identifies Y; more noise removes that)
    n, units = 2000, 300
    labels = torch.arange(n) % 10
    means = _gaussian(10, units, 1.0, seed=3)
    clustered = means[labels] + 0.3 * _gaussian(n, units, 1.0, seed=4)
    blind = _gaussian(n, units, 1.0, seed=5)
    binned, _ = binned_mutual_information(clustered, labels, bins=30)
    assert binned == pytest.approx(math.log2(n))
    for noise in (0.1, 0.3):
        got = {name: noisy_information(h, labels, relative_sigma(h, noise))
               for name, h in (("clustered", clustered), ("blind", blind))}
        for values in got.values():
            assert 0.5 < values["I(X;T)"] < math.log2(n) - 1
        assert got["clustered"]["I(T;Y)"] > got["blind"]["I(T;Y)"] + 0.75
    assert got["blind"]["I(T;Y)"] < 0.2


def test_relative_sigma_follows_the_layers_scale_and_the_estimate_does_not():
    h = _gaussian(500, 20, 1.0, seed=6)
    labels = torch.arange(500) % 5
    assert relative_sigma(3 * h, 0.1) == pytest.approx(3 * relative_sigma(h, 0.1))
    a = noisy_information(h, labels, relative_sigma(h, 0.1))
    b = noisy_information(5 * h, labels, relative_sigma(5 * h, 0.1))
    assert a["I(X;T)"] == pytest.approx(b["I(X;T)"], abs=1e-9)


def test_squared_distances_and_bad_sigma():
    a = torch.tensor([[0.0, 0.0], [3.0, 4.0]])
    assert squared_distances(a).tolist() == [[0.0, 25.0], [25.0, 0.0]]
    with pytest.raises(ValueError, match="sigma"):
        noisy_information(a, torch.tensor([0, 1]), sigma=0.0)
