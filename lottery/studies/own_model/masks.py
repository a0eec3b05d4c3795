"""Masks on any ``nn.Module``: which weights are prunable, holding pruned weights at zero, and
interop with ``torch.nn.utils.prune``.

Frankle & Carbin (2019) prune the weights of the fully connected and convolutional layers, never
biases or batch norm; this module names those weights on a user's module (``"<module>.weight"``,
as ``named_parameters`` spells them) and gives each a kind -- ``conv``, ``fc``, or ``output``
for the last ``nn.Linear`` -- so the per-layer-type rates of the paper apply.

A pruned weight must stay exactly zero and receive no update. The classic bug of
reimplementations is a mask applied to the weights only: SGD's momentum and weight decay, or
Adam's moments, then move pruned weights away from zero between re-maskings. :func:`hold_pruned`
masks the gradients before the step *and* the weights after it, so the moments never see a
pruned weight's gradient and nothing the step does survives.

``torch.nn.utils.prune`` keeps a mask as a ``weight_mask`` buffer beside ``weight_orig``;
:func:`to_torch_prune` hands our masks to it (``prune.custom_from_mask``) and
:func:`from_torch_prune` reads a pruned module's masks back, so other tooling keeps working.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import torch
from torch import Tensor, nn
from torch.nn.utils import prune

from lottery.engine.masks import Mask

PRUNABLE_TYPES: tuple[type[nn.Module], ...] = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def prunable_weights(module: nn.Module, layers: Sequence[str] | None = None,
                     types: tuple[type[nn.Module], ...] = PRUNABLE_TYPES) -> dict[str, str]:
    """``{"<module>.weight": kind}`` of the weights to prune, in module order.

    ``layers`` None: every weight of a layer of ``types`` (Linear and Conv by default); else the
    named submodules (``"features.0"``) or weights (``"features.0.weight"``). Kinds: ``conv``,
    ``fc``, and ``output`` for the last Linear of the module. Raises ``ValueError`` (one line)
    for a name that is not a prunable layer of ``module``."""
    found = {name: sub for name, sub in module.named_modules() if isinstance(sub, types)
             and isinstance(getattr(sub, "weight", None), Tensor)}
    if not found:
        raise ValueError(f"{type(module).__name__} has no layer of a prunable type "
                         f"({', '.join(t.__name__ for t in types)})")
    last_linear = [n for n, m in found.items() if isinstance(m, nn.Linear)][-1:]
    if layers is not None:
        wanted = [n.removesuffix(".weight") for n in layers]
        unknown = [n for n in wanted if n not in found]
        if unknown:
            raise ValueError(f"layers {unknown} are not prunable layers of "
                             f"{type(module).__name__}; choose from {list(found)}")
        found = {n: m for n, m in found.items() if n in wanted}
    return {_weight_name(n): ("output" if n in last_linear else
                              "fc" if isinstance(m, nn.Linear) else "conv")
            for n, m in found.items()}


def _weight_name(module_name: str) -> str:
    return f"{module_name}.weight" if module_name else "weight"


def _owner(module: nn.Module, weight_name: str) -> nn.Module:
    return module.get_submodule(weight_name.removesuffix("weight").removesuffix("."))


def dense_mask(module: nn.Module, names: Iterable[str]) -> Mask:
    """A mask keeping every weight of ``names``."""
    params = dict(module.named_parameters())
    return Mask.dense({name: params[name].shape for name in names})


@torch.no_grad()
def apply_mask(module: nn.Module, mask: Mapping[str, Tensor]) -> nn.Module:
    """Zero ``module``'s pruned weights in place; returns ``module``."""
    params = dict(module.named_parameters())
    for name, keep in mask.items():
        params[name].mul_(keep.to(params[name].device, params[name].dtype))
    return module


def mask_of(module: nn.Module, names: Iterable[str]) -> Mask:
    """The mask a module's zeros spell (a weight that is exactly zero counts as pruned)."""
    params = dict(module.named_parameters())
    return Mask({name: (params[name].detach() != 0).cpu() for name in names})


def hold_pruned(params: Sequence[Tensor], masks: Sequence[Tensor], step) -> None:
    """One optimizer ``step()`` that leaves pruned weights at exactly zero: gradients masked
    before it (no moment, momentum or decay sees them), weights masked after it."""
    with torch.no_grad():
        grads = [p.grad for p in params if p.grad is not None]
        if len(grads) == len(params):
            torch._foreach_mul_(grads, list(masks))
        else:
            for p, m in zip(params, masks, strict=True):
                if p.grad is not None:
                    p.grad.mul_(m)
    step()
    with torch.no_grad():
        torch._foreach_mul_(list(params), list(masks))


def to_torch_prune(module: nn.Module, mask: Mapping[str, Tensor]) -> nn.Module:
    """Attach ``mask`` through ``torch.nn.utils.prune.custom_from_mask``: each pruned layer gets
    ``weight_orig`` and a ``weight_mask`` buffer, as torch's own pruning leaves it."""
    for name, keep in mask.items():
        owner = _owner(module, name)
        prune.custom_from_mask(owner, "weight", keep.to(owner.weight.device))
    return module


def from_torch_prune(module: nn.Module) -> Mask:
    """The masks of every layer pruned with ``torch.nn.utils.prune`` (its ``weight_mask``
    buffers), named as :func:`prunable_weights` names them."""
    return Mask({_weight_name(name): sub.weight_mask.detach().cpu().bool()
                 for name, sub in module.named_modules()
                 if hasattr(sub, "weight_mask") and hasattr(sub, "weight_orig")})


def remove_torch_prune(module: nn.Module) -> nn.Module:
    """Make ``torch.nn.utils.prune``'s masks permanent (``prune.remove``): plain ``weight``
    parameters holding zeros again, which this package's functions take."""
    for _, sub in module.named_modules():
        if hasattr(sub, "weight_mask") and hasattr(sub, "weight_orig"):
            prune.remove(sub, "weight")
    return module
