"""Tests for sklearn_robust.mixture._niw against closed forms and scipy."""

import numpy as np
import pytest
import torch
from scipy.stats import invwishart, multivariate_t

from sklearn_robust.mixture._niw import (
    NIWPosterior,
    NIWPrior,
    log_marginal_likelihood,
    posterior,
    sample_gaussians,
    student_t,
    student_t_log_density,
)


def _data(n=20, d=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) + 1.0


def _prior(d, seed=0):
    rng = np.random.default_rng(seed)
    return NIWPrior(0.5, d + 2.0, torch.tensor(np.diag(rng.uniform(0.5, 2.0, d))))


def _post(prior, X):
    X = torch.tensor(X)
    return posterior(prior, torch.tensor([float(len(X))]), X.sum(0, keepdim=True), (X.T @ X)[None])


def test_posterior_matches_textbook_update():
    """Psi_n = Psi_0 + S + kappa_0 n / kappa_n xbar xbar^T (prior mean 0), and the rest."""
    X = _data()
    prior = _prior(3)
    post = _post(prior, X)
    n, mean = len(X), X.mean(0)
    scatter = (X - mean).T @ (X - mean)
    psi = prior.scale.numpy() + scatter + 0.5 * n / (0.5 + n) * np.outer(mean, mean)
    assert float(post.kappa[0]) == 0.5 + n and float(post.nu[0]) == 5.0 + n
    np.testing.assert_allclose(post.mean[0].numpy(), n * mean / (0.5 + n))
    np.testing.assert_allclose((post.chol[0] @ post.chol[0].T).numpy(), psi, rtol=1e-10)


def test_marginal_likelihood_is_the_product_of_sequential_predictives():
    """log p(x_1..x_n) = sum_i log t(x_i | x_<i), each predictive from scipy."""
    X = _data()
    prior = _prior(3)
    expected = 0.0
    for i, x in enumerate(X):
        post = _post(prior, X[:i]) if i else None
        if post is None:
            kappa, nu, mu, psi = prior.kappa, prior.nu, np.zeros(3), prior.scale.numpy()
        else:
            kappa, nu = float(post.kappa[0]), float(post.nu[0])
            mu, psi = post.mean[0].numpy(), (post.chol[0] @ post.chol[0].T).numpy()
        df = nu - 3 + 1
        expected += multivariate_t(mu, psi * (kappa + 1) / (kappa * df), df=df).logpdf(x)
    got = float(log_marginal_likelihood(prior, _post(prior, X))[0])
    assert got == pytest.approx(expected, rel=1e-8)


def test_student_t_log_density_matches_scipy():
    X = _data(n=30, d=4, seed=1)
    prior = _prior(4, seed=1)
    batches = [X[:10], X[10:25]]
    posts = [_post(prior, b) for b in batches]
    df, loc, chol = (torch.cat(parts) for parts in zip(*map(student_t, posts), strict=True))
    got = student_t_log_density(torch.tensor(X), df, loc, chol).numpy()
    for k in range(2):
        shape = (chol[k] @ chol[k].T).numpy()
        expected = multivariate_t(loc[k].numpy(), shape, df=float(df[k])).logpdf(X)
        np.testing.assert_allclose(got[:, k], expected, rtol=1e-7)


def test_sampled_covariances_follow_the_inverse_wishart():
    """Bartlett draws of Sigma: their mean is Psi_n / (nu_n - d - 1), as scipy's inverse Wishart."""
    d, draws = 3, 20000
    prior = _prior(d)
    post = _post(prior, _data(n=8, d=d))
    repeat = _repeated(post, draws)
    generator = torch.Generator().manual_seed(0)
    rng = np.random.default_rng(0)
    dof = repeat.nu.numpy()[:, None] - np.arange(d)[None]
    chi2 = torch.tensor(2.0 * rng.gamma(0.5 * dof))
    normals = torch.randn(draws, d + 1, d, generator=generator, dtype=torch.float64)
    mean, whiten, log_det = sample_gaussians(repeat, chi2, normals[:, 1:], normals[:, 0])
    covariance = torch.linalg.inv(whiten.transpose(-1, -2) @ whiten).numpy()
    psi = (post.chol[0] @ post.chol[0].T).numpy()
    nu = float(post.nu[0])
    np.testing.assert_allclose(covariance.mean(0), invwishart(nu, psi).mean(), rtol=0.05, atol=0.02)
    # log|Sigma^-1| is the factor's
    np.testing.assert_allclose(log_det.numpy(), -np.linalg.slogdet(covariance)[1], rtol=1e-8)
    # mu | Sigma ~ N(mu_n, Sigma / kappa_n): whitened residuals are standard normal
    residual = np.einsum("kij,kj->ki", whiten.numpy(), mean.numpy() - post.mean.numpy())
    residual *= np.sqrt(float(post.kappa[0]))
    assert abs(residual.mean()) < 0.02 and residual.std() == pytest.approx(1.0, abs=0.02)


def _repeated(post, copies):
    """A batch of ``copies`` of one posterior."""

    return NIWPosterior(
        *(t.expand(copies, *t.shape[1:]).contiguous() for t in (post.count, post.kappa, post.nu)),
        post.mean.expand(copies, -1).contiguous(),
        post.chol.expand(copies, -1, -1).contiguous(),
    )
