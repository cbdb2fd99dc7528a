"""Training and measuring the models: the run behind :func:`run_comparison`."""

from __future__ import annotations

import sys
import time
import warnings
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from numbers import Integral
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from .. import datasets
from .._torch import forward_in_chunks, resolve_device, to_numpy, to_tensor
from ..bridge import as_torch
from ..hebbian import KHEncoder
from ..robustness import (
    DecisionLandscape,
    JacobianNormMap,
    accuracy_curve,
    critical_distance,
    decision_landscape,
    jacobian_norm_map,
)
from ..som import SOMProbe
from ..spectrum import RELATIVE_FLOOR, PowerLawSpectrum
from . import _measures as measures
from ._certification import certified_accuracy, certify_examples, smoothing_by_class
from ._family import (
    CONVOLUTIONAL_DATASETS,
    QUICK_CIFAR_SIZES,
    QUICK_CONVOLUTIONAL_MODELS,
    QUICK_MODELS,
    model_family,
)
from ._isometry import ISOMETRY_BETAS, measure_isometry_sweep
from ._layers import measure_layers, staged_layers
from ._measures import ATTACKS
from ._memorisation import measure_memorisation
from ._probes import SOMMeasures, measure_densities, measure_som, som_probe
from ._settings import SETTINGS, Settings, settings_for

__all__ = [
    "ATTACKS",
    "ComparisonConfig",
    "ComparisonResults",
    "ModelResult",
    "model_family",
    "run_comparison",
]

DATASETS = ("digits", "mnist", "cifar10", "csv")
MAX_SEEDS = 20  # each seed is a whole training of the family
# Data sets on which the isometric-representations paper's sweep runs (images in [0, 1]).
ISOMETRY_DATASETS = ("digits", "mnist")
# The networks probed layer by layer: the residual network and its plain twin (Jamroz and
# Kurdziel compare the two; Lee and Vijayan probe residual networks' stages).
LAYER_PROBED_MODELS = ("resnet", "plain")


@dataclass
class ComparisonConfig:
    """What to compare, on which data, how long.

    Parameters
    ----------
    dataset : {"digits", "mnist", "cifar10", "csv"}
        Data set the models are trained and evaluated on. CIFAR-10 gets the
        convolutional family (see :func:`model_family`), the others the MLPs.
    data_path : str or None
        MNIST: the folder of its files; CIFAR-10: its files (the official
        python or binary version, or an ``.npz``, see
        :func:`~sklearn_robust.datasets.load_cifar10`); CSV: the file (label
        in the last column).
    models : sequence of str or None
        Names from :func:`model_family` for the data set; None: all of them.
    attacks : sequence of str
        Names of the attacks the models are evaluated under.
    quick : bool
        Fewer models, epochs and examples: a run of well under a minute.
    n_eval : int or None
        Test examples attacked and certified; None: 100 (quick) or 300, and 50
        (quick) or 100 on CIFAR-10.
    device : str
        Torch device the models are trained and evaluated on.
    random_state : int
        Seed of the data split, the models and the attacks.
    seeds : int
        Trainings of every model, with ``random_state``, ``random_state + 1``, ...
        (the split stays that of ``random_state``): the summary gives each
        number's mean and spread, and each claim's verdict counts the seeds.
    memorisation : bool
        Also estimate per-class memorisation (Feldman and Zhang) of the
        unregularised network, from models trained on random subsets of the
        training set: several trainings more.

    Examples
    --------
    >>> from sklearn_robust.compare import ComparisonConfig
    >>> ComparisonConfig(quick=True).model_names
    ('backprop', 'l2', 'isometry-1', 'kh-hybrid')
    >>> ComparisonConfig(dataset="csv")
    Traceback (most recent call last):
    ...
    ValueError: dataset='csv' needs data_path, the CSV file.
    """

    dataset: str = "digits"
    data_path: str | None = None
    models: tuple | None = None
    attacks: tuple = ATTACKS
    quick: bool = False
    n_eval: int | None = None
    device: str = "cpu"
    random_state: int = 0
    seeds: int = 1
    memorisation: bool = False

    def __post_init__(self):
        if self.dataset not in DATASETS:
            raise ValueError(f"dataset must be one of {DATASETS}; got {self.dataset!r}.")
        unknown = set(self.attacks) - set(ATTACKS)
        if unknown or not self.attacks:
            raise ValueError(f"attacks must be among {ATTACKS}; got {list(self.attacks)}.")
        known = list(model_family(dataset=self.dataset))
        if self.models is not None:
            unknown = [m for m in self.models if m not in known]
            if unknown or not self.models:
                raise ValueError(f"unknown model(s) {unknown}; choose from {known}.")
        if self.n_eval is not None and self.n_eval < 10:
            raise ValueError(f"n_eval must be at least 10; got {self.n_eval}.")
        if self.dataset == "csv" and self.data_path is None:
            raise ValueError("dataset='csv' needs data_path, the CSV file.")
        if self.dataset == "cifar10" and self.data_path is None:
            raise ValueError(
                "dataset='cifar10' needs data_path, its files (nothing is downloaded): the "
                "official python or binary version, or an .npz of the images."
            )
        resolve_device(self.device)  # an unknown name, or CUDA where there is none
        if not (isinstance(self.random_state, Integral) and 0 <= self.random_state < 2**32):
            raise ValueError(
                f"random_state must be an integer in [0, 2**32 - 1]; got {self.random_state!r}."
            )
        if not (isinstance(self.seeds, Integral) and not isinstance(self.seeds, bool)) or not (
            1 <= self.seeds <= MAX_SEEDS
        ):
            raise ValueError(f"seeds must be an integer in [1, {MAX_SEEDS}]; got {self.seeds!r}.")
        if self.random_state + self.seeds > 2**32:
            raise ValueError(
                f"random_state + seeds must stay below 2**32; got {self.random_state} + "
                f"{self.seeds}."
            )

    @property
    def convolutional(self):
        """Whether the data set gets the convolutional family."""
        return self.dataset in CONVOLUTIONAL_DATASETS

    @property
    def eval_size(self):
        if self.n_eval:
            return self.n_eval
        if self.convolutional:  # every evaluated image costs thousands of forward passes
            return 50 if self.quick else 100
        return 100 if self.quick else 300

    @property
    def seed_values(self):
        """The ``random_state`` of each training: ``random_state, random_state + 1, ...``."""
        return tuple(range(self.random_state, self.random_state + self.seeds))

    @property
    def baseline(self):
        """The unregularised network the papers' claims compare against."""
        return "resnet" if self.convolutional else "backprop"

    @property
    def model_names(self):
        if self.models is not None:
            return tuple(self.models)
        if self.quick:
            return QUICK_CONVOLUTIONAL_MODELS if self.convolutional else QUICK_MODELS
        return tuple(model_family(dataset=self.dataset))


@dataclass
class HiddenSpectrum:
    """A covariance spectrum on the test data (a model's representation, or the data's
    own), and its power-law fit.

    Attributes
    ----------
    eigenvalues : ndarray
        ``lambda_n / lambda_1``, descending.
    fit_range : tuple of int
        First and last rank of the fit (1-based, inclusive).
    alpha : float
        The fitted exponent: ``lambda_n / lambda_1 = exp(intercept) n^-alpha``.
    intercept : float
        The fitted line's intercept, in natural-log units of ``lambda_n / lambda_1``.
    floor : float
        Eigenvalues at or below ``floor`` (relative to the first) were round-off,
        left out of the fit: 1e-6, or 1e-12 for a representation computed in float64.
    """

    eigenvalues: np.ndarray
    fit_range: tuple
    alpha: float
    intercept: float
    floor: float = RELATIVE_FLOOR

    @classmethod
    def of(cls, spectrum):
        """The record of a fitted :class:`~sklearn_robust.spectrum.PowerLawSpectrum`."""
        return cls(
            spectrum.eigenvalues_,
            spectrum.fit_range_,
            float(spectrum.alpha_),
            spectrum.intercept_,
            spectrum.relative_floor_,
        )


@dataclass
class ModelResult:
    """One model's measurements: what a worker sends back (pickled by joblib or dask).

    Parameters
    ----------
    name : str
        The model's name in :func:`model_family`.
    rows : list of (str, str, float)
        ``(model, measure, value)``: the model's rows of ``results.csv``.
    curves : pandas.DataFrame
        Columns model, attack, eps, accuracy, n: one accuracy curve per attack.
    distances : dict of str to ndarray
        Attack -> critical distance of each evaluated example.
    spectrum : HiddenSpectrum
        The hidden layer's covariance spectrum on the test data.
    landscape : DecisionLandscape
        The decisions on the random plane.
    jacobian_map : JacobianNormMap
        The hidden-Jacobian norm on the same plane.
    certified : pandas.DataFrame
        Columns model, class, radius, certified, abstained, prediction: one row per
        evaluated example (see :func:`._certification.certify_examples`).
    som : SOMMeasures
        The hidden layer's SOM probe.
    densities : pandas.DataFrame
        Columns model, class, log_density, kl, n_clusters, radius: one row per class.
    seconds : float
        Wall time of the training and the measurements.
    layers : LayerProbes or None
        Per-layer probes of a network with stages (ResNets, ConvNets); None for the others.
    memorisation : pandas.DataFrame or None
        Columns model, class, memorisation, n: per-class memorisation scores
        (``--memorisation``, the residual network only); None otherwise.

    Examples
    --------
    :func:`run_comparison` gathers one per model:

    >>> from sklearn_robust.compare import ComparisonConfig, run_comparison
    >>> config = ComparisonConfig(quick=True, models=("backprop",), attacks=("fgsm",))
    >>> results = run_comparison(config, progress=lambda line: None)  # doctest: +SKIP
    >>> sorted(results.spectra)  # doctest: +SKIP
    ['backprop']
    """

    name: str
    rows: list
    curves: pd.DataFrame
    distances: dict
    spectrum: HiddenSpectrum
    landscape: DecisionLandscape
    jacobian_map: JacobianNormMap
    certified: pd.DataFrame
    som: SOMMeasures
    densities: pd.DataFrame
    seconds: float
    layers: object = None
    memorisation: pd.DataFrame | None = None


@dataclass
class ComparisonResults:
    """Everything measured: a tidy table plus the curves and maps behind the figures.

    Parameters
    ----------
    config : ComparisonConfig
        The configuration the comparison ran with.
    data_description : str
        Description of the data set, for the report.
    results : pandas.DataFrame
        Columns model, measure, value: every number (``results.csv``); see :meth:`summary`.
    curves : pandas.DataFrame
        Columns model, attack, eps, accuracy, n.
    distances : dict
        ``(model, attack)`` -> critical distance of each evaluated example.
    spectra : dict
        Model -> :class:`HiddenSpectrum` of its hidden layer on the test data.
    landscapes : dict
        Model -> ``(DecisionLandscape, JacobianNormMap)`` on one random plane.
    certified : pandas.DataFrame
        Columns model, class, radius, certified, abstained, prediction: one row per
        evaluated example (see :func:`._certification.certify_examples`).
    som : dict
        Model -> ``SOMMeasures`` of its hidden layer; empty without the SOM probes.
    input_spread : dict
        Class -> ``D_class`` on the map of the input.
    input_som : SOMProbe or None
        The map of the input, fitted once and shared by every model's probe.
    densities : pandas.DataFrame or None
        Columns model, class, log_density (mean over the class's test rows), kl,
        n_clusters, radius (the class's mean certified radius).
    timings : dict
        Model -> seconds.
    n_evaluated : int or None
        Test examples attacked and certified: ``config.eval_size``, or the whole
        test set if smaller.
    settings : Settings
        The fixed choices the numbers were measured with.
    max_eps : dict
        Attack -> the largest distance its critical distances searched; an
        example not fooled within it counts as infinitely far.
    layers : dict
        Model -> ``LayerProbes``: per-layer probes of the networks with stages.
    isometry : IsometrySweep or None
        The isometric-layer sweep in the paper's setting (MNIST and digits).
    memorisation : pandas.DataFrame or None
        Columns model, class, memorisation, n (``memorisation=True``).
    data_spectrum : HiddenSpectrum or None
        The test data's own covariance spectrum and power-law fit.
    replicates : list of ComparisonResults
        The same comparison trained with the other seeds (``config.seeds > 1``);
        :meth:`summary` gives the mean over all of them, :meth:`spread` the
        standard deviation.

    Examples
    --------
    A quick run of one model (about 10 s; docs/compare.md runs the same):

    >>> from sklearn_robust.compare import ComparisonConfig, run_comparison
    >>> config = ComparisonConfig(quick=True, models=("backprop",), attacks=("fgsm",))
    >>> results = run_comparison(config, progress=lambda line: None)  # doctest: +SKIP
    >>> results.summary().loc["accuracy", "backprop"] > 0.8  # doctest: +SKIP
    True
    """

    config: ComparisonConfig
    data_description: str
    results: pd.DataFrame
    curves: pd.DataFrame
    distances: dict
    spectra: dict
    landscapes: dict
    certified: pd.DataFrame
    som: dict = field(default_factory=dict)
    input_spread: dict = field(default_factory=dict)
    input_som: SOMProbe | None = None
    densities: pd.DataFrame | None = None
    timings: dict = field(default_factory=dict)
    n_evaluated: int | None = None
    settings: Settings = SETTINGS
    max_eps: dict = field(default_factory=dict)
    layers: dict = field(default_factory=dict)
    isometry: object = None
    memorisation: pd.DataFrame | None = None
    data_spectrum: HiddenSpectrum | None = None
    replicates: list = field(default_factory=list)

    @classmethod
    def from_models(cls, config, data_description, measured, **fields):
        """The results of ``measured`` (ModelResult, in the report's order) in one place.

        Parameters
        ----------
        config : ComparisonConfig
            The configuration the comparison ran with.
        data_description : str
            Description of the data set, for the report.
        measured : list of ModelResult
            What was measured of each model.
        **fields
            The other fields (``input_spread``, ``input_som``, ``n_evaluated``, ...).

        Returns
        -------
        ComparisonResults
            All the models' measurements, gathered.
        """
        rows = [row for m in measured for row in m.rows]
        return cls(
            config=config,
            data_description=data_description,
            results=pd.DataFrame(rows, columns=["model", "measure", "value"]),
            curves=pd.concat([m.curves for m in measured], ignore_index=True),
            distances={(m.name, a): d for m in measured for a, d in m.distances.items()},
            spectra={m.name: m.spectrum for m in measured},
            landscapes={m.name: (m.landscape, m.jacobian_map) for m in measured},
            certified=pd.concat([m.certified for m in measured], ignore_index=True),
            som={m.name: m.som for m in measured},
            densities=pd.concat([m.densities for m in measured], ignore_index=True),
            timings={m.name: m.seconds for m in measured},
            layers={m.name: m.layers for m in measured if m.layers is not None},
            memorisation=_concat_or_none([m.memorisation for m in measured]),
            **fields,
        )

    def seed_results(self):
        """Every seed's rows: columns model, measure, value, random_state.

        Returns
        -------
        pandas.DataFrame
            This training's rows, then each replicate's, in the order of the seeds.
        """
        return pd.concat(
            [
                each.results.assign(random_state=each.config.random_state)
                for each in (self, *self.replicates)
            ],
            ignore_index=True,
        )

    def spread(self):
        """The standard deviation over the seeds of every value (ddof=1): measure x model.

        Returns
        -------
        pandas.DataFrame
            Like :meth:`summary`; NaN where fewer than two seeds have the value.
        """
        rows = self.seed_results()
        finite = rows[np.isfinite(rows.value)]
        return self._table(finite.groupby(["measure", "model"]).value.std()).reindex(
            index=self.summary().index
        )

    def _table(self, by_measure_and_model):
        """A ``(measure, model) -> value`` series as the measure x model table, models in order."""
        table = by_measure_and_model.unstack("model")
        return table.reindex(columns=self.model_names)

    @property
    def smoothing(self):
        """Per model and class: the smoothed classifier's F1, mean radius, non-abstained share.

        Columns model, class, f1, radius, non_abstained (Jamroz and Kurdziel's three
        robustness scores); None for results without the abstentions recorded.
        """
        if "abstained" not in self.certified:
            return None
        return smoothing_by_class(self.certified)

    @property
    def model_names(self):
        """The models, in the order they were measured (the config's)."""
        return list(dict.fromkeys(self.results.model))

    def summary(self, as_text=False):
        """Every value as a measure x model table, the models in their order.

        Parameters
        ----------
        as_text : bool, default=False
            Cells as the command prints them and the report shows them: four
            significant digits, and a censored median where half or more of the
            examples are never fooled within the search, ``"> 37.9"`` (the
            attack's ``max_eps``), as survival analysis reports a median beyond
            the follow-up.

        Returns
        -------
        pandas.DataFrame
            One row per measure (alphabetical), one column per model; NaN where
            a model has no value (an undefined correlation), inf for an infinite
            median critical distance; with ``as_text``, the same as strings.

        Examples
        --------
        >>> import numpy as np
        >>> import pandas as pd
        >>> from sklearn_robust.compare import ComparisonConfig, ComparisonResults
        >>> rows = [("m", "accuracy", 0.91234), ("m", "pgd_median_critical_distance", np.inf)]
        >>> results = ComparisonResults(
        ...     ComparisonConfig(),
        ...     "toy",
        ...     pd.DataFrame(rows, columns=["model", "measure", "value"]),
        ...     curves=pd.DataFrame(),
        ...     distances={},
        ...     spectra={},
        ...     landscapes={},
        ...     certified=pd.DataFrame(),
        ...     max_eps={"pgd": 1.0},
        ... )
        >>> float(results.summary().loc["pgd_median_critical_distance", "m"])
        inf
        >>> results.summary(as_text=True)["m"].tolist()
        ['0.9123', '> 1']
        """
        table = self._table(self.seed_results().groupby(["measure", "model"]).value.mean())
        if not as_text:
            return table
        text = table.map(lambda value: f"{value:.4g}")
        if self.replicates:
            spread = self.spread().reindex_like(table)
            text = text + spread.map(lambda value: "" if np.isnan(value) else f" ± {value:.2g}")
        for attack in measures.ATTACKS:
            median = measures.median_critical_distance(attack)
            limit = self.max_eps.get(attack)
            if median in text.index and limit is not None:
                # The median is only known to lie beyond the search: its lower bound.
                text.loc[median, np.isposinf(table.loc[median])] = f"> {limit:.3g}"
        return text


def _concat_or_none(tables):
    """The tables that are not None, one below the other; None if there are none."""
    tables = [table for table in tables if table is not None]
    return pd.concat(tables, ignore_index=True) if tables else None


def load_split(config):
    """``(X_train, X_test, y_train, y_test, description)`` for the configured data set.

    Digits and CSV are split 70/30, stratified; MNIST and CIFAR-10 train on
    the training files and test on the official test set (a quick CIFAR-10 run
    on the first 2,000 training and 500 test images). Pixels are in [0, 1], so
    attacks clip to that box; CSV data are attacked without a box.
    """
    if config.dataset == "digits":
        X, y = datasets.load_digits(return_X_y=True)
        description = "digits (scikit-learn, 8x8, pixels in [0, 1])"
    elif config.dataset == "csv":
        X, y = datasets.load_csv(config.data_path, return_X_y=True)
        description = f"CSV {Path(config.data_path).name}"
    elif config.dataset == "cifar10":
        X_train, y_train = datasets.load_cifar10(config.data_path, split="train", return_X_y=True)
        X_test, y_test = datasets.load_cifar10(config.data_path, split="test", return_X_y=True)
        if config.quick:  # the files' first images: every class, in CIFAR's own order
            n_train, n_test = QUICK_CIFAR_SIZES
            X_train, y_train = X_train[:n_train], y_train[:n_train]
            X_test, y_test = X_test[:n_test], y_test[:n_test]
        description = f"CIFAR-10 ({len(X_train):,} training, {len(X_test):,} test images)"
        return X_train, X_test, y_train, y_test, description
    else:
        X_train, y_train = datasets.load_mnist(config.data_path, split="train", return_X_y=True)
        X_test, y_test = datasets.load_mnist(config.data_path, split="test", return_X_y=True)
        description = f"MNIST ({len(X_train):,} training, {len(X_test):,} test images)"
        return X_train, X_test, y_train, y_test, description
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=config.random_state
    )
    return X_train, X_test, y_train, y_test, description


def run_comparison(config, progress=print, *, n_jobs=1, client=None) -> ComparisonResults:
    """Train every model of the config on one split and measure each.

    Parameters
    ----------
    config : ComparisonConfig
        What to compare, on which data, how long.
    progress : callable, default=print
        Receives one line per step. With ``n_jobs != 1`` or a ``client`` the
        workers print their steps themselves (dask workers through
        ``distributed.print``, which the client echoes) and ``progress`` gets
        one line per finished model.
    n_jobs : int, default=1
        Models measured at once, in joblib worker processes (-1: one per CPU).
        With ``client``: tasks at once on the cluster (-1: as many as its
        worker threads). Every model is measured on one torch (and BLAS)
        thread wherever it runs, so that the numbers do not depend on it.
    client : distributed.Client or None, default=None
        Run the models on this dask cluster (``joblib.parallel_backend("dask")``);
        each worker's torch threads are limited to its dask threads.

    Returns
    -------
    ComparisonResults
        The same numbers whatever ``n_jobs`` and ``client``.

    Examples
    --------
    A quick run of one model (about 10 s; docs/compare.md runs the same):

    >>> from sklearn_robust.compare import ComparisonConfig, run_comparison
    >>> config = ComparisonConfig(quick=True, models=("backprop",), attacks=("fgsm",))
    >>> results = run_comparison(config, progress=lambda line: None)  # doctest: +SKIP
    >>> results.summary().loc["accuracy", "backprop"] > 0.8  # doctest: +SKIP
    True
    """
    X_train, X_test, y_train, y_test, description = load_split(config)
    clip = (0.0, 1.0) if config.dataset != "csv" else None
    rng = np.random.default_rng(config.random_state)
    picked = rng.choice(len(X_test), size=min(config.eval_size, len(X_test)), replace=False)
    split = _Split(X_train, X_test, y_train, y_test, X_test[picked], y_test[picked], clip)
    _fit_input_map(split, config, progress)
    data_spectrum = HiddenSpectrum.of(fit_spectrum(np.asarray(X_test, dtype=np.float64)))
    replicates = []
    for seed in config.seed_values:
        seed_config = replace(config, random_state=seed)
        if config.seeds > 1:
            progress(f"Seed {seed - config.random_state + 1}/{config.seeds}: random_state={seed}")
        measured = _measure_all(seed_config, split, progress, n_jobs, client)
        replicates.append(
            ComparisonResults.from_models(
                seed_config,
                description,
                measured,
                input_spread=split.input_spread,
                input_som=split.input_probe,
                n_evaluated=len(picked),
                max_eps={attack: split.search[attack]["max_eps"] for attack in config.attacks},
                settings=settings_for(config.convolutional),
                data_spectrum=data_spectrum,
                isometry=_isometry_sweep(split, seed_config, progress),
            )
        )
    first, *others = replicates
    first.replicates = others
    return first


def _isometry_sweep(split, config, progress):
    """The isometric-layer sweep of the paper, on MNIST and digits; None elsewhere."""
    if config.dataset not in ISOMETRY_DATASETS:
        return None
    progress(f"Isometric layers: {len(ISOMETRY_BETAS)} LILs in the paper's setting")
    with _one_thread():
        return measure_isometry_sweep(split, config, progress)


@dataclass
class _Split:
    """The data every model is measured on, and the input layer's SOM (fitted once)."""

    X_train: np.ndarray
    X_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray
    X_eval: np.ndarray  # the test examples attacked and certified
    y_eval: np.ndarray
    clip: tuple | None
    input_probe: SOMProbe | None = None
    input_spread: dict = field(default_factory=dict)  # class -> D_class on the input map
    search: dict = field(init=False)  # attack -> max_eps and tol of its critical distances

    def __post_init__(self):
        # One search range per attack for every model: their distances share one scale.
        self.search = {attack: _bisection(attack, self.X_eval, self.clip) for attack in ATTACKS}


def _fit_input_map(split, config, progress):
    """The SOM of the input, fitted once here: every model's probe shares it (workers too)."""
    size = SETTINGS.som_size
    progress(
        f"SOM probe of the input: {size}x{size} map on {len(split.X_train):,} training examples"
    )
    with _one_thread():
        split.input_probe = som_probe(config).fit(split.X_train)
        split.input_spread = split.input_probe.class_spread(split.X_train, split.y_train)


def _measure_all(config, split, progress, n_jobs, client):
    """Every model's measurements, in the config's order, serially or by joblib workers."""
    names = config.model_names
    n_models = len(names)
    if client is None and n_jobs == 1:
        measured = []
        for index, name in enumerate(names, start=1):
            measured.append(_measure_model(name, index, n_models, split, config, progress))
            progress(f"[{index}/{n_models}] {name}: done in {measured[-1].seconds:.0f} s")
        return measured

    from joblib import Parallel, delayed, parallel_backend

    if client is not None:
        from ..parallel import limit_torch_threads

        limit_torch_threads(client)  # torch threads = dask threads on every worker
        backend = parallel_backend("dask", client=client)
        where = f"the dask cluster at {client.scheduler.address}"
    else:
        import joblib

        n_jobs = min(n_models, joblib.cpu_count() if n_jobs < 0 else n_jobs)
        backend, where = nullcontext(), f"{n_jobs} worker processes"
    progress(f"Measuring {n_models} models on {where}, one thread each")
    numbered = sorted(enumerate(names, start=1), key=lambda pair: _dispatch_rank(pair[1]))
    tasks = (
        delayed(_measure_model)(name, index, n_models, split, config, _worker_print)
        for index, name in numbered
    )
    measured = {}
    with backend, warnings.catch_warnings():
        # loky replaces a worker whose memory grew during a model (a long training does)
        # and says so; the model's result is back and nothing is lost.
        warnings.filterwarnings("ignore", "A worker stopped while some jobs", UserWarning)
        for result in Parallel(n_jobs=n_jobs, return_as="generator_unordered")(tasks):
            measured[result.name] = result
            index = names.index(result.name) + 1
            progress(f"[{index}/{n_models}] {result.name}: done in {result.seconds:.0f} s")
    return [measured[name] for name in names]


# The models that take longest start first, so that no worker is left with one long model
# at the end while the others idle; the report keeps the family's order.
_LONGEST_FIRST = ("kh-hybrid", "jacobian")


def _dispatch_rank(name):
    return _LONGEST_FIRST.index(name) if name in _LONGEST_FIRST else len(_LONGEST_FIRST)


def _worker_print(line):
    """A worker's progress line: on a dask worker also sent to the clients, else printed."""
    if "distributed" in sys.modules:  # only dask workers have it imported; loky's need not
        from distributed import print as remote_print

        remote_print(line, flush=True)
    else:
        print(line, flush=True)


@contextmanager
def _one_thread():
    """Torch and the BLAS libraries on one thread, restored after.

    Sums split over threads round differently, and a sampler's or a training
    run's path can follow the last bit: every model is measured on one thread,
    so that the numbers are the same serially and in any worker. The
    parallelism is across models.
    """
    from threadpoolctl import threadpool_limits

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        torch.set_num_threads(previous)


def _measure_model(name, index, n_models, split, config, progress):
    """Train one model of the family and measure everything (on one thread): a ModelResult."""
    with _one_thread():
        return _measure(name, index, n_models, split, config, progress)


def _measure(name, index, n_models, split, config, progress):
    tag = f"[{index}/{n_models}] {name}"
    started = time.perf_counter()
    model = model_family(config.quick, config.device, config.random_state, config.dataset)[name]
    X_train, X_test, y_train, y_test = split.X_train, split.X_test, split.y_train, split.y_test
    X_eval, y_eval = split.X_eval, split.y_eval
    progress(f"{tag}: training on {len(X_train):,} examples")
    model.fit(X_train, y_train)
    rows, curves, distances = [(name, measures.ACCURACY, model.score(X_test, y_test))], [], {}
    rows += _encoder_rows(name, model)
    for attack in config.attacks:
        progress(f"{tag}: {attack} curve and critical distances")
        curve, distances[attack] = _attack(model, attack, split, config)
        curves.append(curve.assign(model=name))
        rows += _distance_rows(name, attack, distances[attack])
    progress(f"{tag}: spectrum, landscape, certification")
    hidden = _hidden_transform(model)
    spectrum, spectrum_rows = _spectrum(name, model, hidden, X_test, config.random_state)
    rows += spectrum_rows
    resolution = settings_for(config.convolutional).plane_resolution
    plane = _plane(X_eval, config.random_state, resolution)
    landscape = decision_landscape(model, **plane)
    jmap = jacobian_norm_map(model, **plane)
    rows.append((name, measures.JACOBIAN_NORM_MEAN, float(np.mean(jmap.norms))))
    certified = certify_examples(name, model, X_eval, y_eval, config)
    accuracy = certified_accuracy(certified)
    rows.append((name, measures.certified_accuracy(SETTINGS.certified_radius), accuracy))
    progress(f"{tag}: SOM probes of the input and the hidden layer, PGD against noise")
    hidden_train = hidden(X_train)  # the codes both probes are fitted on
    som, som_rows = measure_som(name, model, hidden, hidden_train, split, config)
    rows += som_rows
    progress(f"{tag}: DP-GMM densities of the hidden layer's classes")
    densities, density_rows = measure_densities(
        name, hidden, hidden_train, split, certified, config
    )
    rows += density_rows
    layers = None
    if name in LAYER_PROBED_MODELS and staged_layers(model):
        progress(f"{tag}: per-layer probes (Lee and Vijayan's protocol, DP-GMM per layer)")
        layers, layer_rows = measure_layers(name, model, split, config, progress)
        rows += layer_rows
    memorisation = None
    if config.memorisation and name == config.baseline:
        progress(f"{tag}: memorisation scores (models trained on random subsets)")
        unfitted = model_family(config.quick, config.device, config.random_state, config.dataset)
        memorisation, memorisation_rows = measure_memorisation(
            name, unfitted[name], split, config, progress
        )
        rows += memorisation_rows
    return ModelResult(
        name=name,
        rows=rows,
        curves=pd.concat(curves, ignore_index=True),
        distances=distances,
        spectrum=spectrum,
        landscape=landscape,
        jacobian_map=jmap,
        certified=certified,
        som=som,
        densities=densities,
        seconds=time.perf_counter() - started,
        layers=layers,
        memorisation=memorisation,
    )


def _encoder_rows(name, model):
    """How far a Krotov-Hopfield encoder in the model converged; no rows for other models."""
    steps = model.steps if isinstance(model, Pipeline) else [(name, model)]
    return [
        (name, measures.KH_CONVERGED_FRACTION, float(step.converged_fraction_))
        for _, step in steps
        if isinstance(step, KHEncoder)
    ]


def _attack(model, attack, split, config):
    """The accuracy curve and the critical distances of the evaluated examples.

    Noise is not clipped, so that its norm is the one asked for; FGSM and PGD
    stay in the data's box.
    """
    X, y, clip = split.X_eval, split.y_eval, split.clip
    kw = {} if attack == "noise" or clip is None else {"clip": clip}
    curve = accuracy_curve(model, X, y, attack, random_state=config.random_state, **kw)
    distances = critical_distance(
        model, X, y, attack, random_state=config.random_state, **split.search[attack], **kw
    )
    return curve, distances


def _plane(X, random_state, resolution):
    """One random plane through the first evaluated example, shared by every model's maps."""
    center = X[0]
    extent = float(np.linalg.norm(center)) or 1.0
    return {
        "x": center,
        "extent": extent,
        "resolution": resolution,
        "random_state": random_state,
    }


def _bisection(attack, X, clip):
    """A search range that covers the data and a resolution of 1/200 of it.

    Noise needs room (a random direction meets the boundary at margin / |cos|):
    twice the largest norm. FGSM and PGD (L-inf) need at most the clip box.
    """
    if attack == "noise" or clip is None:
        max_eps = 2.0 * float(np.linalg.norm(X, axis=1).max())
    else:
        max_eps = clip[1] - clip[0]
    return {"max_eps": max_eps, "tol": max_eps / 200}


def _distance_rows(name, attack, distances):
    """Median over the correctly classified examples (inf counts as large), the mean over
    those fooled within reach, and the share never fooled; undefined statistics are left out.

    A median is inf where half or more of the examples are never fooled: the row keeps it,
    so that results.csv says so, and the summary shows it censored at the search's limit."""
    correct = distances > 0
    fooled = correct & np.isfinite(distances)
    rows = [(name, measures.never_fooled(attack), float(np.mean(np.isinf(distances[correct]))))]
    if correct.any():
        median = float(np.median(distances[correct]))
        rows.append((name, measures.median_critical_distance(attack), median))
    if fooled.any():
        mean = float(np.mean(distances[fooled]))
        rows.append((name, measures.mean_critical_distance(attack), mean))
    return rows


_HIDDEN_CHUNK = 512  # rows per forward pass of the hidden transform


def _hidden_transform(model):
    """``inputs -> hidden representation`` (numpy), through the model's torch view."""
    hidden_module = as_torch(model, output="hidden")

    def hidden(rows):
        return to_numpy(hidden_module(to_tensor(rows, hidden_module.device)))

    def through_hidden(inputs):
        # In chunks: a convolutional network's activations for a whole training set
        # would not fit in memory. to_tensor copies the read-only arrays workers share.
        with torch.no_grad():
            return forward_in_chunks(hidden, np.asarray(inputs), _HIDDEN_CHUNK)

    return through_hidden


def _spectrum(name, model, through_hidden, X, random_state):
    """Eigenvalues of the model's representation on X, and the power-law fits.

    The representation is the hidden layer, or for a model with a Krotov-Hopfield
    encoder the encoder's own ``ReLU(h)^n`` (the scaler after it would change the
    spectrum), computed and decomposed in float64 (:func:`_representation`). Three
    exponents: on X; on white-noise input (a layer that imposes its own spectrum
    keeps its exponent); and the calibration, the same fit on white noise of the
    representation's shape, whose true exponent is 0 (Holzhausen et al. take its
    deviation from 0 as the error of the fit).
    """
    represent = _representation(model, through_hidden)
    spectrum = fit_spectrum(represent(X))
    noise_alpha = spectrum.white_noise_alpha(
        n_repeats=1,
        transform=represent,
        n_input_features=X.shape[1],
        random_state=random_state,
    )
    calibration = spectrum.white_noise_alpha(n_repeats=1, random_state=random_state)
    rows = [
        (name, measures.HIDDEN_ALPHA, float(spectrum.alpha_)),
        (name, measures.HIDDEN_ALPHA_R2, float(spectrum.r2_)),
        (name, measures.HIDDEN_ALPHA_WHITE_NOISE, float(noise_alpha["alpha_mean"])),
        (name, measures.HIDDEN_ALPHA_CALIBRATION, float(calibration["alpha_mean"])),
    ]
    return HiddenSpectrum.of(spectrum), rows


def fit_spectrum(representation):
    """A float64 power-law fit over ranks 2 to half the representation's rank bound."""
    n_max = min(representation.shape) // 2
    return PowerLawSpectrum(n_min=2, n_max=max(n_max, 4), device="cpu", precision="float64").fit(
        representation
    )


def _representation(model, through_hidden):
    """``inputs -> representation``: a KH encoder's output computed in float64, whose
    spectrum is fitted down to 1e-12 of its top, else the (float32) hidden layer."""
    steps = model.steps if isinstance(model, Pipeline) else []
    encoders = [index for index, (_, step) in enumerate(steps) if isinstance(step, KHEncoder)]
    if not encoders:
        # The hidden layer is computed in float32: its spectrum keeps float32's floor.
        return through_hidden
    index = encoders[0]
    before, layer = model[:index], steps[index][1].to_torch_module().double()

    def encoded(inputs):
        inputs = before.transform(inputs) if index else inputs
        with torch.no_grad():
            return layer(torch.as_tensor(np.asarray(inputs, dtype=np.float64))).numpy()

    return encoded
