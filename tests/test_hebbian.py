"""Tests for sklearn_robust.hebbian (KHEncoder)."""

import pickle
import warnings

import numpy as np
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_robust import KHEncoder, hebbian
from sklearn_robust.datasets import load_digits
from sklearn_robust.hebbian import kh_minibatch_step, learning_rate_at, synaptic_weights

from .conftest import cuda, interrupt_second_call
from .kh_reference import reference_minibatch

# Most tests train a few epochs on purpose, far from convergence; the tests of the
# warning itself turn it into an error (or expect it) explicitly.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def digits():
    return load_digits(return_X_y=True)


def _one_step(synapses, batch, learning_rate, p, k, delta):
    S = torch.tensor(synapses, dtype=torch.float32)
    W = synaptic_weights(S, p)
    kh_minibatch_step(S, W, torch.tensor(batch, dtype=torch.float32), learning_rate, p, k, delta)
    return S.numpy().astype(np.float64), W.numpy()


@pytest.mark.parametrize("p, k, delta", [(3.0, 7, 0.4), (2.0, 2, 0.4), (4.5, 3, 0.1)])
def test_one_minibatch_matches_reference_loop(p, k, delta):
    """The vectorised step reproduces the float64 reference notebook to 1e-5 relative."""
    rng = np.random.default_rng(1)
    synapses = rng.normal(size=(500, 784))
    batch = rng.random((100, 784))
    expected = reference_minibatch(synapses.copy(), batch, 0.04, p=p, k=k, delta=delta)
    got, weights = _one_step(synapses, batch, 0.04, p, k, delta)

    scale = np.abs(expected).max()
    assert np.abs(got - expected).max() / scale < 1e-5
    # The update itself (a small difference of large numbers) agrees too.
    step, expected_step = got - synapses, expected - synapses
    assert np.abs(step - expected_step).max() / np.abs(expected_step).max() < 1e-4
    # The largest element of the update equals the learning rate.
    assert np.abs(expected_step).max() == pytest.approx(0.04)
    # The cached effective weights were refreshed on the touched rows.
    fresh = np.sign(got) * np.abs(got) ** (p - 1)
    np.testing.assert_allclose(weights, fresh, rtol=1e-4, atol=1e-5)


def test_only_winners_and_kth_units_move():
    rng = np.random.default_rng(2)
    synapses = rng.normal(size=(300, 20)).astype(np.float32).astype(np.float64)
    batch = rng.random((10, 20)).astype(np.float32).astype(np.float64)
    got, _ = _one_step(synapses, batch, 0.04, 3.0, 4, 0.4)
    currents = batch @ (np.sign(synapses) * np.abs(synapses) ** 2).T
    order = np.argsort(-currents, axis=1)
    expected_rows = set(order[:, 0]) | set(order[:, 3])
    moved = set(np.flatnonzero(np.abs(got - synapses).max(axis=1) > 0))
    assert moved == expected_rows


def test_minibatch_step_returns_each_examples_winner():
    rng = np.random.default_rng(3)
    synapses = rng.normal(size=(30, 8))
    batch = rng.random((12, 8))
    currents = batch @ (np.sign(synapses) * np.abs(synapses) ** 2).T
    S = torch.tensor(synapses, dtype=torch.float32)
    winners = kh_minibatch_step(
        S, synaptic_weights(S, 3.0), torch.tensor(batch, dtype=torch.float32), 0.04, 3.0, 4, 0.4
    )
    np.testing.assert_array_equal(winners.numpy(), currents.argmax(axis=1))


def test_learning_rate_decays_linearly_to_last_rate():
    rates = [learning_rate_at(epoch, 0.04, 4) for epoch in range(6)]
    np.testing.assert_allclose(rates, [0.04, 0.03, 0.02, 0.01, 0.01, 0.01])


def test_transform_matches_formula(digits):
    X, _ = digits
    encoder = KHEncoder(n_components=30, n_epochs=2, power=2.5, random_state=0).fit(X)
    S = encoder.components_.astype(np.float64)
    expected = np.maximum(X @ (np.sign(S) * np.abs(S) ** 2).T, 0) ** 2.5
    got = encoder.transform(X)
    assert got.dtype == np.float32 and got.shape == (len(X), 30)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * expected.max())


def test_fit_is_deterministic_with_random_state(digits):
    X, _ = digits
    first = KHEncoder(n_components=40, n_epochs=3, random_state=7).fit(X)
    second = KHEncoder(n_components=40, n_epochs=3, random_state=7).fit(X)
    other = KHEncoder(n_components=40, n_epochs=3, random_state=8).fit(X)
    np.testing.assert_array_equal(first.components_, second.components_)
    assert not np.allclose(first.components_, other.components_)


def test_fit_equals_partial_fit_epochs(digits):
    """fit(n_epochs) is n_epochs partial_fit passes along the same schedule."""
    X, _ = digits
    fitted = KHEncoder(n_components=20, n_epochs=3, random_state=3).fit(X)
    streamed = KHEncoder(n_components=20, n_epochs=3, random_state=3)
    for _ in range(3):
        streamed.partial_fit(X)
    assert streamed.n_iter_ == fitted.n_iter_ == 3
    np.testing.assert_allclose(streamed.components_, fitted.components_, rtol=1e-6, atol=1e-6)


def test_partial_fit_continues_from_components(digits):
    X, _ = digits
    encoder = KHEncoder(n_components=20, n_epochs=2, random_state=0).fit(X)
    before = encoder.components_.copy()
    encoder.partial_fit(X[:200])
    assert encoder.n_iter_ == 3
    assert encoder.learning_rate_ == pytest.approx(0.075)  # the schedule's last rate
    assert not np.array_equal(before, encoder.components_)
    with pytest.raises(ValueError, match="features"):
        encoder.partial_fit(X[:, :10])


def test_training_converges_towards_unit_p_norm(digits):
    """Krotov-Hopfield synapses converge towards the unit sphere of the p-norm."""
    X, _ = digits
    encoder = KHEncoder(n_components=50, n_epochs=60, learning_rate=0.04, random_state=0).fit(X)
    norms = (np.abs(encoder.components_) ** 3).sum(axis=1)
    initial = (np.abs(np.random.default_rng(0).normal(size=(50, 64))) ** 3).sum(axis=1)
    assert np.median(np.abs(norms - 1)) < 0.1 * np.median(np.abs(initial - 1))


def test_pruning_ablates_high_variance_units(digits):
    X, _ = digits
    encoder = KHEncoder(n_components=40, n_epochs=2, random_state=0).fit(X)
    threshold = float(np.median(encoder.synapse_variance_))
    pruned = KHEncoder(n_components=40, n_epochs=2, random_state=0, prune_threshold=threshold)
    pruned.fit(X)
    np.testing.assert_allclose(pruned.synapse_variance_, encoder.components_.var(axis=1))
    np.testing.assert_array_equal(pruned.pruned_mask_, encoder.synapse_variance_ > threshold)
    assert 0 < pruned.pruned_mask_.sum() < 40
    hidden = pruned.transform(X)
    assert np.all(hidden[:, pruned.pruned_mask_] == 0)
    np.testing.assert_allclose(
        hidden[:, ~pruned.pruned_mask_], encoder.transform(X)[:, ~pruned.pruned_mask_]
    )
    assert not encoder.pruned_mask_.any()


def test_pickle_round_trip_gives_identical_output(digits):
    X, _ = digits
    encoder = KHEncoder(n_components=25, n_epochs=2, random_state=0).fit(X)
    reloaded = pickle.loads(pickle.dumps(encoder))
    np.testing.assert_array_equal(reloaded.transform(X), encoder.transform(X))
    # Training continues identically after a reload (the shuffle stream travels too).
    np.testing.assert_array_equal(
        reloaded.partial_fit(X).components_, encoder.partial_fit(X).components_
    )


def test_torch_module_is_differentiable_and_matches_transform(digits):
    X, _ = digits
    encoder = KHEncoder(n_components=15, n_epochs=1, power=3, random_state=0).fit(X)
    layer = encoder.to_torch_module()
    x = torch.tensor(X[:5], requires_grad=True)
    out = layer(x)
    np.testing.assert_allclose(out.detach().numpy(), encoder.transform(X[:5]), rtol=1e-6)
    out.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert not any(p.requires_grad for p in layer.parameters())


def test_unit_norm_deviation_and_converged_fraction(digits):
    X, _ = digits
    encoder = KHEncoder(n_components=60, n_epochs=30, p=2.5, norm_tol=0.2, random_state=0).fit(X)
    S = encoder.components_.astype(np.float64)
    expected = np.abs((np.abs(S) ** 2.5).sum(axis=1) - 1)
    np.testing.assert_allclose(encoder.unit_norm_deviation_, expected, rtol=1e-12)
    assert encoder.unit_norm_deviation_.shape == (60,)
    mask = encoder.winner_mask_
    assert mask.dtype == bool and mask.shape == (60,) and mask.any()
    assert 0.0 <= encoder.converged_fraction_ <= 1.0
    assert encoder.converged_fraction_ == pytest.approx(np.mean(expected[mask] < 0.2))


def test_winner_mask_is_the_last_epochs_winners(digits):
    """With a negligible rate the synapses do not move, so the winners are known."""
    X, _ = digits
    encoder = KHEncoder(n_components=40, n_epochs=1, learning_rate=1e-12, random_state=0).fit(X)
    S = encoder.components_.astype(np.float64)
    winners = np.unique((X @ (np.sign(S) * np.abs(S) ** 2).T).argmax(axis=1))
    np.testing.assert_array_equal(np.flatnonzero(encoder.winner_mask_), winners)


def test_short_fit_warns_with_the_count_and_the_remedy(digits):
    X, _ = digits
    encoder = KHEncoder(n_components=50, n_epochs=1, random_state=0)
    with pytest.warns(ConvergenceWarning, match=r"0 of the \d+ units .* after 1 epochs") as record:
        encoder.fit(X)
    message = str(record[0].message)
    assert "raise n_epochs (now 1; try 2 or more) or learning_rate (now 0.15)" in message
    assert encoder.converged_fraction_ == 0.0
    # The fit completed before the warning: the encoder is usable.
    assert encoder.transform(X[:2]).shape == (2, 50)


def test_partial_fit_warns_only_once_the_schedule_is_over(digits):
    X, _ = digits
    encoder = KHEncoder(n_components=20, n_epochs=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        encoder.partial_fit(X)  # epoch 1 of 2: still on its way, no warning
    assert 0.0 <= encoder.converged_fraction_ <= 1.0
    with pytest.warns(ConvergenceWarning, match="after 2 epochs"):
        encoder.partial_fit(X)


def test_defaults_converge_on_digits(digits):
    """The default schedule brings >= 90% of the winning units to the unit p-norm."""
    X, _ = digits
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        encoder = KHEncoder(random_state=0).fit(X)
    assert encoder.converged_fraction_ >= 0.9
    assert encoder.n_iter_ == 200
    # Nor has it collapsed: about half of the 2000 units win examples.
    assert encoder.winner_fraction_ > 0.4


def test_winner_fraction_counts_against_what_the_data_allow(digits):
    X, _ = digits
    many = KHEncoder(n_components=60, n_epochs=2, random_state=0).fit(X)
    assert many.winner_fraction_ == pytest.approx(many.winner_mask_.sum() / 60)
    # With fewer examples than units, at most n_samples units can win.
    few = KHEncoder(n_components=60, n_epochs=2, random_state=0).fit(X[:20])
    assert few.winner_fraction_ == pytest.approx(few.winner_mask_.sum() / 20)
    assert 0.0 < few.winner_fraction_ <= 1.0


def test_collapsed_small_layer_warns_with_the_winners_and_the_remedy(digits):
    """100 units at the default rate 0.15 end with a handful of winners, all converged."""
    X, _ = digits
    encoder = KHEncoder(n_components=100, random_state=0)
    collapsed = r"collapsed: only \d+ of its 100 units won"
    with pytest.warns(ConvergenceWarning, match=collapsed) as record:
        encoder.fit(X)
    assert len(record) == 1
    assert record[0].filename == __file__  # points at the caller's fit
    assert "Lower learning_rate (now 0.15; try 0.0375)" in str(record[0].message)
    assert encoder.converged_fraction_ >= 0.9  # the old check alone would not warn
    assert encoder.winner_fraction_ < 0.1
    # partial_fit, past the end of the schedule, warns the same way.
    with pytest.warns(ConvergenceWarning, match="collapsed"):
        encoder.partial_fit(X)


def test_short_fit_is_not_called_collapsed(digits):
    """Few units win early in training: a fit that has not converged gets that warning only."""
    X, _ = digits
    with pytest.warns(ConvergenceWarning) as record:
        encoder = KHEncoder(n_epochs=1, random_state=0).fit(X)
    assert encoder.winner_fraction_ < 0.1
    assert [str(w.message).startswith("KHEncoder did not converge") for w in record] == [True]


@pytest.mark.parametrize(
    "params, message",
    [
        ({"norm_tol": 0.0}, "'norm_tol' parameter"),
        ({"norm_tol": -0.1}, "'norm_tol' parameter"),
        ({"norm_tol": "tight"}, "'norm_tol' parameter"),
        ({"p": 1.5}, "'p' parameter"),
        ({"k": 1}, "'k' parameter"),
        ({"k": 11, "n_components": 10}, "k=11 must not exceed n_components=10"),
        ({"n_components": 0}, "'n_components' parameter"),
        ({"learning_rate": 0.0}, "'learning_rate' parameter"),
        ({"n_epochs": 0}, "'n_epochs' parameter"),
        ({"device": "tpu"}, "device"),
    ],
)
def test_bad_parameters_raise_before_any_work(params, message, monkeypatch):
    def no_work(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr("sklearn_robust.hebbian.kh_minibatch_step", no_work)
    with pytest.raises(ValueError, match=message):
        KHEncoder(n_components=params.pop("n_components", 20), **params).fit(np.ones((5, 4)))


@pytest.mark.parametrize(
    "X, message",
    [
        (np.array([[0.0, np.nan], [1.0, 2.0]]), "NaN"),
        (np.array([[0.0, np.inf], [1.0, 2.0]]), "infinity"),
        (np.ones(4), "2D array"),
    ],
)
def test_bad_input_raises_clear_error(X, message):
    with pytest.raises(ValueError, match=message):
        KHEncoder(n_components=5, k=2).fit(X)


def test_transform_checks_fitted_and_feature_count(digits):
    X, _ = digits
    with pytest.raises(NotFittedError):
        KHEncoder().transform(X)
    encoder = KHEncoder(n_components=5, k=2, n_epochs=1).fit(X)
    with pytest.raises(ValueError, match="64 features"):
        encoder.transform(X[:, :10])


def test_verbose_reports_epochs_and_learning_rate(digits, capsys):
    X, _ = digits
    KHEncoder(n_components=5, k=2, n_epochs=2, verbose=2, random_state=0).fit(X[:100])
    out = capsys.readouterr().out
    assert "epoch 1/2" in out and "epoch 2/2" in out
    assert "learning rate 0.15000" in out and "learning rate 0.07500" in out


def test_feature_names_and_pandas_output(digits):
    X, _ = digits
    encoder = KHEncoder(n_components=4, k=2, n_epochs=1, random_state=0).fit(X)
    names = encoder.get_feature_names_out()
    assert list(names) == ["khencoder0", "khencoder1", "khencoder2", "khencoder3"]
    frame = encoder.set_output(transform="pandas").transform(X[:3])
    assert list(frame.columns) == list(names)


def test_hybrid_pipeline_reaches_096_on_digits(digits):
    """The issue's acceptance: KH(400, power 3) + scaler + logistic regression >= 0.96."""
    X, y = digits
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=0
    )
    pipe = Pipeline(
        [
            ("kh", KHEncoder(n_components=400, power=3, random_state=0)),
            ("scale", StandardScaler()),
            ("clf", LogisticRegression(max_iter=2000)),
        ]
    )
    accuracy = pipe.fit(X_train, y_train).score(X_test, y_test)
    assert accuracy >= 0.96


@cuda
def test_cpu_and_cuda_agree(digits):
    X, _ = digits
    cpu = KHEncoder(n_components=50, n_epochs=3, random_state=0, device="cpu").fit(X)
    gpu = KHEncoder(n_components=50, n_epochs=3, random_state=0, device="cuda").fit(X)
    np.testing.assert_allclose(gpu.components_, cpu.components_, rtol=1e-3, atol=1e-4)
    # A CUDA-fitted encoder pickles and reloads onto the CPU.
    reloaded = pickle.loads(pickle.dumps(gpu))
    reloaded.set_params(device="cpu")
    np.testing.assert_allclose(reloaded.transform(X), gpu.transform(X), rtol=1e-4, atol=1e-4)


def test_properties_of_the_checks_that_force_one_unit(digits):
    """What the estimator checks that set n_components=1 assert, with k valid units."""
    X, _ = digits
    encoder = KHEncoder(n_components=20, n_epochs=2, random_state=0)
    before = encoder.get_params()
    encoder.fit(X)
    assert encoder.get_params() == before  # fit does not overwrite parameters

    full = encoder.transform(X)
    order = np.random.default_rng(0).permutation(len(X))
    np.testing.assert_allclose(encoder.transform(X[order]), full[order], rtol=1e-6)
    halves = np.vstack([encoder.transform(X[:900]), encoder.transform(X[900:])])
    np.testing.assert_allclose(halves, full, rtol=1e-6)

    assert KHEncoder(n_components=5, k=2, n_epochs=1).fit(X[:1]).transform(X[:1]).shape == (1, 5)
    one_feature = KHEncoder(n_components=5, k=2, n_epochs=1).fit(X[:, :1])
    assert one_feature.transform(X[:4, :1]).shape == (4, 5)
    with pytest.raises(ValueError, match="2D array"):
        encoder.transform(X[0])


def test_interrupted_fit_leaves_no_fitted_encoder(digits, monkeypatch):
    X, _ = digits
    for method in ("fit", "partial_fit"):
        encoder = KHEncoder(n_components=20, n_epochs=2, random_state=0)
        with monkeypatch.context() as patch:
            calls = interrupt_second_call(patch, hebbian, "kh_minibatch_step")
            with pytest.raises(KeyboardInterrupt):
                getattr(encoder, method)(X)
        assert len(calls) == 2
        with pytest.raises(NotFittedError):
            encoder.transform(X)
        assert not hasattr(encoder, "components_") and not hasattr(encoder, "n_features_in_")


def test_interrupted_partial_fit_or_refit_keeps_the_previous_encoder(digits, monkeypatch):
    X, _ = digits
    encoder = KHEncoder(n_components=20, n_epochs=3, random_state=0).fit(X)
    before = pickle.dumps(encoder)
    for call in (lambda: encoder.partial_fit(X), lambda: encoder.fit(X[:, :10])):
        with monkeypatch.context() as patch:
            interrupt_second_call(patch, hebbian, "kh_minibatch_step")
            with pytest.raises(KeyboardInterrupt):
                call()
        assert pickle.dumps(encoder) == before
    # the synapses and the shuffle stream were put back: the next epoch is the uninterrupted one
    expected = KHEncoder(n_components=20, n_epochs=3, random_state=0).fit(X).partial_fit(X)
    np.testing.assert_array_equal(encoder.partial_fit(X).components_, expected.components_)


def test_values_beyond_float32_are_refused(digits):
    """float64 input above float32's largest value would become inf in float32, then NaN."""
    X, _ = digits
    huge = X.astype(np.float64) * 1e39
    message = r"X holds values .* beyond float32's range"
    with pytest.raises(ValueError, match=message):
        KHEncoder(n_components=20, n_epochs=1).fit(huge)
    with pytest.raises(ValueError, match=message):
        KHEncoder(n_components=20, n_epochs=1).partial_fit(huge)
    encoder = KHEncoder(n_components=20, n_epochs=1, random_state=0).fit(X)
    with pytest.raises(ValueError, match=message):
        encoder.partial_fit(huge)
    with pytest.raises(ValueError, match=message):
        encoder.transform(huge)
