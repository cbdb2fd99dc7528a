"""A faithful NumPy port of Krotov and Hopfield's reference training loop (the anchor).

It follows the published notebook of "Unsupervised learning by competing hidden
units" (PNAS 2019) line for line: float64, a full ``argsort`` of every hidden
unit for every example, a dense ``ds`` matrix the size of the synapses, and the
update scaled so that its largest element equals the learning rate.
"""

from __future__ import annotations

import numpy as np

PRECISION = 1e-30  # the notebook's floor on the normaliser


def reference_minibatch(synapses, inputs, learning_rate, p=3.0, k=7, delta=0.4):
    """Apply one minibatch update in place and return ``synapses``.

    Parameters
    ----------
    synapses : ndarray of shape (n_hidden, n_features), float64
        The matrix S, updated in place.
    inputs : ndarray of shape (batch_size, n_features)
        One minibatch (rows are examples).
    learning_rate, p, k, delta : float, float, int, float
        As in the notebook (``eps``, ``p``, ``k``, ``delta``).
    """
    n_hidden = synapses.shape[0]
    batch = inputs.T  # the notebook keeps examples in columns
    n_batch = batch.shape[1]
    sig = np.sign(synapses)
    tot_input = np.dot(sig * np.absolute(synapses) ** (p - 1), batch)

    y = np.argsort(tot_input, axis=0)
    yl = np.zeros((n_hidden, n_batch))
    yl[y[n_hidden - 1, :], np.arange(n_batch)] = 1.0
    yl[y[n_hidden - k], np.arange(n_batch)] = -delta

    xx = np.sum(np.multiply(yl, tot_input), 1)
    ds = np.dot(yl, np.transpose(batch)) - np.multiply(
        np.tile(xx.reshape(xx.shape[0], 1), (1, batch.shape[0])), synapses
    )

    nc = np.amax(np.absolute(ds))
    if nc < PRECISION:
        nc = PRECISION
    synapses += learning_rate * np.true_divide(ds, nc)
    return synapses


def reference_fit(
    X, n_hidden=2000, p=3.0, k=7, delta=0.4, learning_rate=0.04, n_epochs=1, batch_size=100, seed=0
):
    """Train synapses with the reference loop; returns S of shape (n_hidden, n_features)."""
    rng = np.random.default_rng(seed)
    X = np.asarray(X, dtype=np.float64)
    n_samples, n_features = X.shape
    synapses = rng.normal(0.0, 1.0, (n_hidden, n_features))
    for epoch in range(n_epochs):
        eps = learning_rate * (1 - epoch / n_epochs)
        shuffled = X[rng.permutation(n_samples), :]
        for i in range(n_samples // batch_size):
            reference_minibatch(
                synapses, shuffled[i * batch_size : (i + 1) * batch_size], eps, p, k, delta
            )
    return synapses
