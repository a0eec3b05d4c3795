"""The experiment notebooks' contract (one injectable ``parameters`` cell, early validation)
and the package pieces they call: report verdicts and figure saving."""

from __future__ import annotations

from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import papermill
import pytest

from lottery import report
from lottery.data import DataUnavailable
from lottery.hparams import HparamError
from lottery.notebook import project_root, setup, validate_parameters

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9]*.ipynb"))
COMMON = {"profile", "device", "data_root", "trials", "seed", "output_dir"}


def test_notebooks_exist():
    assert [p.stem for p in NOTEBOOKS] == ["01_lenet_mnist", "02_conv_cifar10",
                                          "03_vgg_resnet_rewinding", "07_cheap_tickets"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_one_parameters_cell_then_validation(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    tagged = [i for i, c in enumerate(code) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    assert 'os.environ.get("LOTTERY_PROFILE", "quick")' in code[tagged[0]].source
    assert "validate_parameters(" in code[tagged[0] + 1].source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_papermill_can_inject_every_parameter(path, tmp_path):
    declared = papermill.inspect_notebook(str(path))
    assert COMMON <= set(declared)
    values = {name: "__x__" for name in declared}
    nb = papermill.parameterize.parameterize_notebook(
        papermill.iorw.load_notebook_node(str(path)), values)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1
    for name in declared:
        assert f"{name} = " in injected[0].source


BAD = [({"profile": "nonsense"}, "profile must be one of"),
       ({"profile": "smoke", "trials": -1}, "trials must be a positive integer")]


@pytest.mark.parametrize(("params", "message"), BAD, ids=["profile", "trials"])
def test_bad_parameter_fails_in_validation_cell(params, message, tmp_path):
    """Executed for real (smoke): the cell after parameters raises one clear line."""
    path = NOTEBOOKS[0]
    with pytest.raises(papermill.PapermillExecutionError) as caught:
        papermill.execute_notebook(str(path), str(tmp_path / "out.ipynb"), parameters=params,
                                   progress_bar=False, cwd=str(path.parent))
    assert caught.value.ename == "HparamError"
    assert message in caught.value.evalue
    assert "\n" not in caught.value.evalue
    out = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    code = [c for c in out.cells if c.cell_type == "code"]
    failed = [i for i, c in enumerate(code)
              if any(o.get("output_type") == "error" for o in c.get("outputs", []))]
    assert failed and "validate_parameters(" in code[failed[0]].source


@pytest.mark.parametrize("params", [
    {"profile": "fast"}, {"profile": "quick", "trials": 0}, {"profile": "quick", "seed": -2},
    {"profile": "quick", "rewind_ks": [100, -1]}, {"profile": "quick", "dropout": "yes"},
    {"profile": "quick", "models": ["conv9"]}, {"profile": "quick", "device": "tpu!"}])
def test_validate_parameters_rejects(params):
    with pytest.raises(HparamError):
        validate_parameters(**params)


def test_setup_decides_data(tmp_path, monkeypatch):
    smoke = setup("nb", "mnist", "smoke", data_root=tmp_path)
    assert smoke.synthetic and "synthetic" in smoke.banner and "synthetic" in smoke.title("Fig")
    assert smoke.output_dir.parts[-2:] == ("runs", "figures-smoke")  # never over figures/
    monkeypatch.setenv("LOTTERY_OFFLINE", "1")
    for profile in ("quick", "paper"):  # no silent stand-in: one line naming the fix
        with pytest.raises(DataUnavailable, match="CIFAR-10.*python -m lottery data cifar10"):
            setup("nb", "cifar10", profile, data_root=tmp_path)


def test_banner_shows_provenance_and_no_machine_paths(tmp_path):
    banner = setup("nb", "mnist", "smoke", data_root=tmp_path).banner
    assert "torch " in banner and "commit" in banner and "threads" in banner
    assert str(project_root()) not in banner and "runs/figures-smoke/nb" in banner


# --- report verdicts on constructed results -------------------------------------------------

def _lenet(ticket_gain: float, *, speed: float = 0.5) -> pd.DataFrame:
    """A LeNet-like IMP result: 2 trials, levels 0-18, tickets/reinit/random pruning."""
    rows = []
    for level in range(19):
        percent = 100 * 0.8 ** level
        for trial in range(2):
            variants = ["ticket"] if level == 0 else ["ticket", "reinit", "random_mask"]
            for variant in variants:
                acc, it = 0.98, 4000
                if level and variant == "ticket":
                    acc, it = 0.98 + ticket_gain / 100 * (percent > 3), 4000 * speed
                elif level:
                    acc, it = 0.98 - 0.001 * level, 4000
                rows.append({"method": "imp", "trial": trial, "level": level,
                             "variant": variant, "percent_remaining": percent,
                             "early_stop_iteration": it, "early_stop_test_acc": acc,
                             "final_test_acc": acc, "final_train_acc": 1.0})
    return pd.DataFrame(rows)


def test_report_passes_and_fails_on_constructed_results():
    good = report.paper_vs_ours("01_lenet_mnist", {"lenet": _lenet(0.6)}, "paper",
                                synthetic=False).set_index("claim").verdict
    assert (good == "pass").all(), good
    bad = report.paper_vs_ours("01_lenet_mnist", {"lenet": _lenet(-1.5, speed=1.2)}, "paper",
                               synthetic=False).set_index("claim").verdict
    assert (bad.drop(index=bad.index[0]) == "fail").all(), bad
    assert bad.iloc[0] == "pass"  # the dense accuracy is 98.0 in both


def test_report_na_on_synthetic_smoke_and_missing_levels():
    results = {"lenet": _lenet(0.6)}
    for profile, synthetic in (("paper", True), ("smoke", False)):
        table = report.paper_vs_ours("01_lenet_mnist", results, profile, synthetic=synthetic)
        assert list(table.columns) == ["claim", "paper", "ours", "tolerance", "verdict"]
        assert (table.verdict == "n/a").all()
    shallow = {"lenet": _lenet(0.6).query("level <= 2")}  # no level near 21% remaining
    table = report.paper_vs_ours("01_lenet_mnist", shallow, "paper", synthetic=False)
    assert table.set_index("claim").verdict.filter(like="21.1%").eq("n/a").all()
    assert np.isnan(table.set_index("claim").ours.filter(like="21.1%")).all()


def test_report_skips_claims_without_results():
    table = report.paper_vs_ours("02_conv_cifar10", {"conv2": _lenet(1.0)}, "quick",
                                 synthetic=False)
    assert table.claim.str.contains("Conv-2").all()
    assert not table.claim.str.contains("dropout").any()


def test_save_figure_writes_png_and_pdf(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lottery import figures

    frame = figures.combine(figures.series(_lenet(0.5), "ticket"),
                            figures.series(_lenet(0.5), "reinit", "reinit"))
    fig = figures.plot_fig4_panels(frame, title="test")
    paths = figures.save_figure(fig, "nb", "fig4", root=tmp_path)
    plt.close(fig)
    assert [p.name for p in paths] == ["fig4.png", "fig4.pdf"]
    assert all(p.stat().st_size > 1000 and p.parent == tmp_path / "nb" for p in paths)
    assert paths[0].read_bytes()[:4] == b"\x89PNG" and paths[1].read_bytes()[:4] == b"%PDF"
