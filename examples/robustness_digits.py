"""How robust are the KH hybrid, backprop and an L2-penalised MLP? (Holzhausen et al., fig. 1, 4)

Three models of the same width on digits, attacked with random noise, FGSM and
PGD-10: relative accuracy against eps, the distribution of critical (minimal
fooling) distances, and the decision landscape and hidden-Jacobian norm on a
random plane through one test image. Writes robustness_digits.png.

    python examples/robustness_digits.py

A quick run, as the tests make, trains and attacks less (5 epochs, 60 test
images, 11 x 11 planes):

    SKLEARN_ROBUST_EXAMPLE_QUICK=1 python examples/robustness_digits.py
"""

# %%
import os

import matplotlib

matplotlib.use("Agg")  # the figure goes to a file

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_robust import KHEncoder
from sklearn_robust.datasets import load_digits
from sklearn_robust.nn import L2Penalty, LinearHead, RobustNetClassifier
from sklearn_robust.plotting import (
    plot_accuracy_curve,
    plot_critical_distances,
    plot_decision_landscape,
    plot_jacobian_norm_map,
)
from sklearn_robust.robustness import (
    accuracy_curve,
    critical_distance,
    decision_landscape,
    jacobian_norm_map,
)

QUICK = os.environ.get("SKLEARN_ROBUST_EXAMPLE_QUICK") == "1"  # a run of seconds, for the tests
kh_epochs, net_epochs = (5, 5) if QUICK else (100, 50)  # the estimators' defaults
n_attacked = 60 if QUICK else None  # test images attacked (None: all)
resolution = 11 if QUICK else 41  # grid points per side of the planes

X, y = load_digits(return_X_y=True)  # pixels in [0, 1]
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
width = 400
models = {
    "KH hybrid": Pipeline(
        [
            ("kh", KHEncoder(n_components=width, power=4.5, n_epochs=kh_epochs, random_state=0)),
            ("scale", StandardScaler()),
            (
                "clf",
                RobustNetClassifier(
                    module=LinearHead, lr=3e-3, max_epochs=net_epochs, random_state=0
                ),
            ),
        ]
    ),
    "backprop": RobustNetClassifier(
        module__hidden_sizes=(width,), max_epochs=net_epochs, random_state=0
    ),
    "L2": RobustNetClassifier(
        module__hidden_sizes=(width,),
        penalty=L2Penalty(1e-2),
        max_epochs=net_epochs,
        random_state=0,
    ),
}
for name, model in models.items():
    model.fit(X_train, y_train)
    print(f"{name:<10} test accuracy {model.score(X_test, y_test):.3f}")

# %% Relative accuracy against eps, and critical distances, for each attack
X_eval, y_eval = X_test[:n_attacked], y_test[:n_attacked]
attacks = {"noise": {}, "fgsm": {"clip": (0, 1)}, "pgd": {"clip": (0, 1)}}
curves, distances = [], {}
for name, model in models.items():
    for attack, kw in attacks.items():
        curve = accuracy_curve(model, X_eval, y_eval, attack, random_state=0, **kw)
        curves.append(curve.assign(model=name))
        distances[name, attack] = critical_distance(
            model, X_eval, y_eval, attack, random_state=0, **kw
        )
curves = pd.concat(curves, ignore_index=True)
summary = pd.DataFrame(
    {
        key: {
            "median": np.median(d[d > 0]),
            "mean (fooled)": d[np.isfinite(d) & (d > 0)].mean(),
            "never fooled": np.isinf(d).mean(),
        }
        for key, d in distances.items()
    }
).T
print(summary.round(3))

# %% Figure: curves, distances, landscapes
fig, axes = plt.subplots(4, 3, figsize=(15, 18))
for column, attack in enumerate(attacks):
    ax = plot_accuracy_curve(curves[curves.attack == attack], ax=axes[0, column])
    ax.set_title(f"{attack}: relative accuracy")
    plot_critical_distances(
        {name: distances[name, attack] for name in models}, ax=axes[1, column]
    ).set_title(f"{attack}: critical distances")
center = X_test[np.flatnonzero(y_test == 3)[0]]
for column, (name, model) in enumerate(models.items()):
    landscape = decision_landscape(model, center, extent=6.0, resolution=resolution, random_state=0)
    plot_decision_landscape(landscape, ax=axes[2, column]).set_title(f"{name}: decisions")
    jmap = jacobian_norm_map(model, center, landscape.directions, extent=6.0, resolution=resolution)
    plot_jacobian_norm_map(jmap, ax=axes[3, column], log=True).set_title(f"{name}: Jacobian norm")
fig.tight_layout()
fig.savefig("robustness_digits.png", dpi=80)
print("wrote robustness_digits.png")
