"""Normal-Inverse-Wishart conjugate algebra, batched over components.

Every function takes a batch of components along the leading axis. The prior
mean is 0: callers centre the data on it first, which turns the posterior scale
into ``Psi_n = Psi_0 + S_2 - s_1 s_1^T / kappa_n`` (``s_1`` the sum and ``S_2``
the sum of outer products of a component's points) and keeps the statistics of
distant components from cancelling.

The statistics, Cholesky factors and log-determinants are float64: the
marginal likelihoods that accept or reject a split differ by a few nats out of
thousands, and the log-determinant of a 64-d scale loses that much in float32.

:func:`sample_student_t` and :func:`expected_gaussian_log_density` work on the
Student-t predictives of saved states in NumPy (Monte-Carlo KL estimates), one
component per row, without a zero prior mean.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch

__all__ = [
    "NIWPosterior",
    "NIWPrior",
    "expected_gaussian_log_density",
    "log_marginal_likelihood",
    "posterior",
    "sample_gaussians",
    "sample_student_t",
    "student_t",
    "student_t_log_density",
    "student_t_mixture_log_density",
]

_LOG_PI = math.log(math.pi)
_LOG_2PI = math.log(2.0 * math.pi)


@dataclass(frozen=True)
class NIWPrior:
    """``mu | Sigma ~ N(0, Sigma / kappa)``, ``Sigma ~ IW(nu, scale)``.

    Parameters
    ----------
    kappa : float
        Pseudo-count of the prior mean.
    nu : float
        Degrees of freedom of the inverse Wishart, greater than ``d - 1``.
    scale : torch.Tensor of shape (d, d)
        Scale ``Psi_0`` of the inverse Wishart, positive definite.

    Examples
    --------
    >>> import torch
    >>> from sklearn_robust.mixture._niw import NIWPrior
    >>> prior = NIWPrior(kappa=1.0, nu=4.0, scale=torch.eye(2, dtype=torch.float64))
    >>> prior.dim, round(float(prior.log_normaliser), 4)
    (2, -0.4516)
    """

    kappa: float
    nu: float
    scale: torch.Tensor  # (d, d), positive definite

    @property
    def dim(self):
        return self.scale.shape[-1]

    @cached_property
    def log_normaliser(self):
        """The prior's term of each marginal likelihood.

        ``nu / 2 log|scale| - log Gamma_d(nu / 2)``.
        """
        nu = torch.as_tensor(0.5 * self.nu, dtype=self.scale.dtype, device=self.scale.device)
        return 0.5 * self.nu * torch.linalg.slogdet(self.scale)[1] - torch.special.multigammaln(
            nu, self.dim
        )


@dataclass(frozen=True)
class NIWPosterior:
    """Posterior parameters of a batch of components; ``chol`` is the scale's Cholesky factor.

    Built by :func:`posterior`.

    Parameters
    ----------
    count : torch.Tensor of shape (K,)
        Number of points of each component.
    kappa : torch.Tensor of shape (K,)
        ``kappa_n = kappa_0 + count``.
    nu : torch.Tensor of shape (K,)
        ``nu_n = nu_0 + count``.
    mean : torch.Tensor of shape (K, d)
        Posterior mean ``mu_n`` (relative to the centred data).
    chol : torch.Tensor of shape (K, d, d)
        Lower Cholesky factor of the posterior scale ``Psi_n``.

    Examples
    --------
    >>> import torch
    >>> from sklearn_robust.mixture._niw import NIWPrior, posterior
    >>> prior = NIWPrior(kappa=1.0, nu=4.0, scale=torch.eye(2, dtype=torch.float64))
    >>> X = torch.tensor([[0.5, 0.0], [-0.5, 1.0], [0.0, -1.0]], dtype=torch.float64)
    >>> count = torch.tensor([3.0], dtype=torch.float64)
    >>> post = posterior(prior, count, X.sum(0, keepdim=True), (X.T @ X).unsqueeze(0))
    >>> post.kappa.tolist(), post.nu.tolist(), tuple(post.chol.shape)
    ([4.0], [7.0], (1, 2, 2))
    """

    count: torch.Tensor  # (K,)
    kappa: torch.Tensor  # (K,)
    nu: torch.Tensor  # (K,)
    mean: torch.Tensor  # (K, d)
    chol: torch.Tensor  # (K, d, d), lower

    @property
    def log_det_scale(self):
        return 2.0 * torch.log(torch.diagonal(self.chol, dim1=-2, dim2=-1)).sum(-1)


def posterior(prior, count, total, outer):
    """NIW posterior from each component's count, sum ``s_1`` and sum of outer products ``S_2``.

    Parameters
    ----------
    prior : NIWPrior
        The prior of every component.
    count : tensor of shape (K,)
        Number of points in each component.
    total : tensor of shape (K, d)
        Sum ``s_1`` of each component's points.
    outer : tensor of shape (K, d, d)
        Sum ``S_2`` of the outer products of each component's points.

    Returns
    -------
    NIWPosterior
        The posterior of each component.

    Examples
    --------
    >>> import torch
    >>> from sklearn_robust.mixture._niw import NIWPrior, posterior
    >>> prior = NIWPrior(kappa=1.0, nu=4.0, scale=torch.eye(2, dtype=torch.float64))
    >>> X = torch.tensor([[0.5, 0.0], [-0.5, 1.0], [0.0, -1.0]], dtype=torch.float64)
    >>> count = torch.tensor([3.0], dtype=torch.float64)
    >>> post = posterior(prior, count, X.sum(0, keepdim=True), (X.T @ X).unsqueeze(0))
    >>> post.count.tolist(), post.mean.tolist()
    ([3.0], [[0.0, 0.0]])
    """
    kappa = prior.kappa + count
    mean = total / kappa.unsqueeze(-1)
    scale = prior.scale + outer - mean.unsqueeze(-1) * total.unsqueeze(-2)
    scale = 0.5 * (scale + scale.transpose(-1, -2))  # exactly symmetric for the factorisation
    return NIWPosterior(count, kappa, prior.nu + count, mean, torch.linalg.cholesky(scale))


def log_marginal_likelihood(prior, post):
    """``log p(X_k)`` of each component's points with its parameters integrated out.

    ``-n d / 2 log(pi) + log Gamma_d(nu_n / 2) - log Gamma_d(nu_0 / 2)
    + nu_0 / 2 log|Psi_0| - nu_n / 2 log|Psi_n| + d / 2 (log kappa_0 - log kappa_n)``.

    Parameters
    ----------
    prior : NIWPrior
        The prior of every component.
    post : NIWPosterior
        The posterior of the components under ``prior``.

    Returns
    -------
    log_likelihood : tensor of shape (K,)
        Log marginal likelihood of each component's points.

    Examples
    --------
    >>> import torch
    >>> from sklearn_robust.mixture._niw import NIWPrior, posterior
    >>> prior = NIWPrior(kappa=1.0, nu=4.0, scale=torch.eye(2, dtype=torch.float64))
    >>> X = torch.tensor([[0.5, 0.0], [-0.5, 1.0], [0.0, -1.0]], dtype=torch.float64)
    >>> count = torch.tensor([3.0], dtype=torch.float64)
    >>> post = posterior(prior, count, X.sum(0, keepdim=True), (X.T @ X).unsqueeze(0))
    >>> from sklearn_robust.mixture._niw import log_marginal_likelihood
    >>> log_marginal_likelihood(prior, post).round(decimals=4).tolist()
    [-7.8698]
    """
    d = prior.dim
    return (
        -0.5 * post.count * d * _LOG_PI
        + torch.special.multigammaln(0.5 * post.nu, d)
        + prior.log_normaliser
        - 0.5 * post.nu * post.log_det_scale
        + 0.5 * d * (math.log(prior.kappa) - torch.log(post.kappa))
    )


def sample_gaussians(post, chi2, normal_factor, normal_mean):
    """Draw ``(mu, Sigma)`` from each posterior; return the mean and a whitening factor.

    ``Sigma^-1 ~ Wishart(nu_n, Psi_n^-1)`` by Bartlett's decomposition: with
    ``Psi_n = L L^T``, ``Sigma^-1 = B B^T`` for ``B = L^-T A`` and ``A`` lower
    triangular, ``A_ii^2 ~ chi2(nu_n - i)`` and ``A_ij ~ N(0, 1)`` below the
    diagonal. Then ``mu = mu_n + B^-T eps / sqrt(kappa_n)``.

    Parameters
    ----------
    post : NIWPosterior
        The posterior of each component.
    chi2 : tensor of shape (K, d)
        ``chi2(nu_n - i)`` draws, i = 0..d-1 (drawn by the caller, who owns the RNG).
    normal_factor : tensor of shape (K, d, d)
        Standard normal draws; the strictly lower triangle is used.
    normal_mean : tensor of shape (K, d)
        Standard normal draws for the mean.

    Returns
    -------
    mean : tensor of shape (K, d)
        The drawn mean ``mu`` of each component.
    whiten : tensor of shape (K, d, d)
        ``M = B^T`` so that ``(x - mu)^T Sigma^-1 (x - mu) = |M (x - mu)|^2``.
    log_det_precision : tensor of shape (K,)
        ``log |Sigma^-1|``.

    Examples
    --------
    >>> import torch
    >>> from sklearn_robust.mixture._niw import NIWPrior, posterior
    >>> prior = NIWPrior(kappa=1.0, nu=4.0, scale=torch.eye(2, dtype=torch.float64))
    >>> X = torch.tensor([[0.5, 0.0], [-0.5, 1.0], [0.0, -1.0]], dtype=torch.float64)
    >>> count = torch.tensor([3.0], dtype=torch.float64)
    >>> post = posterior(prior, count, X.sum(0, keepdim=True), (X.T @ X).unsqueeze(0))
    >>> from sklearn_robust.mixture._niw import sample_gaussians
    >>> chi2 = torch.tensor([[7.0, 6.0]], dtype=torch.float64)  # chi2(nu_n - i) draws
    >>> normal = torch.zeros(1, 2, 2, dtype=torch.float64)
    >>> mean, whiten, log_det = sample_gaussians(post, chi2, normal, normal[:, 0])
    >>> tuple(mean.shape), tuple(whiten.shape), tuple(log_det.shape)
    ((1, 2), (1, 2, 2), (1,))
    """
    bartlett = torch.tril(normal_factor, diagonal=-1) + torch.diag_embed(chi2.sqrt())
    eye = torch.eye(post.chol.shape[-1], dtype=post.chol.dtype, device=post.chol.device)
    chol_inverse = torch.linalg.solve_triangular(post.chol, eye, upper=False)  # L^-1
    whiten = bartlett.transpose(-1, -2) @ chol_inverse  # B^T = A^T L^-1
    # B^-T eps = L A^-T eps
    step = torch.linalg.solve_triangular(
        bartlett.transpose(-1, -2), normal_mean.unsqueeze(-1), upper=True
    )
    mean = post.mean + (post.chol @ step).squeeze(-1) / post.kappa.sqrt().unsqueeze(-1)
    log_det_precision = 2.0 * (
        torch.log(torch.diagonal(bartlett, dim1=-2, dim2=-1)).sum(-1)
        - torch.log(torch.diagonal(post.chol, dim1=-2, dim2=-1)).sum(-1)
    )
    return mean, whiten, log_det_precision


def student_t(post):
    """Posterior predictive of each component: multivariate Student-t ``(df, loc, chol of scale)``.

    ``t_{nu_n - d + 1}(mu_n, Psi_n (kappa_n + 1) / (kappa_n (nu_n - d + 1)))``.

    Parameters
    ----------
    post : NIWPosterior
        The posterior of each component.

    Returns
    -------
    df : tensor of shape (K,)
        Degrees of freedom ``nu_n - d + 1``.
    loc : tensor of shape (K, d)
        Location ``mu_n``.
    chol : tensor of shape (K, d, d)
        Lower Cholesky factor of the scale.

    Examples
    --------
    >>> import torch
    >>> from sklearn_robust.mixture._niw import NIWPrior, posterior
    >>> prior = NIWPrior(kappa=1.0, nu=4.0, scale=torch.eye(2, dtype=torch.float64))
    >>> X = torch.tensor([[0.5, 0.0], [-0.5, 1.0], [0.0, -1.0]], dtype=torch.float64)
    >>> count = torch.tensor([3.0], dtype=torch.float64)
    >>> post = posterior(prior, count, X.sum(0, keepdim=True), (X.T @ X).unsqueeze(0))
    >>> from sklearn_robust.mixture._niw import student_t
    >>> df, loc, chol = student_t(post)
    >>> df.tolist(), tuple(loc.shape), tuple(chol.shape)
    ([6.0], (1, 2), (1, 2, 2))
    """
    d = post.chol.shape[-1]
    df = post.nu - d + 1.0
    factor = ((post.kappa + 1.0) / (post.kappa * df)).sqrt()
    return df, post.mean, post.chol * factor.view(-1, 1, 1)


def student_t_log_density(X, df, loc, chol):
    """``log t(x | df, loc, chol chol^T)`` of every row of X under every component.

    Parameters
    ----------
    X : tensor of shape (n, d)
        Points to evaluate.
    df : tensor of shape (K,)
        Degrees of freedom of each component.
    loc : tensor of shape (K, d)
        Location of each component.
    chol : tensor of shape (K, d, d), lower
        Lower Cholesky factor of each component's scale.

    Returns
    -------
    tensor of shape (n, K)
        Log density of each point under each component.

    Examples
    --------
    >>> import torch
    >>> from sklearn_robust.mixture._niw import NIWPrior, posterior
    >>> prior = NIWPrior(kappa=1.0, nu=4.0, scale=torch.eye(2, dtype=torch.float64))
    >>> X = torch.tensor([[0.5, 0.0], [-0.5, 1.0], [0.0, -1.0]], dtype=torch.float64)
    >>> count = torch.tensor([3.0], dtype=torch.float64)
    >>> post = posterior(prior, count, X.sum(0, keepdim=True), (X.T @ X).unsqueeze(0))
    >>> from sklearn_robust.mixture._niw import student_t, student_t_log_density
    >>> student_t_log_density(X, *student_t(post)).round(decimals=4).tolist()
    [[-1.521], [-2.1317], [-1.9875]]
    """
    d = X.shape[-1]
    centred = X.unsqueeze(0) - loc.unsqueeze(1)  # (K, n, d)
    solved = torch.linalg.solve_triangular(chol, centred.transpose(-1, -2), upper=False)
    maha = solved.square().sum(-2)  # (K, n)
    log_det = torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)
    constant = (
        torch.lgamma(0.5 * (df + d))
        - torch.lgamma(0.5 * df)
        - 0.5 * d * (torch.log(df) + _LOG_PI)
        - log_det
    )
    density = constant.unsqueeze(1) - 0.5 * (df + d).unsqueeze(1) * torch.log1p(
        maha / df.unsqueeze(1)
    )
    return density.T


def student_t_mixture_log_density(X, log_weight, df, loc, chol):
    """``log sum_k w_k t(x | df_k, loc_k, chol_k chol_k^T)`` of every row, for batches of mixtures.

    Parameters
    ----------
    X : tensor of shape (n, d)
        Points to evaluate.
    log_weight, df : tensors of shape (..., K)
        Any leading batch shape (e.g. one mixture per saved state); ``-inf``
        weights drop a component.
    loc : tensor of shape (..., K, d)
        Location of each component.
    chol : tensor of shape (..., K, d, d)
        Lower Cholesky factor of each component's scale.

    Returns
    -------
    tensor of shape (n, ...)
        Log density of each point under each mixture.

    Examples
    --------
    One mixture of a single component: its density is the component's.

    >>> import torch
    >>> from sklearn_robust.mixture._niw import NIWPrior, posterior
    >>> prior = NIWPrior(kappa=1.0, nu=4.0, scale=torch.eye(2, dtype=torch.float64))
    >>> X = torch.tensor([[0.5, 0.0], [-0.5, 1.0], [0.0, -1.0]], dtype=torch.float64)
    >>> count = torch.tensor([3.0], dtype=torch.float64)
    >>> post = posterior(prior, count, X.sum(0, keepdim=True), (X.T @ X).unsqueeze(0))
    >>> from sklearn_robust.mixture._niw import student_t, student_t_mixture_log_density
    >>> log_weight = torch.zeros(1, dtype=torch.float64)
    >>> student_t_mixture_log_density(X, log_weight, *student_t(post)).round(decimals=4).tolist()
    [-1.521, -2.1317, -1.9875]
    """
    batch, d = df.shape, X.shape[-1]
    per_component = student_t_log_density(
        X, df.reshape(-1), loc.reshape(-1, d), chol.reshape(-1, d, d)
    )
    per_component = per_component.view(len(X), *batch) + log_weight
    return torch.logsumexp(per_component, dim=-1)


def sample_student_t(df, loc, chol, rng):
    """One draw per row from ``t_df(loc, chol chol^T)``: ``loc + L z sqrt(df / chi2(df))``.

    Parameters
    ----------
    df : ndarray of shape (n,)
        Degrees of freedom of each draw.
    loc : ndarray of shape (n, d)
        Location of each draw.
    chol : ndarray of shape (n, d, d), lower
        Lower Cholesky factor ``L`` of each draw's scale.
    rng : numpy.random.RandomState or numpy.random.Generator
        Source of the normal and chi-squared draws.

    Returns
    -------
    ndarray of shape (n, d)
        The draws, one per row.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_robust.mixture._niw import sample_student_t
    >>> df, loc, chol = np.array([5.0, 5.0]), np.zeros((2, 3)), np.tile(np.eye(3), (2, 1, 1))
    >>> sample_student_t(df, loc, chol, np.random.default_rng(0)).shape
    (2, 3)
    """
    normal = rng.standard_normal(loc.shape)
    scale = np.sqrt(df / rng.chisquare(df))
    return loc + np.einsum("nij,nj->ni", chol, normal) * scale[:, None]


def expected_gaussian_log_density(df, loc, chol, covariance):
    """``E[log N(x | 0, C)]`` for x from each Student-t component (``df > 2``).

    Parameters
    ----------
    df : ndarray of shape (K,)
        Degrees of freedom of each component.
    loc : ndarray of shape (K, d)
        Location of each component.
    chol : ndarray of shape (K, d, d), lower
        Lower Cholesky factor of each component's scale.
    covariance : ndarray of shape (d, d)
        ``C``, positive definite.

    Returns
    -------
    ndarray of shape (K,)
        The expected log density under each component.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_robust.mixture._niw import expected_gaussian_log_density
    >>> df, loc, chol = np.array([5.0]), np.zeros((1, 2)), np.eye(2)[None]
    >>> expected_gaussian_log_density(df, loc, chol, np.eye(2)).round(4)
    array([-3.5045])
    """
    d = covariance.shape[0]
    chol_c = np.linalg.cholesky(covariance)
    whitened_scale = np.linalg.solve(chol_c, chol)  # C^-1/2 L, per component
    trace = (whitened_scale**2).sum(axis=(1, 2)) * df / (df - 2.0)
    maha = (np.linalg.solve(chol_c, loc.T) ** 2).sum(axis=0)
    log_det = 2.0 * np.log(np.diag(chol_c)).sum()
    return -0.5 * (d * _LOG_2PI + log_det + trace + maha)
