"""Isometry strength vs accuracy on digits: the isometric-representations paper's table 1.

A grid search over the strength beta of the locally isometric layer loss, with
two workers, prints test accuracy for each strength; larger beta trades clean
accuracy for a more isometric (and, per the paper, more robust) hidden layer.

    python examples/isometry_strength.py

A quick run, as the tests make, trains less (two strengths, two epochs):

    SKLEARN_ROBUST_EXAMPLE_QUICK=1 python examples/isometry_strength.py
"""

# %%
import os

import pandas as pd
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_robust.datasets import load_digits
from sklearn_robust.nn import IsometryPenalty, RobustNetClassifier

QUICK = os.environ.get("SKLEARN_ROBUST_EXAMPLE_QUICK") == "1"  # a run of seconds, for the tests
strengths = [0, 1e-1] if QUICK else [0, 1e-3, 1e-2, 1e-1, 1, 10]

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
pipe = Pipeline(
    [
        ("scale", StandardScaler()),
        (
            "clf",
            RobustNetClassifier(
                penalty=IsometryPenalty(),
                module__hidden_sizes=(100, 100, 100, 100),
                module__activation="tanh",
                batch_size=100,
                max_epochs=2 if QUICK else 30,
                random_state=0,
            ),
        ),
    ]
)
search = GridSearchCV(pipe, {"clf__penalty__strength": strengths}, cv=3, n_jobs=2)
search.fit(X_train, y_train)

# %%
# Refit each strength on the whole training split and score it on the test split.
rows = []
for strength in strengths:
    model = search.estimator.set_params(clf__penalty__strength=strength).fit(X_train, y_train)
    cv = search.cv_results_["mean_test_score"][strengths.index(strength)]
    rows.append(
        {"strength": strength, "cv accuracy": cv, "test accuracy": model.score(X_test, y_test)}
    )
print(pd.DataFrame(rows).to_string(index=False, float_format="%.3f"))
