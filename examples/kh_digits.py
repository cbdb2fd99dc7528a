"""Krotov-Hopfield hybrid model on the embedded digits data, and its power-law spectrum.

Runs in well under a minute on a laptop CPU with no network:

    python examples/kh_digits.py

A quick run, as the tests make, trains less (5 epochs of the encoder instead of 100):

    SKLEARN_ROBUST_EXAMPLE_QUICK=1 python examples/kh_digits.py
"""

# %%
# A local (Hebbian) encoder learns 400 hidden units without labels; a linear
# read-out on its ReLU(h)^3 activations is the paper's hybrid model.
import os

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_robust import KHEncoder, PowerLawSpectrum
from sklearn_robust.datasets import load_digits

QUICK = os.environ.get("SKLEARN_ROBUST_EXAMPLE_QUICK") == "1"  # a run of seconds, for the tests

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
hybrid = Pipeline(
    [
        (
            "kh",
            KHEncoder(
                n_components=400, power=3, n_epochs=5 if QUICK else 100, random_state=0, verbose=1
            ),
        ),
        ("scale", StandardScaler()),
        ("clf", LogisticRegression(max_iter=2000)),
    ]
)
hybrid.fit(X_train, y_train)
print(f"test accuracy of the KH hybrid: {hybrid.score(X_test, y_test):.3f}")

# %%
# The covariance spectrum of the hidden layer: how close is it to a power law
# lambda_n ~ n^-alpha, and what does the same fit say about white noise?
hidden = hybrid.named_steps["kh"].transform(X_test)
spectrum = PowerLawSpectrum(n_min=2, n_max=100).fit(hidden)
noise = spectrum.white_noise_alpha(random_state=0)
print(
    f"hidden layer: alpha = {spectrum.alpha_:.2f} +/- {spectrum.alpha_stderr_:.2f}, "
    f"R^2 = {spectrum.r2_:.3f} (ranks {spectrum.fit_range_[0]}-{spectrum.fit_range_[1]})"
)
print(f"white noise of the same shape: alpha = {noise['alpha_mean']:.2f}")
print("leading normalised eigenvalues:", np.round(spectrum.eigenvalues_[:5], 3))
