"""Sparse export of a ticket, loading it back, and what sparsity buys at inference.

A ticket at a few percent of its weights (Frankle & Carbin 2019) is mostly zeros. The export
keeps the masks packed one bit per weight and the surviving values in mask order; every other
tensor (biases, batch norm, unpruned layers) as it is. The file is a ``torch.save`` of plain
dicts, lists and tensors, written atomically and read back with ``weights_only=True`` (no
pickle can run code). It carries the module's architecture fingerprint: loading into another
architecture is one clear error.

:func:`sparse_inference` replaces each pruned ``Linear`` by a CSR matrix product and each
pruned ``Conv2d`` (one group) by a CSR product over the unfolded input (im2col), the rest as
it is; :func:`measure` times it against the dense module on the same batch and counts the bytes
each holds. Dense kernels are highly tuned and CSR products are not, so sparsity pays only
below some density, which depends on the layer, the batch and the machine: the table says
what it is here, rather than what FLOP counts promise.
"""

from __future__ import annotations

import copy
import io
import math
import statistics
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lottery.core.store import atomic_save
from lottery.engine.masks import Mask
from lottery.studies.own_model.members import load_state, module_state
from lottery.studies.own_model.store import architecture_fingerprint

EXPORT_VERSION = 1


def export_ticket(module: nn.Module, mask: Mask, path: str | Path) -> Path:
    """Write ``module``'s weights with ``mask``'s layers stored sparse to ``path``: all masks
    as one packed bit string, the kept values as one tensor per dtype (a few storages, however
    many layers), the other tensors as they are; returns the path."""
    state = module_state(module)
    layers, values = [], {}
    for name, keep in mask.items():
        weight = state.pop(name)
        layers.append({"name": name, "shape": list(keep.shape), "dtype": str(weight.dtype)})
        values.setdefault(str(weight.dtype), []).append(weight[keep])
    bits = torch.cat([keep.flatten() for keep in mask.values()]).numpy()
    payload = {"version": EXPORT_VERSION, "architecture": architecture_fingerprint(module),
               "layers": layers, "bits": torch.from_numpy(np.packbits(bits)),
               "values": {dtype: torch.cat(parts) for dtype, parts in values.items()},
               "dense": state}
    path = Path(path)
    atomic_save(payload, path)
    return path


def load_ticket(module: nn.Module, path: str | Path) -> Mask:
    """Load an exported ticket into ``module`` in place; returns its mask."""
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if payload.get("architecture") != architecture_fingerprint(module):
        raise ValueError(f"{path}: exported from another architecture than "
                         f"{type(module).__name__} (fingerprints differ)")
    sizes = [math.prod(layer["shape"]) for layer in payload["layers"]]
    bits = torch.from_numpy(np.unpackbits(payload["bits"].numpy())[:sum(sizes)].astype(bool))
    mask, state, used = Mask(), dict(payload["dense"]), dict.fromkeys(payload["values"], 0)
    for layer, keep in zip(payload["layers"], bits.split(sizes), strict=True):
        keep, stream = keep.view(layer["shape"]), payload["values"][layer["dtype"]]
        count = int(keep.sum())
        weight = torch.zeros(keep.shape, dtype=stream.dtype)
        weight[keep] = stream[used[layer["dtype"]]:used[layer["dtype"]] + count]
        used[layer["dtype"]] += count
        mask[layer["name"]], state[layer["name"]] = keep, weight
    load_state(module, state)
    return mask


def dense_bytes(module: nn.Module) -> int:
    """The size of a plain ``torch.save`` of ``module.state_dict()``."""
    buffer = io.BytesIO()
    torch.save(module.state_dict(), buffer)
    return buffer.tell()


def _csr(weight: Tensor) -> Tensor:
    """``weight`` (2-D) as CSR with int32 indices (half the index bytes of torch's default)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        csr = weight.to_sparse_csr()
        return torch.sparse_csr_tensor(csr.crow_indices().int(), csr.col_indices().int(),
                                       csr.values(), csr.shape, check_invariants=False)


class SparseLinear(nn.Module):
    """A Linear layer whose weight is a CSR matrix (its kept weights only)."""

    def __init__(self, layer: nn.Linear):
        super().__init__()
        self.weight = _csr(layer.weight.detach())
        self.bias = None if layer.bias is None else layer.bias.detach()

    def forward(self, x: Tensor) -> Tensor:
        flat = x.reshape(-1, x.shape[-1])
        out = torch.sparse.mm(self.weight, flat.t()).t()
        out = out if self.bias is None else out + self.bias
        return out.reshape(*x.shape[:-1], -1)


class SparseConv2d(nn.Module):
    """A Conv2d (one group) as a CSR product over the unfolded input."""

    def __init__(self, layer: nn.Conv2d):
        super().__init__()
        self.out_channels, self.kernel = layer.out_channels, layer.kernel_size
        self.stride, self.padding, self.dilation = layer.stride, layer.padding, layer.dilation
        self.weight = _csr(layer.weight.detach().flatten(1))
        self.bias = None if layer.bias is None else layer.bias.detach()

    def forward(self, x: Tensor) -> Tensor:
        n, _, h, w = x.shape
        cols = F.unfold(x, self.kernel, self.dilation, self.padding, self.stride)
        ho = (h + 2 * self.padding[0] - self.dilation[0] * (self.kernel[0] - 1) - 1) \
            // self.stride[0] + 1
        wo = (w + 2 * self.padding[1] - self.dilation[1] * (self.kernel[1] - 1) - 1) \
            // self.stride[1] + 1
        flat = cols.transpose(0, 1).reshape(cols.shape[1], -1)  # (C*k*k, N*L)
        out = torch.sparse.mm(self.weight, flat).view(self.out_channels, n, ho * wo)
        out = out.transpose(0, 1).reshape(n, self.out_channels, ho, wo)
        return out if self.bias is None else out + self.bias.view(1, -1, 1, 1)


def _sparse_layer(layer: nn.Module) -> nn.Module | None:
    if isinstance(layer, nn.Linear):
        return SparseLinear(layer)
    if isinstance(layer, nn.Conv2d) and layer.groups == 1 and layer.padding_mode == "zeros" \
            and not isinstance(layer.padding, str):
        return SparseConv2d(layer)
    return None


def sparse_inference(module: nn.Module, mask: Mask) -> nn.Module:
    """A copy of ``module`` for inference with ``mask``'s layers as CSR products (layers it
    cannot express stay dense)."""
    model = copy.deepcopy(module).eval()
    for name in mask:
        owner_name = name.removesuffix("weight").removesuffix(".")
        replacement = _sparse_layer(model.get_submodule(owner_name))
        if replacement is None:
            continue
        parent_name, _, child = owner_name.rpartition(".")
        setattr(model.get_submodule(parent_name) if parent_name else model, child, replacement)
    return model


def held_bytes(module: nn.Module) -> int:
    """Bytes of the tensors a module holds (CSR weights: values and both index arrays)."""
    total = 0
    for sub in module.modules():
        for t in [*sub.parameters(recurse=False), *sub.buffers(recurse=False),
                  *[v for v in vars(sub).values() if isinstance(v, Tensor)]]:
            if t.layout == torch.sparse_csr:
                parts = (t.values(), t.col_indices(), t.crow_indices())
                total += sum(p.numel() * p.element_size() for p in parts)
            else:
                total += t.numel() * t.element_size()
    return total


@torch.no_grad()
def latency_ms(module: nn.Module, x: Tensor, repeats: int = 20, warmup: int = 3) -> float:
    """Median wall time of one forward of ``x``, in milliseconds."""
    module.eval()
    for _ in range(warmup):
        module(x)
    times = []
    for _ in range(repeats):
        if x.is_cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        module(x)
        if x.is_cuda:
            torch.cuda.synchronize()
        times.append(1000 * (time.perf_counter() - start))
    return statistics.median(times)


def measure(module: nn.Module, mask: Mask, x: Tensor, path: str | Path | None = None,
            repeats: int = 20) -> pd.DataFrame:
    """Dense vs sparse inference of the ticket ``module`` (pruned weights zero) on batch
    ``x``: latency, bytes held, and file size (of ``path``, an export, when given), with the
    sparse/dense ratios. Checks first that both compute the same outputs."""
    dense = copy.deepcopy(module).eval().to(x.device)
    sparse = sparse_inference(dense, mask)
    with torch.no_grad():
        if not torch.allclose(dense(x), sparse(x), rtol=1e-4, atol=1e-4):
            raise RuntimeError("the sparse module's outputs differ from the dense module's")
    rows = {"latency (ms)": (latency_ms(dense, x, repeats), latency_ms(sparse, x, repeats)),
            "weights held (bytes)": (held_bytes(dense), held_bytes(sparse))}
    if path is not None:
        rows["file (bytes)"] = (dense_bytes(dense), Path(path).stat().st_size)
    table = pd.DataFrame(rows, index=["dense", "sparse"]).T
    table["sparse / dense"] = table["sparse"] / table["dense"]
    table.attrs["density"] = mask.density()
    return table


def check_roundtrip(module: nn.Module, path: str | Path) -> bool:
    """Whether the export at ``path`` loads back into a copy of ``module`` exactly."""
    loaded = copy.deepcopy(module)
    load_ticket(loaded, path)
    return all(torch.equal(a, b) for a, b in zip(module_state(module).values(),
                                                  module_state(loaded).values(), strict=True))
