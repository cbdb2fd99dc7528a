"""The KH hybrid against plain backpropagation on digits.

The hybrid is a Krotov-Hopfield encoder learned without labels, then a linear
decoder trained by backpropagation (Holzhausen et al., figure 1): a scikit-learn
Pipeline. The plain model is an MLP of the same width trained end to end. Both
hidden layers are then put through the power-law fit of their covariance spectra.

    python examples/kh_hybrid.py

A quick run, as the tests make, trains less (5 epochs for the encoder and for each network):

    SKLEARN_ROBUST_EXAMPLE_QUICK=1 python examples/kh_hybrid.py
"""

# %%
import os

from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_robust import KHEncoder, PowerLawSpectrum
from sklearn_robust.datasets import load_digits
from sklearn_robust.nn import LinearHead, RobustNetClassifier

QUICK = os.environ.get("SKLEARN_ROBUST_EXAMPLE_QUICK") == "1"  # a run of seconds, for the tests
kh_epochs, net_epochs = (5, 5) if QUICK else (200, 50)  # the estimators' defaults

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
width = 400
hybrid = Pipeline(
    [
        ("kh", KHEncoder(n_components=width, power=4.5, n_epochs=kh_epochs, random_state=0)),
        ("scale", StandardScaler()),
        (
            "clf",
            RobustNetClassifier(module=LinearHead, lr=3e-3, max_epochs=net_epochs, random_state=0),
        ),
    ]
)
plain = RobustNetClassifier(module__hidden_sizes=(width,), max_epochs=net_epochs, random_state=0)

# %%
for name, model in [("KH hybrid", hybrid), ("backprop MLP", plain)]:
    model.fit(X_train, y_train)
    hidden = model[:-1].transform(X_test) if name == "KH hybrid" else model.transform(X_test)
    spectrum = PowerLawSpectrum(n_min=2, n_max=100).fit(hidden)
    print(
        f"{name:<14} test accuracy {model.score(X_test, y_test):.3f}   "
        f"hidden alpha {spectrum.alpha_:.2f} (R^2 {spectrum.r2_:.2f})"
    )
