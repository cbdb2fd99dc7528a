"""Tests for sklearn_robust.spectrum: covariance spectra and power-law fits."""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_robust.spectrum import (
    PowerLawFit,
    PowerLawSpectrum,
    covariance_spectrum,
    fit_power_law,
)

from .conftest import cuda

ALPHAS = (0.8, 1.0, 1.5)


def power_law(d, alpha):
    """lambda_n = n^-alpha for n = 1..d."""
    return np.arange(1, d + 1, dtype=np.float64) ** -alpha


def exact_data(n, eigenvalues, seed=0, offset=0.0):
    """X whose sample covariance (ddof=1) is V diag(eigenvalues) V^T exactly.

    X = sqrt(n - 1) Q diag(sqrt(lambda)) V^T with Q orthonormal, centred columns,
    so Xc^T Xc / (n - 1) = V diag(lambda) V^T. A constant offset leaves it unchanged.
    """
    rng = np.random.default_rng(seed)
    d = eigenvalues.size
    M = rng.normal(size=(n, d))
    Q, _ = np.linalg.qr(M - M.mean(axis=0))  # columns stay centred
    V, _ = np.linalg.qr(rng.normal(size=(d, d)))
    return np.sqrt(n - 1) * (Q * np.sqrt(eigenvalues)) @ V.T + offset


def sampled_data(n, d, alpha, seed=0, rotate=True):
    """Gaussian samples whose population covariance has spectrum n^-alpha."""
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, d), dtype=np.float32)
    Z *= np.sqrt(power_law(d, alpha)).astype(np.float32)
    if rotate:
        V, _ = np.linalg.qr(rng.normal(size=(d, d)))
        Z = Z @ V.T.astype(np.float32)
    return Z


def numpy_spectrum(X):
    return np.sort(np.linalg.eigvalsh(np.cov(X, rowvar=False)))[::-1]


# --- covariance_spectrum ---------------------------------------------------------


@pytest.mark.parametrize("alpha", ALPHAS)
def test_exact_oracle_spectrum_and_alpha(alpha):
    lam = power_law(200, alpha)
    X = exact_data(1000, lam, offset=3.0)
    spectrum = covariance_spectrum(X, device="cpu")
    assert spectrum.dtype == np.float64 and spectrum.shape == (200,)
    np.testing.assert_allclose(spectrum[:50], lam[:50], rtol=1e-5)
    np.testing.assert_allclose(spectrum, lam, rtol=1e-4)
    for weighting in ("uniform", "log"):
        fit = fit_power_law(spectrum, n_min=11, n_max=200, weighting=weighting)
        assert fit.alpha == pytest.approx(alpha, abs=1e-4)
        assert fit.r2 == pytest.approx(1.0, abs=1e-8)
        assert fit.alpha_stderr < 1e-5


@pytest.mark.parametrize("shape", [(300, 40), (25, 60), (2, 5)])
def test_spectrum_matches_numpy_both_paths(shape):
    X = np.random.default_rng(1).normal(loc=2.0, size=shape) * np.linspace(3, 0.1, shape[1])
    spectrum = covariance_spectrum(X, device="cpu")
    expected = np.clip(numpy_spectrum(X), 0, None)
    assert spectrum.shape == (shape[1],)
    np.testing.assert_allclose(spectrum, expected, rtol=1e-4, atol=1e-5 * expected[0])
    # Centring leaves rank n_samples - 1 at most; the rest are exact zeros.
    assert np.all(spectrum[shape[0] - 1 :] == 0)
    assert np.all(np.diff(spectrum) <= 0) and np.all(spectrum >= 0)


def test_float64_precision_keeps_the_tail_float32_rounds_off():
    # Eigenvalues from 1 down to 1e-10 of the top: float32's product is accurate to about
    # 1e-7 of lambda_1 in each, float64's to about 1e-16, so only float64 has the tail.
    rng = np.random.default_rng(3)
    q, _ = np.linalg.qr(rng.normal(size=(12, 12)))
    X = rng.normal(size=(400, 12)) * np.logspace(0, -5, 12) @ q.T
    expected = numpy_spectrum(X)
    precise = covariance_spectrum(X, device="cpu", precision="float64")
    rounded = covariance_spectrum(X, device="cpu")
    np.testing.assert_allclose(precise, expected, rtol=1e-5)
    assert np.abs(rounded[-1] - expected[-1]) > 1e-3 * expected[-1]
    est = PowerLawSpectrum(n_min=1, n_max=12, device="cpu", precision="float64").fit(X)
    np.testing.assert_allclose(est.eigenvalues_, expected / expected[0], rtol=1e-5)


def test_float64_precision_fits_ranks_below_float32_round_off():
    # lambda_n = n^-3 over 60 ranks reaches 4.6e-6 of lambda_1: a float32 product
    # cannot tell the last ranks from round-off (floor 1e-6 here leaves them out as the
    # spectrum is estimated), float64 data in float64 keep them all.
    rng = np.random.default_rng(4)
    q, _ = np.linalg.qr(rng.normal(size=(60, 60)))
    X = rng.normal(size=(5000, 60)) * np.arange(1, 61) ** -1.5 @ q.T
    precise = PowerLawSpectrum(n_min=2, n_max=59, device="cpu", precision="float64").fit(X)
    assert precise.relative_floor_ == 1e-12 and precise.fit_range_ == (2, 59)
    assert precise.alpha_ == pytest.approx(3.0, abs=0.15)
    single = PowerLawSpectrum(n_min=2, n_max=59, device="cpu", precision="float64")
    assert single.fit(X.astype(np.float32)).relative_floor_ == 1e-6  # float32 data: its floor
    assert PowerLawSpectrum(device="cpu", n_min=2, n_max=59).fit(X).relative_floor_ == 1e-6


@pytest.mark.parametrize("floor", [0.0, 1.0, -1e-6])
def test_fit_power_law_rejects_a_bad_floor(floor):
    with pytest.raises(InvalidParameterError, match="relative_floor"):
        fit_power_law(np.arange(1, 50) ** -1.0, n_min=2, n_max=20, relative_floor=floor)


def test_fit_power_law_floor_sets_the_usable_ranks():
    spectrum = np.arange(1, 101, dtype=float) ** -4.0  # 1e-8 of lambda_1 at rank 100
    with pytest.warns(UserWarning, match="clipped to 31"):
        assert fit_power_law(spectrum, n_min=2, n_max=100).n_max == 31
    assert fit_power_law(spectrum, n_min=2, n_max=100, relative_floor=1e-12).n_max == 100


def test_spectrum_float32_input_and_constant_columns():
    X = np.random.default_rng(2).normal(size=(100, 6)).astype(np.float32)
    X[:, 2] = 5.0  # zero variance: an exact zero eigenvalue, never negative
    spectrum = covariance_spectrum(X, device="cpu")
    assert spectrum.dtype == np.float64
    assert spectrum[-1] == pytest.approx(0.0, abs=1e-6) and spectrum[-1] >= 0
    np.testing.assert_allclose(spectrum[:5], numpy_spectrum(X.astype(np.float64))[:5], rtol=1e-4)


@pytest.mark.parametrize(
    "X", [np.ones(5), np.ones((1, 4)), np.array([[1.0, np.nan], [2.0, 3.0]])], ids=str
)
def test_spectrum_rejects_bad_input(X):
    with pytest.raises(ValueError):
        covariance_spectrum(X, device="cpu")


@cuda
def test_spectrum_on_cuda_matches_cpu():
    X = sampled_data(2000, 100, 1.0)
    np.testing.assert_allclose(
        covariance_spectrum(X, device="cuda"), covariance_spectrum(X, device="cpu"), rtol=1e-3
    )


# --- fit_power_law ---------------------------------------------------------------


@pytest.mark.parametrize("alpha", ALPHAS)
def test_sampled_oracle_recovers_alpha(alpha):
    """The acceptance criterion: alpha within 0.03 on data with a known spectrum."""
    X = sampled_data(20000, 300, alpha, seed=3)
    fit = fit_power_law(covariance_spectrum(X, device="cpu"), n_min=11, n_max=150)
    assert fit.alpha == pytest.approx(alpha, abs=0.03)
    assert fit.alpha_stderr > 0


@pytest.mark.parametrize("weighting", ["uniform", "log"])
def test_analytic_power_law_with_scale_and_order(weighting):
    lam = 7.0 * power_law(1000, 1.3)
    shuffled = np.random.default_rng(0).permutation(lam)  # sorted internally
    fit = fit_power_law(shuffled, n_min=5, n_max=400, weighting=weighting)
    assert isinstance(fit, PowerLawFit)
    assert fit.alpha == pytest.approx(1.3, abs=1e-10)
    assert fit.intercept == pytest.approx(0.0, abs=1e-10)  # lambda_n / lambda_1 = n^-alpha
    assert fit.alpha_stderr < 1e-10
    assert (fit.n_min, fit.n_max, fit.n_points, fit.weighting) == (5, 400, 396, weighting)


def test_noisy_spectrum_has_positive_stderr_and_r2_below_one():
    rng = np.random.default_rng(4)
    noisy = power_law(300, 1.0) * np.exp(rng.normal(scale=0.1, size=300))
    fit = fit_power_law(noisy, n_min=11, n_max=300)
    assert fit.alpha_stderr > 1e-3
    assert 0.5 < fit.r2 < 0.9999
    assert fit.alpha == pytest.approx(1.0, abs=0.1)


def test_stderr_matches_ols_formula():
    rng = np.random.default_rng(5)
    lam = np.sort(power_law(120, 0.9) * np.exp(rng.normal(scale=0.2, size=120)))[::-1]
    fit = fit_power_law(lam, n_min=3, n_max=100)
    x = np.log(np.arange(3, 101))
    y = np.log(lam[2:100] / lam[0])
    (slope, intercept), cov = np.polyfit(x, y, 1, cov="unscaled")
    residual = y - (slope * x + intercept)
    stderr = np.sqrt(cov[0, 0] * residual @ residual / (x.size - 2))
    r2 = 1 - residual @ residual / np.sum((y - y.mean()) ** 2)
    assert fit.alpha == pytest.approx(-slope, rel=1e-10)
    assert fit.intercept == pytest.approx(intercept, rel=1e-10)
    assert fit.alpha_stderr == pytest.approx(stderr, rel=1e-8)
    assert fit.r2 == pytest.approx(r2, rel=1e-10)


def test_log_weighting_differs_from_uniform_on_a_bent_spectrum():
    ranks = np.arange(1, 401)
    bent = ranks**-0.5 * np.where(ranks > 100, (ranks / 100.0) ** -1.5, 1.0)
    uniform = fit_power_law(bent, n_min=1, n_max=400)
    log = fit_power_law(bent, n_min=1, n_max=400, weighting="log")
    # 1/n weights favour the shallow head, so the log-weighted exponent is smaller.
    assert log.alpha < uniform.alpha - 0.1
    assert uniform.r2 < 0.95 and log.r2 < 0.95  # two regimes are not one power law


def test_clipping_warnings_and_recorded_range():
    with pytest.warns(UserWarning, match=r"n_max=500 was clipped to 60: the spectrum has only 60"):
        fit = fit_power_law(power_law(60, 1.0))
    assert (fit.n_min, fit.n_max, fit.n_points) == (11, 60, 50)
    with_zeros = np.concatenate([power_law(40, 1.0), np.zeros(20), [-1e-12]])
    with pytest.warns(UserWarning, match=r"clipped to 40: only 40 of the 61 .* nonzero"):
        fit = fit_power_law(with_zeros, n_min=2, n_max=50)
    assert fit.n_max == 40 and fit.alpha == pytest.approx(1.0, abs=1e-10)


def test_no_warning_when_range_fits():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit_power_law(power_law(600, 1.0))


def test_fallback_to_all_usable_ranks():
    message = r"ranks 11\.\.500 .* only ranks 1\.\.8 \(of 8\).* Falling back to ranks 1\.\.8"
    with pytest.warns(UserWarning, match=message):
        fit = fit_power_law(power_law(8, 2.0))
    assert (fit.n_min, fit.n_max) == (1, 8) and fit.alpha == pytest.approx(2.0)
    with_zeros = np.concatenate([power_law(5, 0.7), np.zeros(30)])
    with pytest.warns(UserWarning, match=r"ranks 20\.\.30 .* only ranks 1\.\.5 \(of 35\)"):
        fit = fit_power_law(with_zeros, n_min=20, n_max=30)
    assert (fit.n_min, fit.n_max, fit.n_points) == (1, 5, 5) and fit.alpha == pytest.approx(0.7)


@pytest.mark.parametrize(
    ("eigenvalues", "match"),
    [
        ([1.0, 1e-9, 0.0, 0.0], r"at least 2 .* got 1 of 4"),
        ([1.0], r"got 1 of 1"),
        ([0.0, 0.0, 0.0], r"largest eigenvalue must be > 0"),
        ([-1.0, -2.0, -3.0], r"largest eigenvalue must be > 0"),
        ([[1.0, 0.5, 0.2]], r"1-D"),
        ([1.0, np.nan, 0.2], r"NaN"),
        ([1.0, np.inf, 0.2], r"infinity"),
    ],
)
def test_fit_power_law_rejects_bad_spectra(eigenvalues, match):
    with pytest.raises(ValueError, match=match):
        fit_power_law(eigenvalues, n_min=1, n_max=10)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"n_min": 0}, "n_min"),
        ({"n_min": 10, "n_max": 10}, "n_max"),
        ({"n_min": 2.5}, "n_min"),
        ({"n_max": None}, "n_max"),
        ({"weighting": "sqrt"}, "weighting"),
    ],
)
def test_fit_power_law_rejects_bad_parameters(kwargs, name):
    with pytest.raises(
        InvalidParameterError, match=f"The '{name}' parameter of fit_power_law must be"
    ):
        fit_power_law(power_law(100, 1.0), **kwargs)


@pytest.mark.parametrize(("device", "error"), [(3, InvalidParameterError), ("tpu", ValueError)])
def test_covariance_spectrum_rejects_a_bad_device(device, error):
    with pytest.raises(error, match="device"):
        covariance_spectrum(np.ones((3, 2)), device=device)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    values=st.lists(st.floats(min_value=0.0, max_value=1e300), min_size=1, max_size=80),
    n_min=st.integers(1, 30),
    span=st.integers(1, 100),
    weighting=st.sampled_from(["uniform", "log"]),
)
def test_fit_is_finite_or_raises_on_random_spectra(values, n_min, span, weighting):
    spectrum = np.sort(np.asarray(values))[::-1]
    n_usable = np.count_nonzero(spectrum > spectrum[0] * 1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        if spectrum[0] <= 0 or n_usable < 2:
            with pytest.raises(ValueError):
                fit_power_law(spectrum, n_min=n_min, n_max=n_min + span, weighting=weighting)
            return
        fit = fit_power_law(spectrum, n_min=n_min, n_max=n_min + span, weighting=weighting)
    assert np.isfinite([fit.alpha, fit.r2, fit.intercept]).all()
    assert fit.alpha >= -1e-9  # a descending spectrum cannot rise
    assert fit.alpha_stderr >= 0 and -1e-9 <= fit.r2 <= 1 + 1e-9
    assert fit.n_points == fit.n_max - fit.n_min + 1 and fit.n_max <= n_usable
    # Three points or more give a finite error; two (only when no more exist) do not.
    assert np.isfinite(fit.alpha_stderr) == (fit.n_points >= 3)
    assert fit.n_points >= 3 or n_usable == 2


# --- PowerLawSpectrum ------------------------------------------------------------


def test_estimator_fitted_attributes():
    X = exact_data(600, power_law(250, 1.2))
    with pytest.warns(UserWarning, match="clipped to 250"):
        est = PowerLawSpectrum(device="cpu").fit(X)
    assert est.alpha_ == pytest.approx(1.2, abs=1e-4)
    assert est.fit_range_ == (11, 250)
    assert est.weighting_ == "uniform"
    assert (est.n_samples_fit_, est.n_features_in_) == (600, 250)
    assert est.eigenvalues_.shape == (250,) and est.eigenvalues_[0] == 1.0
    np.testing.assert_allclose(est.eigenvalues_[:20], power_law(20, 1.2), rtol=1e-5)
    assert est.r2_ == pytest.approx(1.0, abs=1e-8)
    assert est.alpha_stderr_ >= 0 and np.isfinite(est.intercept_)


def test_estimator_log_weighting_and_score():
    X = sampled_data(5000, 120, 1.0, seed=7)
    est = PowerLawSpectrum(n_min=2, n_max=100, weighting="log", device="cpu").fit(X)
    assert est.weighting_ == "log" and est.fit_range_ == (2, 100)
    assert est.score(X) == est.r2_
    other = sampled_data(5000, 120, 0.7, seed=8)
    assert (
        est.score(other)
        == fit_power_law(
            covariance_spectrum(other, device="cpu"), n_min=2, n_max=100, weighting="log"
        ).r2
    )


def test_estimator_warns_when_samples_limit_rank():
    X = np.random.default_rng(9).normal(size=(30, 80)) * power_law(80, 0.5)
    with pytest.warns(UserWarning) as record:
        est = PowerLawSpectrum(n_min=2, n_max=60, device="cpu").fit(X)
    messages = " | ".join(str(w.message) for w in record)
    assert "n_samples - 1 = 29" in messages  # the cause ...
    assert "n_max=60 was clipped to 29" in messages  # ... and its effect on the fit
    assert est.fit_range_ == (2, 29)


@pytest.mark.parametrize(
    "X",
    [
        np.full((10, 4), np.nan),
        np.full((10, 4), np.inf),
        np.arange(10.0),
        np.ones((1, 5)),
    ],
    ids=["nan", "inf", "1d", "one-sample"],
)
def test_estimator_rejects_bad_input(X):
    with pytest.raises(ValueError):
        PowerLawSpectrum(device="cpu").fit(X)


def test_estimator_needs_two_features():
    X = np.random.default_rng(0).normal(size=(20, 1))
    with pytest.raises(ValueError, match=r"1 feature\(s\)"):
        PowerLawSpectrum(device="cpu").fit(X)


def test_two_features_give_an_exact_slope_with_infinite_error():
    X = np.random.default_rng(0).normal(size=(5000, 2)) * [1.0, 0.5]
    with pytest.warns(UserWarning, match="alpha_stderr is inf"):
        est = PowerLawSpectrum(device="cpu").fit(X)
    ratio = est.eigenvalues_[1]
    assert est.alpha_ == pytest.approx(-np.log(ratio) / np.log(2))
    assert est.alpha_stderr_ == np.inf and est.fit_range_ == (1, 2)


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"n_min": 0}, "n_min"),
        ({"n_max": 5, "n_min": 5}, "n_max"),
        ({"weighting": "sqrt"}, "weighting"),
        ({"n_max": 2.5}, "n_max"),
        ({"precision": "float16"}, "precision"),
    ],
)
def test_estimator_rejects_bad_parameters(params, name):
    X = np.random.default_rng(0).normal(size=(50, 10))
    match = f"The '{name}' parameter of PowerLawSpectrum must be"
    with pytest.raises(InvalidParameterError, match=match):
        PowerLawSpectrum(device="cpu", **params).fit(X)


def test_unfitted_use_raises():
    est = PowerLawSpectrum(device="cpu")
    with pytest.raises(NotFittedError):
        est.score(np.ones((5, 4)))
    with pytest.raises(NotFittedError):
        est.white_noise_alpha()


def test_score_checks_feature_count():
    X = sampled_data(500, 30, 1.0)
    est = PowerLawSpectrum(n_min=2, n_max=20, device="cpu").fit(X)
    with pytest.raises(ValueError, match="features"):
        est.score(X[:, :10])


def test_pickle_round_trip():
    X = sampled_data(3000, 100, 1.1, seed=10)
    est = PowerLawSpectrum(n_min=3, n_max=80, device="cpu").fit(X)
    clone = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(clone.eigenvalues_, est.eigenvalues_)
    assert clone.alpha_ == est.alpha_
    assert clone.score(X) == est.score(X)


def test_scale_check_is_width_invariant_for_a_power_law():
    # Units mixing a power law with alpha = 1.5: any subset of them sees the same decay.
    X = sampled_data(4000, 512, 1.5, seed=6)
    est = PowerLawSpectrum(n_min=11, n_max=100, device="cpu")
    with pytest.warns(UserWarning, match="clipped to 64"):  # the narrowest width
        table = est.scale_check(X, n_repeats=3, random_state=0)
    assert isinstance(table, pd.DataFrame)
    assert list(table.columns) == ["width", "repeat", "alpha", "alpha_stderr", "r2", "n_max"]
    assert table["width"].tolist() == [64] * 3 + [128] * 3 + [256] * 3 + [512] * 3
    assert table["repeat"].tolist() == [0, 1, 2] * 4
    assert table.loc[table["width"] == 64, "n_max"].eq(64).all()
    assert table.loc[table["width"] > 64, "n_max"].eq(100).all()
    assert np.ptp(table.groupby("width")["alpha"].mean()) < 0.1
    assert table["alpha"].sub(1.5).abs().max() < 0.1
    assert not hasattr(est, "alpha_")  # the check leaves the estimator unfitted


def test_scale_check_exposes_a_scale_dependent_spectrum():
    # Independent units with exponential variances: no power law. Keeping 1 unit in
    # 8 makes the subset's n-th value the full set's ~8n-th, a much steeper decay.
    rng = np.random.default_rng(7)
    X = rng.standard_normal((3000, 256)) * np.exp(-np.arange(256) / 40.0)
    table = PowerLawSpectrum(n_min=2, n_max=30, device="cpu").scale_check(
        X, widths=[32, 256], n_repeats=2, random_state=0
    )
    means = table.groupby("width")["alpha"].mean()
    assert means[32] - means[256] > 1.0


def test_scale_check_widths_and_seed():
    X = sampled_data(2000, 64, 1.0, seed=8)
    est = PowerLawSpectrum(n_min=2, n_max=10, device="cpu")
    first = est.scale_check(X, widths=[12, 40], n_repeats=3, random_state=1)
    again = est.scale_check(X, widths=[12, 40], n_repeats=3, random_state=1)
    pd.testing.assert_frame_equal(first, again)
    assert first["repeat"].tolist() == [0, 1, 2, 0, 1, 2]
    assert first["alpha"].nunique() == 6  # a fresh subset of units for each repeat
    with pytest.raises(ValueError, match="widths"):
        est.scale_check(X, widths=[2, 10])
    for widths in ([65], [10.0]):
        with pytest.raises(ValueError, match="widths"):
            est.scale_check(X, widths=widths)


def test_default_widths_drop_narrow_ones():
    X = np.random.default_rng(0).normal(size=(200, 20)) * power_law(20, 1.0)
    est = PowerLawSpectrum(n_min=1, n_max=3, device="cpu")
    table = est.scale_check(X, random_state=0)
    assert table["width"].tolist() == [5, 10, 20]  # 20 // 8 = 2 is too narrow


def test_white_noise_alpha_is_near_zero():
    X = np.random.default_rng(11).normal(size=(20000, 300))
    est = PowerLawSpectrum(n_max=100, device="cpu").fit(X)
    result = est.white_noise_alpha(n_repeats=3, random_state=0)
    assert set(result) == {"alpha_mean", "alpha_std", "alphas"}
    assert result["alphas"].shape == (3,)
    assert abs(result["alpha_mean"]) < 0.15
    assert result["alpha_std"] == pytest.approx(np.std(result["alphas"]))
    assert result["alpha_mean"] == pytest.approx(est.alpha_, abs=0.02)  # same distribution
    again = est.white_noise_alpha(n_repeats=3, random_state=0)
    np.testing.assert_array_equal(again["alphas"], result["alphas"])


def _mixing_matrix(k, d, alpha, seed=12):
    """A (k, d) matrix with singular values n^(-alpha/2): white noise @ A has spectrum n^-alpha."""
    rng = np.random.default_rng(seed)
    U, _ = np.linalg.qr(rng.normal(size=(k, d)))
    V, _ = np.linalg.qr(rng.normal(size=(d, d)))
    return (U * np.sqrt(power_law(d, alpha))) @ V.T


def test_white_noise_alpha_through_a_transform():
    A = _mixing_matrix(250, 200, 1.2)
    X = np.random.default_rng(13).normal(size=(20000, 200))
    est = PowerLawSpectrum(n_max=100, device="cpu").fit(X)
    result = est.white_noise_alpha(
        n_repeats=2, transform=lambda Z: Z @ A, n_input_features=250, random_state=0
    )
    assert result["alpha_mean"] == pytest.approx(1.2, abs=0.03)


def test_white_noise_alpha_accepts_transformer_objects():
    A = torch.from_numpy(_mixing_matrix(40, 30, 1.0)).float()

    class Layer:
        def transform(self, Z):
            return torch.from_numpy(Z) @ A  # a torch output is converted too

    X = np.random.default_rng(14).normal(size=(4000, 30))
    est = PowerLawSpectrum(n_min=2, n_max=25, device="cpu").fit(X)
    result = est.white_noise_alpha(
        n_repeats=1, transform=Layer(), n_input_features=40, random_state=0
    )
    assert result["alpha_std"] == 0.0
    assert result["alpha_mean"] == pytest.approx(1.0, abs=0.1)
    with pytest.raises(ValueError, match="n_input_features"):
        est.white_noise_alpha(transform=Layer())
    with pytest.raises(ValueError, match="n_input_features"):
        est.white_noise_alpha(n_input_features=40)
    with pytest.raises(TypeError, match="transform"):
        est.white_noise_alpha(transform=3, n_input_features=40)


@pytest.mark.parametrize("scale", [1e20, 1e-20, 1e200, 1e-200])
def test_spectrum_fit_is_scale_free(scale):
    """The exponent is scale-free: data far from 1 is rescaled before its float32 product."""
    X = np.random.default_rng(0).normal(size=(500, 30)) * np.arange(1, 31) ** -1.0
    reference = PowerLawSpectrum(n_min=1, n_max=30, device="cpu").fit(X)
    scaled = PowerLawSpectrum(n_min=1, n_max=30, device="cpu").fit(X * scale)
    assert scaled.alpha_ == pytest.approx(reference.alpha_, rel=1e-5)
    assert scaled.r2_ == pytest.approx(reference.r2_, rel=1e-5)
    np.testing.assert_allclose(scaled.eigenvalues_, reference.eigenvalues_, rtol=1e-4, atol=1e-7)
    assert scaled.score(X * scale) == pytest.approx(reference.r2_, rel=1e-5)


@pytest.mark.parametrize("scale", [1e20, 1e-20, 1e150])
def test_covariance_spectrum_scales_by_the_square(scale):
    X = np.random.default_rng(0).normal(size=(500, 30)) * np.arange(1, 31) ** -1.0
    expected = covariance_spectrum(X, device="cpu")
    got = covariance_spectrum(X * scale, device="cpu")
    np.testing.assert_allclose(got / scale**2, expected, rtol=1e-4, atol=1e-7 * expected[0])


def test_covariance_spectrum_beyond_float64_is_inf_with_a_warning():
    """(1e155)^2 is not a float64: the largest eigenvalues are inf, the others scaled back."""
    X = np.random.default_rng(0).normal(size=(500, 30)) * np.logspace(0, -3, 30)
    expected = covariance_spectrum(X, device="cpu")
    with pytest.warns(RuntimeWarning, match="float64"):
        got = covariance_spectrum(X * 1e155, device="cpu")
    representable = expected * 1e155 < np.finfo(np.float64).max / 1e155
    assert np.isinf(got[~representable]).all() and representable.sum() >= 10
    np.testing.assert_allclose(
        got[representable] / 1e155 / 1e155, expected[representable], rtol=1e-3
    )


def test_float64_values_beyond_float32_are_computed_not_refused():
    """The spectrum is computed on rescaled data: 1e39 (beyond float32) is not refused."""
    X = np.random.default_rng(0).normal(size=(500, 30)) * np.arange(1, 31) ** -1.0
    reference = PowerLawSpectrum(n_min=1, n_max=30, device="cpu").fit(X)
    est = PowerLawSpectrum(n_min=1, n_max=30, device="cpu").fit(X * 1e39)
    assert est.alpha_ == pytest.approx(reference.alpha_, rel=1e-5)
    np.testing.assert_allclose(
        covariance_spectrum(X * 1e39, device="cpu") / 1e78,
        covariance_spectrum(X, device="cpu"),
        rtol=1e-4,
        atol=1e-7,
    )
