"""Penalties on the hidden representation, added to the cross-entropy of a classifier."""

from __future__ import annotations

from abc import ABCMeta, abstractmethod
from dataclasses import dataclass
from numbers import Integral, Real

import torch
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval, Options, StrOptions

__all__ = [
    "IsometryPenalty",
    "JacobianPenalty",
    "L2Penalty",
    "Penalty",
    "PenaltyBatch",
    "SpectralPenalty",
    "encoding_weights",
]


@dataclass
class PenaltyBatch:
    """What a penalty sees of one training minibatch.

    The classifier builds one per minibatch and passes it to :meth:`Penalty.term`;
    each parameter is kept as the attribute of the same name.

    Parameters
    ----------
    inputs : torch.Tensor of shape (batch, n_features)
        The minibatch as fed to the module; ``requires_grad`` is set when the
        penalty's ``needs_input_grad`` is True.
    hidden : torch.Tensor of shape (batch, width)
        The hidden representation the module returned (flattened per example).
    logits : torch.Tensor of shape (batch, n_classes)
        The module's output scores for the minibatch.
    targets : torch.Tensor of shape (batch,), int64
        Encoded class labels.
    module : torch.nn.Module
        The module being trained (L2Penalty reads its encoding weights).

    Examples
    --------
    >>> import torch
    >>> from sklearn_robust.nn import MLP, L2Penalty, PenaltyBatch
    >>> module = MLP(4, 3, hidden_sizes=(5,))
    >>> inputs = torch.zeros(8, 4)
    >>> logits, hidden = module(inputs)
    >>> batch = PenaltyBatch(inputs, hidden, logits, torch.zeros(8, dtype=torch.long), module)
    >>> L2Penalty(strength=1e-2)(batch).ndim
    0
    """

    inputs: torch.Tensor
    hidden: torch.Tensor
    logits: torch.Tensor
    targets: torch.Tensor
    module: torch.nn.Module


class Penalty(BaseEstimator, metaclass=ABCMeta):
    """Base class: a term ``strength * R(hidden)`` added to the training loss.

    Subclasses implement :meth:`term`, the unscaled value on one minibatch; the
    classifier clones the penalty at ``fit`` (so fitted state never leaks into
    the parameter) and calls :meth:`on_epoch_begin` before every epoch.
    Being scikit-learn estimators, penalties expose their hyperparameters to
    ``GridSearchCV`` as ``clf__penalty__strength``.

    Examples
    --------
    >>> import torch
    >>> from sklearn_robust import RobustNetClassifier
    >>> from sklearn_robust.nn import Penalty
    >>> class MeanActivity(Penalty):  # the mean squared hidden activity
    ...     def __init__(self, strength=1e-2):
    ...         self.strength = strength
    ...     def term(self, batch):
    ...         return batch.hidden.pow(2).mean()
    >>> X = torch.randn(40, 4, generator=torch.Generator().manual_seed(0)).numpy()
    >>> y = (X[:, 0] > 0).astype(int)
    >>> clf = RobustNetClassifier(penalty=MeanActivity(), max_epochs=2, device="cpu",
    ...                           random_state=0, module__hidden_sizes=(8,)).fit(X, y)
    >>> clf.predict(X[:3]).shape
    (3,)
    """

    #: Whether the minibatch inputs must require gradients (Jacobian penalties).
    needs_input_grad = False

    _parameter_constraints: dict = {"strength": [Interval(Real, 0, None, closed="left")]}

    def __call__(self, batch: PenaltyBatch) -> torch.Tensor:
        """``strength * term(batch)``; exactly zero, with no work, when strength is 0.

        The hyperparameters are checked first (a negative strength would reward
        what the penalty should cost), once for each set of values they take.
        """
        self._validate_once()
        if self.strength == 0:
            return batch.logits.new_zeros(())
        return self.strength * self.term(batch)

    def _validate_once(self) -> None:
        """:meth:`validate`, unless the parameters are the very objects last validated.

        A full validation costs about as much as the L2 term of a minibatch
        (measured: 15 us against 20-27 us; this check, 1 us), so a training loop
        that calls the penalty every step pays for it once. Values are compared
        by identity: any assignment (``set_params``, an attribute) validates again.
        """
        values = tuple(getattr(self, name) for name in self._parameter_constraints)
        validated = self.__dict__.get("_validated_values")
        if validated is None or any(a is not b for a, b in zip(values, validated, strict=True)):
            self.validate()
            self._validated_values = values

    @abstractmethod
    def term(self, batch: PenaltyBatch) -> torch.Tensor:
        """Compute the unscaled penalty on one minibatch: a scalar tensor that trains.

        Parameters
        ----------
        batch : PenaltyBatch
            The minibatch's inputs, hidden representation, logits, targets and module.

        Returns
        -------
        value : torch.Tensor of shape ()
            The penalty before ``strength`` multiplies it, differentiable.
        """

    def on_epoch_begin(self, hidden_of, X) -> None:
        """Prepare the epoch: a hook that does nothing unless a subclass needs it.

        Parameters
        ----------
        hidden_of : callable
            ``hidden_of(X)`` returns the hidden layer of ``X``, without gradients.
        X : torch.Tensor of shape (n_samples, n_features)
            The whole training set, on the module's device.
        """

    def validate(self) -> None:
        """Check the hyperparameters (called by the classifier before any work)."""
        self._validate_params()


def encoding_weights(module):
    """The weight matrices that produce the hidden representation.

    A module with an ``encoder`` attribute (as :class:`~sklearn_robust.nn.modules.MLP`)
    contributes that submodule's weights; otherwise every parameter with two or
    more dimensions outside the read-out counts: a submodule called ``head``, or
    ``fc`` as torchvision and :class:`~sklearn_robust.nn.ResNet` name it (so a
    convolutional network's filters count, its linear read-out does not).
    """
    if hasattr(module, "encoder"):
        named = module.encoder.named_parameters()
    else:
        named = ((n, p) for n, p in module.named_parameters() if not n.startswith(("head.", "fc.")))
    return [param for _, param in named if param.ndim >= 2]


class L2Penalty(Penalty):
    """Weight decay of the encoding weights: ``strength * sum ||W||_F^2``.

    Holzhausen et al. regularize the encoder of their one-hidden-layer models
    this way ("L2"), which bounds the hidden Jacobian globally.

    Parameters
    ----------
    strength : float, default=1e-3
        Multiplier of the summed squared encoding weights.

    Examples
    --------
    >>> from sklearn_robust.nn.penalties import L2Penalty
    >>> L2Penalty(strength=1e-2)
    L2Penalty(strength=0.01)
    """

    def __init__(self, strength=1e-3):
        self.strength = strength

    def term(self, batch):
        """Compute the unscaled penalty on one minibatch.

        Parameters
        ----------
        batch : PenaltyBatch
            The minibatch's inputs, hidden representation, logits, targets and module.

        Returns
        -------
        value : torch.Tensor of shape ()
            The penalty before ``strength`` multiplies it, differentiable.
        """
        weights = encoding_weights(batch.module)
        if not weights:
            raise ValueError(
                f"L2Penalty found no encoding weights in {type(batch.module).__name__}: it "
                "decays an `encoder` submodule's weights, or the weights outside `head`."
            )
        return sum(weight.pow(2).sum() for weight in weights)


def _flat(tensor):
    """``tensor`` as (batch, features): one flattened row per example."""
    return tensor.reshape(tensor.shape[0], -1)


class JacobianPenalty(Penalty):
    """Jacobian regularization of the hidden layer (Hoffman, Roberts & Yaida, 2019).

    The term is half the squared Frobenius norm of the Jacobian of the hidden
    representation ``h`` (width ``C``) with respect to the input, averaged over the
    minibatch of ``B`` examples::

        term = 1 / (2 B) * sum_b ||d h(x_b) / d x_b||_F^2

    The factor 1/2 is Hoffman et al.'s convention: their loss is
    ``L_super + lambda_JR / 2 * ||J||_F^2``, so ``strength`` plays the role of
    ``lambda_JR``. As in Holzhausen et al., it is the hidden layer that is
    regularized, not the logits.

    With ``n_proj >= 1`` the norm is estimated without bias by random projections:
    for each projection ``i`` and example ``b`` a direction ``v`` is drawn uniformly
    on the unit sphere of ``R^C`` (a normalised Gaussian) and
    ``||J_b||_F^2 ~ C / n_proj * sum_i ||v^T J_b||^2``; every vector-Jacobian
    product ``v^T J`` costs one backward pass through the batch. As in Hoffman et
    al.'s reference code, each example gets its own direction (the batch is one
    backward pass all the same), which lowers the variance of the batch average.
    ``n_proj=-1`` computes the exact value from the ``C`` one-hot directions in a
    single batched backward pass (``is_grads_batched``); it holds a
    ``(C, B, n_features)`` tensor, so keep it to small widths.

    The gradients are built with ``create_graph=True``, so the term trains the
    encoder (a double backward). It assumes each example's hidden state depends on
    its own input only (no batch normalisation across examples).

    Parameters
    ----------
    strength : float, default=1e-2
        Multiplier of the term (``lambda_JR`` in Hoffman et al.).
    n_proj : int, default=3
        Number of random projections (>= 1), or -1 for the exact norm. Holzhausen
        et al. use 3.

    Notes
    -----
    The random directions are drawn from torch's global generator of the hidden
    layer's device (drawing them there avoids a host-to-device copy per step), so
    a run seeded with ``torch.manual_seed``, as the classifier does for each fit,
    is reproducible; the CPU and CUDA generators give different directions.

    References
    ----------
    J. Hoffman, D. A. Roberts and S. Yaida, "Robust Learning with Jacobian
    Regularization", arXiv:1908.02729, 2019.

    Examples
    --------
    >>> import torch
    >>> from sklearn_robust.nn import MLP, PenaltyBatch
    >>> from sklearn_robust.nn.penalties import JacobianPenalty
    >>> _ = torch.manual_seed(0)
    >>> module = MLP(4, 3, hidden_sizes=(5,), activation="tanh")
    >>> inputs = torch.randn(8, 4, requires_grad=True)
    >>> logits, hidden = module(inputs)
    >>> batch = PenaltyBatch(inputs, hidden, logits, torch.zeros(8, dtype=torch.long), module)
    >>> penalty = JacobianPenalty(n_proj=-1)
    >>> penalty
    JacobianPenalty(n_proj=-1)
    >>> value = penalty(batch)  # strength * term, differentiable
    >>> value.ndim, value.item() > 0, value.requires_grad
    (0, True, True)
    """

    needs_input_grad = True

    _parameter_constraints: dict = {
        **Penalty._parameter_constraints,
        "n_proj": [Interval(Integral, 1, None, closed="left"), Options(Integral, {-1})],
    }

    def __init__(self, strength=1e-2, n_proj=3):
        self.strength = strength
        self.n_proj = n_proj

    def term(self, batch):
        """Compute the unscaled penalty on one minibatch.

        Parameters
        ----------
        batch : PenaltyBatch
            The minibatch's inputs, hidden representation, logits, targets and module.

        Returns
        -------
        value : torch.Tensor of shape ()
            The penalty before ``strength`` multiplies it, differentiable.
        """
        inputs, hidden = batch.inputs, _flat(batch.hidden)
        if not inputs.requires_grad:
            raise ValueError(
                "JacobianPenalty differentiates the hidden layer with respect to the inputs: "
                "batch.inputs must require gradients (set requires_grad=True before the "
                "forward pass; the classifier does so because needs_input_grad is True)."
            )
        n_examples, width = hidden.shape
        if not hidden.requires_grad:  # the hidden layer does not depend on the inputs
            return hidden.new_zeros(())
        if self.n_proj == -1:
            eye = torch.eye(width, dtype=hidden.dtype, device=hidden.device)
            directions = eye[:, None, :].expand(width, n_examples, width)
            jacobian = self._vjp(hidden, inputs, directions, batched=True)
            return jacobian.pow(2).sum() / (2 * n_examples)
        total = hidden.new_zeros(())
        for _ in range(self.n_proj):
            directions = torch.randn(n_examples, width, device=hidden.device, dtype=hidden.dtype)
            directions = directions / directions.norm(dim=1, keepdim=True)
            total = total + self._vjp(hidden, inputs, directions).pow(2).sum()
        return width * total / (2 * self.n_proj * n_examples)

    @staticmethod
    def _vjp(hidden, inputs, directions, batched=False):
        """``v^T dh/dx`` for every example (and every leading direction when batched)."""
        (grad,) = torch.autograd.grad(
            hidden,
            inputs,
            directions,
            create_graph=True,
            allow_unused=True,
            is_grads_batched=batched,
        )
        if grad is None:  # the hidden layer does not depend on the inputs
            shape = (*directions.shape[:-2], *inputs.shape) if batched else inputs.shape
            return inputs.new_zeros(shape)
        return grad


def _eigenbasis(hidden):
    """Eigenvectors and eigenvalues of the covariance of ``hidden``, largest first.

    The mean is accumulated in float64, the data product in the hidden layer's
    dtype, and the eigenproblem solved in float64: a ReLU layer's covariance has
    many (near) zero eigenvalues, on which float32 ``eigh`` can fail to converge.
    """
    hidden = _flat(hidden.detach())
    n_examples = hidden.shape[0]
    if n_examples < 2:
        raise ValueError(f"A covariance needs at least 2 examples; got {n_examples}.")
    centred = hidden - hidden.mean(dim=0, dtype=torch.float64).to(hidden.dtype)
    covariance = (centred.T @ centred).double() / (n_examples - 1)
    try:
        eigenvalues, eigenvectors = torch.linalg.eigh(covariance)  # ascending
        eigenvalues, eigenvectors = eigenvalues.flip(-1), eigenvectors.flip(-1)
    except torch.linalg.LinAlgError:
        # Dead units leave large clusters of zero eigenvalues, on which LAPACK's
        # eigh can fail; the SVD of a symmetric PSD matrix is its eigendecomposition.
        eigenvectors, eigenvalues, _ = torch.linalg.svd(covariance)  # descending
    return eigenvectors.to(hidden.dtype), eigenvalues.clamp_min(0).to(hidden.dtype)


class SpectralPenalty(Penalty):
    """Spectral regularizer pushing the hidden spectrum towards ``n^-alpha`` (Nassar et al.).

    Before each epoch, :meth:`on_epoch_begin` stores the eigenvectors ``V`` of the
    covariance of the hidden representation of the whole training set, in
    descending order of variance. On a minibatch, the variance along each stored
    eigenvector is ``lambda_n = diag(V^T C_batch V)_n`` (ddof=1), and the ranks
    beyond ``tau`` are pulled towards the power law anchored at rank ``tau + 1``::

        gamma_n = lambda_{tau+1} * ((tau + 1) / n)^alpha,   n = tau+1 .. width
        term = 1 / width * sum_{n > tau} [(lambda_n / gamma_n - 1)^2
                                          + relu(lambda_n / gamma_n - 1)]

    The anchor ``lambda_{tau+1}`` is detached, so the target does not chase the
    spectrum, and clamped to ``eps * trace(C_batch)`` so that a collapsed batch
    cannot divide by zero. The relu term penalizes variance above the target
    more than below it, as in the paper. The leading ``tau`` ranks are free.

    A batch spans at most ``batch - 1`` directions, so ranks beyond that always
    count as 1 each; use batches larger than the width (Nassar et al. and
    Holzhausen et al. train with large batches). A batch of a single example has
    no variance and gives 0.

    Parameters
    ----------
    strength : float, default=1e-2
        Multiplier of the term.
    alpha : float, default=1.0
        Target decay exponent (> 0); Holzhausen et al. regularize towards ``n^-1``.
    tau : int, default=10
        Number of leading ranks left free (>= 0); must be below ``width - 1``.

    Attributes
    ----------
    eigenvectors_ : torch.Tensor of shape (width, width)
        Columns are the eigenvectors of the training-set covariance of the hidden
        layer, largest variance first; set by :meth:`on_epoch_begin`. Before the
        first call, :meth:`term` uses the eigenvectors of the minibatch itself.
    eigenvalues_ : torch.Tensor of shape (width,)
        The matching variances, descending.

    References
    ----------
    J. Nassar, P. A. Sokół, S. Chung, K. D. Harris and I. M. Park, "On 1/n neural
    representation and robustness", NeurIPS 2020.

    Examples
    --------
    >>> import torch
    >>> from sklearn_robust.nn import MLP, PenaltyBatch
    >>> from sklearn_robust.nn.penalties import SpectralPenalty
    >>> _ = torch.manual_seed(0)
    >>> module = MLP(10, 3, hidden_sizes=(16,))
    >>> X = torch.randn(200, 10)
    >>> penalty = SpectralPenalty(alpha=1.0, tau=2)
    >>> penalty.on_epoch_begin(lambda X: module(X)[1].detach(), X)
    >>> tuple(penalty.eigenvectors_.shape)
    (16, 16)
    >>> logits, hidden = module(X[:64])
    >>> batch = PenaltyBatch(X[:64], hidden, logits, torch.zeros(64, dtype=torch.long), module)
    >>> value = penalty(batch)
    >>> value.ndim, value.item() > 0, value.requires_grad
    (0, True, True)
    """

    _parameter_constraints: dict = {
        **Penalty._parameter_constraints,
        "alpha": [Interval(Real, 0, None, closed="neither")],
        "tau": [Interval(Integral, 0, None, closed="left")],
    }

    def __init__(self, strength=1e-2, alpha=1.0, tau=10):
        self.strength = strength
        self.alpha = alpha
        self.tau = tau

    def on_epoch_begin(self, hidden_of, X) -> None:
        """Recompute the eigenbasis from the hidden layer of the whole training set.

        Parameters
        ----------
        hidden_of : callable
            ``hidden_of(X)`` returns the hidden layer of ``X``, without gradients.
        X : torch.Tensor of shape (n_samples, n_features)
            The whole training set, on the module's device.
        """
        with torch.no_grad():
            hidden = _flat(hidden_of(X))
        self._check_width(hidden.shape[1])
        self.eigenvectors_, self.eigenvalues_ = _eigenbasis(hidden)

    def _check_width(self, width):
        if self.tau >= width - 1:
            raise ValueError(
                f"SpectralPenalty needs tau < width - 1 so that some ranks follow the anchor "
                f"rank tau + 1; got tau={self.tau} for a hidden layer of width {width}."
            )

    def term(self, batch):
        """Compute the unscaled penalty on one minibatch.

        Parameters
        ----------
        batch : PenaltyBatch
            The minibatch's inputs, hidden representation, logits, targets and module.

        Returns
        -------
        value : torch.Tensor of shape ()
            The penalty before ``strength`` multiplies it, differentiable.
        """
        hidden = _flat(batch.hidden)
        n_examples, width = hidden.shape
        self._check_width(width)
        if n_examples < 2:
            return hidden.new_zeros(())
        eigenvectors = getattr(self, "eigenvectors_", None)
        if eigenvectors is None:
            eigenvectors, _ = _eigenbasis(hidden)
        elif eigenvectors.shape != (width, width):
            raise ValueError(
                f"eigenvectors_ has shape {tuple(eigenvectors.shape)} but the hidden layer "
                f"has width {width}; call on_epoch_begin with this module first."
            )
        tail = eigenvectors[:, self.tau :].to(device=hidden.device, dtype=hidden.dtype)
        centred = hidden - hidden.mean(dim=0, keepdim=True)
        variances = (centred @ tail).pow(2).sum(dim=0) / (n_examples - 1)
        # A floor relative to the batch's total variance: a collapsed anchor cannot
        # divide by zero, and the ratios stay finite in float32.
        finfo = torch.finfo(hidden.dtype)
        total = centred.detach().pow(2).sum() / (n_examples - 1)
        floor = torch.clamp_min(total * finfo.eps, finfo.tiny)
        anchor = torch.maximum(variances[0].detach(), floor)
        ranks = torch.arange(self.tau + 1, width + 1, device=hidden.device, dtype=hidden.dtype)
        target = anchor * ((self.tau + 1) / ranks) ** self.alpha
        excess = variances / target - 1
        return (excess.pow(2) + torch.relu(excess)).sum() / width


def _distances(points, metric):
    """Pairwise distances of the rows of ``points`` (..., n, d), with finite gradients at zero.

    Leading dimensions are batched (one distance matrix per block). Euclidean
    distances come from one matrix product of the centred points (fast, like
    ``torch.cdist``'s default mode), followed by a masked square root: pairs whose
    squared distance is within float round-off of zero (the diagonal and
    duplicated points) get distance 0 and zero gradient instead of ``1/0``.
    """
    points = points.reshape(*points.shape[:-1], -1) if points.ndim > 2 else _flat(points)
    n_examples = points.shape[-2]
    diagonal = torch.eye(n_examples, dtype=torch.bool, device=points.device)
    if metric == "cosine":
        unit = torch.nn.functional.normalize(points, dim=-1)
        return (1 - unit @ unit.transpose(-1, -2)).clamp(0, 2).masked_fill(diagonal, 0)
    centred = points - points.mean(dim=-2, keepdim=True)  # smaller norms, less cancellation
    norms = centred.pow(2).sum(dim=-1)
    pair_norms = norms[..., :, None] + norms[..., None, :]
    squared = (pair_norms - 2 * centred @ centred.transpose(-1, -2)).clamp_min(0)
    tolerance = 16 * torch.finfo(points.dtype).eps * pair_norms.detach()
    apart = (squared > tolerance + torch.finfo(points.dtype).tiny) & ~diagonal
    return squared.masked_fill(~apart, 1.0).sqrt().masked_fill(~apart, 0.0)


def _class_blocks(targets, n_examples):
    """Row indices of each class padded to one (n_classes, m) grid, and the valid mask.

    Padded slots repeat a real row; the mask keeps them out of every pair.
    """
    order = torch.argsort(targets)
    counts = torch.unique_consecutive(targets[order], return_counts=True)[1]
    width = int(counts.max())
    starts = torch.cumsum(counts, 0) - counts
    slots = torch.arange(width, device=targets.device)
    valid = slots[None, :] < counts[:, None]
    positions = (starts[:, None] + slots[None, :]).clamp_max(n_examples - 1)
    return order[positions], valid


class IsometryPenalty(Penalty):
    """Locally isometric layer loss: keep within-class input distances in the hidden layer.

    For a minibatch of ``N`` examples with pairwise distance matrices ``D_input``
    (of the inputs, flattened per example) and ``D_hidden`` (of the hidden
    representation)::

        term = 1 / N^2 * || G * (D_input - D_hidden) ||_F^2

    where ``G_ij = 1`` when examples ``i`` and ``j`` share a class
    (``scope="class"``, the locally isometric layers of the paper) or ``G = 1``
    (``scope="global"``, a global isometry). The hidden layer is asked to
    reproduce the input distances themselves (no free scale), so the strength
    trades accuracy for isometry; the paper's ``beta`` spans 0.001 to 10.

    With ``scope="class"`` the distances are taken per class block: the batch is
    gathered into one padded block per class and each side costs one batched
    matrix product over ``sum_c n_c^2`` pairs instead of ``N^2`` (the full
    masked matrix is used when padding a dominant class would cost more). No
    Python loop runs over examples or classes. The Euclidean
    distance is taken with a masked square root, so its gradient is 0, not NaN,
    on the diagonal and for duplicated examples. ``metric="cosine"`` uses
    ``1 - cos(x_i, x_j)`` instead.

    Parameters
    ----------
    strength : float, default=1.0
        Multiplier of the term (``beta`` in the paper).
    scope : {"class", "global"}, default="class"
        Which pairs must keep their distance: same-class pairs or all pairs.
    metric : {"euclidean", "cosine"}, default="euclidean"
        Distance on both sides; the paper uses the Euclidean distance.

    References
    ----------
    "Isometric representations in neural networks improve robustness", section 2
    (the loss ``L_ISO``).

    Examples
    --------
    >>> import torch
    >>> from sklearn_robust.nn import PenaltyBatch
    >>> from sklearn_robust.nn.penalties import IsometryPenalty
    >>> _ = torch.manual_seed(0)
    >>> inputs, targets = torch.randn(6, 3), torch.tensor([0, 0, 0, 1, 1, 1])
    >>> rotation = torch.linalg.qr(torch.randn(3, 3))[0]
    >>> hidden = inputs @ rotation  # the module is not used by this penalty
    >>> batch = PenaltyBatch(inputs, hidden, torch.zeros(6, 2), targets, module=None)
    >>> penalty = IsometryPenalty(scope="class")
    >>> penalty
    IsometryPenalty()
    >>> penalty(batch).item() < 1e-10  # a rotation keeps every distance
    True
    """

    _parameter_constraints: dict = {
        **Penalty._parameter_constraints,
        "scope": [StrOptions({"class", "global"})],
        "metric": [StrOptions({"euclidean", "cosine"})],
    }

    def __init__(self, strength=1.0, scope="class", metric="euclidean"):
        self.strength = strength
        self.scope = scope
        self.metric = metric

    def term(self, batch):
        """Compute the unscaled penalty on one minibatch.

        Parameters
        ----------
        batch : PenaltyBatch
            The minibatch's inputs, hidden representation, logits, targets and module.

        Returns
        -------
        value : torch.Tensor of shape ()
            The penalty before ``strength`` multiplies it, differentiable.
        """
        hidden, inputs = _flat(batch.hidden), _flat(batch.inputs)
        n_examples = hidden.shape[0]
        targets = batch.targets.reshape(-1)
        rows, valid = None, None
        if self.scope == "class":
            # Only within-class pairs count: one padded block per class, all blocks
            # in batched matrix products, sum_c n_c^2 pairs instead of N^2 ...
            rows, valid = _class_blocks(targets, n_examples)
        if rows is None or rows.numel() * rows.shape[1] > n_examples**2:
            # ... unless padding a dominant class would cost more than the full matrix.
            rows = torch.arange(n_examples, device=hidden.device)[None, :]
            valid = torch.ones_like(rows, dtype=torch.bool)
        flat_rows = rows.reshape(-1)
        block_inputs = inputs.index_select(0, flat_rows).reshape(*rows.shape, -1)
        block_hidden = hidden.index_select(0, flat_rows).reshape(*rows.shape, -1)
        gap = _distances(block_inputs, self.metric).to(hidden.dtype) - _distances(
            block_hidden, self.metric
        )
        pairs = valid[:, :, None] & valid[:, None, :]
        if self.scope == "class":
            labels = targets[rows]
            pairs = pairs & (labels[:, :, None] == labels[:, None, :])
        return gap.pow(2).masked_fill(~pairs, 0.0).sum() / n_examples**2
