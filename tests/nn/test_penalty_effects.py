"""What each penalty does to a trained network: the issue's behavioural oracles."""

import numpy as np
import pytest
import torch
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_robust import KHEncoder, PowerLawSpectrum
from sklearn_robust.datasets import load_digits, make_entangled_rings
from sklearn_robust.nn import (
    IsometryPenalty,
    LinearHead,
    RobustNetClassifier,
    SpectralPenalty,
)


def within_class_distance_correlation(X, hidden, y):
    """Smallest, over classes, Pearson r between input and hidden pairwise distances."""
    correlations = []
    for label in np.unique(y):
        A, B = X[y == label], hidden[y == label]
        upper = np.triu_indices(len(A), 1)
        d_input = np.linalg.norm(A[:, None] - A[None], axis=-1)[upper]
        d_hidden = np.linalg.norm(B[:, None] - B[None], axis=-1)[upper]
        correlations.append(np.corrcoef(d_input, d_hidden)[0, 1])
    return min(correlations)


@pytest.mark.parametrize("strength, isometric", [(1.0, True), (0.0, False)])
def test_isometry_keeps_within_class_distances_on_entangled_rings(strength, isometric):
    X, y = make_entangled_rings(400, noise=0.05, random_state=0)
    clf = RobustNetClassifier(
        penalty=IsometryPenalty(strength),
        module__hidden_sizes=(20, 20, 20, 20),
        module__activation="tanh",
        batch_size=400,  # the paper's full batch: every within-class pair counts
        max_epochs=300,
        lr=1e-2,
        random_state=0,
        device="cpu",
    ).fit(X, y)
    assert clf.score(X, y) >= 0.99
    r = within_class_distance_correlation(X, clf.transform(X), y)
    assert (r >= 0.95) == isometric, r


def test_spectral_penalty_moves_the_hidden_spectrum_towards_its_target():
    X, y = load_digits(return_X_y=True)

    def fitted_alpha(penalty):
        clf = RobustNetClassifier(
            penalty=penalty,
            module__hidden_sizes=(200,),
            max_epochs=30,
            batch_size=256,
            random_state=0,
            device="cpu",
        ).fit(X, y)
        return PowerLawSpectrum(n_min=11, n_max=60).fit(clf.transform(X)).alpha_

    target = 1.0
    plain = fitted_alpha(None)
    regularized = fitted_alpha(SpectralPenalty(strength=1.0, alpha=target, tau=10))
    assert abs(regularized - target) < abs(plain - target) - 0.1, (plain, regularized)


def test_isometry_strength_grid_search_with_two_workers():
    """The issue's GridSearchCV over clf__penalty__strength runs on digits with n_jobs=2."""
    X, y = load_digits(return_X_y=True)
    pipe = Pipeline(
        [
            ("scale", StandardScaler()),
            (
                "clf",
                RobustNetClassifier(
                    penalty=IsometryPenalty(), max_epochs=20, lr=3e-3, device="cpu"
                ),
            ),
        ]
    )
    strengths = [0, 1e-3, 1e-2, 1e-1, 1, 10]
    search = GridSearchCV(pipe, {"clf__penalty__strength": strengths}, cv=2, n_jobs=2)
    search.fit(X[:600], y[:600])
    scores = search.cv_results_["mean_test_score"]
    assert len(scores) == 6 and np.isfinite(scores).all()
    assert scores[0] > 0.8  # the cross-entropy baseline learns


def test_the_kh_hybrid_is_differentiable_end_to_end():
    """Each step of the hybrid pipeline hands out a torch module; composed, they give
    the pipeline's decision function and gradients with respect to the pixels."""
    X, y = load_digits(return_X_y=True)
    hybrid = Pipeline(
        [
            ("kh", KHEncoder(n_components=100, power=4.5, n_epochs=5, random_state=0)),
            ("scale", StandardScaler()),
            ("clf", RobustNetClassifier(module=LinearHead, max_epochs=5, device="cpu")),
        ]
    ).fit(X, y)
    scaler = hybrid.named_steps["scale"]
    mean = torch.tensor(scaler.mean_, dtype=torch.float32)
    scale = torch.tensor(scaler.scale_, dtype=torch.float32)
    encoder = hybrid.named_steps["kh"].to_torch_module()
    decoder = hybrid.named_steps["clf"].to_torch_module()

    x = torch.tensor(X[:16], requires_grad=True)
    logits = decoder((encoder(x) - mean) / scale)
    np.testing.assert_allclose(
        logits.detach().numpy(), hybrid.decision_function(X[:16]), rtol=1e-4, atol=1e-4
    )
    logits.max(dim=1).values.sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
