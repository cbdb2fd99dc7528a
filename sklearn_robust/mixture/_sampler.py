"""Sub-cluster split-merge sampler for one Dirichlet-process Gaussian mixture.

Chang and Fisher (2013), "Parallel sampling of DP mixture models using
sub-cluster splits": each sweep draws the mixture weights and every component's
Gaussian from their posteriors and then reassigns **all** points at once
(Gumbel-max over an ``(n, K)`` matrix), so a sweep is a handful of batched
tensor operations rather than a loop over points. Each component keeps two
sub-clusters, sampled the same way within it; a split along them is accepted
by the Metropolis-Hastings ratio of the collapsed posteriors,

    H_split = alpha Gamma(n_l) f(X_l) Gamma(n_r) f(X_r) / (Gamma(n) f(X)),

``f`` the NIW marginal likelihood, and random pairs of components merge with
the ratio of the reverse move, ``H_merge = 1 / H_split``, the two components
becoming the merged one's sub-clusters. Splits let the chain leave the
one-cluster-for-two states where the plain collapsed Gibbs sweep stalls;
merges undo duplicates made from the random initial clusters.

The concentration alpha ~ Gamma(1, 1) is resampled each sweep by Escobar and
West's (1995) auxiliary-variable update.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ._niw import log_marginal_likelihood, posterior, sample_gaussians, student_t

__all__ = ["SubClusterSampler"]

_LOG_2PI = math.log(2.0 * math.pi)
# Sweeps a new component's random sub-clusters get to settle before it may split.
SPLIT_DELAY = 3
# Gamma(1, 1) prior on alpha (shape, rate), as the authors.
_ALPHA_SHAPE, _ALPHA_RATE = 1.0, 1.0


class SubClusterSampler:
    """The chain for one class's rows; ``sweep()`` advances it, ``predictive()`` reads it.

    Parameters
    ----------
    X : tensor of shape (n, d), float64
        Rows centred on the prior mean.
    prior : NIWPrior
        Prior of the components' means and covariances.
    n_init : int
        Random initial components.
    rng : numpy.random.Generator
        Small draws (gamma, chi-square, uniforms for acceptance).
    generator : torch.Generator
        Large draws (normals, Gumbel noise), on the CPU and then moved, so that a
        seed gives the same chain on every device up to rounding.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from sklearn_robust.mixture._niw import NIWPrior
    >>> from sklearn_robust.mixture._sampler import SubClusterSampler
    >>> rng = np.random.default_rng(0)
    >>> X = torch.tensor(np.concatenate([rng.normal(-3, 1, (30, 2)), rng.normal(3, 1, (30, 2))]))
    >>> prior = NIWPrior(kappa=1.0, nu=4.0, scale=torch.eye(2, dtype=torch.float64))
    >>> sampler = SubClusterSampler(X, prior, 1, rng, torch.Generator().manual_seed(0))
    >>> for _ in range(5):
    ...     sampler.sweep()
    >>> predictive = sampler.predictive()  # the components and a new one
    >>> sorted(predictive), predictive["loc"].shape == (sampler.n_components + 1, 2)
    (['chol', 'df', 'loc', 'log_weight'], True)
    """

    def __init__(self, X, prior, n_init, rng, generator):
        self.X, self.prior, self.rng, self.generator = X, prior, rng, generator
        n = len(X)
        self.labels = self._tensor(rng.integers(min(n_init, n), size=n)).long()
        self.alpha = 1.0
        self._cached_statistics = None
        self._compact()
        self.sub_labels = self._principal_split()
        self.age = torch.zeros(self.n_components, dtype=torch.long, device=X.device)
        self.log_likelihood = float("nan")

    # ----------------------------------------------------------- helpers
    def _tensor(self, array):
        return torch.as_tensor(np.asarray(array), device=self.X.device)

    def _uniform(self, size):
        return self._tensor(self.rng.random(size)).to(self.X.dtype)

    def _statistics(self, groups, n_groups):
        """Count, sum and sum of outer products of the rows in each group.

        The rows are sorted by group once, and each group's ``X_g^T X_g`` is one
        matrix product: ``n d^2`` work in all, where a one-hot product would
        take ``n_groups`` times that.
        """
        X = self.X
        count = torch.bincount(groups, minlength=n_groups)
        total = X.new_zeros(n_groups, X.shape[1]).index_add_(0, groups, X)
        ordered = X[torch.argsort(groups)]
        outer = X.new_zeros(n_groups, X.shape[1], X.shape[1])
        for group, rows in enumerate(torch.split(ordered, count.tolist())):
            if len(rows):
                outer[group] = rows.T @ rows
        return count.to(X.dtype), total, outer

    def _sub_statistics(self):
        """Statistics of the 2K sub-clusters and, summed in pairs, of the K components."""
        K = self.n_components
        sub = self._statistics(2 * self.labels + self.sub_labels, 2 * K)
        return sub, tuple(s.view(K, 2, *s.shape[1:]).sum(1) for s in sub)

    def _principal_split(self):
        """Sub-labels that cut every component across its mean along its first principal axis.

        Random halves would leave both sub-clusters with the component's mean; in
        64 dimensions their sampled covariances then decide the sub-labels more
        than the data do, and the sub-clusters never find the component's modes
        (measured: five clusters at d=64 stayed one). The principal cut starts
        them apart, and the sub-cluster sweeps refine it as 2-means would.
        """
        count, total, outer = self._statistics(self.labels, self.n_components)
        safe = count.clamp_min(1.0)
        mean = total / safe.unsqueeze(1)
        covariance = outer / safe.view(-1, 1, 1) - mean.unsqueeze(2) * mean.unsqueeze(1)
        axis = torch.linalg.eigh(covariance)[1][..., -1]  # (K, d), largest eigenvalue's
        projection = ((self.X - mean[self.labels]) * axis[self.labels]).sum(dim=1)
        return (projection > 0).long()

    def _log_dirichlet(self, concentration):
        """Log of a Dirichlet draw, by normalised gamma draws (in log space)."""
        draws = self.rng.gamma(np.maximum(concentration.cpu().numpy(), 1e-300))
        logs = np.log(np.maximum(draws, 1e-300))
        return self._tensor(logs - np.logaddexp.reduce(logs, axis=-1, keepdims=True))

    def _draw_gaussians(self, post):
        K, d = post.mean.shape
        dof = post.nu.cpu().numpy()[:, None] - np.arange(d)[None, :]
        chi2 = self._tensor(2.0 * self.rng.gamma(0.5 * dof)).to(self.X.dtype)
        normals = torch.randn(K, d + 1, d, generator=self.generator, dtype=self.X.dtype)
        normals = normals.to(self.X.device)
        return sample_gaussians(post, chi2, normals[:, 1:], normals[:, 0])

    def _gaussian_log_likelihood(self, mean, whiten, log_det_precision):
        """``log N(x | mu_k, Sigma_k)`` of every row under every component: ``(n, K)``."""
        K, d = mean.shape
        projected = (self.X @ whiten.reshape(K * d, d).T).view(-1, K, d)
        projected = projected - (whiten @ mean.unsqueeze(-1)).squeeze(-1)
        maha = projected.square().sum(-1)
        return 0.5 * (log_det_precision - d * _LOG_2PI) - 0.5 * maha

    def _gumbel_argmax(self, logits):
        uniform = torch.rand(logits.shape, generator=self.generator, dtype=logits.dtype)
        uniform = uniform.to(logits.device)
        return (logits - torch.log(-torch.log(uniform.clamp_min(1e-300)))).argmax(dim=-1)

    # ------------------------------------------------------------- sweep
    def sweep(self):
        """One sweep: alpha, weights, Gaussians, all assignments, then splits and merges."""
        n = len(self.X)
        sub_stats, stats = self._cached_statistics or self._sub_statistics()
        K = self.n_components
        self.alpha = self._resample_alpha(K, n)
        # The Dirichlet's last coordinate, the mass left for new components, is not used:
        # components are created by splits only.
        log_weights = self._log_dirichlet(torch.cat([stats[0], stats[0].new_tensor([self.alpha])]))[
            :K
        ]
        log_sub_weights = self._log_dirichlet(sub_stats[0].view(K, 2) + 0.5 * self.alpha)
        components = self._draw_gaussians(posterior(self.prior, *stats))
        sub_components = self._draw_gaussians(posterior(self.prior, *sub_stats))

        logits = log_weights + self._gaussian_log_likelihood(*components)
        self.log_likelihood = float(torch.logsumexp(logits, dim=1).sum())
        self.labels = self._gumbel_argmax(logits)
        sub_logits = self._gaussian_log_likelihood(*sub_components).view(n, K, 2)
        rows = torch.arange(n, device=self.X.device)
        sub_logits = sub_logits[rows, self.labels] + log_sub_weights[self.labels]
        self.sub_labels = self._gumbel_argmax(sub_logits)

        self._split_and_merge()
        self._compact()
        self.age += 1

    def _resample_alpha(self, K, n):
        """Escobar and West: eta ~ Beta(alpha + 1, n), then alpha from a two-gamma mixture."""
        eta = self.rng.beta(self.alpha + 1.0, n)
        rate = _ALPHA_RATE - math.log(eta)
        odds = (_ALPHA_SHAPE + K - 1.0) / (n * rate)
        shape = _ALPHA_SHAPE + K - (0.0 if self.rng.random() < odds / (1.0 + odds) else 1.0)
        return float(max(self.rng.gamma(shape) / rate, 1e-12))

    def _log_evidence(self, count, total, outer):
        return log_marginal_likelihood(self.prior, posterior(self.prior, count, total, outer))

    def _split_and_merge(self):
        statistics = self._sub_statistics()
        # Unless a move or an emptied component changes the partition, these are
        # also the statistics the next sweep starts from.
        self._cached_statistics = statistics
        (sub_count, *sub_rest), (count, *rest) = statistics
        K = self.n_components
        log_alpha = math.log(self.alpha)
        sub_evidence = self._log_evidence(sub_count, *sub_rest).view(K, 2)
        evidence = self._log_evidence(count, *rest)
        pair_count = sub_count.view(K, 2)
        splittable = (pair_count > 0).all(dim=1) & (self.age >= SPLIT_DELAY)
        log_split = (
            log_alpha
            + (torch.lgamma(pair_count.clamp_min(1)) + sub_evidence).sum(1)
            - torch.lgamma(count.clamp_min(1))
            - evidence
        )
        split = splittable & (torch.log(self._uniform(K)) < log_split)
        first, second = self._merge_pairs(split, count, rest, evidence, log_alpha)
        self._apply(split, first, second)

    def _merge_pairs(self, split, count, rest, evidence, log_alpha):
        """Random pairs of the components not splitting; those whose merge is accepted."""
        candidates = torch.nonzero(~split).squeeze(1)
        order = torch.as_tensor(self.rng.permutation(len(candidates)), device=self.X.device)
        candidates = candidates[order]
        n_pairs = len(candidates) // 2
        if n_pairs == 0:
            return candidates[:0], candidates[:0]
        first, second = candidates[:n_pairs], candidates[n_pairs : 2 * n_pairs]
        merged = [count[first] + count[second]] + [s[first] + s[second] for s in rest]
        log_merge = (
            torch.lgamma(merged[0])
            + self._log_evidence(*merged)
            - log_alpha
            - torch.lgamma(count[first])
            - evidence[first]
            - torch.lgamma(count[second])
            - evidence[second]
        )
        accept = torch.log(self._uniform(n_pairs)) < log_merge
        return first[accept], second[accept]

    def _apply(self, split, first, second):
        """Relabel: split components along their sub-clusters, merge accepted pairs.

        Every component made by a move gets fresh sub-clusters by
        :meth:`_principal_split` and waits ``SPLIT_DELAY`` sweeps before it may split.
        """
        K, device = self.n_components, self.X.device
        n_new = int(split.sum())
        new_index = K + torch.cumsum(split.long(), 0) - 1
        to_new = split[self.labels] & (self.sub_labels == 1)
        labels = torch.where(to_new, new_index[self.labels], self.labels)
        target = torch.arange(K + n_new, device=device)
        target[second] = first
        labels = target[labels]
        touched = torch.zeros(K + n_new, dtype=torch.bool, device=device)
        touched[:K] = split
        touched[K:] = True
        touched[first] = True
        self.labels, self.n_components = labels, K + n_new
        if touched.any():
            self._cached_statistics = None
            fresh = self._principal_split()
            self.sub_labels = torch.where(touched[labels], fresh, self.sub_labels)
        age = torch.cat([self.age, self.age.new_zeros(n_new)])
        age[touched] = 0
        self.age = age

    def _compact(self):
        """Drop empty components and renumber the rest 0..K-1 in order."""
        used = torch.bincount(self.labels, minlength=getattr(self, "n_components", 0)) > 0
        if not used.all():
            self._cached_statistics = None
        remap = torch.cumsum(used.long(), 0) - 1
        self.labels = remap[self.labels]
        if hasattr(self, "age"):
            self.age = self.age[used]
        self.n_components = int(used.sum())

    # -------------------------------------------------------- predictive
    def predictive(self):
        """The collapsed posterior predictive of the current partition.

        A mixture of Student-t: one per component, weight ``n_k / (n + alpha)``,
        and the prior's predictive for a new component, weight
        ``alpha / (n + alpha)``.

        Returns
        -------
        dict of ndarray
            The mixture's ``log_weight`` (K + 1,), ``df`` (K + 1,), ``loc``
            (K + 1, d) and ``chol`` (K + 1, d, d).
        """
        n = len(self.X)
        count, total, outer = self._statistics(self.labels, self.n_components)
        zero = count.new_zeros(1)
        count = torch.cat([count, zero])  # the prior: a component with no points
        total = torch.cat([total, total.new_zeros(1, total.shape[1])])
        outer = torch.cat([outer, outer.new_zeros(1, *outer.shape[1:])])
        df, loc, chol = student_t(posterior(self.prior, count, total, outer))
        weight = torch.cat([count[:-1], count.new_tensor([self.alpha])]) / (n + self.alpha)
        return {
            "log_weight": torch.log(weight).cpu().numpy(),
            "df": df.cpu().numpy(),
            "loc": loc.cpu().numpy(),
            "chol": chol.cpu().numpy(),
        }
