import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from sklearn_robust import RobustNetClassifier
from sklearn_robust.robustness import (
    DecisionLandscape,
    JacobianNormMap,
    decision_landscape,
    jacobian_norm_map,
)

N_FEATURES = 6


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, N_FEATURES)) * rng.uniform(0.5, 3.0, N_FEATURES) + 1.0
    y = (X[:, 0] - X[:, 1] + 0.5 * X[:, 2] > 1.0).astype(int) + (X[:, 3] > 1.5)
    return X, y


@pytest.fixture(scope="module")
def binary_linear(data):
    X, y = data
    return make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y > 0)


@pytest.fixture(scope="module")
def knn(data):
    return KNeighborsClassifier(n_neighbors=5).fit(*data)


def grid_by_hand(center, directions, offsets):
    """points[i, j] = center + offsets[j] * u + offsets[i] * v, spelled out."""
    u, v = directions
    points = np.empty((offsets.size, offsets.size, center.size))
    for i, b in enumerate(offsets):
        for j, a in enumerate(offsets):
            points[i, j] = center + a * u + b * v
    return points


# ------------------------------------------------------------------ the plane


def test_linear_binary_labels_and_confidence_match_the_score_by_hand(data, binary_linear):
    X, _ = data
    landscape = decision_landscape(binary_linear, X[3], resolution=9, random_state=0)
    scaler, logistic = binary_linear[0], binary_linear[-1]
    w = logistic.coef_[0] / scaler.scale_
    b = logistic.intercept_[0] - w @ scaler.mean_
    score = grid_by_hand(landscape.center, landscape.directions, landscape.offsets) @ w + b
    assert isinstance(landscape, DecisionLandscape)
    assert landscape.labels.shape == landscape.confidence.shape == (9, 9)
    assert np.array_equal(landscape.classes, [False, True])
    assert set(np.unique(landscape.labels)) == {False, True}  # the boundary crosses the plane
    clear = np.abs(score) > 1e-3  # float32 may flip a point on the boundary itself
    assert np.array_equal(landscape.labels[clear], score[clear] > 0)
    sigmoid = 1.0 / (1.0 + np.exp(-np.abs(score)))
    np.testing.assert_allclose(landscape.confidence, sigmoid, atol=1e-5)


def test_points_follow_the_documented_layout(data, binary_linear):
    X, _ = data
    landscape = decision_landscape(binary_linear, X[0], resolution=5, random_state=1)
    expected = grid_by_hand(landscape.center, landscape.directions, landscape.offsets)
    assert landscape.points.dtype == np.float32
    np.testing.assert_allclose(landscape.points, expected.reshape(25, -1), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(landscape.center, X[0])


def test_the_same_random_state_draws_the_same_orthonormal_plane_for_both_maps(data, binary_linear):
    X, _ = data
    landscape = decision_landscape(binary_linear, X[0], resolution=3, random_state=7)
    jmap = jacobian_norm_map(binary_linear, X[0], resolution=3, random_state=7)
    other = decision_landscape(binary_linear, X[0], resolution=3, random_state=8)
    np.testing.assert_array_equal(landscape.directions, jmap.directions)
    assert not np.allclose(landscape.directions, other.directions)
    np.testing.assert_allclose(landscape.directions @ landscape.directions.T, np.eye(2), atol=1e-12)
    assert landscape.directions.shape == (2, N_FEATURES)


def test_given_directions_are_honoured_and_a_plane_can_be_reused(data, binary_linear):
    X, _ = data
    given = np.zeros((2, N_FEATURES))
    given[0, 0], given[0, 1] = 3.0, 4.0  # not unit length
    given[1, 0], given[1, 2] = 1.0, 2.0  # not orthogonal to the first
    landscape = decision_landscape(binary_linear, X[0], given, resolution=3)
    u, v = landscape.directions
    np.testing.assert_allclose(u, given[0] / 5.0, atol=1e-12)  # same direction, same sign
    # Both given directions lie in the plane spanned by the result, and v is orthogonal to u.
    projection = given @ landscape.directions.T @ landscape.directions
    np.testing.assert_allclose(projection, given, atol=1e-12)
    assert abs(u @ v) < 1e-12 and np.isclose(np.linalg.norm(v), 1.0)
    assert v @ given[1] > 0  # the orientation of the plane is kept
    reused = jacobian_norm_map(binary_linear, X[0], landscape.directions, resolution=3)
    np.testing.assert_allclose(reused.directions, landscape.directions, atol=1e-12)


def test_default_extent_is_the_norm_of_x_and_offsets_are_a_linspace(data, binary_linear):
    X, _ = data
    landscape = decision_landscape(binary_linear, X[0], resolution=4, random_state=0)
    extent = np.linalg.norm(X[0])
    np.testing.assert_array_equal(landscape.offsets, np.linspace(-extent, extent, 4))
    assert landscape.extent == pytest.approx(extent)
    at_zero = decision_landscape(binary_linear, np.zeros(N_FEATURES), resolution=3)
    np.testing.assert_array_equal(at_zero.offsets, [-1.0, 0.0, 1.0])
    chosen = decision_landscape(binary_linear, X[0], extent=0.25, resolution=3)
    np.testing.assert_array_equal(chosen.offsets, [-0.25, 0.0, 0.25])


@pytest.mark.parametrize("fixture", ["binary_linear", "knn"])
def test_the_middle_of_an_odd_grid_is_the_prediction_at_x(data, fixture, request):
    X, _ = data
    model = request.getfixturevalue(fixture)
    for row in X[:10]:
        landscape = decision_landscape(model, row, resolution=5, random_state=0)
        assert landscape.labels[2, 2] == model.predict(row[None])[0]


# ----------------------------------------------------------- black-box models


def test_knn_landscape_uses_predict_and_predict_proba(data, knn):
    X, _ = data
    landscape = decision_landscape(knn, X[5], resolution=7, random_state=0, batch_size=10)
    points = landscape.points
    np.testing.assert_array_equal(landscape.labels.ravel(), knn.predict(points))
    np.testing.assert_allclose(landscape.confidence.ravel(), knn.predict_proba(points).max(1))


def test_jacobian_of_a_non_differentiable_classifier_names_the_step(data, knn):
    X, _ = data
    with pytest.raises(TypeError, match="KNeighborsClassifier"):
        jacobian_norm_map(knn, X[0], resolution=3, random_state=0)
    pipeline = make_pipeline(StandardScaler(), KNeighborsClassifier()).fit(*data)
    with pytest.raises(TypeError, match="kneighborsclassifier"):
        jacobian_norm_map(pipeline, X[0], output="decision", resolution=3, random_state=0)


def test_classifier_without_probabilities_gives_nan_confidence(data):
    X, y = data
    svc = SVC().fit(X[:60], y[:60])  # no as_torch adapter, no predict_proba
    landscape = decision_landscape(svc, X[0], resolution=5, random_state=0)
    assert np.isnan(landscape.confidence).all()
    np.testing.assert_array_equal(landscape.labels.ravel(), svc.predict(landscape.points))


# ------------------------------------------------------------------ Jacobians


def test_pca_pipeline_hidden_jacobian_is_the_constant_linear_map(data):
    X, y = data
    model = make_pipeline(StandardScaler(), PCA(n_components=3), LogisticRegression()).fit(X, y)
    jmap = jacobian_norm_map(model, X[0], resolution=7, random_state=0)  # width 3 < 6: reverse
    pca, scaler = model[1], model[0]
    expected = np.linalg.norm(pca.components_ / scaler.scale_)
    assert isinstance(jmap, JacobianNormMap) and jmap.output == "hidden"
    assert jmap.norms.shape == (7, 7)
    np.testing.assert_allclose(jmap.norms, expected, rtol=1e-5)


def test_linear_logits_jacobian_is_the_scaled_coefficients(data):
    X, y = data
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    jmap = jacobian_norm_map(model, X[0], resolution=3, output="decision", random_state=0)
    expected = np.linalg.norm(model[-1].coef_ / model[0].scale_)
    np.testing.assert_allclose(jmap.norms, expected, rtol=1e-5)


@pytest.mark.parametrize("width", [3, 12])  # narrower (reverse mode) and wider (forward mode)
def test_mlp_tanh_hidden_jacobian_matches_the_closed_form(data, width):
    X, y = data
    # alpha keeps the weights moderate, so that few units saturate and float32 keeps digits.
    model = MLPClassifier(
        (width,), activation="tanh", solver="lbfgs", alpha=1.0, max_iter=1000, random_state=0
    )
    model.fit(StandardScaler().fit_transform(X), y)
    center = np.full(N_FEATURES, 0.2)
    jmap = jacobian_norm_map(model, center, extent=2.0, resolution=6, random_state=0)
    W, b = model.coefs_[0], model.intercepts_[0]
    points = grid_by_hand(jmap.center, jmap.directions, jmap.offsets).reshape(-1, N_FEATURES)
    slope = 1.0 - np.tanh(points @ W + b) ** 2  # (n_points, width)
    # J = diag(slope) W^T, so ||J||_F^2 = sum_h slope_h^2 ||W[:, h]||^2.
    expected = np.sqrt(slope**2 @ (W**2).sum(axis=0))
    np.testing.assert_allclose(jmap.norms.ravel(), expected, rtol=2e-4)
    assert expected.std() > 0.01 * expected.mean()  # the norm does vary over this plane


@pytest.fixture(scope="module")
def robust_net(data):
    X, y = data
    clf = RobustNetClassifier(
        max_epochs=2, device="cpu", random_state=0, module__hidden_sizes=(16,)
    )
    return clf.fit(X.astype(np.float32), y)


@pytest.mark.parametrize("output", ["hidden", "decision"])
def test_robust_net_jacobian_matches_a_per_point_autograd_loop(data, robust_net, output):
    X, _ = data
    jmap = jacobian_norm_map(
        robust_net, X[0], resolution=4, output=output, random_state=0, chunk_size=5
    )
    module = robust_net.to_torch_module(output)
    expected = []
    for point in torch.from_numpy(jmap.points):
        jacobian = torch.autograd.functional.jacobian(lambda p: module(p[None])[0], point)
        expected.append(float(jacobian.norm()))
    np.testing.assert_allclose(jmap.norms.ravel(), expected, rtol=1e-5)


def test_chunking_does_not_change_the_norms_and_training_flags_are_restored(data, robust_net):
    X, _ = data
    robust_net.module_.train()
    try:
        one = jacobian_norm_map(robust_net, X[1], resolution=5, random_state=0, chunk_size=1)
        assert robust_net.module_.training
        many = jacobian_norm_map(robust_net, X[1], resolution=5, random_state=0, chunk_size=1000)
    finally:
        robust_net.module_.eval()
    np.testing.assert_allclose(one.norms, many.norms, rtol=1e-6)


# ------------------------------------------------------------------ bad input


def wrong_rank(n):
    return np.ones((2, n))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"x": np.zeros((1, N_FEATURES))}, "1-D"),
        ({"x": np.zeros(N_FEATURES + 1)}, "7 features"),
        ({"x": np.r_[np.nan, np.zeros(N_FEATURES - 1)]}, "NaN"),
        ({"x": np.r_[np.inf, np.zeros(N_FEATURES - 1)]}, "infinity"),
        ({"resolution": 1}, "resolution"),
        ({"resolution": 2.5}, "resolution"),
        ({"extent": 0.0}, "extent"),
        ({"extent": -1.0}, "extent"),
        ({"extent": np.inf}, "extent"),
        ({"directions": np.ones((3, N_FEATURES))}, "shape"),
        ({"directions": np.ones((2, N_FEATURES - 1))}, "shape"),
        ({"directions": np.ones(N_FEATURES)}, "shape"),
        ({"directions": wrong_rank(N_FEATURES)}, "rank 2"),
        ({"directions": np.zeros((2, N_FEATURES))}, "rank 2"),
        ({"directions": np.full((2, N_FEATURES), np.nan)}, "finite"),
        # Beyond float32's range the grid would be inf, then NaN, then class 0.
        ({"x": np.r_[1e39, np.zeros(N_FEATURES - 1)]}, r"x holds .*float32's range"),
        ({"extent": 1e39}, r"grid.*extent=1e\+39.*float32's range"),
        ({"x": np.full(N_FEATURES, 3e38), "extent": 1e38}, r"grid.*float32's range"),
    ],
)
@pytest.mark.parametrize("function", [decision_landscape, jacobian_norm_map])
def test_bad_input_raises_before_any_work(binary_linear, function, kwargs, message):
    arguments = {"x": np.zeros(N_FEATURES), **kwargs}
    with pytest.raises(ValueError, match=message):
        function(binary_linear, **arguments)


def test_bad_options_raise(data, binary_linear):
    X, _ = data
    with pytest.raises(ValueError, match="output"):
        jacobian_norm_map(binary_linear, X[0], output="logits")
    with pytest.raises(ValueError, match="chunk_size"):
        jacobian_norm_map(binary_linear, X[0], chunk_size=0)
    with pytest.raises(ValueError, match="batch_size"):
        decision_landscape(binary_linear, X[0], batch_size=0)
    with pytest.raises(ValueError, match="classifier"):
        decision_landscape(StandardScaler().fit(X), X[0])


@pytest.mark.parametrize("function", [decision_landscape, jacobian_norm_map])
def test_an_unfitted_estimator_raises(function):
    with pytest.raises(NotFittedError):
        function(make_pipeline(StandardScaler(), LogisticRegression()), np.zeros(N_FEATURES))


def test_a_single_feature_spans_no_plane():
    model = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
    with pytest.raises(ValueError, match="2 input features"):
        decision_landscape(model, [0.5])
