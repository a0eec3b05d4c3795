"""A training job stays off torch's compiler stack and torchvision unless it needs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch

from lottery.core import provenance
from lottery.engine import optimizers

ROOT = Path(__file__).resolve().parents[1]


def modules_after(code: str) -> str:
    """Run ``code`` in a fresh interpreter at the project root; what it prints."""
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, check=True).stdout.strip()


def test_provenance_reads_torchvisions_version_without_importing_it():
    import torchvision

    assert provenance.torchvision_version() == torchvision.__version__
    assert modules_after("import sys; from lottery.core import provenance; provenance.versions(); "
                         "print('torchvision' in sys.modules)") == "False"


def test_our_optimizers_do_not_import_dynamo():
    code = ("import sys, torch; from lottery.engine import optimizers\n"
            "p = [torch.nn.Parameter(torch.ones(3))]\n"
            "for make in (lambda: optimizers.Adam(p, compiled=True), "
            "lambda: optimizers.SGD(p, lr=0.1, momentum=0.9)):\n"
            "    o = make(); p[0].grad = torch.ones(3); o.step(); o.zero_grad()\n"
            "print('torch._dynamo' in sys.modules, p[0].grad)")
    assert modules_after(code) == "False None"


def test_unwrapped_zero_grad_and_param_groups_behave_as_torchs():
    p = torch.nn.Parameter(torch.ones(2))
    adam = optimizers.Adam([p], lr=0.5)
    assert adam.param_groups[0]["lr"] == 0.5 and adam.param_groups[0]["params"] == [p]
    p.grad = torch.ones(2)
    adam.zero_grad(set_to_none=False)
    assert torch.equal(p.grad, torch.zeros(2))
    adam.zero_grad()
    assert p.grad is None


def test_the_cli_help_still_works():
    out = subprocess.run([sys.executable, "-m", "lottery", "imp", "--preset", "lenet", "--help"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "--training.test_curve" in out


def test_import_lottery_is_light_and_its_public_names_load_on_use():
    code = ("import sys, lottery\n"
            "light = not any(m in sys.modules for m in "
            "('lottery.studies.own_model.search', 'pandas', "
            "'torch'))\n"
            "from lottery import find_ticket, measure_inference\n"
            "print(light, find_ticket.__module__, measure_inference.__name__, "
            "sorted(lottery.__all__) == lottery.__all__)")
    assert modules_after(code) == "True lottery.studies.own_model.search measure True"
