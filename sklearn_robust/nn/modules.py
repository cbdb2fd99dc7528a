"""Torch modules the classifiers train: an MLP that exposes its hidden representation."""

from __future__ import annotations

from torch import nn

__all__ = ["ACTIVATIONS", "MLP", "LinearHead", "OutputOf", "split_output"]

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh}


class MLP(nn.Module):
    """Multi-layer perceptron returning ``(logits, hidden)``.

    ``hidden`` is the last hidden layer's activation, the representation the
    penalties act on and that ``RobustNetClassifier.transform`` returns.

    Parameters
    ----------
    n_features : int
        Input width (filled in by the classifier from the data).
    n_classes : int
        Number of outputs (filled in by the classifier from the data).
    hidden_sizes : tuple of int, default=(100,)
        Widths of the hidden layers; the paper's models have one hidden layer.
    activation : {"relu", "tanh"}, default="relu"
        Non-linearity after each hidden layer.

    Attributes
    ----------
    encoder : torch.nn.Sequential
        The hidden layers (Linear + activation pairs): the "encoding weights" that
        ``L2Penalty`` decays.
    head : torch.nn.Linear
        The linear read-out from the last hidden layer to the logits.

    Examples
    --------
    >>> import torch
    >>> from sklearn_robust.nn.modules import MLP
    >>> logits, hidden = MLP(4, 3, hidden_sizes=(8, 5))(torch.zeros(2, 4))
    >>> tuple(logits.shape), tuple(hidden.shape)
    ((2, 3), (2, 5))
    """

    def __init__(self, n_features, n_classes, hidden_sizes=(100,), activation="relu"):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {sorted(ACTIVATIONS)}; got {activation!r}."
            )
        hidden_sizes = tuple(int(width) for width in hidden_sizes)
        if not hidden_sizes or min(hidden_sizes) < 1:
            raise ValueError(f"hidden_sizes must be positive widths; got {hidden_sizes!r}.")
        layers, width = [], n_features
        for size in hidden_sizes:
            layers += [nn.Linear(width, size), ACTIVATIONS[activation]()]
            width = size
        self.encoder = nn.Sequential(*layers)
        self.head = nn.Linear(width, n_classes)

    def forward(self, x):
        """Compute the logits and the last hidden layer.

        Parameters
        ----------
        x : torch.Tensor of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        logits : torch.Tensor of shape (n_samples, n_classes)
            The read-out of the last hidden layer.
        hidden : torch.Tensor of shape (n_samples, hidden_sizes[-1])
            The last hidden layer's activations.
        """
        hidden = self.encoder(x)
        return self.head(hidden), hidden

    def hidden_layer_names(self):
        """Name the hidden layers' activations, first to last (for ``transform``).

        Returns
        -------
        names : list of str
            The submodule names ``"encoder.1"``, ``"encoder.3"``, ... of the activations.
        """
        return [f"encoder.{index}" for index in range(1, len(self.encoder), 2)]


class LinearHead(nn.Module):
    """A linear read-out returning ``(logits, inputs)``: the decoder of a hybrid model.

    Behind a fixed encoder (``Pipeline([("kh", KHEncoder()), ("clf",
    RobustNetClassifier(module=LinearHead))])``) the representation the
    penalties and ``transform`` see is the head's input, the encoder's output.

    Parameters
    ----------
    n_features : int
        Input width (filled in by the classifier).
    n_classes : int
        Number of outputs (filled in by the classifier).

    Examples
    --------
    >>> import torch
    >>> from sklearn_robust.nn.modules import LinearHead
    >>> logits, hidden = LinearHead(4, 3)(torch.zeros(2, 4))
    >>> tuple(logits.shape), tuple(hidden.shape)
    ((2, 3), (2, 4))
    """

    def __init__(self, n_features, n_classes):
        super().__init__()
        self.head = nn.Linear(n_features, n_classes)

    def forward(self, x):
        """Compute the logits; the inputs are the hidden representation.

        Parameters
        ----------
        x : torch.Tensor of shape (n_samples, n_features)
            Inputs: the encoder's output in a hybrid model.

        Returns
        -------
        logits : torch.Tensor of shape (n_samples, n_classes)
            The linear read-out of ``x``.
        hidden : torch.Tensor of shape (n_samples, n_features)
            ``x`` itself.
        """
        return self.head(x), x


def split_output(output):
    """``(logits, hidden)`` from a module's output; ``hidden`` is None for logits alone."""
    if isinstance(output, (tuple, list)):
        if len(output) != 2:
            raise ValueError(
                f"A module must return logits or (logits, hidden); got {len(output)} outputs."
            )
        return output[0], output[1]
    return output, None


class OutputOf(nn.Module):
    """Wraps a module that returns ``(logits, hidden)`` so that it returns one of them."""

    def __init__(self, module, index=0):
        super().__init__()
        self.module = module
        self.index = index

    def forward(self, x):
        selected = split_output(self.module(x))[self.index]
        if selected is None:
            raise ValueError(
                f"{type(self.module).__name__} returns only logits: it has no hidden output."
            )
        return selected
