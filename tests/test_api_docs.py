"""The API reference in docs/api builds from the numpydoc docstrings without warnings."""

import shutil
from pathlib import Path

import pytest

API_DOCS = Path(__file__).resolve().parents[1] / "docs" / "api"


@pytest.mark.slow
def test_api_reference_builds(tmp_path):
    pytest.importorskip("sphinx")
    pytest.importorskip("numpydoc")
    from sphinx.cmd.build import build_main

    # Build from a copy: autosummary writes its stub pages into the source folder.
    source = tmp_path / "source"
    shutil.copytree(API_DOCS, source, ignore=shutil.ignore_patterns("_build", "generated"))
    html = tmp_path / "html"

    status = build_main(["-W", "--keep-going", "-q", "-b", "html", str(source), str(html)])

    assert status == 0
    assert (html / "index.html").is_file()
    pages = {
        "sklearn_robust.SOMProbe": "Self-organizing map",
        "sklearn_robust.DPGMMClassDensity": "Dirichlet-process Gaussian mixture",
        "sklearn_robust.nn.JacobianPenalty": "Jacobian",
        "sklearn_robust.som.grid_distance": "toroidal",
    }
    for name, phrase in pages.items():
        page = html / "generated" / f"{name}.html"
        assert page.is_file(), f"no page for {name}"
        assert phrase in page.read_text(encoding="utf-8"), f"{name}'s page lacks its docstring"
