"""Tests for sklearn_robust.datasets: loaders on files written here, and the toy manifolds."""

import builtins
import gzip
import os
import pickle
import pickletools
import re
import shlex
import shutil
import struct
import tarfile
import urllib.error

import numpy as np
import pandas as pd
import pytest
import sklearn.datasets
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_robust import datasets
from sklearn_robust.datasets import (
    load_cifar10,
    load_csv,
    load_digits,
    load_mnist,
    make_entangled_rings,
    make_torus,
)

from .conftest import CIFAR_SUBSET

# --------------------------------------------------------------------------- helpers


def write_idx(path, array, magic=None):
    """Write ``array`` (uint8) in the idx format: big-endian magic, then dims, then bytes."""
    array = np.asarray(array, dtype=np.uint8)
    magic = 0x0800 + array.ndim if magic is None else magic
    payload = struct.pack(f">I{array.ndim}I", magic, *array.shape) + array.tobytes()
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wb") as file:
        file.write(payload)


def write_mnist_csv(path, images, labels):
    rows = np.column_stack([images.reshape(len(images), -1), labels])
    np.savetxt(path, rows, fmt="%d", delimiter=",")  # savetxt gzips a .gz name itself


def scaled(images):
    return images.reshape(len(images), -1).astype(np.float32) / np.float32(255)


@pytest.fixture
def mnist_arrays():
    rng = np.random.default_rng(42)
    return {
        "train": (rng.integers(0, 256, (7, 28, 28), dtype=np.uint8), rng.integers(0, 10, 7)),
        "test": (rng.integers(0, 256, (5, 28, 28), dtype=np.uint8), rng.integers(0, 10, 5)),
    }


def write_idx_split(directory, prefix, images, labels, suffix=".gz"):
    write_idx(directory / f"{prefix}-images-idx3-ubyte{suffix}", images)
    write_idx(directory / f"{prefix}-labels-idx1-ubyte{suffix}", labels)


# --------------------------------------------------------------------------- digits


def test_load_digits_is_sklearn_digits_over_16():
    bunch = load_digits()
    reference = sklearn.datasets.load_digits()
    assert bunch.data.shape == (1797, 64)
    assert bunch.data.dtype == np.float32
    assert bunch.data.min() == 0.0 and bunch.data.max() == 1.0
    np.testing.assert_array_equal(bunch.data, (reference.data / 16).astype(np.float32))
    np.testing.assert_array_equal(bunch.images, bunch.data.reshape(-1, 8, 8))
    assert bunch.target.dtype == np.int64
    assert set(np.unique(bunch.target)) == set(range(10))
    np.testing.assert_array_equal(bunch.target, reference.target)
    assert bunch.feature_names == reference.feature_names
    X, y = load_digits(return_X_y=True)
    np.testing.assert_array_equal(X, bunch.data)
    np.testing.assert_array_equal(y, bunch.target)


def test_load_digits_as_frame():
    bunch = load_digits(as_frame=True)
    assert isinstance(bunch.data, pd.DataFrame) and bunch.data.shape == (1797, 64)
    assert isinstance(bunch.target, pd.Series) and bunch.target.name == "target"
    assert bunch.frame.shape == (1797, 65)
    assert (bunch.data.dtypes == np.float32).all()


# --------------------------------------------------------------------------- MNIST, local files


@pytest.mark.parametrize("suffix", [".gz", ""])
@pytest.mark.parametrize("split, prefix", [("train", "train"), ("test", "t10k")])
def test_load_mnist_idx_round_trip(tmp_path, mnist_arrays, suffix, split, prefix):
    for name, (images, labels) in mnist_arrays.items():
        write_idx_split(tmp_path, "train" if name == "train" else "t10k", images, labels, suffix)
    images, labels = mnist_arrays[split]
    bunch = load_mnist(tmp_path, split=split)
    assert bunch.data.dtype == np.float32 and bunch.target.dtype == np.int64
    np.testing.assert_array_equal(bunch.data, scaled(images))
    np.testing.assert_array_equal(bunch.target, labels)
    np.testing.assert_array_equal(bunch.images, images.astype(np.float32) / np.float32(255))
    assert f"{prefix}-images-idx3-ubyte{suffix}" in bunch.DESCR
    X, y = load_mnist(str(tmp_path), split=split, scale=False, return_X_y=True)
    assert X.dtype == np.float32
    np.testing.assert_array_equal(X, images.reshape(len(images), -1))
    np.testing.assert_array_equal(y, labels)


def test_load_mnist_as_frame(tmp_path, mnist_arrays):
    write_idx_split(tmp_path, "train", *mnist_arrays["train"])
    bunch = load_mnist(tmp_path, as_frame=True)
    assert bunch.data.shape == (7, 784) and bunch.frame.shape == (7, 785)
    assert list(bunch.data.columns[:2]) == ["pixel_0_0", "pixel_0_1"]


@pytest.mark.parametrize(
    "split, name",
    [
        ("train", "mnist-train-5k.csv.gz"),
        ("train", "mnist_train.csv"),
        ("test", "mnist_test.csv.gz"),
        ("test", "t10k.csv"),
    ],
)
def test_load_mnist_csv_fallback(tmp_path, mnist_arrays, split, name):
    images, labels = mnist_arrays[split]
    write_mnist_csv(tmp_path / name, images, labels)
    X, y = load_mnist(tmp_path, split=split, return_X_y=True)
    np.testing.assert_array_equal(X, scaled(images))
    np.testing.assert_array_equal(y, labels)
    assert y.dtype == np.int64


def test_load_mnist_prefers_idx_over_csv(tmp_path, mnist_arrays):
    write_idx_split(tmp_path, "train", *mnist_arrays["train"])
    write_mnist_csv(tmp_path / "mnist_train.csv", *mnist_arrays["test"])
    X, _ = load_mnist(tmp_path, return_X_y=True)
    np.testing.assert_array_equal(X, scaled(mnist_arrays["train"][0]))


def test_load_mnist_data_dir_is_a_csv_file(tmp_path, mnist_arrays):
    images, labels = mnist_arrays["test"]
    path = tmp_path / "anything.csv.gz"
    write_mnist_csv(path, images, labels)
    X, y = load_mnist(path, split="train", scale=False, return_X_y=True)
    np.testing.assert_array_equal(X, images.reshape(len(images), -1))
    np.testing.assert_array_equal(y, labels)


def test_load_mnist_real_layout_uses_train_csv_and_test_idx(tmp_path, mnist_arrays):
    # The layout of ../shared/data/mnist: test idx files and a train CSV side by side.
    write_idx_split(tmp_path, "t10k", *mnist_arrays["test"])
    write_mnist_csv(tmp_path / "mnist-train-5k.csv.gz", *mnist_arrays["train"])
    assert load_mnist(tmp_path, split="train").data.shape == (7, 784)
    assert load_mnist(tmp_path, split="test").data.shape == (5, 784)


@pytest.mark.parametrize(
    "split, expected",
    [
        (
            "train",
            [
                "train-images-idx3-ubyte[.gz]",
                "train-labels-idx1-ubyte[.gz]",
                "*train*.csv",
                "*train*.csv.gz",
            ],
        ),
        (
            "test",
            [
                "t10k-images-idx3-ubyte[.gz]",
                "t10k-labels-idx1-ubyte[.gz]",
                "*test*.csv",
                "*t10k*.csv.gz",
            ],
        ),
    ],
)
def test_load_mnist_missing_files_names_what_was_looked_for(tmp_path, split, expected):
    with pytest.raises(FileNotFoundError) as info:
        load_mnist(tmp_path, split=split)
    message = str(info.value)
    assert str(tmp_path) in message
    for name in expected:
        assert name in message


def test_load_mnist_missing_partner_and_missing_dir(tmp_path, mnist_arrays):
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", mnist_arrays["train"][0])
    partner = re.escape("Found 'train-images-idx3-ubyte.gz' but not its partner")
    with pytest.raises(FileNotFoundError, match=partner):
        load_mnist(tmp_path)
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match=re.escape(str(missing))):
        load_mnist(missing)


def test_load_mnist_corrupt_idx_files(tmp_path, mnist_arrays):
    images, labels = mnist_arrays["train"]
    image_path = tmp_path / "train-images-idx3-ubyte.gz"
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", labels)
    write_idx(image_path, images, magic=2049)  # a labels magic number on an images file
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte\.gz.*magic number 2049"):
        load_mnist(tmp_path)
    write_idx(image_path, images[:, :, :27])  # 28x27: the right magic, the wrong image size
    with pytest.raises(ValueError, match="not 28x28"):
        load_mnist(tmp_path)
    write_idx(image_path, images[:6])
    with pytest.raises(ValueError, match=r"6 images but .* 7 labels"):
        load_mnist(tmp_path)
    with gzip.open(image_path, "wb") as file:
        file.write(struct.pack(">4I", 2051, 7, 28, 28) + images.tobytes()[:-1])
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte\.gz.*truncated"):
        load_mnist(tmp_path)
    image_path.write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte\.gz"):
        load_mnist(tmp_path)


def test_load_mnist_bad_labels(tmp_path, mnist_arrays):
    images, labels = mnist_arrays["train"]
    write_idx_split(tmp_path, "train", images, np.where(labels == labels[0], 10, labels))
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte\.gz.*0\.\.9"):
        load_mnist(tmp_path)


def test_load_mnist_bad_csv(tmp_path, mnist_arrays):
    images, labels = mnist_arrays["train"]
    path = tmp_path / "mnist_train.csv"
    np.savetxt(path, images.reshape(7, -1), fmt="%d", delimiter=",")  # no label column
    with pytest.raises(ValueError, match="784 columns; expected 785"):
        load_mnist(tmp_path)
    header = ",".join([f"p{i}" for i in range(784)] + ["label"])
    rows = np.column_stack([images.reshape(7, -1), labels])
    np.savetxt(path, rows, fmt="%d", delimiter=",", header=header, comments="")
    with pytest.raises(ValueError, match="header"):
        load_mnist(tmp_path)
    rows[0, 0] = 300
    np.savetxt(path, rows, fmt="%d", delimiter=",")
    with pytest.raises(ValueError, match=re.escape("0..255")):
        load_mnist(tmp_path)


def test_load_mnist_several_csv_files_is_ambiguous(tmp_path, mnist_arrays):
    write_mnist_csv(tmp_path / "a_train.csv", *mnist_arrays["train"])
    write_mnist_csv(tmp_path / "b_train.csv.gz", *mnist_arrays["train"])
    with pytest.raises(ValueError, match=re.escape("a_train.csv, b_train.csv.gz")):
        load_mnist(tmp_path)


def test_load_mnist_bad_arguments(tmp_path):
    with pytest.raises(InvalidParameterError, match="The 'split' parameter of load_mnist must be"):
        load_mnist(tmp_path, split="validation")
    with pytest.raises(InvalidParameterError, match="The 'data_dir' parameter of load_mnist"):
        load_mnist(3)
    other = tmp_path / "images.npz"
    other.write_bytes(b"")
    with pytest.raises(ValueError, match=re.escape("directory or a .csv")):
        load_mnist(other)


# --------------------------------------------------------------------------- MNIST, OpenML


def test_load_mnist_openml_unreachable(monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(datasets, "fetch_openml", offline)
    with pytest.raises(ConnectionError) as info:
        load_mnist()
    message = str(info.value)
    assert "OpenML" in message and "data_dir=" in message
    assert "train-images-idx3-ubyte.gz" in message and "t10k-labels-idx1-ubyte.gz" in message
    assert isinstance(info.value.__cause__, urllib.error.URLError)


@pytest.fixture
def fake_openml(monkeypatch):
    """A 10-row stand-in for mnist_784 with the official split shrunk to 6 + 4."""
    rng = np.random.default_rng(3)
    X = rng.integers(0, 256, (10, 784)).astype(np.float64)
    y = np.array([str(d) for d in rng.integers(0, 10, 10)], dtype=object)
    calls = []

    def fetch(name, *, version, as_frame, return_X_y, **kwargs):
        calls.append((name, version, as_frame, return_X_y))
        return X.copy(), y.copy()

    monkeypatch.setattr(datasets, "fetch_openml", fetch)
    monkeypatch.setattr(datasets, "_OPENML_N_TRAIN", 6)
    monkeypatch.setattr(datasets, "_OPENML_N_TEST", 4)
    return X, y, calls


def test_load_mnist_openml_split(fake_openml):
    X, y, calls = fake_openml
    train = load_mnist()
    X_test, y_test = load_mnist(split="test", scale=False, return_X_y=True)
    assert calls[0] == ("mnist_784", 1, False, True)
    np.testing.assert_array_equal(train.data, (X[:6] / 255).astype(np.float32))
    np.testing.assert_array_equal(train.target, y[:6].astype(np.int64))
    np.testing.assert_array_equal(X_test, X[6:].astype(np.float32))
    np.testing.assert_array_equal(y_test, y[6:].astype(np.int64))
    assert train.target.dtype == np.int64 and train.images.shape == (6, 28, 28)


def test_load_mnist_openml_unexpected_size(fake_openml, monkeypatch):
    monkeypatch.setattr(datasets, "_OPENML_N_TEST", 5)
    with pytest.raises(ValueError, match="10 rows; expected 11"):
        load_mnist()


# --------------------------------------------------------------------------- generic CSV


def test_load_csv_with_header_and_text_labels(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("a,b,kind\n0,255,cat\n51,102,dog\n255,0,cat\n")
    bunch = load_csv(path, scale=255)
    assert bunch.feature_names == ["a", "b"]
    assert bunch.data.dtype == np.float32 and bunch.target.dtype == np.int64
    np.testing.assert_array_equal(bunch.data, np.array([[0, 1], [0.2, 0.4], [1, 0]], np.float32))
    np.testing.assert_array_equal(bunch.target, [0, 1, 0])
    assert list(bunch.target_names) == ["cat", "dog"]
    X, y = load_csv(path, label_column="kind", return_X_y=True)
    np.testing.assert_array_equal(X[:, 0], [0, 51, 255])
    np.testing.assert_array_equal(y, [0, 1, 0])


def test_load_csv_without_header_label_first(tmp_path):
    path = tmp_path / "data.csv.gz"
    pd.DataFrame([[3, 0.5, 1.5], [7, 2.5, 3.5], [3, 4.5, 5.5]]).to_csv(
        path, header=False, index=False
    )
    bunch = load_csv(path, label_column=0, as_frame=True)
    assert list(bunch.data.columns) == ["feature_0", "feature_1"]
    np.testing.assert_array_equal(bunch.data.to_numpy(), [[0.5, 1.5], [2.5, 3.5], [4.5, 5.5]])
    np.testing.assert_array_equal(bunch.target.to_numpy(), [0, 1, 0])
    np.testing.assert_array_equal(bunch.target_names, [3, 7])
    assert bunch.frame.shape == (3, 3)


def test_load_csv_header_argument(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("1,2,0\n3,4,1\n")
    X, _ = load_csv(path, header=None, return_X_y=True)
    assert X.shape == (2, 2)
    path.write_text("x,y,label\n1,2,0\n3,4,1\n5,6,0\n")
    X, _ = load_csv(path, header=0, return_X_y=True)
    assert X.shape == (3, 2)


@pytest.mark.parametrize(
    "text, kwargs, error, match",
    [
        ("a,b,y\n1,x,0\n2,3,1\n", {}, ValueError, r"non-numeric feature columns: \['b'\]"),
        ("a,b,y\n1,2,0\n3,4,0\n", {}, ValueError, "fewer than 2 classes"),
        ("a,b,y\n1,,0\n3,4,1\n", {}, ValueError, "missing feature values"),
        ("a,b,y\n1,2,\n3,4,1\n", {}, ValueError, "label column 'y' has missing"),
        ("a,b,y\n1,2,0\n3,4,1\n", {"label_column": "z"}, ValueError, "label_column='z'"),
        ("a,b,y\n1,2,0\n3,4,1\n", {"label_column": 3}, ValueError, "label_column=3"),
        ("a,b,y\n1,2,0\n3,4,1\n", {"scale": 0}, InvalidParameterError, "'scale' parameter"),
        ("a,b,y\n1,2,0\n3,4,1\n", {"header": "yes"}, InvalidParameterError, "'header' parameter"),
        ("a,b,y\n1,2,0\n3,4,1\n", {"header": -1}, InvalidParameterError, "'header' parameter"),
        ("a,b,y\n1,2,0\n3,4,1\n", {"label_column": 1.5}, InvalidParameterError, "'label_column'"),
        ("a,b,y\n", {}, ValueError, r"no data rows, only a header: \['a', 'b', 'y'\]"),
        ("a,b,y\n\n", {}, ValueError, r"no data rows, only a header"),
        ("a,b,y\n", {"header": 0}, ValueError, r"no data rows, only a header"),
        ("", {}, ValueError, "is empty"),
    ],
)
def test_load_csv_errors(tmp_path, text, kwargs, error, match):
    path = tmp_path / "data.csv"
    path.write_text(text)
    with pytest.raises(error, match=match):
        load_csv(path, **kwargs)


def test_load_csv_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape("nope.csv")):
        load_csv(tmp_path / "nope.csv")


# --------------------------------------------------------------------------- entangled rings


def ring_points(X, y):
    return X[y == 0].astype(np.float64), X[y == 1].astype(np.float64)


@pytest.mark.parametrize("radius", [1.0, 2.5])
def test_entangled_rings_geometry(radius):
    X, y = make_entangled_rings(600, radius=radius, random_state=0)
    ring0, ring1 = ring_points(X, y)
    np.testing.assert_array_equal(ring0[:, 2], 0.0)
    np.testing.assert_allclose(np.linalg.norm(ring0, axis=1), radius, rtol=1e-6)
    np.testing.assert_array_equal(ring1[:, 1], 0.0)
    centre = np.array([radius, 0.0, 0.0])
    np.testing.assert_allclose(np.linalg.norm(ring1 - centre, axis=1), radius, rtol=1e-6)


def test_entangled_rings_are_linked():
    # Walk ring 1 as a closed polygon and find where it crosses the plane of ring 0 (z = 0):
    # linked rings cross once inside ring 0's disc and once outside it.
    radius = 1.5
    X, y = make_entangled_rings(400, radius=radius, random_state=1)
    _, ring1 = ring_points(X, y)
    ring1 = ring1[np.argsort(np.arctan2(ring1[:, 2], ring1[:, 0] - radius))]
    start, end = ring1, np.roll(ring1, -1, axis=0)
    crossing = np.sign(start[:, 2]) != np.sign(end[:, 2])
    t = start[crossing, 2] / (start[crossing, 2] - end[crossing, 2])
    x = start[crossing, 0] + t * (end[crossing, 0] - start[crossing, 0])
    assert len(x) == 2
    inside = np.abs(x) < radius
    assert inside.sum() == 1
    np.testing.assert_allclose(np.sort(x), [0.0, 2 * radius], atol=0.05)


def test_entangled_rings_sizes_and_shuffle():
    X, y = make_entangled_rings(1001, random_state=0)
    assert X.shape == (1001, 3) and X.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(y), [500, 501])
    assert 0 < y[:500].sum() < 500  # shuffled, not 500 zeros then 501 ones
    _, y = make_entangled_rings((30, 70), random_state=0)
    np.testing.assert_array_equal(np.bincount(y), [30, 70])


def test_entangled_rings_random_state():
    X_a, y_a = make_entangled_rings(100, noise=0.1, random_state=7)
    X_b, y_b = make_entangled_rings(100, noise=0.1, random_state=np.random.RandomState(7))
    np.testing.assert_array_equal(X_a, X_b)
    np.testing.assert_array_equal(y_a, y_b)
    X_c, _ = make_entangled_rings(100, noise=0.1, random_state=8)
    assert not np.allclose(X_a, X_c)


def test_entangled_rings_noise_has_requested_std():
    clean, y_clean = make_entangled_rings(4000, random_state=3)
    noisy, y_noisy = make_entangled_rings(4000, noise=0.2, random_state=3)
    np.testing.assert_array_equal(y_clean, y_noisy)
    difference = noisy.astype(np.float64) - clean
    assert abs(difference.std() - 0.2) < 0.01
    assert abs(difference.mean()) < 0.01


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_samples": 3},
        {"n_samples": (1, 10)},
        {"n_samples": (2, 3, 4)},
        {"n_samples": [2, 2.5]},
        {"n_samples": 10.0},
        {"n_samples": True},
        {"noise": -0.1},
        {"noise": float("nan")},
        {"radius": 0.0},
        {"radius": -1.0},
        {"random_state": "seed"},
    ],
)
def test_entangled_rings_rejects_bad_parameters(kwargs):
    (name,) = kwargs
    match = f"The '{name}' parameter of make_entangled_rings must be"
    with pytest.raises(InvalidParameterError, match=match):
        make_entangled_rings(**kwargs)


# --------------------------------------------------------------------------- torus


@pytest.mark.parametrize("radii", [(2.0, 1.0), (3.0, 0.5)])
def test_torus_points_lie_on_the_torus(radii):
    R, r = radii
    X, Y = make_torus(2000, major_radius=R, minor_radius=r, noise=0.0, random_state=0)
    assert X.shape == (2000, 3) and X.dtype == np.float32
    assert Y.shape == (2000, 2) and Y.dtype == np.int64
    x, y, z = X.astype(np.float64).T
    np.testing.assert_allclose((np.hypot(x, y) - R) ** 2 + z**2, r**2, atol=1e-5)


@pytest.mark.parametrize("levels", [(2, 4), (3, 6, 12), (4,)])
def test_torus_labels_are_arcs_of_the_major_angle_and_nest(levels):
    X, Y = make_torus(1600, levels=levels, noise=0.0, random_state=1)
    assert Y.shape == (1600, len(levels))
    phi = np.mod(np.arctan2(X[:, 1], X[:, 0]).astype(np.float64), 2 * np.pi)
    for column, k in enumerate(levels):
        position = phi * k / (2 * np.pi)
        away_from_edges = np.abs(position - np.round(position)) > 1e-4
        np.testing.assert_array_equal(
            Y[away_from_edges, column], np.floor(position[away_from_edges]).astype(np.int64) % k
        )
    for column in range(len(levels) - 1):
        ratio = levels[-1] // levels[column]
        np.testing.assert_array_equal(Y[:, column], Y[:, -1] // ratio)


def test_torus_regions_are_balanced():
    n = 1600
    _, Y = make_torus(n, levels=(2, 4, 8), random_state=2)
    for column, k in enumerate((2, 4, 8)):
        counts = np.bincount(Y[:, column], minlength=k)
        assert len(counts) == k
        binomial_std = np.sqrt(n * (1 / k) * (1 - 1 / k))
        assert np.all(np.abs(counts - n / k) < 5 * binomial_std), counts


def test_torus_noise_and_random_state():
    clean, Y_clean = make_torus(3000, noise=0.0, random_state=4)
    noisy, Y_noisy = make_torus(3000, noise=0.05, random_state=4)
    np.testing.assert_array_equal(Y_clean, Y_noisy)
    assert abs((noisy.astype(np.float64) - clean).std() - 0.05) < 0.003
    again, _ = make_torus(3000, noise=0.05, random_state=4)
    np.testing.assert_array_equal(noisy, again)
    default, _ = make_torus(random_state=0)
    assert default.shape == (1600, 3)


@pytest.mark.parametrize(
    "kwargs, name, match",
    [
        ({"levels": (4, 2)}, "levels", "increasing"),
        ({"levels": (2, 3)}, "levels", "dividing"),
        ({"levels": (2, 2)}, "levels", "increasing"),
        ({"levels": (1, 2)}, "levels", "ints >= 2"),
        ({"levels": (2, 4.0)}, "levels", "ints >= 2"),
        ({"levels": ()}, "levels", "at least one"),
        ({"levels": 4}, "levels", "array-like"),
        ({"minor_radius": 2.0}, "minor_radius", "smaller than major_radius=2.0"),
        ({"minor_radius": 0.0}, "minor_radius", r"\(0.0, inf\)"),
        ({"major_radius": -1.0}, "major_radius", r"\(0.0, inf\)"),
        ({"noise": -1e-3}, "noise", r"\[0.0, inf\)"),
        ({"n_samples": 7, "levels": (2, 4)}, "n_samples", r"2 \* levels\[-1\] = 8"),
        ({"n_samples": 2}, "n_samples", "int in the range"),
    ],
)
def test_torus_rejects_bad_parameters(kwargs, name, match):
    with pytest.raises(
        InvalidParameterError, match=rf"The '{name}' parameter of make_torus must be .*{match}"
    ):
        make_torus(**kwargs)


# --------------------------------------------------------------------------- CIFAR-10

CIFAR_CLASSES = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
]


@pytest.fixture
def cifar_arrays():
    """Channel-last uint8 images (as in a .npz) and labels; train image 0 is pure red."""
    rng = np.random.default_rng(7)
    train = rng.integers(0, 256, (10, 32, 32, 3), dtype=np.uint8)
    train[0] = 0
    train[0, :, :, 0] = 255
    test = rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    return {
        "train": (train, rng.integers(0, 10, 10)),
        "test": (test, np.array([9, 0, 5, 3])),
    }


def channel_first_rows(images):
    """CIFAR-10's own layout: per image, the red plane, the green, then the blue, row-major."""
    return images.transpose(0, 3, 1, 2).reshape(len(images), -1)


def _py2_string(data):
    """A Python 2 str (bytes here) as cPickle's protocol 2 writes it."""
    if len(data) < 256:
        return b"U" + bytes([len(data)]) + data
    return b"T" + struct.pack("<i", len(data)) + data


def py2_batch_pickle(rows, labels):
    """A python-version batch byte for byte as the official files are: Python 2 cPickle of
    a dict of str keys holding a uint8 numpy array (numpy.core.multiarray._reconstruct) and
    a list of ints."""
    rows = np.ascontiguousarray(rows, dtype=np.uint8)
    return b"".join(
        [
            b"\x80\x02}(",
            _py2_string(b"batch_label"),
            _py2_string(b"a batch written like cifar-10-batches-py's"),
            _py2_string(b"data"),
            b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85",
            _py2_string(b"b"),
            b"\x87R(K\x01J" + struct.pack("<i", rows.shape[0]),
            b"J" + struct.pack("<i", rows.shape[1]) + b"\x86cnumpy\ndtype\n",
            _py2_string(b"u1"),
            b"K\x00K\x01\x87R(K\x03",
            _py2_string(b"|"),
            b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89",
            _py2_string(rows.tobytes()),
            b"tb",
            _py2_string(b"labels"),
            b"](" + b"".join(b"K" + bytes([int(label)]) for label in labels) + b"e",
            b"u.",
        ]
    )


def py2_meta_pickle(names):
    """batches.meta as the official files hold it, also written by Python 2's cPickle."""
    return b"".join(
        [
            b"\x80\x02}(",
            _py2_string(b"num_cases_per_batch"),
            b"M\x10'",
            _py2_string(b"label_names"),
            b"](" + b"".join(_py2_string(name.encode()) for name in names) + b"e",
            _py2_string(b"num_vis"),
            b"M\x00\x0cu.",
        ]
    )


def py3_batch_pickle(rows, labels):
    """The same batch as Python 3 and numpy 2 would pickle it (numpy._core)."""
    return pickle.dumps({b"data": np.asarray(rows, np.uint8), b"labels": [int(v) for v in labels]})


def write_cifar_python(folder, arrays, dumps=py2_batch_pickle):
    folder.mkdir(parents=True, exist_ok=True)
    images, labels = arrays["train"]
    # Five training batches of two images each: the loader takes any number per batch.
    for i, rows in enumerate(np.array_split(np.arange(len(images)), 5), start=1):
        (folder / f"data_batch_{i}").write_bytes(
            dumps(channel_first_rows(images[rows]), labels[rows])
        )
    images, labels = arrays["test"]
    (folder / "test_batch").write_bytes(dumps(channel_first_rows(images), labels))
    (folder / "batches.meta").write_bytes(py2_meta_pickle(CIFAR_CLASSES))
    return folder


def binary_batch(images, labels):
    rows = channel_first_rows(images)
    return np.column_stack([np.asarray(labels, np.uint8), rows]).astype(np.uint8).tobytes()


def write_cifar_binary(folder, arrays):
    folder.mkdir(parents=True, exist_ok=True)
    images, labels = arrays["train"]
    for i, rows in enumerate(np.array_split(np.arange(len(images)), 5), start=1):
        (folder / f"data_batch_{i}.bin").write_bytes(binary_batch(images[rows], labels[rows]))
    (folder / "test_batch.bin").write_bytes(binary_batch(*arrays["test"]))
    (folder / "batches.meta.txt").write_text("\n".join(CIFAR_CLASSES) + "\n\n")
    return folder


def write_cifar_npz(path, arrays):
    (X_train, y_train), (X_test, y_test) = arrays["train"], arrays["test"]
    np.savez(path, X_train=X_train, y_train=y_train, X_test=X_test, y_test=y_test)
    return path


def archive(folder, name):
    """Pack ``folder`` as the official archives are (members under its name), then remove it."""
    path = folder.parent / name
    with tarfile.open(path, "w:gz") as tar:
        tar.add(folder, arcname=folder.name)
    shutil.rmtree(folder)
    return path


def cifar_layout(tmp_path, arrays, layout):
    """Write ``arrays`` in one of the accepted layouts; return the data_dir to pass."""
    if layout == "python":
        write_cifar_python(tmp_path / "cifar-10-batches-py", arrays)
    elif layout == "python, Python 3 pickles":
        write_cifar_python(tmp_path / "cifar-10-batches-py", arrays, dumps=py3_batch_pickle)
    elif layout == "python folder itself":
        return write_cifar_python(tmp_path / "cifar-10-batches-py", arrays)
    elif layout == "python archive":
        archive(
            write_cifar_python(tmp_path / "cifar-10-batches-py", arrays), "cifar-10-python.tar.gz"
        )
    elif layout == "python archive itself":
        folder = write_cifar_python(tmp_path / "cifar-10-batches-py", arrays)
        return archive(folder, "cifar-10-python.tar.gz")
    elif layout == "binary":
        write_cifar_binary(tmp_path / "cifar-10-batches-bin", arrays)
    elif layout == "binary folder itself":
        return write_cifar_binary(tmp_path / "cifar-10-batches-bin", arrays)
    elif layout == "binary archive":
        archive(
            write_cifar_binary(tmp_path / "cifar-10-batches-bin", arrays), "cifar-10-binary.tar.gz"
        )
    elif layout == "binary archive itself":
        folder = write_cifar_binary(tmp_path / "cifar-10-batches-bin", arrays)
        return archive(folder, "cifar-10-binary.tar.gz")
    elif layout == "npz":
        write_cifar_npz(tmp_path / "cifar10-subset.npz", arrays)
    elif layout == "npz itself":
        return write_cifar_npz(tmp_path / "cifar10-subset.npz", arrays)
    return tmp_path


CIFAR_LAYOUTS = [
    "python",
    "python, Python 3 pickles",
    "python folder itself",
    "python archive",
    "python archive itself",
    "binary",
    "binary folder itself",
    "binary archive",
    "binary archive itself",
    "npz",
    "npz itself",
]


@pytest.mark.parametrize("split", ["train", "test"])
@pytest.mark.parametrize("layout", CIFAR_LAYOUTS)
def test_load_cifar10_every_format_gives_the_same_rows(tmp_path, cifar_arrays, layout, split):
    data_dir = cifar_layout(tmp_path, cifar_arrays, layout)
    images, labels = cifar_arrays[split]
    bunch = load_cifar10(data_dir, split=split)
    assert bunch.data.dtype == np.float32 and bunch.target.dtype == np.int64
    expected = channel_first_rows(images).astype(np.float32) / np.float32(255)
    np.testing.assert_array_equal(bunch.data, expected)
    np.testing.assert_array_equal(bunch.target, labels)
    assert bunch.data.min() >= 0.0 and bunch.data.max() <= 1.0
    assert f"{split} split: {len(images)} colour images" in bunch.DESCR


@pytest.mark.parametrize("layout", ["python", "binary archive", "npz"])
def test_load_cifar10_rows_are_channel_first(tmp_path, cifar_arrays, layout):
    images = cifar_arrays["train"][0]
    bunch = load_cifar10(cifar_layout(tmp_path, cifar_arrays, layout))
    X, names = bunch.data, bunch.feature_names
    # Train image 0 is pure red: the red plane comes first, then green, then blue.
    np.testing.assert_array_equal(X[0, :1024], 1.0)
    np.testing.assert_array_equal(X[0, 1024:], 0.0)
    # Each plane is row by row, as feature_names say.
    for channel, row, col in [(0, 0, 1), (1, 2, 0), (2, 31, 30)]:
        column = names.index(f"{('red', 'green', 'blue')[channel]}_{row}_{col}")
        assert column == channel * 1024 + row * 32 + col
        np.testing.assert_array_equal(
            X[:, column], images[:, row, col, channel].astype(np.float32) / np.float32(255)
        )


def test_load_cifar10_scale_false_and_return_X_y(tmp_path, cifar_arrays):
    write_cifar_npz(tmp_path / "data.npz", cifar_arrays)
    images, labels = cifar_arrays["test"]
    X, y = load_cifar10(str(tmp_path), split="test", scale=False, return_X_y=True)
    assert isinstance(X, np.ndarray) and X.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_array_equal(X, channel_first_rows(images))
    np.testing.assert_array_equal(y, labels)
    assert X.max() == 255.0


def test_load_cifar10_bunch_and_as_frame(tmp_path, cifar_arrays):
    write_cifar_binary(tmp_path / "cifar-10-batches-bin", cifar_arrays)
    bunch = load_cifar10(tmp_path)
    assert list(bunch.target_names) == CIFAR_CLASSES
    assert bunch.image_shape == (3, 32, 32)
    assert len(bunch.feature_names) == 3072
    assert bunch.feature_names[:2] == ["red_0_0", "red_0_1"]
    assert bunch.feature_names[1024] == "green_0_0" and bunch.feature_names[-1] == "blue_31_31"
    assert bunch.frame is None
    assert "cifar-10-batches-bin" in bunch.DESCR and "scaled to [0, 1]" in bunch.DESCR
    framed = load_cifar10(tmp_path, as_frame=True)
    assert isinstance(framed.data, pd.DataFrame) and framed.data.shape == (10, 3072)
    assert list(framed.data.columns) == bunch.feature_names
    assert (framed.data.dtypes == np.float32).all()
    assert isinstance(framed.target, pd.Series) and framed.target.name == "target"
    assert framed.frame.shape == (10, 3073)
    np.testing.assert_array_equal(framed.data.to_numpy(), bunch.data)
    X, y = load_cifar10(tmp_path, as_frame=True, return_X_y=True)
    assert isinstance(X, pd.DataFrame) and isinstance(y, pd.Series)


def test_load_cifar10_default_data_dir_is_scikit_learn_data_home(
    tmp_path, cifar_arrays, monkeypatch
):
    write_cifar_npz(tmp_path / "cifar.npz", cifar_arrays)
    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(tmp_path))
    X, _ = load_cifar10(split="test", return_X_y=True)
    assert X.shape == (4, 3072)
    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(tmp_path / "absent"))
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "absent"))):
        load_cifar10()
    assert not (tmp_path / "absent").exists()  # looked for, not created


class _RunsCommand:
    """Pickles as a call of os.system (posix.system on Linux)."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


class _Evaluates:
    def __init__(self, expression):
        self.expression = expression

    def __reduce__(self):
        return builtins.eval, (self.expression,)


def _crafted_pickles(marker):
    command = f"touch {shlex.quote(str(marker))}"
    expression = f"open({str(marker)!r}, 'w').write('ran')"
    return {
        "os.system": pickle.dumps({b"data": _RunsCommand(command), b"labels": [0]}),
        "builtins.eval": pickle.dumps({b"data": _Evaluates(expression), b"labels": [0]}),
        # Protocol 0 names the module as written: GLOBAL 'os system'.
        "os.system, protocol 0": b"cos\nsystem\n(" + pickle.dumps(command, 0)[:-1] + b"tR.",
    }


@pytest.mark.parametrize("kind", ["os.system", "builtins.eval", "os.system, protocol 0"])
@pytest.mark.parametrize("where", ["data_batch_2", "batches.meta", "archive"])
def test_load_cifar10_refuses_a_crafted_pickle(tmp_path, cifar_arrays, kind, where):
    marker = tmp_path / "code-ran"
    payload = _crafted_pickles(marker)[kind]
    folder = write_cifar_python(tmp_path / "cifar-10-batches-py", cifar_arrays)
    (folder / ("batches.meta" if where == "batches.meta" else "data_batch_2")).write_bytes(payload)
    if where == "archive":
        archive(folder, "cifar-10-python.tar.gz")
    refused = {"os.system": "(os|posix|nt).system", "builtins.eval": "builtins.eval"}
    pattern = refused[kind.split(",")[0]]
    with pytest.raises(ValueError, match=rf"refuses to load {pattern}") as info:
        load_cifar10(tmp_path)
    assert ("batches.meta" if where == "batches.meta" else "data_batch_2") in str(info.value)
    assert not marker.exists()
    # The payload is live: unpickled without restriction, it runs its code.
    if kind == "builtins.eval" or os.name == "posix":  # the command is `touch`
        pickle.loads(payload)
        assert marker.exists()


def test_load_cifar10_reads_the_official_pickles_numpy_globals(tmp_path, cifar_arrays):
    # The official batches reference numpy.core.multiarray._reconstruct, numpy.ndarray and
    # numpy.dtype; nothing else.
    images, labels = cifar_arrays["test"]
    buffer = py2_batch_pickle(channel_first_rows(images), labels)
    globals_ = {
        arg.replace(" ", ".")
        for opcode, arg, _ in pickletools.genops(buffer)
        if opcode.name == "GLOBAL"
    }
    assert globals_ == {"numpy.core.multiarray._reconstruct", "numpy.ndarray", "numpy.dtype"}
    write_cifar_python(tmp_path, cifar_arrays)
    X, y = load_cifar10(tmp_path, split="test", scale=False, return_X_y=True)
    np.testing.assert_array_equal(X, channel_first_rows(images))
    np.testing.assert_array_equal(y, labels)


def test_load_cifar10_missing_folder_and_formats(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match=re.escape(f"'{missing}' does not exist")):
        load_cifar10(missing)
    (tmp_path / "other.npz").write_bytes(b"")
    np.savez(tmp_path / "features.npz", X=np.zeros(3))
    with pytest.raises(FileNotFoundError) as info:
        load_cifar10(tmp_path, split="test")
    message = str(info.value)
    for looked_for in [
        str(tmp_path),
        "cifar-10-batches-py/",
        "cifar-10-python.tar.gz",
        "test_batch",
        "cifar-10-batches-bin/",
        "cifar-10-binary.tar.gz",
        "test_batch.bin",
        "X_test and y_test",
        "'features.npz' lacks X_test, y_test",
        "other.npz",
    ]:
        assert looked_for in message
    with pytest.raises(FileNotFoundError, match=re.escape("data_batch_1..data_batch_5")):
        load_cifar10(tmp_path, split="train")


def test_load_cifar10_missing_batches(tmp_path, cifar_arrays):
    folder = write_cifar_python(tmp_path / "cifar-10-batches-py", cifar_arrays)
    (folder / "data_batch_4").unlink()
    with pytest.raises(ValueError, match=r"cifar-10-batches-py' lacks data_batch_4; its train"):
        load_cifar10(tmp_path)
    assert load_cifar10(tmp_path, split="test").data.shape == (4, 3072)
    archive(folder, "cifar-10-python.tar.gz")
    with pytest.raises(
        ValueError, match=r"cifar-10-python\.tar\.gz' lacks the members data_batch_4"
    ):
        load_cifar10(tmp_path)
    path = tmp_path / "cifar-10-python.tar.gz"
    path.write_bytes(b"not a gzip archive")
    with pytest.raises(ValueError, match=r"Cannot read the CIFAR-10 archive '.*cifar-10-python"):
        load_cifar10(tmp_path)
    with tarfile.open(path, "w:gz") as tar:
        tar.add(__file__, arcname="cifar-10-batches-py/readme.html")
    with pytest.raises(ValueError, match=r"lacks the members data_batch_1, data_batch_2"):
        load_cifar10(tmp_path)
    no_batch = r"holds no CIFAR-10 train batch: looked for members data_batch_1\.\.data_batch_5 "
    with pytest.raises(ValueError, match=no_batch):
        load_cifar10(path)


def test_load_cifar10_truncated_binary_batch(tmp_path, cifar_arrays):
    folder = write_cifar_binary(tmp_path / "cifar-10-batches-bin", cifar_arrays)
    batch = folder / "data_batch_3.bin"
    batch.write_bytes(batch.read_bytes()[:-1])
    with pytest.raises(ValueError, match=r"data_batch_3\.bin' has 6145 bytes.*multiple of 3073"):
        load_cifar10(tmp_path)
    batch.write_bytes(b"")
    with pytest.raises(ValueError, match=r"data_batch_3\.bin' has 0 bytes"):
        load_cifar10(tmp_path)


def test_load_cifar10_bad_pickles(tmp_path, cifar_arrays):
    folder = write_cifar_python(tmp_path / "cifar-10-batches-py", cifar_arrays)
    batch = folder / "test_batch"
    images, labels = cifar_arrays["test"]
    rows = channel_first_rows(images)
    cases = [
        (
            pickle.dumps({b"labels": [0, 1]}),
            r"test_batch' has no b'data' entry; its keys are: b'labels'",
        ),
        (pickle.dumps([rows, labels]), "holds a list, not a dict"),
        (py2_batch_pickle(rows, labels)[:-40], r"Cannot unpickle CIFAR-10 file '.*test_batch'"),
        (py3_batch_pickle(rows[:, :1024], labels), r"shape \(4, 1024\); expected a uint8"),
        (pickle.dumps({b"data": rows.astype(np.float32), b"labels": labels}), "a float32 array"),
        (py3_batch_pickle(rows, labels[:3]), "must be a list of 4 ints"),
        (
            py3_batch_pickle(rows, [0, 1, 2, 10]),
            r"test_batch' must be the classes 0\.\.9; found 10",
        ),
        (py2_batch_pickle(rows, [0, 1, 2, 10]), r"must be the classes 0\.\.9; found 10"),
    ]
    for payload, match in cases:
        batch.write_bytes(payload)
        with pytest.raises(ValueError, match=match):
            load_cifar10(tmp_path, split="test")


def test_load_cifar10_bad_labels_and_meta(tmp_path, cifar_arrays):
    folder = write_cifar_binary(tmp_path / "cifar-10-batches-bin", cifar_arrays)
    images = cifar_arrays["test"][0]
    (folder / "test_batch.bin").write_bytes(binary_batch(images, [3, 10, 0, 0]))
    with pytest.raises(ValueError, match=r"test_batch\.bin' must be the classes 0\.\.9; found 10"):
        load_cifar10(tmp_path, split="test")
    (folder / "batches.meta.txt").write_text("apple\naquarium_fish\nbaby\n")  # CIFAR-100's
    with pytest.raises(ValueError, match=r"batches\.meta\.txt' does not name CIFAR-10's classes"):
        load_cifar10(tmp_path)
    folder = write_cifar_python(tmp_path / "py" / "cifar-10-batches-py", cifar_arrays)
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": [b"apple", b"baby"]}))
    with pytest.raises(ValueError, match=r"batches\.meta' does not name CIFAR-10's classes"):
        load_cifar10(tmp_path / "py")


def test_load_cifar10_bad_npz(tmp_path, cifar_arrays):
    path = tmp_path / "cifar.npz"
    X_train, y_train = cifar_arrays["train"]
    np.savez(path, X_train=X_train, y_train=y_train)
    with pytest.raises(
        ValueError, match=r"cifar\.npz' lacks X_test, y_test.*holds X_train, y_train"
    ):
        load_cifar10(path, split="test")
    cases = [
        ({"X_train": X_train.transpose(0, 3, 1, 2)}, r"shape \(10, 3, 32, 32\); expected uint8"),
        ({"X_train": X_train.astype(np.float32)}, "X_train in .* is a float32 array"),
        ({"X_train": X_train.reshape(10, -1)}, r"shape \(10, 3072\)"),
        ({"y_train": y_train[:9]}, "y_train in .* must be a 1-D integer array of 10 labels"),
        ({"y_train": y_train.astype(np.float64)}, "got a float64 array"),
        ({"y_train": np.full(10, -1)}, r"y_train in .*cifar\.npz' must be the classes 0\.\.9"),
    ]
    for change, match in cases:
        np.savez(path, **{"X_train": X_train, "y_train": y_train, **change})
        with pytest.raises(ValueError, match=match):
            load_cifar10(path)
    np.savez(path, X_train=X_train, y_train=np.array([None] * 10, dtype=object))
    with pytest.raises(ValueError, match="Cannot read X_train and y_train"):
        load_cifar10(path)
    path.write_bytes(b"PK\x03\x04 truncated zip")
    with pytest.raises(ValueError, match=r"Cannot read '.*cifar\.npz' as a NumPy \.npz"):
        load_cifar10(path)
    np.save(tmp_path / "single.npy", X_train)
    (tmp_path / "single.npy").rename(path)
    with pytest.raises(ValueError, match="holds a single array"):
        load_cifar10(path)


def test_load_cifar10_several_npz_files_are_ambiguous(tmp_path, cifar_arrays):
    write_cifar_npz(tmp_path / "a.npz", cifar_arrays)
    write_cifar_npz(tmp_path / "b.npz", cifar_arrays)
    with pytest.raises(ValueError, match=re.escape("a.npz, b.npz. Pass data_dir=")):
        load_cifar10(tmp_path)


def test_load_cifar10_bad_arguments(tmp_path):
    with pytest.raises(InvalidParameterError, match="The 'split' parameter of load_cifar10"):
        load_cifar10(tmp_path, split="validation")
    with pytest.raises(InvalidParameterError, match="The 'data_dir' parameter of load_cifar10"):
        load_cifar10(3)
    other = tmp_path / "images.csv"
    other.write_text("1,2\n")
    with pytest.raises(ValueError, match=re.escape("a directory, a .npz file or one of")):
        load_cifar10(other)


def test_load_cifar10_real_subset():
    if not CIFAR_SUBSET.is_file():
        pytest.skip(f"the real CIFAR-10 subset is not at {CIFAR_SUBSET}")
    train = load_cifar10(CIFAR_SUBSET)
    X_test, y_test = load_cifar10(CIFAR_SUBSET.parent, split="test", return_X_y=True)
    assert train.data.shape == (4660, 3072) and X_test.shape == (846, 3072)
    assert train.data.dtype == np.float32 and X_test.dtype == np.float32
    assert train.data.min() == 0.0 and train.data.max() == 1.0
    assert 0.0 <= X_test.min() and X_test.max() <= 1.0
    assert set(np.unique(train.target)) == set(range(10)) == set(np.unique(y_test))
    with np.load(CIFAR_SUBSET) as npz:
        first = npz["X_test"][0]
    np.testing.assert_array_equal(X_test[0].reshape(3, 32, 32).transpose(1, 2, 0) * 255, first)
