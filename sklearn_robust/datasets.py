"""Data sets: scaled digits, MNIST from local files or OpenML, generic CSV, and toy manifolds."""

from __future__ import annotations

import gzip
import itertools
import math
import os
import zlib
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn import datasets as _sk_datasets
from sklearn.datasets import fetch_openml
from sklearn.utils import Bunch, check_random_state
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

from ._validation import invalid_parameter

__all__ = ["load_csv", "load_digits", "load_mnist", "make_entangled_rings", "make_torus"]

# OpenML's mnist_784 keeps the official order: the first 60,000 rows are the training set.
# Module constants so that a test can shrink them around a small fake download.
_OPENML_N_TRAIN = 60_000
_OPENML_N_TEST = 10_000

# An idx magic number is 0x00 0x00 <dtype code> <number of dimensions>; 0x08 is unsigned byte.
_IDX_IMAGES_MAGIC = 0x0803  # 2051
_IDX_LABELS_MAGIC = 0x0801  # 2049
_MNIST_SHAPE = (28, 28)
_IDX_PREFIX = {"train": "train", "test": "t10k"}
_CSV_PATTERNS = {
    "train": ("*train*.csv", "*train*.csv.gz"),
    "test": ("*test*.csv", "*test*.csv.gz", "*t10k*.csv", "*t10k*.csv.gz"),
}
# What gzip and pandas raise for a damaged file (not a missing one); re-raised as ValueError.
_BAD_FILE_ERRORS = (
    gzip.BadGzipFile,
    EOFError,
    zlib.error,
    UnicodeDecodeError,
    pd.errors.ParserError,
    pd.errors.EmptyDataError,
)


# --------------------------------------------------------------------------- shared helpers


def _bunch(X, y, *, feature_names, target_names, descr, return_X_y, as_frame, **extra):
    """Package ``X`` and ``y`` the way scikit-learn's loaders do."""
    feature_names = list(feature_names)
    if as_frame:
        X = pd.DataFrame(X, columns=feature_names)
        y = pd.Series(y, name="target")
    if return_X_y:
        return X, y
    frame = pd.concat([X, y], axis=1) if as_frame else None
    return Bunch(
        data=X,
        target=y,
        frame=frame,
        feature_names=feature_names,
        target_names=np.asarray(target_names),
        DESCR=descr,
        **extra,
    )


def _pixel_names(shape):
    return [f"pixel_{row}_{col}" for row in range(shape[0]) for col in range(shape[1])]


# --------------------------------------------------------------------------- digits


_POSITIVE = Interval(Real, 0, None, closed="neither")  # also refuses inf and NaN
_NON_NEGATIVE = Interval(Real, 0, None, closed="left")


@validate_params(
    {"return_X_y": ["boolean"], "as_frame": ["boolean"]}, prefer_skip_nested_validation=True
)
def load_digits(*, return_X_y=False, as_frame=False):
    """Load scikit-learn's 8x8 handwritten digits with pixels scaled to [0, 1].

    The original pixels count how many of the 16 bits of a 4x4 block are set, so they
    lie in 0..16; they are divided by 16.

    Parameters
    ----------
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.
    as_frame : bool, default=False
        If True, ``data`` is a pandas DataFrame and ``target`` a Series.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``data`` (1797, 64) float32 in [0, 1], ``target`` (1797,) int64 in 0..9,
        ``images`` (1797, 8, 8) float32, ``frame``, ``feature_names``, ``target_names``
        and ``DESCR``.
    (data, target) : tuple
        If ``return_X_y`` is True.

    Examples
    --------
    >>> from sklearn_robust.datasets import load_digits
    >>> X, y = load_digits(return_X_y=True)
    >>> X.shape, X.dtype, float(X.max()), y.dtype
    ((1797, 64), dtype('float32'), 1.0, dtype('int64'))
    """
    raw = _sk_datasets.load_digits()
    # 16 is a power of two, so the float32 division is exact.
    X = raw.data.astype(np.float32) / np.float32(16)
    return _bunch(
        X,
        raw.target.astype(np.int64),
        feature_names=raw.feature_names,
        target_names=np.arange(10),
        descr="sklearn_robust: pixels divided by 16 into [0, 1].\n\n" + raw.DESCR,
        return_X_y=return_X_y,
        as_frame=as_frame,
        images=X.reshape(-1, 8, 8),
    )


# --------------------------------------------------------------------------- MNIST


@validate_params(
    {
        "data_dir": [str, os.PathLike, None],
        "split": [StrOptions(set(_IDX_PREFIX))],
        "return_X_y": ["boolean"],
        "as_frame": ["boolean"],
        "scale": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def load_mnist(data_dir=None, *, split="train", return_X_y=False, as_frame=False, scale=True):
    """Load MNIST from a local directory or CSV file, or else from OpenML.

    A directory is searched for the split's idx pair first (``train-images-idx3-ubyte``
    and ``train-labels-idx1-ubyte``, or ``t10k-...`` for the test split, each gzipped
    with ``.gz`` or not), then for one CSV file whose name matches ``*train*.csv[.gz]``
    (or ``*test*.csv[.gz]`` / ``*t10k*.csv[.gz]``). A CSV holds 784 pixel columns
    (0-255) then the label, with no header.

    Parameters
    ----------
    data_dir : str, path-like or None, default=None
        A directory holding the files above, or a ``.csv``/``.csv.gz`` file (then
        ``split`` is only used in the description). If None, ``mnist_784`` is fetched
        from OpenML (cached by scikit-learn under ``~/scikit_learn_data``), and its
        first 60,000 rows are the training split and the last 10,000 the test split.
    split : {"train", "test"}, default="train"
        Which split to load.
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.
    as_frame : bool, default=False
        If True, ``data`` is a pandas DataFrame and ``target`` a Series.
    scale : bool, default=True
        If True, pixels are divided by 255 into [0, 1]; otherwise they are the raw
        intensities 0-255, still as float32.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``data`` (n, 784) float32, ``target`` (n,) int64 in 0..9, ``images``
        (n, 28, 28) float32, ``frame``, ``feature_names``, ``target_names`` and ``DESCR``.
    (data, target) : tuple
        If ``return_X_y`` is True.

    Raises
    ------
    FileNotFoundError
        If ``data_dir`` does not exist or holds no file for the split; the message
        lists the names looked for.
    ValueError
        If a file is corrupt (bad idx magic number or size, wrong CSV columns, pixels
        outside 0-255, labels outside 0-9); the message names the file.
    ConnectionError
        If ``data_dir`` is None and OpenML cannot be reached.

    Examples
    --------
    >>> from sklearn_robust.datasets import load_mnist
    >>> X, y = load_mnist("data/mnist", split="test", return_X_y=True)  # doctest: +SKIP
    >>> X.shape, X.dtype, y.dtype  # doctest: +SKIP
    ((10000, 784), dtype('float32'), dtype('int64'))
    """
    if data_dir is None:
        pixels, y, source = _fetch_openml_mnist(split)
    else:
        pixels, y, source = _read_local_mnist(Path(data_dir).expanduser(), split)
    X = pixels.astype(np.float32)
    if scale:
        X /= np.float32(255)
    descr = (
        f"MNIST handwritten digits, {split} split: {len(X)} images of 28x28 pixels read from "
        f"{source}. Pixels are {'scaled to [0, 1]' if scale else 'raw intensities 0-255'}; "
        "targets are the digits 0-9. MNIST is by Y. LeCun, C. Cortes and C. J. C. Burges."
    )
    return _bunch(
        X,
        y,
        feature_names=_pixel_names(_MNIST_SHAPE),
        target_names=np.arange(10),
        descr=descr,
        return_X_y=return_X_y,
        as_frame=as_frame,
        images=X.reshape(-1, *_MNIST_SHAPE),
    )


def _read_local_mnist(path, split):
    """Return ``(pixels uint8 (n, 784), labels int64, source)`` from a directory or CSV."""
    if path.is_file():
        if not path.name.endswith((".csv", ".csv.gz")):
            raise ValueError(f"data_dir must be a directory or a .csv/.csv.gz file; got '{path}'.")
        return (*_read_mnist_csv(path), f"'{path}'")
    if not path.is_dir():
        raise FileNotFoundError(f"MNIST data_dir '{path}' does not exist.")
    files = _find_mnist_files(path, split)
    pixels, labels = _read_mnist_idx(*files) if len(files) == 2 else _read_mnist_csv(files[0])
    return pixels, labels, " and ".join(f"'{file}'" for file in files)


def _find_mnist_files(directory, split):
    """Return the split's (images, labels) idx pair, else its one CSV file, as a tuple."""
    prefix = _IDX_PREFIX[split]
    images = _first_file(directory, f"{prefix}-images-idx3-ubyte")
    labels = _first_file(directory, f"{prefix}-labels-idx1-ubyte")
    if images and labels:
        return images, labels
    patterns = _CSV_PATTERNS[split]
    csvs = sorted({p for pattern in patterns for p in directory.glob(pattern) if p.is_file()})
    if len(csvs) > 1:
        names = ", ".join(p.name for p in csvs)
        raise ValueError(
            f"Several MNIST {split} CSV files in '{directory}': {names}. "
            "Pass data_dir=<one of them> to choose."
        )
    if csvs:
        return (csvs[0],)
    message = (
        f"No MNIST {split} data in '{directory}'. Looked for the idx pair "
        f"{prefix}-images-idx3-ubyte[.gz] and {prefix}-labels-idx1-ubyte[.gz], then for a CSV "
        f"file (784 pixel columns then the label) matching {' or '.join(patterns)}."
    )
    if images or labels:
        message += f" Found '{(images or labels).name}' but not its partner."
    raise FileNotFoundError(message)


def _first_file(directory, name):
    for candidate in (directory / f"{name}.gz", directory / name):
        if candidate.is_file():
            return candidate
    return None


def _read_idx(path, magic):
    """Read an unsigned-byte idx file whose magic number must be ``magic``."""
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as file:
            buffer = file.read()
    except _BAD_FILE_ERRORS as exc:
        raise ValueError(f"Cannot decompress idx file '{path}': {exc}") from exc
    ndim = magic & 0xFF
    header_size = 4 + 4 * ndim
    found = int.from_bytes(buffer[:4], "big")
    if found != magic:
        raise ValueError(f"'{path}' has idx magic number {found}; expected {magic}.")
    if len(buffer) < header_size:
        raise ValueError(f"idx file '{path}' is truncated inside its header.")
    shape = tuple(int(d) for d in np.frombuffer(buffer, dtype=">u4", count=ndim, offset=4))
    data = np.frombuffer(buffer, dtype=np.uint8, offset=header_size)
    if data.size != math.prod(shape):
        raise ValueError(
            f"idx file '{path}' is truncated or padded: its header promises shape {shape} "
            f"({math.prod(shape)} bytes) but {data.size} bytes follow."
        )
    return data.reshape(shape)


def _read_mnist_idx(images_path, labels_path):
    images = _read_idx(images_path, _IDX_IMAGES_MAGIC)
    labels = _read_idx(labels_path, _IDX_LABELS_MAGIC)
    if images.shape[1:] != _MNIST_SHAPE:
        raise ValueError(f"'{images_path}' holds {images.shape[1:]} images, not 28x28.")
    if len(images) != len(labels):
        raise ValueError(
            f"'{images_path}' holds {len(images)} images but '{labels_path}' "
            f"holds {len(labels)} labels."
        )
    _check_digit_labels(labels, f"'{labels_path}'")
    return images.reshape(len(images), -1), labels.astype(np.int64)


def _read_mnist_csv(path):
    """Read a headerless CSV of 784 pixel columns then the label."""
    try:
        values = pd.read_csv(path, header=None).to_numpy()
    except _BAD_FILE_ERRORS as exc:
        raise ValueError(f"Cannot read MNIST CSV '{path}': {exc}") from exc
    n_columns = math.prod(_MNIST_SHAPE) + 1
    if values.shape[1] != n_columns:
        raise ValueError(
            f"MNIST CSV '{path}' has {values.shape[1]} columns; expected {n_columns} "
            "(784 pixels then the label)."
        )
    if not np.issubdtype(values.dtype, np.number) or np.isnan(values).any():
        raise ValueError(
            f"MNIST CSV '{path}' holds non-numeric or missing values (a header row?); "
            "expected 784 pixel columns then the label, with no header."
        )
    _check_digit_labels(values[:, -1], f"'{path}'")
    return _as_pixels(values[:, :-1], f"'{path}'"), values[:, -1].astype(np.int64)


def _as_pixels(values, source):
    if not (np.all((values >= 0) & (values <= 255)) and np.all(values == np.round(values))):
        raise ValueError(f"MNIST pixels from {source} must be integers in 0..255.")
    return values.astype(np.uint8)


def _check_digit_labels(labels, source):
    if not np.all(np.isin(labels, np.arange(10))):
        raise ValueError(f"MNIST labels from {source} must be the digits 0..9.")


def _fetch_openml_mnist(split):
    """Fetch mnist_784 from OpenML and cut out the official split."""
    try:
        X, y = fetch_openml(
            "mnist_784", version=1, as_frame=False, parser="liac-arff", return_X_y=True
        )
    except OSError as exc:  # URLError, HTTPError, timeouts and DNS failures are all OSErrors
        raise ConnectionError(
            f"Could not reach OpenML to download MNIST (mnist_784): {exc}. Without network "
            "access, pass data_dir=<directory> holding train-images-idx3-ubyte.gz, "
            "train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz "
            "(or a CSV of 784 pixel columns then the label named like *train*.csv / *test*.csv)."
        ) from exc
    n_total = _OPENML_N_TRAIN + _OPENML_N_TEST
    if len(X) != n_total:
        raise ValueError(f"OpenML mnist_784 has {len(X)} rows; expected {n_total}.")
    rows = slice(0, _OPENML_N_TRAIN) if split == "train" else slice(_OPENML_N_TRAIN, n_total)
    labels = np.asarray(y[rows]).astype(np.int64)  # OpenML gives the labels as strings
    _check_digit_labels(labels, "OpenML")
    return _as_pixels(np.asarray(X[rows]), "OpenML"), labels, "OpenML (mnist_784, version 1)"


# --------------------------------------------------------------------------- generic CSV


@validate_params(
    {
        "path": [str, os.PathLike],
        "label_column": [Integral, str],
        "header": [StrOptions({"infer"}), Interval(Integral, 0, None, closed="left"), None],
        "scale": [_POSITIVE, None],
        "return_X_y": ["boolean"],
        "as_frame": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def load_csv(
    path, *, label_column=-1, header="infer", scale=None, return_X_y=False, as_frame=False
):
    """Load a CSV of numeric features plus one label column.

    Labels of any type are encoded as 0..k-1 in sorted order; ``target_names`` holds
    the original values.

    Parameters
    ----------
    path : str or path-like
        The CSV file; compression (``.gz``, ``.zip``, ...) is inferred from its name.
    label_column : int or str, default=-1
        Position of the label column (negative counts from the end), or its name if the
        file has a header row.
    header : "infer", int or None, default="infer"
        ``"infer"`` treats the first row as a header when some column is non-numeric in
        the first row but numeric in the second. An int is the header's row number and
        None means there is no header.
    scale : float or None, default=None
        If given, every feature is divided by it (e.g. 255 for 8-bit pixels).
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.
    as_frame : bool, default=False
        If True, ``data`` is a pandas DataFrame and ``target`` a Series.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``data`` (n, d) float32, ``target`` (n,) int64, ``frame``, ``feature_names``
        (header names or ``feature_0``, ...), ``target_names`` and ``DESCR``.
    (data, target) : tuple
        If ``return_X_y`` is True.

    Raises
    ------
    FileNotFoundError
        If ``path`` is not a file.
    ValueError
        If the file has no data rows, a feature is non-numeric or missing, a label is
        missing, there are fewer than two classes or ``label_column`` is not a column.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from sklearn_robust.datasets import load_csv
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "toy.csv"
    >>> _ = path.write_text("a,b,label\\n0,255,cat\\n255,0,dog\\n")
    >>> X, y = load_csv(path, scale=255, return_X_y=True)
    >>> X.tolist(), y.tolist()
    ([[0.0, 1.0], [1.0, 0.0]], [0, 1])
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"No CSV file at '{path}'.")
    frame, has_header = _read_csv_frame(path, header)
    if frame.shape[0] == 0:
        raise ValueError(
            f"CSV '{path}' has no data rows, only a header: {[str(c) for c in frame.columns]}."
        )
    label = _label_name(frame, label_column, path)
    features = frame.drop(columns=label)
    _check_features(features, path)
    if frame[label].isna().any():
        raise ValueError(f"CSV '{path}': the label column {label!r} has missing values.")
    classes, y = np.unique(frame[label].to_numpy(), return_inverse=True)
    if len(classes) < 2:
        raise ValueError(f"CSV '{path}': the label column {label!r} holds fewer than 2 classes.")
    X = features.to_numpy(dtype=np.float32)
    if scale is not None:
        X /= np.float32(scale)
    names = features.columns if has_header else (f"feature_{i}" for i in range(X.shape[1]))
    descr = (
        f"CSV data set '{path}': {X.shape[0]} samples, {X.shape[1]} features, "
        f"{len(classes)} classes taken from column {label!r}."
    )
    return _bunch(
        X,
        y.astype(np.int64),
        feature_names=[str(name) for name in names],
        target_names=classes,
        descr=descr,
        return_X_y=return_X_y,
        as_frame=as_frame,
    )


def _read_csv_frame(path, header):
    """Read the CSV, resolving ``header="infer"``; return the frame and whether it had one."""
    try:
        if header == "infer":
            head = pd.read_csv(path, header=None, nrows=2, dtype=str)
            numeric = head.apply(lambda column: column.map(_is_number))
            # A header row names columns whose values are numbers: text above a number.
            # A lone row without any number is a header too: a data row has numeric features.
            above_a_number = len(head) == 2 and (~numeric.iloc[0] & numeric.iloc[1]).any()
            lone_text_row = len(head) == 1 and not numeric.iloc[0].any()
            header = 0 if above_a_number or lone_text_row else None
        return pd.read_csv(path, header=header), header is not None
    except pd.errors.EmptyDataError as exc:
        raise ValueError(f"CSV '{path}' is empty: it has neither a header nor data rows.") from exc
    except _BAD_FILE_ERRORS as exc:
        raise ValueError(f"Cannot read CSV '{path}': {exc}") from exc


def _is_number(text):
    try:
        float(text)
    except (TypeError, ValueError):
        return False
    return True


def _label_name(frame, label_column, path):
    if isinstance(label_column, Integral) and not isinstance(label_column, bool):
        if -frame.shape[1] <= label_column < frame.shape[1]:
            return frame.columns[label_column]
    elif label_column in frame.columns:
        return label_column
    raise ValueError(
        f"label_column={label_column!r} is not a column of CSV '{path}', which has "
        f"{frame.shape[1]} columns: {[str(c) for c in frame.columns[:10]]}"
        f"{' ...' if frame.shape[1] > 10 else ''}."
    )


def _check_features(features, path):
    if features.shape[1] == 0:
        raise ValueError(f"CSV '{path}' has no feature columns besides the label.")
    text = [str(c) for c in features.columns if not pd.api.types.is_numeric_dtype(features[c])]
    if text:
        raise ValueError(f"CSV '{path}' has non-numeric feature columns: {text}.")
    if features.isna().to_numpy().any():
        raise ValueError(f"CSV '{path}' has missing feature values.")


# --------------------------------------------------------------------------- toy manifolds


@validate_params(
    {
        # A pair's entries are checked by _class_sizes.
        "n_samples": [Interval(Integral, 4, None, closed="left"), tuple, list],
        "noise": [_NON_NEGATIVE],
        "radius": [_POSITIVE],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_entangled_rings(n_samples=1000, *, noise=0.0, radius=1.0, random_state=None):
    """Make two linked rings in 3-D, one class each.

    Ring 0 is the circle of ``radius`` in the xy-plane centred at the origin; ring 1 is
    the circle of the same radius in the xz-plane centred at ``(radius, 0, 0)``. Ring 1
    crosses the plane z=0 once inside ring 0's disc (at x=0) and once outside (at
    x=2*radius), so the rings are linked like chain links and cannot be separated in
    3-D without cutting one (the entangled-rings task of the isometric-representations
    paper, section 3.1). Angles are uniform on each circle.

    Parameters
    ----------
    n_samples : int or tuple of two ints, default=1000
        Total number of points, split as evenly as possible (ring 1 gets the odd one),
        or the number of points on each ring. Each ring needs at least 2 points
        (so at least 4 in all).
    noise : float, default=0.0
        Standard deviation of the Gaussian noise added to every coordinate.
    radius : float, default=1.0
        Radius of both rings.
    random_state : int, RandomState instance or None, default=None
        Seed for the angles, the shuffle and the noise. The noise is drawn last, so one
        seed gives the same clean points at every ``noise``.

    Returns
    -------
    X : ndarray of shape (n_samples, 3), float32
        The shuffled points.
    y : ndarray of shape (n_samples,), int64
        The ring (0 or 1) of each point.

    Examples
    --------
    >>> from sklearn_robust.datasets import make_entangled_rings
    >>> X, y = make_entangled_rings(200, noise=0.05, random_state=0)
    >>> X.shape, X.dtype, y.tolist().count(0)
    ((200, 3), dtype('float32'), 100)
    """
    n0, n1 = _class_sizes(n_samples)
    rng = check_random_state(random_state)
    t = rng.uniform(0.0, 2 * np.pi, size=n0)
    s = rng.uniform(0.0, 2 * np.pi, size=n1)
    ring0 = np.column_stack([np.cos(t), np.sin(t), np.zeros(n0)])
    ring1 = np.column_stack([1.0 + np.cos(s), np.zeros(n1), np.sin(s)])
    X = radius * np.vstack([ring0, ring1])
    y = np.repeat(np.array([0, 1], dtype=np.int64), [n0, n1])
    order = rng.permutation(n0 + n1)
    X = X[order] + noise * rng.standard_normal(X.shape)
    return X.astype(np.float32), y[order]


def _class_sizes(n_samples):
    """Turn ``n_samples`` into the two class sizes, as scikit-learn's ``make_moons`` does."""
    if isinstance(n_samples, Integral):
        return n_samples // 2, n_samples - n_samples // 2
    # A tuple or list (validate_params); its entries are checked here.
    if len(n_samples) != 2 or not all(
        isinstance(size, Integral) and not isinstance(size, bool) and size >= 2
        for size in n_samples
    ):
        raise invalid_parameter(
            "n_samples",
            "make_entangled_rings",
            "an int >= 4 or a pair of ints >= 2 (the points of each ring)",
            n_samples,
        )
    return int(n_samples[0]), int(n_samples[1])


@validate_params(
    {
        # That n_samples covers 2 points per finest region is checked with levels.
        "n_samples": [Interval(Integral, 4, None, closed="left")],
        "levels": ["array-like"],
        "major_radius": [_POSITIVE],
        "minor_radius": [_POSITIVE],
        "noise": [_NON_NEGATIVE],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_torus(
    n_samples=1600,
    *,
    levels=(2, 4),
    major_radius=2.0,
    minor_radius=1.0,
    noise=0.001,
    random_state=None,
):
    """Make a torus cut into arcs of the major angle, labelled at several coarseness levels.

    Points follow the standard parametrization
    ``((R + r cos theta) cos phi, (R + r cos theta) sin phi, r sin theta)`` with both
    angles uniform on [0, 2 pi). That is uniform in the angles, not in surface area: the
    inner side of the torus (theta near pi) is denser. At level ``l`` the label of a
    point is which of ``levels[l]`` equal arcs of ``phi`` it lies in, so each region is
    a cylindrical slice of the torus and a coarse region is a union of fine ones
    (``coarse = fine // (levels[-1] // levels[l])``). This is the hierarchical task of
    the isometric-representations paper (1600 points, noise standard deviation 0.001).
    Labels come from the noiseless angles.

    Parameters
    ----------
    n_samples : int, default=1600
        Number of points; at least two per finest region on average
        (``2 * levels[-1]``). Counts per region are random (binomial).
    levels : sequence of int, default=(2, 4)
        Number of regions at each level, coarsest first. Each must be at least 2,
        strictly larger than the previous one and a multiple of it.
    major_radius : float, default=2.0
        Distance ``R`` from the centre of the tube to the centre of the torus.
    minor_radius : float, default=1.0
        Radius ``r`` of the tube; ``0 < r < R``.
    noise : float, default=0.001
        Standard deviation of the Gaussian noise added to every coordinate.
    random_state : int, RandomState instance or None, default=None
        Seed for the angles and the noise.

    Returns
    -------
    X : ndarray of shape (n_samples, 3), float32
        The points.
    Y : ndarray of shape (n_samples, len(levels)), int64
        The region of each point at each level, coarsest level first.

    Examples
    --------
    >>> from sklearn_robust.datasets import make_torus
    >>> X, Y = make_torus(400, levels=(2, 4, 8), random_state=0)
    >>> X.shape, Y.shape, bool((Y[:, 0] == Y[:, 2] // 4).all())
    ((400, 3), (400, 3), True)
    """
    levels = _check_levels(levels)
    if n_samples < 2 * levels[-1]:
        raise invalid_parameter(
            "n_samples", "make_torus", f">= 2 * levels[-1] = {2 * levels[-1]}", n_samples
        )
    if minor_radius >= major_radius:
        raise invalid_parameter(
            "minor_radius", "make_torus", f"smaller than major_radius={major_radius}", minor_radius
        )
    rng = check_random_state(random_state)
    phi = rng.uniform(0.0, 2 * np.pi, size=n_samples)
    theta = rng.uniform(0.0, 2 * np.pi, size=n_samples)
    distance = major_radius + minor_radius * np.cos(theta)
    X = np.column_stack(
        [distance * np.cos(phi), distance * np.sin(phi), minor_radius * np.sin(theta)]
    )
    X += noise * rng.standard_normal(X.shape)
    # Coarser labels are derived from the finest one, so they nest exactly even at arc edges.
    finest = np.minimum((phi * (levels[-1] / (2 * np.pi))).astype(np.int64), levels[-1] - 1)
    Y = np.column_stack([finest // (levels[-1] // k) for k in levels])
    return X.astype(np.float32), Y


def _check_levels(levels):
    """The levels as a list of ints; that they increase and divide validate_params cannot say."""
    if not all(isinstance(k, Integral) and not isinstance(k, bool) and k >= 2 for k in levels):
        raise invalid_parameter("levels", "make_torus", "a sequence of ints >= 2", levels)
    levels = [int(k) for k in levels]
    if not levels:
        raise invalid_parameter("levels", "make_torus", "a sequence of at least one level", levels)
    for coarse, fine in itertools.pairwise(levels):
        if fine <= coarse or fine % coarse:
            raise invalid_parameter(
                "levels",
                "make_torus",
                f"increasing, each dividing the next so the regions nest ({fine} after {coarse})",
                levels,
            )
    return levels
