"""The experiment notebooks' contract (one injectable ``parameters`` cell, early validation)
and the package pieces they call: setup, the banner and figure saving."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pandas as pd
import papermill
import pytest

from lottery.core.hparams import HparamError
from lottery.engine.data import DataUnavailable
from lottery.run.session import project_root, setup, validate_parameters

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9]*.ipynb"))
COMMON = {"profile", "device", "data_root", "trials", "seed", "output_dir"}


def test_notebooks_exist():
    assert [p.stem for p in NOTEBOOKS] == ["01_lenet_mnist", "02_conv_cifar10",
                                          "03_vgg_resnet_rewinding", "04_deconstructing_tickets",
                                          "05_stability_and_overlap",
                                          "06_ticket_transfer", "07_cheap_tickets",
                                          "08_open_questions", "09_your_own_model"]


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


def _code(path: Path) -> str:
    return "\n".join(c.source for c in nbformat.read(path, as_version=4).cells
                     if c.cell_type == "code")


def test_notebooks_train_the_papers_controls_and_read_its_iterations():
    """LTH Fig. 4c trains the one-shot tickets beside their random reinit; Figs. 7 and 8 give
    test accuracy at fixed iterations (30K/60K/112K, 10K/20K/30K), not at early stop."""
    code = {p.stem: _code(p) for p in NOTEBOOKS}
    assert 'session.oneshot("lenet", controls=("reinit",)' in code["01_lenet_mnist"]
    assert 'controls=("reinit", "random_mask")' in code["02_conv_cifar10"]
    scale = code["03_vgg_resnet_rewinding"]
    assert "[30_000, 60_000, 112_480]" in scale and "[10_000, 20_000, 30_000]" in scale
    assert scale.count("at_iterations(") == 2


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
    {"profile": "quick", "models": ["conv9"]}, {"profile": "quick", "device": "tpu!"},
    {"profile": "quick", "levels": 0}, {"profile": "quick", "iterations": 2.5},
    {"profile": "quick", "rewind_fraction": 1.0}])
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


@pytest.mark.parametrize("device", ["meta", "cuda:3"])
def test_a_device_this_machine_cannot_train_on_fails_in_setup(tmp_path, device):
    if device.startswith("cuda") and __import__("torch").cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(HparamError, match="device"):
        setup("nb", "mnist", "smoke", data_root=tmp_path, device=device)


def test_banner_shows_provenance_and_no_machine_paths(tmp_path):
    banner = setup("nb", "mnist", "smoke", data_root=tmp_path).banner
    assert "torch " in banner and "commit" in banner and "threads" in banner
    assert str(project_root()) not in banner and "runs/figures-smoke/nb" in banner


# --- figures (the report's verdicts: tests/test_report.py) ---------------------------------

def _lenet(ticket_gain: float) -> pd.DataFrame:
    """A LeNet-like IMP result: 2 trials, levels 0-18, tickets and random reinit."""
    rows = []
    for level in range(19):
        for trial in range(2):
            for variant in ["ticket"] if level == 0 else ["ticket", "reinit"]:
                acc = 0.98 + (ticket_gain / 100 if level and variant == "ticket" else 0)
                rows.append({"method": "imp", "trial": trial, "level": level,
                             "variant": variant, "percent_remaining": 100 * 0.8 ** level,
                             "early_stop_iteration": 4000, "early_stop_test_acc": acc,
                             "final_test_acc": acc, "final_train_acc": 1.0})
    return pd.DataFrame(rows)


def test_save_figure_writes_png_and_pdf(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lottery.claims import figures

    frame = figures.combine(figures.series(_lenet(0.5), "ticket"),
                            figures.series(_lenet(0.5), "reinit", "reinit"))
    fig = figures.plot_fig4_panels(frame, title="test")
    paths = figures.save_figure(fig, "nb", "fig4", root=tmp_path)
    plt.close(fig)
    assert [p.name for p in paths] == ["fig4.png", "fig4.pdf"]
    assert all(p.stat().st_size > 1000 and p.parent == tmp_path / "nb" for p in paths)
    assert paths[0].read_bytes()[:4] == b"\x89PNG" and paths[1].read_bytes()[:4] == b"%PDF"
