"""The examples run end to end and write what they promise.

The scripts read SKLEARN_ROBUST_EXAMPLE_QUICK=1 and then train and attack less,
so that each runs in seconds; som_digits takes its sizes as arguments.
"""

import importlib.util
import runpy
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
PNG = b"\x89PNG\r\n\x1a\n"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def run_quick(tmp_path, monkeypatch, capsys):
    """Run an example script as ``python examples/NAME.py`` would, quickly, in tmp_path."""
    monkeypatch.setenv("SKLEARN_ROBUST_EXAMPLE_QUICK", "1")
    monkeypatch.chdir(tmp_path)  # what the script writes lands here

    def run(name):
        runpy.run_path(str(EXAMPLES / f"{name}.py"), run_name="__main__")
        return capsys.readouterr().out

    return run


def test_every_example_is_tested():
    tested = {
        "cifar10_networks",
        "isometry_strength",
        "kh_digits",
        "kh_hybrid",
        "robustness_digits",
        "som_digits",
    }
    assert {path.stem for path in EXAMPLES.glob("*.py")} == tested


def test_som_digits_writes_its_figure(tmp_path, capsys):
    out = tmp_path / "som.png"
    _load("som_digits").main(["--out", str(out), "--som-epochs", "2"])
    assert out.read_bytes()[:8] == PNG
    printed = capsys.readouterr().out
    for layer in ("hidden 1", "hidden 2"):
        assert f"{layer}: D_class" in printed and f"{layer}: mean shift" in printed


def test_isometry_strength_prints_a_row_per_strength(run_quick):
    printed = run_quick("isometry_strength")
    assert "test accuracy" in printed
    assert len(printed.strip().splitlines()) == 1 + 2  # header and the quick run's two strengths


def test_kh_digits_prints_accuracy_and_spectrum(run_quick):
    printed = run_quick("kh_digits")
    assert "test accuracy of the KH hybrid" in printed
    assert "hidden layer: alpha =" in printed and "white noise of the same shape" in printed


def test_kh_hybrid_prints_both_models(run_quick):
    printed = run_quick("kh_hybrid")
    for name in ("KH hybrid", "backprop MLP"):
        assert any(
            line.startswith(name) and "hidden alpha" in line for line in printed.splitlines()
        )


def test_robustness_digits_writes_its_figure(run_quick, tmp_path):
    printed = run_quick("robustness_digits")
    for name in ("KH hybrid", "backprop", "L2"):
        assert f"{name:<10} test accuracy" in printed
    assert "never fooled" in printed and "wrote robustness_digits.png" in printed
    assert (tmp_path / "robustness_digits.png").read_bytes()[:8] == PNG


def test_cifar10_networks_prints_a_row_per_network(run_quick, capsys):
    _load("cifar10_networks").main([])  # run_quick has set the quick mode and the folder
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed[0].startswith("60 training and 60 test images")
    rows = {line.split()[0]: line.split() for line in printed[2:]}
    assert set(rows) == {"convnet", "resnet", "plain"}
    assert rows["resnet"][1] == rows["plain"][1]  # the twins have the same parameters
    assert len(rows["resnet"]) == 6 + 3 and len(rows["convnet"]) == 6 + 2  # a probe per stage
