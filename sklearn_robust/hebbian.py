"""Krotov-Hopfield unsupervised local (Hebbian) learning as a scikit-learn transformer."""

from __future__ import annotations

import time
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from ._atomic_fit import train_epochs
from ._torch import (
    forward_in_chunks,
    resolve_device,
    seed_from,
    to_numpy,
    to_tensor,
    torch_generator,
)
from ._validation import validate_float_data
from .bridge import check_torch_output

__all__ = ["KHEncoder", "KHLayer"]

# Below this the update is all but zero; the reference notebook floors its normaliser here.
_MIN_NORMALISER = 1e-30
# Rows per chunk in transform: bounds memory at chunk x n_components floats.
_TRANSFORM_CHUNK = 4096
# A fit has converged when at least this share of its winning units lies within norm_tol.
_CONVERGED_SHARE = 0.9
# A converged fit has collapsed when fewer units than this share of min(n_components,
# n_samples) win examples. Measured on digits and MNIST-5k (docs/hebbian.md): healthy
# fits end at 0.28 or more, collapsed ones (100-200 units on digits) at 0.02-0.06.
_COLLAPSED_SHARE = 0.1


def synaptic_weights(synapses: torch.Tensor, p: float) -> torch.Tensor:
    """``W = sign(S) |S|^(p-1)``, the effective weights of eq. 3 of the paper."""
    if p == 3.0:  # the common case: S |S| avoids a transcendental pow
        return synapses * synapses.abs()
    return torch.sign(synapses) * synapses.abs().pow(p - 1)


def learning_rate_at(epoch, learning_rate, n_epochs):
    """Linear decay to zero over ``n_epochs``; after that, the schedule's last rate."""
    return learning_rate * (1.0 - min(epoch, n_epochs - 1) / n_epochs)


def kh_minibatch_step(synapses, weights, batch, learning_rate, p, k, delta):
    """One Krotov-Hopfield update of ``synapses`` (and its cached ``weights``), in place.

    Only the rows that win or rank ``k`` for some example in the batch receive a
    non-zero update, so only those rows are computed and written; the result is
    the reference notebook's dense update exactly. Returns the index of each
    example's winning unit (shape ``(n_batch,)``), chosen before the update.
    """
    n_batch = batch.shape[0]
    currents = batch @ weights.T  # (n_batch, n_components): the one big matmul
    top_currents, ranked = torch.topk(currents, k, dim=1)
    rows, slot = torch.unique(torch.cat([ranked[:, 0], ranked[:, k - 1]]), return_inverse=True)
    winner, kth = slot[:n_batch], slot[n_batch:]

    # sum_b g (x_b - h_b S) over the touched rows, with g = 1 for each example's
    # winner and -delta for its k-th unit. A row can win for one example and rank
    # k for another, so contributions accumulate (index_add_, not a scatter).
    hebbian = batch.new_zeros(rows.numel(), batch.shape[1])
    hebbian.index_add_(0, winner, batch).index_add_(0, kth, batch, alpha=-delta)
    drive = batch.new_zeros(rows.numel(), 1)  # sum_b g h_b per row
    drive.index_add_(0, winner, top_currents[:, :1])
    drive.index_add_(0, kth, top_currents[:, k - 1 : k], alpha=-delta)

    touched = synapses.index_select(0, rows)
    update = torch.addcmul(hebbian, drive, touched, value=-1.0)
    # Scale so the largest element equals the learning rate (the reference normalisation).
    # (.item() costs no extra sync on CUDA: unique above already needed one.)
    low, high = torch.aminmax(update)  # one pass, no |update| temporary
    normaliser = max(-low.item(), high.item(), _MIN_NORMALISER)
    touched.add_(update, alpha=learning_rate / normaliser)
    synapses.index_copy_(0, rows, touched)
    weights.index_copy_(0, rows, synaptic_weights(touched, p))
    return ranked[:, 0]


class KHLayer(torch.nn.Module):
    """The hidden layer of the hybrid model, ``ReLU(W x) ** power``, as a torch module.

    The weights are fixed buffers: the layer is learned by the local rule, never by
    backpropagation, but gradients flow through it to the input (for attacks and
    Jacobians).

    Parameters
    ----------
    weights : torch.Tensor of shape (n_components, n_features)
        The effective weights ``W = sign(S) |S|^(p-1)``; pruned rows already zeroed.
    power : float
        The exponent ``n`` of ``ReLU(h) ** n``.

    Examples
    --------
    >>> import torch
    >>> from sklearn_robust.hebbian import KHLayer
    >>> layer = KHLayer(torch.tensor([[1.0, 0.0], [0.0, -1.0]]), power=2.0)
    >>> layer(torch.tensor([[3.0, 2.0]])).tolist()
    [[9.0, 0.0]]
    """

    def __init__(self, weights: torch.Tensor, power: float = 1.0):
        super().__init__()
        self.register_buffer("weights", weights)
        self.power = power

    def forward(self, x):
        """Compute ``ReLU(x W^T) ** power``.

        Parameters
        ----------
        x : torch.Tensor of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        hidden : torch.Tensor of shape (n_samples, n_components)
            The layer's activations.
        """
        hidden = torch.relu(x @ self.weights.T)
        return hidden if self.power == 1.0 else hidden.pow(self.power)


class KHEncoder(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Krotov-Hopfield encoder: unsupervised, local, competing hidden units.

    Learns synapses ``S`` with the winner-take-all local rule of Krotov and
    Hopfield (PNAS 2019), eq. 3-5 of Holzhausen et al.: for each example the unit
    with the largest current ``h = W x`` (``W = sign(S)|S|^(p-1)``) is pulled
    towards the input (``g = 1``) and the ``k``-th ranked unit is pushed away
    (``g = -delta``); per minibatch ``dS = sum_b g (x_b - h_b S)``, scaled so its
    largest element equals the learning rate, which decays linearly to zero over
    ``n_epochs``. ``transform`` returns the hybrid model's hidden layer
    ``ReLU(W x) ** power``. The computations are float32: input beyond float32's
    range (about ``3.4e38``) is refused with a ``ValueError``.

    The rule drives the synapses of every unit that wins examples towards the
    unit sphere of the p-norm, ``sum_i |S_i|^p = 1``. After training,
    ``unit_norm_deviation_`` says how far each unit is from it and
    ``converged_fraction_`` which share of the winning units is within
    ``norm_tol``; when that share is below 90%, ``fit`` warns with a
    :class:`~sklearn.exceptions.ConvergenceWarning`. Units that win no example are
    not pulled to the sphere at all (only pushed away when they rank ``k``), so
    they are left out of the share: more epochs would not change them.

    A converged fit can still have collapsed: a handful of units win every
    example (seen with about 100 units on digits, where a large learning rate
    makes it certain). ``winner_fraction_`` is the number of winning units over
    the most that could win, ``min(n_components, n_samples)``; when a converged
    fit ends below 0.1, ``fit`` warns with a ``ConvergenceWarning`` too.

    Parameters
    ----------
    n_components : int, default=2000
        Number of hidden units.
    p : float, default=3.0
        Lebesgue exponent of the synapses; must be at least 2.
    k : int, default=7
        Rank of the unit that receives anti-Hebbian learning; ``2 <= k <= n_components``.
    delta : float, default=0.4
        Strength of the anti-Hebbian update.
    power : float, default=1.0
        Exponent ``n`` of the activation ``ReLU(h) ** n`` used by ``transform``.
    learning_rate : float, default=0.15
        Initial learning rate (largest element of each update). The reference
        implementation's 0.02-0.04 suits data sets of tens of thousands of
        examples; with few minibatches per epoch (digits has 18) the units need a
        larger rate to reach the unit p-norm within ``n_epochs``. Small layers
        (about 100 units) collapse at this rate on digits; see
        ``winner_fraction_``.
    n_epochs : int, default=200
        Length of the learning-rate schedule, in passes over the data.
    batch_size : int, default=100
        Examples per minibatch.
    prune_threshold : float or None, default=None
        Units whose synapse variance exceeds it are ablated (their output set to 0),
        as in appendix A of the paper (which uses 0.0015 on CIFAR-10).
    norm_tol : float, default=0.05
        A unit has converged when ``|sum_i |S_i|^p - 1| < norm_tol``; see
        ``converged_fraction_``.
    device : {"auto", "cpu", "cuda"} or torch.device, default="auto"
        Where to compute; "auto" uses CUDA when available.
    random_state : int, RandomState instance or None, default=None
        Seeds the N(0, 1) initial synapses and the per-epoch shuffles.
    verbose : int, default=0
        1 prints progress about twenty times per fit, 2 every epoch.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features), float32
        The synapses ``S``.
    synapse_variance_ : ndarray of shape (n_components,)
        Variance of each unit's synapses (the quantity appendix A thresholds).
    pruned_mask_ : ndarray of shape (n_components,), bool
        True for the units that ``prune_threshold`` ablates (all False without one).
    n_iter_ : int
        Epochs trained so far (``fit`` and ``partial_fit`` together).
    unit_norm_deviation_ : ndarray of shape (n_components,), float64
        Distance of each unit from the unit sphere of the p-norm,
        ``|sum_i |S_i|^p - 1|`` over the unit's row of ``components_``
        (computed in float64).
    winner_mask_ : ndarray of shape (n_components,), bool
        True for the units that won (had the largest current for) at least one
        example during the last epoch: the last pass of ``fit``, or the last
        ``partial_fit`` call.
    converged_fraction_ : float
        Share of the units in ``winner_mask_`` whose ``unit_norm_deviation_`` is
        below ``norm_tol``, in [0, 1]. ``fit`` warns when it is below 0.9.
    winner_fraction_ : float
        Number of units in ``winner_mask_`` over ``min(n_components, n_samples)``
        (``n_samples`` of the last epoch), in (0, 1]. ``fit`` warns that the
        encoder collapsed when it is below 0.1 although the fit converged.
    learning_rate_ : float
        The learning rate of the last epoch.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when X has string column names.

    Examples
    --------
    >>> from sklearn_robust import KHEncoder
    >>> from sklearn_robust.datasets import load_digits
    >>> X, y = load_digits(return_X_y=True)
    >>> encoder = KHEncoder(n_components=50, n_epochs=5, random_state=0).fit(X)
    >>> encoder.transform(X[:3]).shape
    (3, 50)
    """

    # What to_torch_module returns (the bridge's TorchModuleProvider protocol): the transform.
    torch_outputs = ("decision",)

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "p": [Interval(Real, 2, None, closed="left")],
        "k": [Interval(Integral, 2, None, closed="left")],
        "delta": [Interval(Real, 0, None, closed="left")],
        "power": [Interval(Real, 0, None, closed="neither")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "n_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "prune_threshold": [None, Interval(Real, 0, None, closed="neither")],
        "norm_tol": [Interval(Real, 0, None, closed="neither")],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        n_components=2000,
        *,
        p=3.0,
        k=7,
        delta=0.4,
        power=1.0,
        learning_rate=0.15,
        n_epochs=200,
        batch_size=100,
        prune_threshold=None,
        norm_tol=0.05,
        device="auto",
        random_state=None,
        verbose=0,
    ):
        self.n_components = n_components
        self.p = p
        self.k = k
        self.delta = delta
        self.power = power
        self.learning_rate = learning_rate
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.prune_threshold = prune_threshold
        self.norm_tol = norm_tol
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ fitting
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Learn the synapses from X with ``n_epochs`` passes of the local rule.

        A call that does not complete (an error, or Ctrl-C, which propagates)
        leaves the estimator as it was: unfitted, or with its previous fit.
        Warns with a :class:`~sklearn.exceptions.ConvergenceWarning` when fewer than
        90% of the winning units end within ``norm_tol`` of the unit p-norm, or,
        when they do, when the encoder has collapsed (``winner_fraction_`` below 0.1).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data (pixel intensities in [0, 1] work well).
        y : None
            Ignored; present for API consistency.

        Returns
        -------
        self : KHEncoder
            The fitted encoder.
        """
        train_epochs(self, X, self.n_epochs, restart=True)
        self._warn_if_not_converged()
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None):
        """One pass over X at the current learning rate, continuing from ``components_``.

        The learning rate follows the same schedule as ``fit``: epoch ``n_iter_``
        of ``n_epochs``; past the end of the schedule it stays at its last value.
        A call that does not complete (an error, or Ctrl-C, which propagates)
        leaves the estimator as it was. Once the schedule is complete
        (``n_iter_ >= n_epochs``) a call warns as ``fit`` does; earlier calls,
        still on their way, do not.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : None
            Ignored; present for API consistency.

        Returns
        -------
        self : KHEncoder
            The encoder, updated.
        """
        train_epochs(self, X, 1, restart=not hasattr(self, "components_"))
        if self.n_iter_ >= self.n_epochs:
            self._warn_if_not_converged()
        return self

    def _validate_input(self, X, reset):
        if self.k > self.n_components:
            raise ValueError(
                f"k={self.k} must not exceed n_components={self.n_components}: the k-th "
                "ranked unit has to exist."
            )
        resolve_device(self.device)  # a bad device fails here, before any work
        # Values beyond float32's range are refused: they would be inf in float32, then NaN.
        return validate_float_data(self, X, reset=reset)

    def _initialise(self, X):
        generator = torch_generator(self.random_state)
        synapses = torch.randn(self.n_components, X.shape[1], generator=generator)
        self.components_ = synapses.numpy()
        # The shuffle stream lives on the estimator so partial_fit calls continue it.
        self._shuffle_rng = np.random.RandomState(seed_from(self.random_state))
        self.n_iter_ = 0

    @torch.inference_mode()  # no autograd bookkeeping on the hot path
    def _train(self, X, n_epochs):
        device = resolve_device(self.device)
        data = to_tensor(X, device)
        synapses = to_tensor(self.components_, device)
        weights = synaptic_weights(synapses, self.p)
        for _ in range(n_epochs):
            started = time.perf_counter()
            won = torch.zeros(self.n_components, dtype=torch.bool, device=device)
            self.learning_rate_ = learning_rate_at(self.n_iter_, self.learning_rate, self.n_epochs)
            order = torch.from_numpy(self._shuffle_rng.permutation(data.shape[0])).to(device)
            shuffled = data[order]  # one gather per epoch; the batches are then views
            for start in range(0, data.shape[0], self.batch_size):
                batch = shuffled[start : start + self.batch_size]
                winners = kh_minibatch_step(
                    synapses, weights, batch, self.learning_rate_, self.p, self.k, self.delta
                )
                won[winners] = True
            self.n_iter_ += 1
            self._report_progress(time.perf_counter() - started)
        self._set_fitted_synapses(synapses, to_numpy(won), data.shape[0])

    def _set_fitted_synapses(self, synapses, won, n_samples):
        self.components_ = to_numpy(synapses).astype(np.float32, copy=False)
        self.synapse_variance_ = self.components_.var(axis=1)
        p_norm = (np.abs(self.components_.astype(np.float64)) ** self.p).sum(axis=1)
        self.unit_norm_deviation_ = np.abs(p_norm - 1.0)
        self.winner_mask_ = won
        # n_samples >= 1, so some unit won; max() only guards the division.
        converged = self.unit_norm_deviation_[won] < self.norm_tol
        self.converged_fraction_ = float(converged.sum() / max(won.sum(), 1))
        # At most min(n_components, n_samples) units can win the last epoch's examples.
        self.winner_fraction_ = float(won.sum() / min(self.n_components, n_samples))
        if self.prune_threshold is None:
            self.pruned_mask_ = np.zeros(self.n_components, dtype=bool)
        else:
            self.pruned_mask_ = self.synapse_variance_ > self.prune_threshold

    def _warn_if_not_converged(self):
        """Warn when the fit has not converged or, converged, has collapsed."""
        n_winners = int(self.winner_mask_.sum())
        if self.converged_fraction_ >= _CONVERGED_SHARE:
            # Only a converged fit is judged: early in training few units win anyway
            # (after one epoch from N(0, 1) synapses, 2-8% of 2000 units on digits).
            if self.winner_fraction_ < _COLLAPSED_SHARE:
                self._warn_collapsed(n_winners)
            return
        n_converged = round(self.converged_fraction_ * n_winners)
        warnings.warn(
            f"KHEncoder did not converge: {n_converged} of the {n_winners} units that "
            f"won examples in the last epoch ({self.converged_fraction_:.0%}) are within "
            f"norm_tol={self.norm_tol} of the unit p-norm after {self.n_iter_} epochs; "
            f"{_CONVERGED_SHARE:.0%} should be. Train longer or faster: raise n_epochs "
            f"(now {self.n_epochs}; try {2 * self.n_epochs} or more) or learning_rate "
            f"(now {self.learning_rate}).",
            ConvergenceWarning,
            stacklevel=4,
        )

    def _warn_collapsed(self, n_winners):
        n_possible = round(n_winners / self.winner_fraction_)  # min(n_components, n_samples)
        warnings.warn(
            f"KHEncoder collapsed: only {n_winners} of its {self.n_components} units won "
            f"any example in the last epoch ({self.winner_fraction_:.0%} of the "
            f"{n_possible} that could; healthy fits have {_COLLAPSED_SHARE:.0%} or more). "
            "Those few units converged, but they leave the rest of the layer unused. "
            f"Lower learning_rate (now {self.learning_rate}; try "
            f"{self.learning_rate / 4:.3g}) and raise n_epochs to compensate; a small "
            "layer can collapse at low rates too, so more units (n_components) or "
            "another random_state may be needed.",
            ConvergenceWarning,
            stacklevel=5,
        )

    def _report_progress(self, seconds):
        if not self.verbose:
            return
        every = 1 if self.verbose >= 2 else max(1, self.n_epochs // 20)
        if self.n_iter_ % every == 0 or self.n_iter_ == self.n_epochs:
            print(
                f"[KHEncoder] epoch {self.n_iter_}/{self.n_epochs}  "
                f"learning rate {self.learning_rate_:.5f}  {seconds:.2f} s",
                flush=True,
            )

    # -------------------------------------------------------------- transform
    def transform(self, X):
        """The hidden layer ``ReLU(W x) ** power``, pruned units set to zero.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        hidden : ndarray of shape (n_samples, n_components), float32
            Hidden representation of each sample.
        """
        check_is_fitted(self)
        X = validate_float_data(self, X, reset=False)
        device = resolve_device(self.device)
        layer = self.to_torch_module().to(device)
        with torch.no_grad():
            return forward_in_chunks(
                lambda rows: to_numpy(layer(to_tensor(rows, device))), X, _TRANSFORM_CHUNK
            )

    def to_torch_module(self, output="decision") -> KHLayer:
        """A torch module computing ``transform`` differentiably (weights fixed).

        Parameters
        ----------
        output : {"decision"}, default="decision"
            The transform, the one output of a transformer (see
            :class:`~sklearn_robust.bridge.TorchModuleProvider`).

        Returns
        -------
        KHLayer
            On the CPU; move it with ``.to(device)``.
        """
        check_is_fitted(self)
        check_torch_output(self, output)
        weights = synaptic_weights(torch.from_numpy(self.components_.copy()), self.p)
        weights[torch.from_numpy(self.pruned_mask_)] = 0.0
        return KHLayer(weights, power=float(self.power))

    @property
    def _n_features_out(self):
        return self.n_components

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Numerics are float32 torch; float32 in gives float32 out without a copy.
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags
