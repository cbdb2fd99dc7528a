"""The probes of the representations: DP-GMM class densities and SOM maps."""

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from sklearn_robust import SOMProbe
from sklearn_robust.compare import ComparisonConfig, _probes, _run
from sklearn_robust.compare import _measures as measures
from sklearn_robust.compare._settings import SETTINGS

from .conftest import blobs_split, identity


def _certified(radii):
    classes = np.repeat([0, 1, 2], 2)
    return pd.DataFrame({"model": "m", "class": classes, "radius": np.repeat(radii, 2)})


def _densities(radii):
    split = blobs_split()
    hidden_train = identity(split.X_train)
    config = ComparisonConfig(quick=True)
    return _probes.measure_densities("m", identity, hidden_train, split, _certified(radii), config)


def test_densities_per_class_and_correlations():
    table, rows = _densities([0.1, 0.5, 0.3])
    assert list(table["class"]) == [0, 1, 2]
    np.testing.assert_allclose(table.radius, [0.1, 0.5, 0.3])
    assert np.all(np.isfinite(table[["log_density", "kl"]])) and (table.kl >= 0).all()
    values = dict((measure, value) for _, measure, value in rows)
    assert {
        measures.DPGMM_LOG_DENSITY_MEAN,
        measures.DPGMM_KL_MEAN,
        measures.DPGMM_N_CLUSTERS_MEAN,
    } <= set(values)
    for quantity in measures.DENSITY_QUANTITIES:
        assert -1 <= values[measures.dpgmm_radius_spearman(quantity)] <= 1


def test_undefined_correlations_are_left_out():
    _, rows = _densities([0.0, 0.0, 0.0])
    names = {measure for _, measure, _ in rows}
    assert measures.DPGMM_LOG_DENSITY_MEAN in names
    assert not names & {measures.dpgmm_radius_spearman(q) for q in measures.DENSITY_QUANTITIES}


def test_the_input_map_is_fitted_once_for_every_model(monkeypatch):
    config = ComparisonConfig(quick=True)
    split = blobs_split()
    _run._fit_input_map(split, config, progress=lambda line: None)
    input_map = split.input_probe
    assert (input_map.n_rows, input_map.n_cols) == (SETTINGS.som_size, SETTINGS.som_size)
    fitted = []
    fit = SOMProbe.fit
    monkeypatch.setattr(
        SOMProbe, "fit", lambda self, X, y=None: fitted.append(self) or fit(self, X)
    )
    model = LogisticRegression().fit(split.X_train, split.y_train)
    hidden_train = identity(split.X_train)
    for name in ("a", "b"):
        som, rows = _probes.measure_som(name, model, identity, hidden_train, split, config)
        assert set(som.shifts) == {
            (p, layer) for p in measures.PERTURBATIONS for layer in measures.LAYERS
        }
        assert all(shift.shape == (30, SETTINGS.som_top_k) for shift in som.shifts.values())
        spread_input = dict((m, v) for _, m, v in rows)[measures.som_class_spread("input")]
        assert spread_input == np.mean(list(split.input_spread.values()))
    assert len(fitted) == 2 and all(probe is not input_map for probe in fitted)  # hidden maps
    assert split.input_probe is input_map
