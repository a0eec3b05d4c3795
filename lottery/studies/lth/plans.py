"""The calls notebooks 01-03 make, for given parameter values (what their estimates price)."""

from __future__ import annotations

from collections.abc import Mapping

from lottery.core.work import Planned


def _lenet(p: Mapping) -> list[Planned]:
    return [Planned("imp", "lenet", {"controls": ("reinit", "random_mask")}),
            Planned("oneshot", "lenet", {"controls": ("reinit",),
                                         "oneshot_rounds": tuple(p["oneshot_rounds"])})]


def _conv(p: Mapping) -> list[Planned]:
    plan = [Planned("imp", m, {"controls": ("reinit", "random_mask")}) for m in p["models"]]
    if p["dropout"]:
        plan += [Planned("imp", f"{m}_dropout") for m in p["models"]]
    return plan


def _scale(p: Mapping) -> list[Planned]:
    presets = ["vgg19", "vgg19_lr0.01", "vgg19_warmup", "vgg19_rewind", "resnet18",
               "resnet18_lr0.01", "resnet18_warmup", "resnet18_rewind"]
    return [Planned("imp", name) for name in presets] + [
        Planned("rewind_sweep", p["sweep_model"], ks=tuple(p["rewind_ks"]))]


PLANS = {"01_lenet_mnist": _lenet, "02_conv_cifar10": _conv, "03_vgg_resnet_rewinding": _scale}
