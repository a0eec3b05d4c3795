"""Sparse export of a ticket of any module (issue #28): a compact file that loads back
exactly (weights_only), CSR inference that computes what the dense module computes."""

from __future__ import annotations

import copy

import pytest
import torch
from own_model_nets import NETS, data, make

from lottery.engine.masks import Mask
from lottery.studies.own_model.export import (
    check_roundtrip,
    dense_bytes,
    export_ticket,
    held_bytes,
    load_ticket,
    measure,
    sparse_inference,
)
from lottery.studies.own_model.masks import apply_mask, prunable_weights


def ticket(name: str, density: float = 0.1):
    """A module with a random mask at ``density`` applied, batch norm statistics moved."""
    module = make(name)
    params = dict(module.named_parameters())
    generator = torch.Generator().manual_seed(3)
    mask = Mask({n: torch.rand(params[n].shape, generator=generator) < density
                 for n in prunable_weights(module)})
    module.train()(data(32)[0])  # running statistics away from their defaults
    return apply_mask(module.eval(), mask), mask


@pytest.mark.parametrize("name", list(NETS))
def test_export_loads_back_exactly_and_is_smaller(name, tmp_path):
    module, mask = ticket(name)
    path = export_ticket(module, mask, tmp_path / "ticket.pt")
    assert check_roundtrip(module, path)
    fresh = make(name, seed=7)
    loaded = load_ticket(fresh, path)
    assert all(torch.equal(loaded[n], mask[n]) for n in mask)
    assert torch.equal(fresh.eval()(data(8)[0]), module(data(8)[0]))
    assert path.stat().st_size < dense_bytes(module)
    assert set(torch.load(path, weights_only=True)) == {"version", "architecture", "layers",
                                                        "bits", "values", "dense"}


def test_loading_into_another_architecture_is_one_clear_error(tmp_path):
    module, mask = ticket("mlp")
    path = export_ticket(module, mask, tmp_path / "ticket.pt")
    with pytest.raises(ValueError, match="another architecture") as caught:
        load_ticket(NETS["mlp"](hidden=25), path)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("name", list(NETS))
def test_sparse_inference_computes_the_dense_outputs_with_fewer_bytes(name):
    module, mask = ticket(name)
    sparse = sparse_inference(module, mask)
    x = data(16)[0]
    with torch.no_grad():
        assert torch.allclose(sparse(x), module(x), rtol=1e-5, atol=1e-5)
    assert held_bytes(sparse) < held_bytes(module)
    swapped = {type(m).__name__ for m in sparse.modules()}
    assert "SparseLinear" in swapped and ("SparseConv2d" in swapped) == (name in ("bn_cnn",
                                                                                  "residual"))


def test_measure_reports_latency_bytes_and_file_ratios(tmp_path):
    module, mask = ticket("residual", density=0.05)
    path = export_ticket(module, mask, tmp_path / "t.pt")
    table = measure(copy.deepcopy(module), mask, data(16)[0], path, repeats=3)
    assert list(table.index) == ["latency (ms)", "weights held (bytes)", "file (bytes)"]
    assert (table["sparse / dense"] > 0).all() and table.loc["file (bytes)", "sparse / dense"] < 1
    assert table.attrs["density"] == pytest.approx(mask.density())
