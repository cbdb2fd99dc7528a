"""The examples run end to end and write what they promise."""

import importlib.util
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_som_digits_writes_its_figure(tmp_path, capsys):
    out = tmp_path / "som.png"
    _load("som_digits").main(["--out", str(out), "--som-epochs", "2"])
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr().out
    for layer in ("hidden 1", "hidden 2"):
        assert f"{layer}: D_class" in printed and f"{layer}: mean shift" in printed
