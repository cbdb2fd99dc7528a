"""Tests for the main job: ``python -m sklearn_robust compare``."""

import json
import re
import shutil
import signal
import subprocess
import sys
import time
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from sklearn_robust.cli import main
from sklearn_robust.compare import _measures as measures
from sklearn_robust.compare._settings import SETTINGS


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
    assert sum(link.endswith(".png") for link in parser.links) >= 8
    assert {"som_probes.png", "dp-gmm_class_densities.png"} <= set(parser.links)
    results = pd.read_csv(report / "results.csv")
    assert list(results.columns) == ["model", "measure", "value"]
    assert np.all(np.isfinite(results.value))
    assert not results.duplicated(["model", "measure"]).any()
    assert set(results.measure) <= set(
        measures.all_measures(measures.ATTACKS, SETTINGS.certified_radius)
    )
    models = set(results.model)
    assert {"backprop", "kh-hybrid"} <= models
    for model in models:  # every model has the core measures
        names = set(results[results.model == model].measure)
        assert {
            measures.ACCURACY,
            measures.never_fooled("pgd"),
            measures.HIDDEN_ALPHA,
            measures.certified_accuracy(SETTINGS.certified_radius),
        } <= names
    assert json.loads((report / "results.json").read_text())["results"]
    assert "Report:" in stdout and "accuracy" in stdout
    assert re.search(r"model\s+backprop\s+l2\s+isometry-1\s+kh-hybrid\n", stdout)  # summary()
    assert "[1/4] backprop: training" in stdout and "[4/4] kh-hybrid: done in" in stdout
    assert not [p for p in report.parent.iterdir() if p.name.startswith(".report")]


SOM_MEASURES = {
    *(measures.som_class_spread(layer) for layer in measures.LAYERS),
    *(
        measures.som_bmu_shift(p, layer)
        for p in measures.PERTURBATIONS
        for layer in measures.LAYERS
    ),
    measures.SOM_PGD_L2_NORM,
}
DPGMM_MEASURES = {
    measures.DPGMM_LOG_DENSITY_MEAN,
    measures.DPGMM_KL_MEAN,
    measures.DPGMM_N_CLUSTERS_MEAN,
}


def _section(html_text, title):
    """The reading paragraph under a section's heading."""
    match = re.search(rf"<h2>{re.escape(title)}</h2>\s*<p>(.*?)</p>", html_text, re.S)
    assert match, f"no section {title!r}"
    return match.group(1)


def test_quick_run_has_the_som_and_dpgmm_sections(quick_report):
    report, _ = quick_report
    results = pd.read_csv(report / "results.csv")
    table = results.pivot(index="model", columns="measure", values="value")
    assert (SOM_MEASURES | DPGMM_MEASURES) <= set(table.columns)
    som = table[sorted(SOM_MEASURES)]
    assert np.all(np.isfinite(som)) and (som >= 0).all().all()  # every model has every row
    assert np.all(np.isfinite(table[sorted(DPGMM_MEASURES)]))
    assert (
        table[measures.som_class_spread("input")].nunique() == 1
    )  # one map of the pixels for every model
    # PGD's L2 radius is 1: the noise is drawn with each example's PGD perturbation norm
    assert table[measures.SOM_PGD_L2_NORM].between(0.5, 1.0 + 1e-5).all()
    spearman = [measures.dpgmm_radius_spearman(q) for q in measures.DENSITY_QUANTITIES]
    rho = results[results.measure.isin(spearman)]
    assert len(rho) >= 2 and rho.value.between(-1, 1).all()

    text = (report / "index.html").read_text()
    som_reading = _section(text, "SOM probes")
    assert "figure 11" in som_reading and "D_class" in som_reading
    closest = table[measures.som_bmu_shift("pgd", "hidden")].idxmin()
    top_k = SETTINGS.som_top_k
    assert f"the hidden layer of {closest} keeps its top-{top_k} BMUs closest" in som_reading
    dpgmm_reading = _section(text, "DP-GMM class densities")
    assert "certified" in dpgmm_reading and "rho" in dpgmm_reading

    saved = json.loads((report / "results.json").read_text())
    densities = pd.DataFrame(saved["class_densities"])
    assert set(densities.model) == set(table.index)
    assert (densities.groupby("model").size() == 10).all()  # the ten digits per model
    assert np.all(np.isfinite(densities[["log_density", "kl"]]))
    assert set(saved["som_class_spread"]) == {"input", *table.index}


def test_parallel_run_gives_the_same_numbers(quick_report, tmp_path):
    report, _ = quick_report
    finished = run_compare(
        "--quick", "--models", "backprop,l2", "--n-jobs", "2", "--out", "par", cwd=tmp_path
    )
    assert finished.returncode == 0, finished.stderr[-2000:]
    for line in ("[1/2] backprop: training", "[2/2] l2: training", "[1/2] backprop: done in"):
        assert line in finished.stdout + finished.stderr
    serial = pd.read_csv(report / "results.csv")
    serial = serial[serial.model.isin(["backprop", "l2"])].reset_index(drop=True)
    parallel = pd.read_csv(tmp_path / "par" / "results.csv")
    pd.testing.assert_frame_equal(parallel, serial, check_exact=True)


def test_run_on_a_dask_scheduler_gives_the_same_numbers(quick_report, tmp_path):
    distributed = pytest.importorskip("distributed")
    report, _ = quick_report
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
    ):
        finished = run_compare(
            "--quick",
            "--models",
            "l2",
            "--attacks",
            "pgd",
            "--scheduler",
            cluster.scheduler_address,
            "--out",
            "dask",
            cwd=tmp_path,
        )
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert "[1/1] l2: training" in finished.stdout  # a worker's line, echoed by the client
    first = pd.read_csv(report / "results.csv").set_index(["model", "measure"])
    second = pd.read_csv(tmp_path / "dask" / "results.csv").set_index(["model", "measure"])
    assert set(second.index) <= set(first.index)
    np.testing.assert_array_equal(second.value, first.loc[second.index, "value"])


def test_unreachable_scheduler_fails_with_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = ["compare", "--quick", "--scheduler", "tcp://127.0.0.1:1", "--scheduler-timeout", "2"]
    assert main(argv) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1
    assert "cannot connect to the dask scheduler at tcp://127.0.0.1:1" in error
    assert list(tmp_path.iterdir()) == []  # no report, not even a staging folder


def test_same_random_state_same_numbers_replacing_an_earlier_report(quick_report, tmp_path):
    report, _ = quick_report
    shutil.copytree(report, tmp_path / "again")  # a report this command wrote: replaced
    again = run_compare(
        "--quick", "--models", "backprop", "--attacks", "pgd", "--out", "again", cwd=tmp_path
    )
    assert again.returncode == 0, again.stderr[-2000:]
    listed = json.loads((tmp_path / "again" / "results.json").read_text())["files"]
    assert sorted(p.name for p in (tmp_path / "again").iterdir()) == listed
    assert [p.name for p in tmp_path.iterdir()] == ["again"]  # no staging or old folder left
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
        (["--n-jobs", "0"], "--n-jobs must be a positive integer or -1"),
        (["--scheduler", "tcp://host:port"], "not a dask scheduler address"),
        (["--scheduler", "xyz://somewhere"], "not a dask scheduler address"),
        (["--scheduler", "tcp://127.0.0.1:1", "--scheduler-timeout", "0"], "must be positive"),
    ],
)
def test_bad_options_fail_with_one_clear_line(args, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["compare", *args]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and re.search(message, error)
    assert list(tmp_path.iterdir()) == []  # nothing written


def _snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize(
    "setup, out, message",
    [
        (
            lambda d: (d / "mine").mkdir() or (d / "mine" / "notes.txt").write_text("x"),
            "mine",
            "holds files this command did not write",
        ),
        (lambda d: (d / "notes.txt").write_text("x"), ".", "is the current folder"),
        (lambda d: (d / "notes.txt").write_text("x"), "..", "is the current folder or holds it"),
        (lambda d: (d / "some_file.csv").write_text("x"), "some_file.csv", "is a file"),
        (lambda d: (d / "real").mkdir() or (d / "link").symlink_to(d / "real"), "link", "link"),
    ],
)
def test_out_never_replaces_what_the_command_did_not_write(
    setup, out, message, tmp_path, capsys, monkeypatch
):
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    setup(tmp_path / "work")
    before = _snapshot(tmp_path)
    assert main(["compare", "--quick", "--out", out]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and message in error and out in error
    assert _snapshot(tmp_path) == before
    assert sorted(p.name for p in tmp_path.rglob(".*")) == []  # nothing hidden away either


def test_a_report_with_a_file_added_by_the_user_is_not_replaced(quick_report, tmp_path, capsys):
    report, _ = quick_report
    copy = shutil.copytree(report, tmp_path / "report")
    (copy / "my_notes.txt").write_text("mine")
    assert main(["compare", "--quick", "--out", str(copy)]) == 2
    assert "holds files this command did not write" in capsys.readouterr().err
    assert (copy / "my_notes.txt").read_text() == "mine"


def test_ctrl_c_during_training_exits_130_and_keeps_the_previous_report(quick_report, tmp_path):
    report, _ = quick_report
    previous = shutil.copytree(report, tmp_path / "report")
    before = _snapshot(previous)
    process = subprocess.Popen(
        [sys.executable, "-m", "sklearn_robust", "compare", "--quick", "--out", "report"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # As from a terminal: a background job of a non-interactive shell (some CI
        # runners) would pass SIGINT on as ignored.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        for line in process.stdout:  # the first model has started to train
            if "backprop: training" in line:
                break
        time.sleep(1.0)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 130, stderr[-2000:]
    assert stderr.strip().splitlines()[-1] == (
        "sklearn-robust: interrupted; report is left as it was"
    )
    assert _snapshot(previous) == before
    assert [p.name for p in tmp_path.iterdir()] == ["report"]  # no staging folder


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


def test_n_eval_beyond_the_test_set_reports_what_was_evaluated(tmp_path):
    finished = run_compare(
        "--quick", "--models", "backprop", "--attacks", "fgsm", "--n-eval", "100000",
        "--out", "r", cwd=tmp_path,
    )  # fmt: skip
    assert finished.returncode == 0, finished.stderr[-2000:]
    n_test = int(np.ceil(0.3 * 1797))  # the digits' stratified 30% test split
    assert json.loads((tmp_path / "r" / "results.json").read_text())["n_evaluated"] == n_test
    assert f"Attacks on {n_test} test examples" in (tmp_path / "r" / "index.html").read_text()


def test_ctrl_c_inside_exec_source_still_exits_130(tmp_path):
    # Ctrl-C often lands in torch's lazy imports, whose dataclasses run exec'd source;
    # CPython then exits by SIGINT unless the caught interrupt is forgotten. The module
    # runs with -m, as the command does: a script's SystemExit exits before that check.
    script = tmp_path / "interrupted.py"
    script.write_text(
        "import sys\n"
        "from sklearn_robust import cli, compare\n"
        "def interrupted(*args, **kwargs):\n"
        "    exec('raise KeyboardInterrupt')\n"
        "compare.run_comparison = interrupted\n"
        "sys.exit(cli.main(['compare', '--quick', '--out', 'report']))\n"
    )
    finished = subprocess.run(
        [sys.executable, "-m", script.stem],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert finished.returncode == 130, finished.stderr[-2000:]
    assert finished.stderr.strip() == "sklearn-robust: interrupted; report is left as it was"


# ------------------------------------------------------------- --seeds and --memorisation
@pytest.fixture
def no_work(monkeypatch, tmp_path):
    """Run in an empty folder where training anything fails the test."""
    from sklearn_robust import compare

    def trained(*args, **kwargs):
        raise AssertionError("the command started to work")

    monkeypatch.setattr(compare, "run_comparison", trained)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("seeds", ["0", "-1", "21"])
def test_a_bad_number_of_seeds_fails_with_one_line_before_any_work(seeds, no_work, capsys):
    assert main(["compare", "--quick", "--seeds", seeds]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1
    assert error.startswith("sklearn-robust: error: seeds must be an integer in [1, 20]")
    assert list(no_work.iterdir()) == []


def test_seeds_not_a_number_is_an_argparse_error_before_any_work(no_work, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", "--quick", "--seeds", "x"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert [line for line in error if "error:" in line] == [error[-1]]
    assert error[-1].endswith("error: argument --seeds: invalid int value: 'x'")
    assert list(no_work.iterdir()) == []


def test_seeds_and_memorisation_reach_the_config():
    from sklearn_robust import cli

    def config(*args):
        return cli._config(cli._parser().parse_args(["compare", "--quick", *args]))

    default = config()
    assert default.seeds == 1 and default.memorisation is False
    chosen = config("--seeds", "3", "--memorisation", "--random-state", "7")
    assert chosen.seeds == 3 and chosen.memorisation is True
    assert chosen.seed_values == (7, 8, 9)
