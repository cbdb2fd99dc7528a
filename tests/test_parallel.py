"""Tests for sklearn_robust.parallel: searches with robustness scorers on a dask cluster."""

import joblib
import numpy as np
import pytest
import torch
from distributed import Client, LocalCluster
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV

from sklearn_robust.datasets import load_digits
from sklearn_robust.nn import L2Penalty, RobustNetClassifier
from sklearn_robust.parallel import limit_torch_threads
from sklearn_robust.robustness import critical_distance_scorer, robust_accuracy_scorer


@pytest.fixture(scope="module")
def client():
    """Two single-threaded worker processes on loopback."""
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def test_workers_get_as_many_torch_threads_as_dask_threads(client):
    assert set(limit_torch_threads(client).values()) == {1}
    assert len(client.scheduler_info()["workers"]) == 2
    with pytest.raises(ValueError, match="n_threads"):
        limit_torch_threads(client, n_threads=0)


def test_grid_search_under_dask_matches_a_serial_run(client):
    limit_torch_threads(client)
    X, y = load_digits(return_X_y=True)
    X, y = X[:400], y[:400]
    search = GridSearchCV(
        RobustNetClassifier(penalty=L2Penalty(), max_epochs=3, device="cpu", random_state=0),
        {"penalty__strength": [0.0, 1e-1]},
        scoring={
            "accuracy": "accuracy",
            "pgd": robust_accuracy_scorer("pgd", eps=0.05, clip=(0, 1)),
            "critical": critical_distance_scorer("pgd", norm="l2", max_eps=5.0),
        },
        refit="accuracy",
        cv=2,
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as on the workers: same reductions, same numbers
    try:
        serial = clone(search).fit(X, y).cv_results_
    finally:
        torch.set_num_threads(threads)
    with joblib.parallel_backend("dask"):
        distributed = clone(search).set_params(n_jobs=-1).fit(X, y).cv_results_
    for key in serial:
        if key.startswith(("split", "mean_test", "rank_test")):
            np.testing.assert_allclose(distributed[key], serial[key], rtol=1e-6, err_msg=key)
    assert np.all(np.isfinite(serial["mean_test_critical"]))
