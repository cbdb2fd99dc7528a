"""Data sets: scaled digits, MNIST from local files or OpenML, CIFAR-10 from local files,
generic CSV, and toy manifolds.
"""

from __future__ import annotations

import gzip
import io
import itertools
import math
import os
import pickle
import tarfile
import zipfile
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

__all__ = [
    "load_cifar10",
    "load_csv",
    "load_digits",
    "load_mnist",
    "make_entangled_rings",
    "make_torus",
]

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


# --------------------------------------------------------------------------- CIFAR-10


_CIFAR_SHAPE = (3, 32, 32)  # channel-first: the order of CIFAR-10's own files
_CIFAR_N_PIXELS = math.prod(_CIFAR_SHAPE)  # 3072
_CIFAR_RECORD = 1 + _CIFAR_N_PIXELS  # a binary record: the label byte, then the pixels
_CIFAR_CHANNELS = ("red", "green", "blue")
_CIFAR_CLASSES = (
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
)
# The two official versions: each split's batch files, the folder they are extracted to,
# the archive they come in and the file that names the classes.
_CIFAR_VERSIONS = {
    "python": {
        "train": tuple(f"data_batch_{i}" for i in range(1, 6)),
        "test": ("test_batch",),
        "folder": "cifar-10-batches-py",
        "archive": "cifar-10-python.tar.gz",
        "meta": "batches.meta",
    },
    "binary": {
        "train": tuple(f"data_batch_{i}.bin" for i in range(1, 6)),
        "test": ("test_batch.bin",),
        "folder": "cifar-10-batches-bin",
        "archive": "cifar-10-binary.tar.gz",
        "meta": "batches.meta.txt",
    },
}
_CIFAR_NPZ_KEYS = {"train": ("X_train", "y_train"), "test": ("X_test", "y_test")}
# What np.load raises for a damaged or foreign file; re-raised as ValueError.
_NPZ_ERRORS = (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile)
# What unpickling a damaged file raises; re-raised as ValueError.
_UNPICKLE_ERRORS = (
    pickle.UnpicklingError,
    EOFError,
    ValueError,
    TypeError,
    AttributeError,
    IndexError,
    KeyError,
    UnicodeDecodeError,
    OverflowError,
)

# The python version's batches are dicts of bytes keys holding bytes, lists of ints and one
# uint8 numpy array; that array pickles as these globals (numpy.core in the official files,
# numpy._core when written by numpy 2). A pickle asking for anything else, such as
# os.system in a crafted file, is refused before anything is imported or called.
_NUMPY_RECONSTRUCT = np.empty(0).__reduce__()[0]
_CIFAR_PICKLE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _NUMPY_RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _NUMPY_RECONSTRUCT,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class _RefusedGlobalError(ValueError):
    """A pickle asked for a global that the CIFAR-10 unpickler does not admit."""


class _CifarUnpickler(pickle.Unpickler):
    """An unpickler that admits only the globals a CIFAR-10 python batch needs."""

    def __init__(self, file, source):
        # The official batches were written by Python 2's cPickle: their str are bytes.
        super().__init__(file, encoding="bytes")
        self._source = source

    def find_class(self, module, name):
        try:
            return _CIFAR_PICKLE_GLOBALS[module, name]
        except KeyError:
            raise _RefusedGlobalError(
                f"The CIFAR-10 loader refuses to load {module}.{name}, which the pickle "
                f"{self._source} asks for: a CIFAR-10 batch holds only dicts, lists, bytes, "
                "ints and numpy arrays, so this file is not one (or has been tampered with)."
            ) from None


@validate_params(
    {
        "data_dir": [str, os.PathLike, None],
        "split": [StrOptions(set(_CIFAR_NPZ_KEYS))],
        "return_X_y": ["boolean"],
        "as_frame": ["boolean"],
        "scale": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def load_cifar10(data_dir=None, *, split="train", return_X_y=False, as_frame=False, scale=True):
    """Load CIFAR-10 from local files: either official version, or a NumPy ``.npz``.

    Nothing is downloaded. A directory is searched, in this order, for the official
    python version (the folder ``cifar-10-batches-py`` or the archive
    ``cifar-10-python.tar.gz``), the official binary version (``cifar-10-batches-bin``
    or ``cifar-10-binary.tar.gz``) and one ``.npz`` file holding ``X_train``,
    ``y_train``, ``X_test`` and ``y_test``. The training split is ``data_batch_1`` to
    ``data_batch_5`` (``.bin`` in the binary version) and the test split
    ``test_batch[.bin]``; a batch may hold any number of images. Archives are read
    without extracting them.

    The python version is pickled. It is read by an unpickler that admits only what the
    batches hold (dicts, lists, bytes, ints and numpy arrays) and refuses any other
    global, so a crafted file cannot run code.

    Parameters
    ----------
    data_dir : str, path-like or None, default=None
        A directory holding one of the above; an extracted ``cifar-10-batches-py`` or
        ``cifar-10-batches-bin`` folder itself; a ``.npz`` file; or one of the two
        official ``.tar.gz`` archives. If None, scikit-learn's data home:
        ``$SCIKIT_LEARN_DATA``, else ``~/scikit_learn_data``.
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
        ``data`` (n, 3072) float32, one image per row in the channel-first order of
        CIFAR-10's own files: the red plane, then the green, then the blue, each row by
        row (a ``.npz``'s channel-last images are transposed to it). ``target`` (n,)
        int64 in 0..9, ``target_names`` (airplane, automobile, bird, cat, deer, dog,
        frog, horse, ship, truck), ``feature_names`` (``red_0_0`` ... ``blue_31_31``,
        channel, row and column), ``image_shape`` ``(3, 32, 32)``, ``frame`` and
        ``DESCR``. ``data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)`` gives images
        to display.
    (data, target) : tuple
        If ``return_X_y`` is True.

    Raises
    ------
    FileNotFoundError
        If ``data_dir`` does not exist or holds none of the above; the message lists
        what was looked for.
    ValueError
        If a file is corrupt or incomplete (a missing batch, a binary batch whose size
        is not a multiple of 3073 bytes, a pickle without ``b"data"``, a ``.npz``
        without the split's keys or with images that are not (n, 32, 32, 3) uint8,
        labels outside 0-9), or if a pickle asks for anything but numpy arrays; the
        message names the file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np
    >>> from sklearn_robust.datasets import load_cifar10
    >>> images = np.zeros((2, 32, 32, 3), dtype=np.uint8)
    >>> images[0, :, :, 0] = 255  # the first image is pure red
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "tiny.npz"
    >>> np.savez(path, X_train=images, y_train=[0, 9], X_test=images, y_test=[9, 0])
    >>> bunch = load_cifar10(path)
    >>> bunch.data.shape, bunch.data.dtype, bunch.image_shape
    ((2, 3072), dtype('float32'), (3, 32, 32))
    >>> float(bunch.data[0, :1024].min()), float(bunch.data[0, 1024:].max())  # red first
    (1.0, 0.0)
    >>> bunch.target_names[bunch.target].tolist()
    ['airplane', 'truck']
    """
    path = _data_home() if data_dir is None else Path(data_dir).expanduser()
    pixels, y, source = _read_local_cifar(path, split)
    X = pixels.astype(np.float32)
    if scale:
        X /= np.float32(255)
    descr = (
        f"CIFAR-10, {split} split: {len(X)} colour images of 32x32 pixels read from {source}. "
        "Each row is an image in the order of CIFAR-10's own files: the red plane, then the "
        "green, then the blue, each row by row (3 x 32 x 32 = 3072 values). Pixels are "
        f"{'scaled to [0, 1]' if scale else 'raw intensities 0-255'}; targets 0-9 are "
        f"{', '.join(_CIFAR_CLASSES)}. CIFAR-10 is by A. Krizhevsky (2009), Learning "
        "Multiple Layers of Features from Tiny Images."
    )
    return _bunch(
        X,
        y,
        feature_names=_channel_pixel_names(_CIFAR_CHANNELS, _CIFAR_SHAPE[1:]),
        target_names=list(_CIFAR_CLASSES),
        descr=descr,
        return_X_y=return_X_y,
        as_frame=as_frame,
        image_shape=_CIFAR_SHAPE,
    )


def _data_home():
    """scikit-learn's data home, as ``get_data_home`` finds it, but without creating it."""
    return Path(os.environ.get("SCIKIT_LEARN_DATA", "~/scikit_learn_data")).expanduser()


def _channel_pixel_names(channels, shape):
    """``red_0_0``, ...: the channel, row and column of each value, in the rows' order."""
    rows, cols = shape
    return [f"{c}_{row}_{col}" for c in channels for row in range(rows) for col in range(cols)]


def _read_local_cifar(path, split):
    """Return ``(pixels uint8 (n, 3072) channel-first, labels int64, source)``."""
    if path.is_file():
        if path.name.endswith(".npz"):
            return _read_cifar_npz(path, split)
        if path.name.endswith((".tar.gz", ".tgz")):
            return _read_cifar_archive(path, split, None)
        raise ValueError(
            "CIFAR-10 data_dir must be a directory, a .npz file or one of the official .tar.gz "
            f"archives; got '{path}'."
        )
    if not path.is_dir():
        raise FileNotFoundError(f"CIFAR-10 data_dir '{path}' does not exist.")
    for version, spec in _CIFAR_VERSIONS.items():  # an extracted batches folder itself
        if any((path / name).is_file() for name in (*spec["train"], *spec["test"])):
            return _read_cifar_folder(path, split, version)
    for version, spec in _CIFAR_VERSIONS.items():
        if (path / spec["folder"]).is_dir():
            return _read_cifar_folder(path / spec["folder"], split, version)
        if (path / spec["archive"]).is_file():
            return _read_cifar_archive(path / spec["archive"], split, version)
    return _read_cifar_npz(_find_cifar_npz(path, split), split)


def _name_range(names):
    return names[0] if len(names) == 1 else f"{names[0]}..{names[-1]}"


def _read_cifar_folder(folder, split, version):
    spec = _CIFAR_VERSIONS[version]
    names = spec[split]
    missing = [name for name in names if not (folder / name).is_file()]
    if missing:
        raise ValueError(
            f"The CIFAR-10 {version} version in '{folder}' lacks {', '.join(missing)}; "
            f"its {split} split is {_name_range(names)}."
        )
    files = {name: ((folder / name).read_bytes(), f"'{folder / name}'") for name in names}
    meta = folder / spec["meta"]
    if meta.is_file():
        files[spec["meta"]] = (meta.read_bytes(), f"'{meta}'")
    pixels, labels = _decode_cifar(version, split, files)
    return pixels, labels, f"the {version} version in '{folder}' ({_name_range(names)})"


def _read_cifar_archive(path, split, version):
    """Read the split's batches from an official archive; ``version`` None: find out which."""
    versions = list(_CIFAR_VERSIONS) if version is None else [version]
    wanted = {
        name for v in versions for name in (*_CIFAR_VERSIONS[v][split], _CIFAR_VERSIONS[v]["meta"])
    }
    members = _read_tar_members(path, wanted)
    if version is None:
        found = [v for v in versions if any(n in members for n in _CIFAR_VERSIONS[v][split])]
        if not found:
            raise ValueError(
                f"The archive '{path}' holds no CIFAR-10 {split} batch: looked for members "
                + " or ".join(
                    f"{_name_range(spec[split])} ({v} version)"
                    for v, spec in _CIFAR_VERSIONS.items()
                )
                + "."
            )
        version = found[0]
    names = _CIFAR_VERSIONS[version][split]
    missing = [name for name in names if name not in members]
    if missing:
        raise ValueError(
            f"The CIFAR-10 {version} archive '{path}' lacks the members {', '.join(missing)}; "
            f"its {split} split is {_name_range(names)}."
        )
    files = {name: (data, f"'{name}' in '{path}'") for name, data in members.items()}
    pixels, labels = _decode_cifar(version, split, files)
    return pixels, labels, f"the {version} version in '{path}' ({_name_range(names)})"


def _read_tar_members(path, names):
    """Read the regular files of a .tar.gz whose base names are in ``names``, in one pass."""
    found = {}
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:
                name = member.name.rsplit("/", 1)[-1]
                if member.isfile() and name in names and name not in found:
                    found[name] = tar.extractfile(member).read()
    except (tarfile.TarError, OSError, *_BAD_FILE_ERRORS) as exc:
        raise ValueError(f"Cannot read the CIFAR-10 archive '{path}': {exc}") from exc
    return found


def _decode_cifar(version, split, files):
    """Decode the split's batches of ``files`` (name -> (bytes, source)), checking the meta."""
    spec = _CIFAR_VERSIONS[version]
    if spec["meta"] in files:
        _check_cifar_meta(version, *files[spec["meta"]])
    decode = _decode_python_batch if version == "python" else _decode_binary_batch
    batches = [decode(*files[name]) for name in spec[split]]
    pixels = np.concatenate([pixels for pixels, _ in batches])
    labels = np.concatenate([labels for _, labels in batches])
    return pixels, labels


def _decode_binary_batch(buffer, source):
    if len(buffer) == 0 or len(buffer) % _CIFAR_RECORD:
        raise ValueError(
            f"CIFAR-10 binary batch {source} has {len(buffer)} bytes, not a positive multiple of "
            f"{_CIFAR_RECORD} (a label byte then {_CIFAR_N_PIXELS} pixel bytes per image): it is "
            "truncated or not a CIFAR-10 batch."
        )
    records = np.frombuffer(buffer, dtype=np.uint8).reshape(-1, _CIFAR_RECORD)
    labels = records[:, 0].astype(np.int64)
    _check_cifar_labels(labels, source)
    return records[:, 1:], labels


def _unpickle_cifar(buffer, source):
    try:
        return _CifarUnpickler(io.BytesIO(buffer), source).load()
    except _RefusedGlobalError:
        raise
    except _UNPICKLE_ERRORS as exc:
        raise ValueError(f"Cannot unpickle CIFAR-10 file {source}: {exc!r}") from exc


def _entry(batch, key, source):
    """``batch[b"key"]``, or ``batch["key"]`` in a pickle written by Python 3."""
    for candidate in (key.encode(), key):
        if candidate in batch:
            return batch[candidate]
    keys = ", ".join(sorted(repr(k) for k in batch))
    raise ValueError(f"CIFAR-10 file {source} has no b'{key}' entry; its keys are: {keys}.")


def _decode_python_batch(buffer, source):
    batch = _unpickle_cifar(buffer, source)
    if not isinstance(batch, dict):
        raise ValueError(
            f"CIFAR-10 python batch {source} holds a {type(batch).__name__}, not a dict."
        )
    data = _entry(batch, "data", source)
    if not (
        isinstance(data, np.ndarray)
        and data.dtype == np.uint8
        and data.ndim == 2
        and data.shape[1] == _CIFAR_N_PIXELS
    ):
        found = (
            f"a {data.dtype} array of shape {data.shape}"
            if isinstance(data, np.ndarray)
            else f"a {type(data).__name__}"
        )
        raise ValueError(
            f"b'data' of CIFAR-10 python batch {source} is {found}; expected a uint8 array of "
            f"shape (n, {_CIFAR_N_PIXELS})."
        )
    labels = _label_array(_entry(batch, "labels", source))
    if labels is None or len(labels) != len(data):
        raise ValueError(
            f"b'labels' of CIFAR-10 python batch {source} must be a list of {len(data)} ints, "
            "one per image."
        )
    _check_cifar_labels(labels, source)
    return data, labels.astype(np.int64)


def _label_array(labels):
    """``labels`` as a 1-D integer array, or None if they are not a sequence of ints."""
    try:
        labels = np.asarray(labels)
    except (ValueError, TypeError):
        return None
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        return None
    return labels


def _check_cifar_meta(version, buffer, source):
    """Refuse a meta file whose class names are not CIFAR-10's (CIFAR-100's, say)."""
    if version == "python":
        meta = _unpickle_cifar(buffer, source)
        names = _entry(meta, "label_names", source) if isinstance(meta, dict) else None
    else:
        try:
            names = [line.strip() for line in buffer.decode("ascii").splitlines()]
        except UnicodeDecodeError:
            names = None
    if isinstance(names, (list, tuple)):
        names = [n.decode("ascii", "replace") if isinstance(n, bytes) else n for n in names]
        names = [n for n in names if n != ""]
    if names != list(_CIFAR_CLASSES):
        raise ValueError(
            f"{source} does not name CIFAR-10's classes ({', '.join(_CIFAR_CLASSES)}); "
            f"it holds {names!r:.200}."
        )


def _open_npz(path):
    try:
        npz = np.load(path, allow_pickle=False)
    except _NPZ_ERRORS as exc:
        raise ValueError(f"Cannot read '{path}' as a NumPy .npz archive: {exc}") from exc
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise ValueError(f"'{path}' holds a single array, not an .npz archive of named arrays.")
    return npz


def _find_cifar_npz(directory, split):
    """Return the one .npz in ``directory`` holding the split's images and labels."""
    keys = _CIFAR_NPZ_KEYS[split]
    matches, notes = [], []
    for path in sorted(p for p in directory.glob("*.npz") if p.is_file()):
        try:
            with _open_npz(path) as npz:
                absent = [key for key in keys if key not in npz.files]
        except ValueError as exc:
            notes.append(str(exc))
            continue
        if absent:
            notes.append(f"'{path.name}' lacks {', '.join(absent)}.")
        else:
            matches.append(path)
    if len(matches) > 1:
        raise ValueError(
            f"Several CIFAR-10 .npz files in '{directory}' hold {' and '.join(keys)}: "
            f"{', '.join(p.name for p in matches)}. Pass data_dir=<one of them> to choose."
        )
    if matches:
        return matches[0]
    python, binary = _CIFAR_VERSIONS["python"], _CIFAR_VERSIONS["binary"]
    message = (
        f"No CIFAR-10 {split} data in '{directory}'. Looked for the python version "
        f"({python['folder']}/ or {python['archive']}, with {_name_range(python[split])}), "
        f"the binary version ({binary['folder']}/ or {binary['archive']}, with "
        f"{_name_range(binary[split])}), those batch files in the folder itself, and a .npz "
        f"file holding {' and '.join(keys)} (images (n, 32, 32, 3) uint8, labels 0-9)."
    )
    if notes:
        message += " " + " ".join(notes)
    raise FileNotFoundError(message)


def _read_cifar_npz(path, split):
    x_key, y_key = _CIFAR_NPZ_KEYS[split]
    with _open_npz(path) as npz:
        absent = [key for key in (x_key, y_key) if key not in npz.files]
        if absent:
            raise ValueError(
                f"The .npz '{path}' lacks {', '.join(absent)}: a CIFAR-10 .npz holds X_train, "
                "y_train, X_test and y_test (images (n, 32, 32, 3) uint8, labels 0-9); this one "
                f"holds {', '.join(npz.files) or 'nothing'}."
            )
        try:
            images, labels = npz[x_key], npz[y_key]
        except _NPZ_ERRORS as exc:
            raise ValueError(f"Cannot read {x_key} and {y_key} from '{path}': {exc}") from exc
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (32, 32, 3):
        raise ValueError(
            f"{x_key} in '{path}' is a {images.dtype} array of shape {images.shape}; expected "
            "uint8 images of shape (n, 32, 32, 3), channel-last."
        )
    source = f"{y_key} in '{path}'"
    if _label_array(labels) is None or len(labels) != len(images):
        raise ValueError(
            f"{source} must be a 1-D integer array of {len(images)} labels, one per image; "
            f"got a {labels.dtype} array of shape {labels.shape}."
        )
    _check_cifar_labels(labels, source)
    # Channel-last (n, 32, 32, 3) to CIFAR-10's own channel-first rows.
    pixels = np.ascontiguousarray(images.transpose(0, 3, 1, 2)).reshape(len(images), -1)
    return pixels, labels.astype(np.int64), f"'{path}' ({x_key}, {y_key})"


def _check_cifar_labels(labels, source):
    outside = labels[(labels < 0) | (labels > 9)]
    if outside.size:
        raise ValueError(
            f"CIFAR-10 labels from {source} must be the classes 0..9; found {outside[0]}."
        )


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
