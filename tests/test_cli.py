"""Tests for the main job: ``python -m sklearn_robust compare``."""

import json
import re
import subprocess
import sys
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from sklearn_robust.cli import main


def run_compare(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "sklearn_robust", "compare", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("compare")
    finished = run_compare("--quick", "--out", "report", cwd=folder)
    assert finished.returncode == 0, finished.stderr[-2000:]
    return folder / "report", finished.stdout


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.tags = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.links += [value for name, value in attrs if name in ("src", "href")]


def test_quick_run_writes_a_complete_report(quick_report):
    report, stdout = quick_report
    for name in ("index.html", "results.csv", "results.json"):
        assert (report / name).is_file()
    parser = _Links()
    parser.feed((report / "index.html").read_text())
    assert "img" in parser.tags and "table" in parser.tags
    assert parser.links and all((report / link).is_file() for link in parser.links)
    assert sum(link.endswith(".png") for link in parser.links) >= 6
    results = pd.read_csv(report / "results.csv")
    assert list(results.columns) == ["model", "measure", "value"]
    assert np.all(np.isfinite(results.value))
    assert not results.duplicated(["model", "measure"]).any()
    models = set(results.model)
    assert {"backprop", "kh-hybrid"} <= models
    for model in models:  # every model has the core measures
        measures = set(results[results.model == model].measure)
        assert {
            "accuracy",
            "pgd_never_fooled",
            "hidden_alpha",
            "certified_accuracy_r0.25",
        } <= measures
    assert json.loads((report / "results.json").read_text())["results"]
    assert "Report:" in stdout and "accuracy" in stdout
    assert not [p for p in report.parent.iterdir() if p.name.startswith(".report")]


def test_same_random_state_same_numbers(quick_report, tmp_path):
    report, _ = quick_report
    again = run_compare(
        "--quick", "--models", "backprop", "--attacks", "pgd", "--out", "again", cwd=tmp_path
    )
    assert again.returncode == 0, again.stderr[-2000:]
    first = pd.read_csv(report / "results.csv").set_index(["model", "measure"])
    second = pd.read_csv(tmp_path / "again" / "results.csv").set_index(["model", "measure"])
    shared = second.index.intersection(first.index)
    assert len(shared) >= 5
    np.testing.assert_allclose(second.loc[shared, "value"], first.loc[shared, "value"])


@pytest.mark.parametrize(
    "args, message",
    [
        (["--models", "backprop,resnet"], "unknown model"),
        (["--attacks", "cw"], "attacks must be among"),
        (["--dataset", "csv"], "needs the CSV file"),
        (["--dataset", "csv", "missing.csv"], "no such file"),
        (["--dataset", "mnist", "--data-dir", "no-such-folder"], "no such file"),
        (["--n-eval", "3"], "n_eval"),
    ],
)
def test_bad_options_fail_with_one_clear_line(args, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["compare", *args]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and re.search(message, error)
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_unwritable_output_fails_before_any_work(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert main(["compare", "--quick", "--out", str(blocker / "report")]) == 2
    assert "not a writable folder" in capsys.readouterr().err


def test_unknown_option_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", "--colour", "red"])
    assert exit_info.value.code == 2
    assert "unrecognized arguments" in capsys.readouterr().err
