"""Bad input for every public function that evaluates a fitted model, in one place.

A function gets these tests by being listed in ``EVALUATIONS`` (or, for the
functions of one example, ``POINT_EVALUATIONS``); ``test_every_public_function_is_listed``
fails when a public function of the package is in neither list nor ``NOT_EVALUATIONS``.
Each case is an input that a scikit-learn ``predict`` refuses: the evaluations must
refuse it too, with a message that says what is wrong, before any work.
"""

import importlib
import inspect

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import (
    InvalidParameterError,
    generate_invalid_param_val,
    generate_valid_param,
    make_constraint,
)

import sklearn_robust
from sklearn_robust import KHEncoder, datasets, robustness, som
from sklearn_robust.robustness import (
    accuracy_curve,
    certified_accuracy_scorer,
    certify,
    critical_distance,
    critical_distance_scorer,
    decision_landscape,
    fgsm,
    jacobian_norm_map,
    pgd,
    prepare_attack,
    random_noise,
    robust_accuracy_scorer,
    smoothed_predict,
)

N_FEATURES = 6

# A model fitted on named columns and evaluated on them must not hear that its input
# lost its names on the way.
pytestmark = pytest.mark.filterwarnings("error:X does not have valid feature names")

# name -> call(estimator, X, y); each is cheap on a few rows
EVALUATIONS = {
    "random_noise": lambda m, X, y: random_noise(m, X, 0.1, random_state=0),
    "fgsm": lambda m, X, y: fgsm(m, X, y, 0.1),
    "pgd": lambda m, X, y: pgd(m, X, y, 0.1, n_iter=2, random_state=0),
    "prepare_attack": lambda m, X, y: prepare_attack("fgsm", m, X, y),
    "accuracy_curve": lambda m, X, y: accuracy_curve(m, X, y, "fgsm", [0.0, 0.1]),
    "critical_distance": lambda m, X, y: critical_distance(m, X, y, "fgsm", max_eps=1.0),
    "certify": lambda m, X, y: certify(m, X, 0.25, n0=10, n=20, random_state=0),
    "smoothed_predict": lambda m, X, y: smoothed_predict(m, X, 0.25, n=20, random_state=0),
    "robust_accuracy_scorer": lambda m, X, y: robust_accuracy_scorer("fgsm", 0.1)(m, X, y),
    "critical_distance_scorer": lambda m, X, y: critical_distance_scorer("fgsm", max_eps=1.0)(
        m, X, y
    ),
    "certified_accuracy_scorer": lambda m, X, y: certified_accuracy_scorer(0.25, 0.1, n0=10, n=20)(
        m, X, y
    ),
}
TAKES_Y = {"fgsm", "pgd", "accuracy_curve", "critical_distance", "prepare_attack"} | {
    name for name in EVALUATIONS if name.endswith("_scorer")
}

# name -> call(estimator, x) on one example
POINT_EVALUATIONS = {
    "decision_landscape": lambda m, x: decision_landscape(m, x, resolution=3, random_state=0),
    "jacobian_norm_map": lambda m, x: jacobian_norm_map(
        m, x, resolution=3, output="decision", random_state=0
    ),
}

# Public functions that evaluate no fitted model, with the reason.
NOT_EVALUATIONS = {
    "covariance_spectrum": "a spectrum of X alone (tests/test_spectrum.py)",
    "fit_power_law": "a fit to eigenvalues (tests/test_spectrum.py)",
}


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, N_FEATURES))
    y = (X[:, 0] + 0.3 * rng.normal(size=40) > 0).astype(int)
    return X, y


@pytest.fixture(scope="module")
def model(data):
    return make_pipeline(StandardScaler(), LogisticRegression()).fit(*data)


@pytest.fixture(scope="module")
def named_model(data):
    X, y = data
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(N_FEATURES)])
    return make_pipeline(StandardScaler(), LogisticRegression()).fit(frame, y), frame


def _call(name, estimator, X, y):
    return EVALUATIONS[name](estimator, X, y)


def test_every_public_function_is_listed():
    public = {
        name
        for module in (sklearn_robust, robustness)
        for name in module.__all__
        if inspect.isfunction(getattr(module, name))
    }
    listed = set(EVALUATIONS) | set(POINT_EVALUATIONS) | set(NOT_EVALUATIONS)
    assert public == listed


@pytest.mark.parametrize("name", sorted(EVALUATIONS))
def test_valid_input_runs(name, model, data):
    X, y = data
    _call(name, model, X[:10], y[:10])  # the cases below fail for their input alone


def _bad_rows(X, y):
    nan = X[:10].copy()
    nan[3, 2] = np.nan
    inf = X[:10].copy()
    inf[1, 0] = np.inf
    return {
        "nan": (nan, y[:10], ValueError, "NaN"),
        "inf": (inf, y[:10], ValueError, "infinity"),
        "beyond float32": (X[:10] * 1e39, y[:10], ValueError, "float32"),
        "too few features": (X[:10, :-1], y[:10], ValueError, "features"),
        "too many features": (np.hstack([X[:10], X[:10]]), y[:10], ValueError, "features"),
        "no rows": (X[:0], y[:0], ValueError, "0 sample"),
        "3-D": (X[:10].reshape(10, 2, -1), y[:10], ValueError, "dim 3"),
        "1-D": (X[0], y[:1], ValueError, "2D"),
    }


CASES = ["nan", "inf", "beyond float32", "too few features", "too many features", "no rows"]


@pytest.mark.parametrize("case", [*CASES, "3-D", "1-D"])
@pytest.mark.parametrize("name", sorted(EVALUATIONS))
def test_bad_X_is_refused(name, case, model, data):
    X, y, error, message = _bad_rows(*data)[case]
    with pytest.raises(error, match=message):
        _call(name, model, X, y)


@pytest.mark.parametrize("name", sorted(EVALUATIONS))
def test_reordered_or_renamed_columns_are_refused(name, named_model, data):
    model, frame = named_model
    _, y = data
    _call(name, model, frame.iloc[:10], y[:10])  # the fit's own columns work
    with pytest.raises(ValueError, match="same order"):
        _call(name, model, frame.iloc[:10, ::-1], y[:10])
    renamed = frame.iloc[:10].rename(columns={"f0": "other"})
    with pytest.raises(ValueError, match="feature names"):
        _call(name, model, renamed, y[:10])


@pytest.mark.parametrize("name", sorted(TAKES_Y))
def test_labels_that_do_not_fit_are_refused(name, model, data):
    X, y = data
    with pytest.raises(ValueError, match="one label per row"):
        _call(name, model, X[:10], y[:9])
    with pytest.raises(ValueError, match="does not know"):
        _call(name, model, X[:10], y[:10] + 7)


@pytest.mark.parametrize("name", sorted(EVALUATIONS))
def test_unfitted_estimator_is_refused(name, data):
    X, y = data
    with pytest.raises(NotFittedError):
        _call(name, make_pipeline(StandardScaler(), LogisticRegression()), X[:10], y[:10])


@pytest.mark.parametrize("name", sorted(EVALUATIONS))
def test_a_transformer_is_refused_as_not_a_classifier(name, data):
    X, y = data
    encoder = KHEncoder(n_components=8, n_epochs=1, random_state=0).fit(X)
    with pytest.raises(TypeError, match=r"estimator must be a fitted classifier.*KHEncoder"):
        _call(name, encoder, X[:10], y[:10])


@pytest.mark.parametrize("name", sorted(POINT_EVALUATIONS))
def test_bad_point_is_refused(name, model, data):
    X, _ = data
    call = POINT_EVALUATIONS[name]
    call(model, X[0])  # a valid point works
    nan = X[0].copy()
    nan[1] = np.nan
    for x, message in [
        (nan, "NaN"),
        (X[0] * 1e39, "float32"),
        (X[0, :-1], "features"),
    ]:
        with pytest.raises(ValueError, match=message):
            call(model, x)
    with pytest.raises(NotFittedError):
        call(make_pipeline(StandardScaler(), LogisticRegression()), X[0])


@pytest.mark.parametrize("attack", [fgsm, pgd])
@pytest.mark.parametrize("eps", ["a", [0.1, 0.2], -0.1, np.nan])
def test_bad_eps_names_eps(attack, eps, model, data):
    X, y = data
    # A scalar or type validate_params refuses, or an array check_eps refuses for its length.
    match = rf"^The 'eps' parameter of {attack.__name__} must be|^eps must"
    with pytest.raises(ValueError, match=match):
        attack(model, X[:10], y[:10], eps)


# ------------------------------------------------------------------ estimators in float32
def _estimators():
    """(estimator, methods that take X) for every estimator that computes in float32."""
    import torch

    from sklearn_robust import (
        LayerActivations,
        RobustNetClassifier,
        SOMProbe,
        StackedLILClassifier,
        TorchClassifier,
        VectorCodes,
    )

    return {
        "KHEncoder": (KHEncoder(n_components=8, n_epochs=1, random_state=0), ["transform"]),
        "SOMProbe": (
            SOMProbe(n_rows=3, n_cols=3, n_epochs=1, random_state=0),
            ["transform", "predict", "score"],
        ),
        "RobustNetClassifier": (
            RobustNetClassifier(max_epochs=1, device="cpu", random_state=0),
            ["predict", "predict_proba", "transform", "score"],
        ),
        "StackedLILClassifier": (
            StackedLILClassifier(max_epochs=1, device="cpu", random_state=0),
            ["predict", "predict_proba", "transform", "score"],
        ),
        "LayerActivations": (
            LayerActivations(torch.nn.Sequential(torch.nn.Linear(N_FEATURES, 4)), "0"),
            ["transform"],
        ),
        "VectorCodes": (VectorCodes(map_shape=(1, 2, 3)), ["transform"]),
        "TorchClassifier": (
            TorchClassifier(torch.nn.Linear(N_FEATURES, 2), classes=[0, 1]),
            ["predict", "predict_proba", "decision_function", "score"],
        ),
    }


FLOAT32_ESTIMATORS = sorted(_estimators())


@pytest.mark.parametrize("name", FLOAT32_ESTIMATORS)
def test_estimators_refuse_values_beyond_float32(name, data):
    estimator, methods = _estimators()[name]
    X, y = data
    with pytest.raises(ValueError, match="float32"):
        estimator.fit(X * 1e39, y)
    estimator.fit(X, y)
    for method in methods:
        args = (X[:5] * 1e39, y[:5]) if method == "score" else (X[:5] * 1e39,)
        with pytest.raises(ValueError, match="float32"):
            getattr(estimator, method)(*args)


# ------------------------------------------------------------------ parameter validation
SOM_FUNCTIONS = {name for name in som.__all__ if inspect.isfunction(getattr(som, name))}

# Every public function, the data sets' loaders and generators included, is decorated by
# scikit-learn's validate_params, as scikit-learn's own public functions are.
PARAM_VALIDATION_FUNCTION_LIST = [
    *(f"sklearn_robust.robustness.{name}" for name in sorted(EVALUATIONS)),
    *(f"sklearn_robust.robustness.{name}" for name in sorted(POINT_EVALUATIONS)),
    *(f"sklearn_robust.spectrum.{name}" for name in sorted(NOT_EVALUATIONS)),
    *(f"sklearn_robust.datasets.{name}" for name in sorted(datasets.__all__)),
    *(f"sklearn_robust.som.{name}" for name in sorted(SOM_FUNCTIONS)),
]


def test_every_public_function_is_validated():
    listed = {path.rsplit(".", 1)[1] for path in PARAM_VALIDATION_FUNCTION_LIST}
    public = set(EVALUATIONS) | set(POINT_EVALUATIONS) | set(NOT_EVALUATIONS)
    assert listed == public | set(datasets.__all__) | SOM_FUNCTIONS


def _function(path):
    module_name, name = path.rsplit(".", 1)
    return importlib.import_module(module_name), name


@pytest.mark.parametrize("path", PARAM_VALIDATION_FUNCTION_LIST)
def test_function_param_validation(path):
    """Each parameter refuses a value of no valid type, and one of a valid type out of range.

    Modelled on scikit-learn's test of the same name (sklearn/tests/test_public_functions.py).
    """
    module, name = _function(path)
    function = getattr(module, name)
    signature = inspect.signature(function)
    variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    parameters = [p for p in signature.parameters.values() if p.kind not in variadic]
    constraints = getattr(function, "_skl_parameter_constraints", None)
    assert constraints is not None, f"{path} is not decorated by validate_params"
    # One constraint per parameter; **kwargs are checked inside (see test_scorers.py).
    assert set(constraints) == {p.name for p in parameters}

    required = {
        p.name: 1
        if constraints[p.name] == "no_validation"
        else generate_valid_param(make_constraint(constraints[p.name][0]))
        for p in parameters
        if p.default is p.empty
    }
    bad_type = type("BadType", (), {})()
    for parameter in parameters:
        if constraints[parameter.name] == "no_validation":
            continue
        match = rf"The '{parameter.name}' parameter of {name} must be .* Got .* instead\."
        with pytest.raises(InvalidParameterError, match=match):
            function(**{**required, parameter.name: bad_type})
        for constraint in map(make_constraint, constraints[parameter.name]):
            try:
                bad_value = generate_invalid_param_val(constraint)
            except NotImplementedError:
                continue
            with pytest.raises(InvalidParameterError, match=match):
                function(**{**required, parameter.name: bad_value})
