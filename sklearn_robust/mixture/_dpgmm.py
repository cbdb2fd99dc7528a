"""Dirichlet-process Gaussian mixtures of each class's representations (Jamroz and Kurdziel)."""

from __future__ import annotations

import math
import time
from numbers import Integral, Real

import numpy as np
import torch
from scipy.special import logsumexp
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.decomposition import PCA
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import (
    Interval,
    StrOptions,
    validate_parameter_constraints,
)
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from .._atomic_fit import all_or_nothing
from .._torch import forward_in_chunks, resolve_device, seed_from
from .._validation import label_indices
from ._niw import (
    NIWPrior,
    expected_gaussian_log_density,
    sample_student_t,
    student_t_mixture_log_density,
)
from ._sampler import SubClusterSampler

__all__ = ["DPGMMClassDensity"]

# Per-dimension variances are floored at this fraction of their mean (and at
# _ABSOLUTE_FLOOR), so constant columns keep the prior scale positive definite.
_RELATIVE_VARIANCE_FLOOR = 1e-6
_ABSOLUTE_VARIANCE_FLOOR = 1e-12
# Rows per chunk when evaluating densities: bounds memory at
# chunk x states x components x d floats.
_ROWS_PER_CHUNK = 256
# Monte-Carlo draws of each mixture component at least, in kl_to_max_entropy.
_MIN_DRAWS = 10


class DPGMMClassDensity(ClassifierMixin, BaseEstimator):
    """One Dirichlet-process Gaussian mixture per class, and its posterior predictive density.

    The model of Jamroz, Kurdziel and Opala (NeurIPS 2020) and Jamroz and
    Kurdziel (2023), fitted to each class's rows separately::

        alpha ~ Gamma(1, 1),   G | alpha ~ DP(NIW(theta_0), alpha),
        (mu_k, Sigma_k) ~ G,   x | mu_k, Sigma_k ~ N(mu_k, Sigma_k)

    with the authors' prior: NIW mean the class's mean, ``kappa_0 = 0.01``,
    ``nu_0 = d + 2`` and scale ``diag(var) / 6^(2/d)`` (``var`` the class's
    per-dimension variance). The rows are first reduced by PCA to
    ``n_components`` dimensions (fitted on all classes together, so that the
    classes share one space; the authors used 16-64).

    The posterior is sampled by Chang and Fisher's sub-cluster split-merge
    sampler (:mod:`sklearn_robust.mixture._sampler`), from ``n_init_components``
    random clusters, as the authors' collapsed Gibbs sampler; every sweep
    reassigns all rows at once, and split and merge moves keep it from stalling
    with two true clusters in one component. After ``burn_in`` sweeps every
    ``thin``-th state is saved; the posterior predictive of a state is a mixture
    of multivariate Student-t, one per component with weight ``n_k / (n +
    alpha)`` and the prior's with weight ``alpha / (n + alpha)``, and densities
    are averaged over the saved states.

    Densities are those of the PCA-reduced rows (nats, in the reduced space).

    Parameters
    ----------
    n_components : int or None, default=None
        PCA dimensions before fitting; None keeps the features as they are.
    kappa0 : float, default=0.01
        NIW prior's mean strength.
    nu0 : float or None, default=None
        NIW prior's degrees of freedom, above ``d - 1``; None gives ``d + 2``.
    prior_scale_factor : float or None, default=None
        The prior scale is ``diag(var) * prior_scale_factor``; None gives
        ``6^(-2/d)``.
    n_iter : int, default=400
        Sweeps of the sampler per class.
    burn_in : int or None, default=None
        Sweeps before states are saved; None gives ``n_iter * 4 // 5`` (the last
        fifth is saved, as the authors).
    thin : int, default=4
        Save every ``thin``-th state after the burn-in.
    n_init_components : int, default=6
        Random clusters the chain starts from.
    state_averaging : {"mean_log", "log_mean"}, default="mean_log"
        How densities combine over saved states: the mean of their logs (the
        authors') or the log of their mean (the density of the averaged
        predictive).
    class_prior : array-like of shape (n_classes,) or None, default=None
        Prior class probabilities for ``predict`` and ``predict_proba``; None
        uses the training frequencies.
    device : {"auto", "cpu", "cuda"} or torch.device, default="auto"
        Where the sampler and the densities run.
    random_state : int, RandomState instance or None, default=None
        Seeds the PCA, the chains and ``kl_to_max_entropy``'s samples.
    verbose : int, default=0
        Print each class's progress (components, alpha, log-likelihood) when positive.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    class_prior_ : ndarray of shape (n_classes,)
    pca_ : PCA or None
        The fitted reduction.
    class_means_ : ndarray of shape (n_classes, d)
        Each class's mean in the reduced space (its prior mean).
    class_covariances_ : ndarray of shape (n_classes, d, d)
        Each class's covariance (``ddof=0``) in the reduced space, variances
        floored as for the prior.
    n_clusters_ : ndarray of shape (n_classes,)
        Occupied components in each class's last state.
    n_clusters_trace_, alpha_trace_, log_likelihood_trace_ : ndarray of shape (n_classes, n_iter)
        Per sweep: occupied components, concentration alpha, and the log-likelihood
        of the class's rows under the sweep's sampled mixture.
    component_labels_ : list of ndarray
        Per class, the last state's component of each of its training rows (in
        their order in X).
    n_states_ : int
        Saved states per class.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Only when X has string column names.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_robust import DPGMMClassDensity
    >>> rng = np.random.default_rng(0)
    >>> X = np.concatenate([rng.normal(0, 1, (60, 3)), rng.normal(6, 1, (60, 3))])
    >>> y = np.repeat([0, 1], 60)
    >>> model = DPGMMClassDensity(n_iter=40, random_state=0).fit(X, y)
    >>> model.predict(X[[0, -1]])
    array([0, 1])
    >>> model.log_density(X[:2], y[:2]).shape
    (2,)
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "kappa0": [Interval(Real, 0, None, closed="neither")],
        "nu0": [Interval(Real, 0, None, closed="neither"), None],
        "prior_scale_factor": [Interval(Real, 0, None, closed="neither"), None],
        "n_iter": [Interval(Integral, 1, None, closed="left")],
        "burn_in": [Interval(Integral, 0, None, closed="left"), None],
        "thin": [Interval(Integral, 1, None, closed="left")],
        "n_init_components": [Interval(Integral, 1, None, closed="left")],
        "state_averaging": [StrOptions({"mean_log", "log_mean"})],
        "class_prior": ["array-like", None],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        n_components=None,
        *,
        kappa0=0.01,
        nu0=None,
        prior_scale_factor=None,
        n_iter=400,
        burn_in=None,
        thin=4,
        n_init_components=6,
        state_averaging="mean_log",
        class_prior=None,
        device="auto",
        random_state=None,
        verbose=0,
    ):
        self.n_components = n_components
        self.kappa0 = kappa0
        self.nu0 = nu0
        self.prior_scale_factor = prior_scale_factor
        self.n_iter = n_iter
        self.burn_in = burn_in
        self.thin = thin
        self.n_init_components = n_init_components
        self.state_averaging = state_averaging
        self.class_prior = class_prior
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ fitting
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Sample each class's DP-GMM posterior.

        A call that does not complete (an error, or Ctrl-C, which propagates)
        leaves the estimator as it was: unfitted, or with its previous fit.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training samples.
        y : array-like of shape (n_samples,)
            Class labels; every class needs at least 2 rows.

        Returns
        -------
        self : DPGMMClassDensity
            The fitted estimator.
        """
        with all_or_nothing(self):
            self._fit(X, y)
        return self

    def _fit(self, X, y):
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], ensure_min_samples=2)
        check_classification_targets(y)
        burn_in = self._burn_in()
        device = resolve_device(self.device)
        self.classes_, y_index, counts = np.unique(y, return_inverse=True, return_counts=True)
        too_few = counts < 2
        if too_few.any():
            label = self.classes_[too_few][0]
            raise ValueError(
                f"Every class needs at least 2 rows to fit its mixture; class "
                f"{_display(label)} has {counts[too_few][0]}."
            )
        self.class_prior_ = self._class_prior(counts)
        reduced = self._fit_reduction(X)
        seed = seed_from(self.random_state)
        states, self.component_labels_ = [], []
        means, covariances, traces = [], [], []
        for index, label in enumerate(self.classes_):
            rows = reduced[y_index == index]
            mean, covariance, prior = self._class_prior_model(rows)
            chain = self._run_chain(rows - mean, prior, seed + index, device, burn_in, label)
            states.append(chain["states"])
            self.component_labels_.append(chain["labels"])
            traces.append(chain["trace"])
            means.append(mean)
            covariances.append(covariance)
        self.class_means_ = np.stack(means)
        self.class_covariances_ = np.stack(covariances)
        self._states = [_pad_states(s) for s in states]
        self.n_states_ = len(states[0])
        self.n_clusters_trace_, self.alpha_trace_, self.log_likelihood_trace_ = (
            np.stack([t[:, i] for t in traces]) for i in range(3)
        )
        self.n_clusters_ = self.n_clusters_trace_[:, -1].astype(np.int64)

    def _burn_in(self):
        burn_in = self.n_iter * 4 // 5 if self.burn_in is None else self.burn_in
        if burn_in >= self.n_iter:
            raise ValueError(
                f"burn_in must be smaller than n_iter so that states are saved; got burn_in="
                f"{burn_in} and n_iter={self.n_iter}."
            )
        return burn_in

    def _class_prior(self, counts):
        if self.class_prior is None:
            return counts / counts.sum()
        prior = np.asarray(self.class_prior, dtype=np.float64)
        if prior.shape != counts.shape or np.any(prior < 0) or not np.isclose(prior.sum(), 1.0):
            raise ValueError(
                f"class_prior must hold {len(counts)} non-negative probabilities summing to 1; "
                f"got {self.class_prior!r}."
            )
        return prior

    def _fit_reduction(self, X):
        X = np.asarray(X, dtype=np.float64)
        if self.n_components is None:
            self.pca_ = None
            return X
        limit = min(X.shape)
        if self.n_components > limit:
            raise ValueError(
                f"n_components={self.n_components} must be at most min(n_samples, n_features)"
                f" = {limit}."
            )
        self.pca_ = PCA(self.n_components, random_state=self.random_state)
        return self.pca_.fit_transform(X)

    def _class_prior_model(self, rows):
        """The class's mean, floored covariance and the authors' NIW prior."""
        d = rows.shape[1]
        mean = rows.mean(axis=0)
        covariance = np.atleast_2d(np.cov(rows, rowvar=False, ddof=0))
        variance = np.diag(covariance).copy()
        floor = max(_RELATIVE_VARIANCE_FLOOR * variance.mean(), _ABSOLUTE_VARIANCE_FLOOR)
        variance = np.maximum(variance, floor)
        covariance[np.diag_indices(d)] = np.maximum(np.diag(covariance), floor)
        factor = 6.0 ** (-2.0 / d) if self.prior_scale_factor is None else self.prior_scale_factor
        nu0 = d + 2.0 if self.nu0 is None else float(self.nu0)
        if nu0 <= d - 1:
            raise ValueError(f"nu0 must be greater than d - 1 = {d - 1}; got {self.nu0}.")
        scale = torch.as_tensor(np.diag(variance * factor), dtype=torch.float64)
        return mean, covariance, NIWPrior(self.kappa0, nu0, scale)

    def _run_chain(self, rows, prior, seed, device, burn_in, label):
        generator = torch.Generator().manual_seed(seed)
        X = torch.as_tensor(rows, dtype=torch.float64, device=device)
        prior = NIWPrior(prior.kappa, prior.nu, prior.scale.to(device))
        sampler = SubClusterSampler(
            X, prior, self.n_init_components, np.random.default_rng(seed), generator
        )
        trace = np.zeros((self.n_iter, 3))
        states = []
        started = time.perf_counter()
        for sweep in range(self.n_iter):
            sampler.sweep()
            trace[sweep] = sampler.n_components, sampler.alpha, sampler.log_likelihood
            if sweep >= burn_in and (sweep - burn_in) % self.thin == 0:
                states.append(sampler.predictive())
            if self.verbose and ((sweep + 1) % 50 == 0 or sweep + 1 == self.n_iter):
                print(
                    f"[DPGMMClassDensity] class {_display(label)} sweep {sweep + 1}/{self.n_iter}  "
                    f"components {sampler.n_components}  alpha {sampler.alpha:.3f}  "
                    f"log-likelihood {sampler.log_likelihood:.1f}  "
                    f"{time.perf_counter() - started:.1f} s",
                    flush=True,
                )
        return {"states": states, "labels": sampler.labels.cpu().numpy(), "trace": trace}

    # ---------------------------------------------------------------- densities
    def _reduce(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        X = np.asarray(X, dtype=np.float64)
        return X if self.pca_ is None else self.pca_.transform(X)

    def _state_log_densities(self, reduced, index):
        """``(n, n_states)`` log densities of the rows under class ``index``'s saved states."""
        device = resolve_device(self.device)
        state = {k: torch.as_tensor(v, device=device) for k, v in self._states[index].items()}
        mixture = [state[k] for k in ("log_weight", "df", "loc", "chol")]
        centred = torch.as_tensor(reduced - self.class_means_[index], device=device)
        log_densities = forward_in_chunks(
            lambda rows: student_t_mixture_log_density(rows, *mixture), centred, _ROWS_PER_CHUNK
        )
        return log_densities.cpu().numpy()

    def _average_states(self, per_state):
        if self.state_averaging == "mean_log":
            return per_state.mean(axis=1)
        return logsumexp(per_state, axis=1) - math.log(per_state.shape[1])

    def _class_log_density_reduced(self, reduced):
        columns = [
            self._average_states(self._state_log_densities(reduced, index))
            for index in range(len(self.classes_))
        ]
        return np.stack(columns, axis=1)

    def class_log_density(self, X):
        """Log posterior-predictive density of every row under every class's model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input samples.

        Returns
        -------
        log_density : ndarray of shape (n_samples, n_classes)
            Columns in the order of ``classes_``.
        """
        return self._class_log_density_reduced(self._reduce(X))

    def log_density(self, X, y):
        """Log posterior-predictive density of each row under the model of its given class.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input samples.
        y : array-like of shape (n_samples,)
            Labels among ``classes_``.

        Returns
        -------
        log_density : ndarray of shape (n_samples,)
            Log density of each sample under its class's model.
        """
        reduced = self._reduce(X)
        index = self._class_index(y, len(reduced))
        result = np.empty(len(reduced))
        for k in np.unique(index):
            rows = index == k
            result[rows] = self._average_states(self._state_log_densities(reduced[rows], k))
        return result

    def _class_index(self, y, n_rows):
        y = np.asarray(y)
        if y.shape != (n_rows,):
            raise ValueError(f"y must have shape ({n_rows},); got {y.shape}.")
        return label_indices(self.classes_, y)

    @property
    def _log_class_prior(self):
        return np.log(np.maximum(self.class_prior_, 1e-300))  # a zero prior stays finite

    def _joint_log_likelihood(self, X):
        return self.class_log_density(X) + self._log_class_prior

    def predict_proba(self, X):
        """Class probabilities by Bayes' rule: ``p(c | x) ~ p(c) p(x | c)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input samples.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Probability of each class, in the order of ``classes_``.
        """
        return np.exp(self.predict_log_proba(X))

    def predict_log_proba(self, X):
        """Log of :meth:`predict_proba`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input samples.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            Log-probabilities of the classes, in the order of ``classes_``.
        """
        joint = self._joint_log_likelihood(X)
        return joint - logsumexp(joint, axis=1, keepdims=True)

    def predict(self, X):
        """The class with the largest posterior probability.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input samples.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Predicted class of each sample.
        """
        joint = self._joint_log_likelihood(X)  # checks that the model is fitted
        return self.classes_[joint.argmax(axis=1)]

    def score_samples(self, X):
        """Log posterior-predictive density of each row under the model of its predicted class.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input samples.

        Returns
        -------
        log_density : ndarray of shape (n_samples,)
            Log density of each sample under its predicted class's model.
        """
        density = self.class_log_density(X)
        predicted = (density + self._log_class_prior).argmax(axis=1)
        return density[np.arange(len(density)), predicted]

    def score(self, X, y, sample_weight=None):
        """Mean log posterior-predictive density of the rows under their classes' models.

        A held-out log-likelihood per row (nats, in the reduced space); higher is
        better. Use ``sklearn.metrics.accuracy_score`` for the accuracy of
        :meth:`predict`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input samples.
        y : array-like of shape (n_samples,)
            Class label of each sample.
        sample_weight : array-like of shape (n_samples,) or None, default=None
            Weight of each sample; None: equal weights.

        Returns
        -------
        score : float
            Mean log density of the samples, in nats.
        """
        return float(np.average(self.log_density(X, y), weights=sample_weight))

    # ---------------------------------------------------------------- complexity
    def kl_to_max_entropy(
        self, reference="diagonal", n_samples=1000, include_new_component=False, random_state=None
    ):
        """Per class, the KL divergence from the posterior predictive to the max-entropy Gaussian.

        ``KL(p || q) = E_p[log p(x) - log q(x)]`` by Monte Carlo with
        ``n_samples`` draws from each saved state's predictive, averaged over the
        states; ``q`` is the Gaussian with the class's mean and covariance
        (``"full"``) or per-dimension variance (``"diagonal"``, what the authors
        computed). It is 0 for a Gaussian class and grows with how far from one
        the class's representations are: the authors' complexity measure.

        By default the mixture is the occupied components' (weights ``n_k / n``):
        the predictive's term for a new component (weight ``alpha / (n +
        alpha)``) is the prior's Student-t, with ``nu_0 - d + 1 = 3`` degrees of
        freedom and a scale ``(kappa_0 + 1) / kappa_0 ~ 100`` times the prior's,
        and its share of ``E_p[log q]`` can add nats that describe no data
        (measured: 3 of 11 nats on five Gaussian clusters). A mixture sample of
        the full predictive meets it about once per ``(n + alpha) / alpha`` draws
        and so leaves it out most of the time, which makes the full predictive's
        estimate noisy rather than different.

        Parameters
        ----------
        reference : {"diagonal", "full"}, default="diagonal"
        n_samples : int, default=1000
            Draws per saved state.
        include_new_component : bool, default=False
            Keep the new-component term in the mixture (exactly, see above).
        random_state : int, RandomState instance or None, default=None
            Seeds the draws; None uses the estimator's ``random_state``.

        Returns
        -------
        kl : ndarray of shape (n_classes,)
            Nats, in the order of ``classes_``.
        """
        check_is_fitted(self)
        validate_parameter_constraints(
            {
                "reference": [StrOptions({"diagonal", "full"})],
                "n_samples": [Interval(Integral, 1, None, closed="left")],
                "include_new_component": ["boolean"],
                "random_state": ["random_state"],
            },
            {
                "reference": reference,
                "n_samples": n_samples,
                "include_new_component": include_new_component,
                "random_state": random_state,
            },
            caller_name=f"{type(self).__name__}.kl_to_max_entropy",
        )
        seed = seed_from(self.random_state if random_state is None else random_state)
        rng = check_random_state(seed)
        return np.array(
            [
                self._class_kl(index, reference, n_samples, include_new_component, rng)
                for index in range(len(self.classes_))
            ]
        )

    def _class_kl(self, index, reference, n_samples, include_new_component, rng):
        covariance = self.class_covariances_[index]
        if reference == "diagonal":
            covariance = np.diag(np.diag(covariance))
        elif np.linalg.eigvalsh(covariance)[0] <= 0:
            raise ValueError(
                f"The full reference needs a non-singular covariance, but class "
                f"{_display(self.classes_[index])}'s is singular (it has fewer rows than "
                f"dimensions, or collinear ones); use reference='diagonal'."
            )
        states = self._states[index]
        values = []
        for s in range(len(states["df"])):
            state = {k: v[s] for k, v in states.items()}
            if not include_new_component:  # the last real component is the prior's
                last = np.flatnonzero(np.isfinite(state["log_weight"]))[-1]
                state["log_weight"] = state["log_weight"].copy()
                state["log_weight"][last] = -np.inf
            values.append(self._state_kl(state, covariance, n_samples, rng))
        return float(np.mean(values))

    def _state_kl(self, state, covariance, n_samples, rng):
        """``E_p[log p] - E_p[log q]`` for one state's mixture ``p``.

        ``E_p[log p]`` by Monte Carlo, stratified over the components: each draws
        its share of ``n_samples`` (at least ``_MIN_DRAWS``) and its sample mean
        is weighted by the component's weight. A plain mixture sample would
        pick the broad prior component (weight ``alpha / (n + alpha)``) a few
        times at random and let its rare far draws dominate the estimate.
        ``E_p[log q]`` is exact: for a Student-t component with ``df > 2``,
        ``E[(x - m)^T C^-1 (x - m)] = tr(C^-1 S) + (mu - m)^T C^-1 (mu - m)``,
        ``S = L L^T df / (df - 2)``; it is infinite for ``df <= 2``.
        """
        weight = np.exp(state["log_weight"])
        keep = weight > 0
        weight = weight[keep] / weight[keep].sum()
        df = state["df"][keep]
        loc, chol = state["loc"][keep], state["chol"][keep]
        if np.any(df <= 2):
            return math.inf
        counts = np.maximum(np.ceil(n_samples * weight), _MIN_DRAWS).astype(int)
        components = np.repeat(np.arange(len(weight)), counts)
        draws = sample_student_t(df[components], loc[components], chol[components], rng)
        mixture = (torch.as_tensor(a) for a in (np.log(weight), df, loc, chol))
        log_p = student_t_mixture_log_density(torch.as_tensor(draws), *mixture).numpy()
        entropy_term = np.sum(weight * np.bincount(components, log_p) / counts)
        cross_entropy = expected_gaussian_log_density(df, loc, chol, covariance)
        return entropy_term - np.sum(weight * cross_entropy)


def _pad_states(states):
    """Stack a class's saved states, padding to the largest number of components.

    Padding components get weight 0 (log weight -inf) and the prior's Student-t,
    so that every state evaluates in one batched call.
    """
    width = max(len(s["df"]) for s in states)
    stacked = {}
    for key in ("log_weight", "df", "loc", "chol"):
        rows = []
        for s in states:
            value = s[key]
            missing = width - len(value)
            pad = np.repeat(value[-1:], missing, axis=0)  # the prior component
            if key == "log_weight":
                pad = np.full(missing, -np.inf)
            rows.append(np.concatenate([value, pad]))
        stacked[key] = np.stack(rows)
    return stacked


def _display(label):
    """A class label as users wrote it (``3``, not ``np.int64(3)``)."""
    return repr(label.item() if hasattr(label, "item") else label)
