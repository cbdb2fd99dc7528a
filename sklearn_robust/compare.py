"""The comparison behind ``python -m sklearn_robust compare``: train the papers' models, measure.

:func:`run_comparison` trains every model on the same split and measures what
Holzhausen et al. (figures 1-4, A2) and Jamroz and Kurdziel report: clean
accuracy, relative-accuracy curves and critical distances under random noise,
FGSM and PGD, the hidden layer's covariance spectrum and power-law exponent (on
the data and on white noise), the decision landscape and hidden-Jacobian norm on
one random plane, and per-class certified radii of the smoothed classifier. The
results are tidy tables; :mod:`sklearn_robust.report` turns them into a report.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from . import datasets
from .bridge import as_torch
from .hebbian import KHEncoder
from .nn import (
    IsometryPenalty,
    JacobianPenalty,
    L2Penalty,
    LinearHead,
    RobustNetClassifier,
    SpectralPenalty,
)
from .robustness import (
    accuracy_curve,
    certify,
    critical_distance,
    decision_landscape,
    jacobian_norm_map,
)
from .spectrum import PowerLawSpectrum

__all__ = ["ATTACKS", "ComparisonConfig", "ComparisonResults", "model_family", "run_comparison"]

ATTACKS = ("noise", "fgsm", "pgd")
DATASETS = ("digits", "mnist", "csv")


@dataclass
class ComparisonConfig:
    """What to compare, on which data, how long.

    Attributes
    ----------
    dataset : {"digits", "mnist", "csv"}
    data_path : str or None
        MNIST: the folder of its files; CSV: the file (label in the last column).
    models : sequence of str or None
        Names from :func:`model_family`; None: all of them.
    attacks : sequence of str
    quick : bool
        Fewer models, epochs and examples: a run of well under a minute.
    n_eval : int or None
        Test examples attacked and certified; None: 100 (quick) or 300.
    device : str
    random_state : int
    """

    dataset: str = "digits"
    data_path: str | None = None
    models: tuple | None = None
    attacks: tuple = ATTACKS
    quick: bool = False
    n_eval: int | None = None
    device: str = "cpu"
    random_state: int = 0

    def __post_init__(self):
        if self.dataset not in DATASETS:
            raise ValueError(f"dataset must be one of {DATASETS}; got {self.dataset!r}.")
        unknown = set(self.attacks) - set(ATTACKS)
        if unknown or not self.attacks:
            raise ValueError(f"attacks must be among {ATTACKS}; got {list(self.attacks)}.")
        known = list(model_family())
        if self.models is not None:
            unknown = [m for m in self.models if m not in known]
            if unknown or not self.models:
                raise ValueError(f"unknown model(s) {unknown}; choose from {known}.")
        if self.n_eval is not None and self.n_eval < 10:
            raise ValueError(f"n_eval must be at least 10; got {self.n_eval}.")

    @property
    def eval_size(self):
        return self.n_eval or (100 if self.quick else 300)

    @property
    def model_names(self):
        if self.models is not None:
            return tuple(self.models)
        return QUICK_MODELS if self.quick else tuple(model_family())


@dataclass
class ComparisonResults:
    """Everything measured: a tidy table plus the curves and maps behind the figures."""

    config: ComparisonConfig
    data_description: str
    results: pd.DataFrame  # model, measure, value
    curves: pd.DataFrame  # model, attack, eps, accuracy, n
    distances: dict  # (model, attack) -> critical distances
    spectra: dict  # model -> eigenvalues of the hidden layer on the test data
    landscapes: dict  # model -> (DecisionLandscape, JacobianNormMap)
    certified: pd.DataFrame  # model, class, radius (mean certified radius per class)
    timings: dict = field(default_factory=dict)


QUICK_MODELS = ("backprop", "l2", "isometry-1", "kh-hybrid")


def model_family(quick=False, device="cpu", random_state=0):
    """The papers' models: name -> unfitted estimator, all with one hidden layer of one width.

    Backprop MLP, L2, Jacobian and spectral penalties (Holzhausen et al.),
    isometry at two strengths (the isometric-representations paper) and the KH
    hybrid (a Krotov-Hopfield encoder learned without labels and a linear
    read-out). ``quick``: narrower and fewer epochs.
    """
    width, epochs = (100, 8) if quick else (400, 30)

    def net(penalty=None):
        return RobustNetClassifier(
            module__hidden_sizes=(width,),
            penalty=penalty,
            max_epochs=epochs,
            device=device,
            random_state=random_state,
        )

    encoder = KHEncoder(
        n_components=width,
        power=4.5,
        n_epochs=20 if quick else 100,
        random_state=random_state,
        device=device,
    )
    read_out = RobustNetClassifier(
        module=LinearHead, lr=3e-3, max_epochs=epochs, device=device, random_state=random_state
    )
    return {
        "backprop": net(),
        "l2": net(L2Penalty(1e-2)),
        "jacobian": net(JacobianPenalty(1e-2)),
        "spectral": net(SpectralPenalty(1e-2)),
        "isometry-0.1": net(IsometryPenalty(0.1)),
        "isometry-1": net(IsometryPenalty(1.0)),
        "kh-hybrid": Pipeline([("kh", encoder), ("scale", StandardScaler()), ("clf", read_out)]),
    }


def load_split(config):
    """``(X_train, X_test, y_train, y_test, description)`` for the configured data set.

    Digits and CSV are split 70/30, stratified; MNIST trains on the training
    files and tests on the official test set. Pixels are in [0, 1], so attacks
    clip to that box; CSV data are attacked without a box.
    """
    if config.dataset == "digits":
        X, y = datasets.load_digits(return_X_y=True)
        description = "digits (scikit-learn, 8x8, pixels in [0, 1])"
    elif config.dataset == "csv":
        X, y = datasets.load_csv(config.data_path, return_X_y=True)
        description = f"CSV {Path(config.data_path).name}"
    else:
        X_train, y_train = datasets.load_mnist(config.data_path, split="train", return_X_y=True)
        X_test, y_test = datasets.load_mnist(config.data_path, split="test", return_X_y=True)
        description = f"MNIST ({len(X_train):,} training, {len(X_test):,} test images)"
        return X_train, X_test, y_train, y_test, description
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=config.random_state
    )
    return X_train, X_test, y_train, y_test, description


def run_comparison(config, progress=print) -> ComparisonResults:
    """Train every model of the config on one split and measure each.

    Parameters
    ----------
    config : ComparisonConfig
    progress : callable, default=print
        Receives one line per step.

    Returns
    -------
    ComparisonResults
    """
    X_train, X_test, y_train, y_test, description = load_split(config)
    clip = (0.0, 1.0) if config.dataset != "csv" else None
    rng = np.random.default_rng(config.random_state)
    picked = rng.choice(len(X_test), size=min(config.eval_size, len(X_test)), replace=False)
    X_eval, y_eval = X_test[picked], y_test[picked]
    family = model_family(config.quick, config.device, config.random_state)
    models = {name: family[name] for name in config.model_names}
    rows, curves, distances, spectra, landscapes, certified = [], [], {}, {}, {}, []
    timings = {}
    plane = _plane(X_eval, config.random_state)
    for index, (name, model) in enumerate(models.items(), start=1):
        started = time.perf_counter()
        progress(f"[{index}/{len(models)}] {name}: training on {len(X_train):,} examples")
        model.fit(X_train, y_train)
        rows.append((name, "accuracy", model.score(X_test, y_test)))
        for attack in config.attacks:
            progress(f"[{index}/{len(models)}] {name}: {attack} curve and critical distances")
            kw = {} if attack == "noise" or clip is None else {"clip": clip}
            curve = accuracy_curve(
                model, X_eval, y_eval, attack, random_state=config.random_state, **kw
            )
            curves.append(curve.assign(model=name))
            distances[name, attack] = critical_distance(
                model,
                X_eval,
                y_eval,
                attack,
                random_state=config.random_state,
                **_bisection(attack, X_eval, clip),
                **kw,
            )
            rows += _distance_rows(name, attack, distances[name, attack])
        progress(f"[{index}/{len(models)}] {name}: spectrum, landscape, certification")
        eigenvalues, spectrum_rows = _spectrum(name, model, X_test, config.random_state)
        spectra[name] = eigenvalues
        rows += spectrum_rows
        landscape = decision_landscape(model, **plane)
        jmap = jacobian_norm_map(model, **plane)
        landscapes[name] = (landscape, jmap)
        rows.append((name, "jacobian_norm_mean_on_plane", float(np.mean(jmap.norms))))
        certified.append(_certified(name, model, X_eval, y_eval, config))
        rows.append((name, "certified_accuracy_r0.25", _certified_accuracy(certified[-1])))
        timings[name] = time.perf_counter() - started
    results = pd.DataFrame(rows, columns=["model", "measure", "value"])
    return ComparisonResults(
        config=config,
        data_description=description,
        results=results,
        curves=pd.concat(curves, ignore_index=True),
        distances=distances,
        spectra=spectra,
        landscapes=landscapes,
        certified=pd.concat(certified, ignore_index=True),
        timings=timings,
    )


_PLANE_RESOLUTION = 31
_SIGMA = 0.25  # noise level of the smoothed classifier (Cohen et al.'s smallest on images)
_RADIUS = 0.25


def _plane(X, random_state):
    """One random plane through the first evaluated example, shared by every model's maps."""
    center = X[0]
    extent = float(np.linalg.norm(center)) or 1.0
    return {
        "x": center,
        "extent": extent,
        "resolution": _PLANE_RESOLUTION,
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
    those fooled within reach, and the share never fooled; undefined statistics are left out."""
    correct = distances > 0
    fooled = correct & np.isfinite(distances)
    rows = [(name, f"{attack}_never_fooled", float(np.mean(np.isinf(distances[correct]))))]
    median = float(np.median(distances[correct])) if correct.any() else np.inf
    if np.isfinite(median):
        rows.append((name, f"{attack}_median_critical_distance", median))
    if fooled.any():
        rows.append((name, f"{attack}_mean_critical_distance", float(np.mean(distances[fooled]))))
    return rows


def _spectrum(name, model, X, random_state):
    """Eigenvalues of the hidden layer on X, and the power-law fits on X and on white noise."""
    hidden_module = as_torch(model, output="hidden")

    def through_hidden(inputs):
        with torch.no_grad():
            tensor = torch.as_tensor(inputs, dtype=torch.float32, device=hidden_module.device)
            return hidden_module(tensor).cpu().numpy()

    hidden = through_hidden(X)
    n_max = min(hidden.shape[1], len(X)) // 2
    spectrum = PowerLawSpectrum(n_min=2, n_max=max(n_max, 4), device="cpu").fit(hidden)
    noise_alpha = spectrum.white_noise_alpha(
        n_repeats=1,
        transform=through_hidden,
        n_input_features=X.shape[1],
        random_state=random_state,
    )
    rows = [
        (name, "hidden_alpha", float(spectrum.alpha_)),
        (name, "hidden_alpha_r2", float(spectrum.r2_)),
        (name, "hidden_alpha_white_noise", float(noise_alpha["alpha_mean"])),
    ]
    return spectrum.eigenvalues_, rows


def _certified(name, model, X, y, config):
    n = 200 if config.quick else 1000
    labels, radii = certify(
        model, X, _SIGMA, n0=50, n=n, abstain=None, random_state=config.random_state
    )
    correct = labels == np.asarray(y, dtype=object)
    return pd.DataFrame(
        {"model": name, "class": y, "radius": np.where(correct, radii, 0.0), "certified": correct}
    )


def _certified_accuracy(certified):
    return float(np.mean(certified["certified"] & (certified["radius"] >= _RADIUS)))
