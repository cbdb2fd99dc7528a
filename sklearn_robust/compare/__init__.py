"""The comparison behind ``python -m sklearn_robust compare``: train the papers' models, measure.

:func:`run_comparison` trains every model on the same split and measures what
Holzhausen et al. (figures 1-4, A2) and Jamroz and Kurdziel report: clean
accuracy, relative-accuracy curves and critical distances under random noise,
FGSM and PGD, the hidden layer's covariance spectrum and power-law exponent (on
the data and on white noise), the decision landscape and hidden-Jacobian norm on
one random plane, and per-class certified radii of the smoothed classifier. Two
probes of the representations follow: self-organizing maps of the input and of
each hidden layer, with the class spread ``D_class`` and the shift of the best
matching units under PGD against noise of the same norm (Lee and Vijayan,
figures 6 and 11), and per-class Dirichlet-process Gaussian mixtures of the
hidden layer, whose held-out log density and KL complexity are set against the
classes' certified radii (Jamroz and Kurdziel). The results are tidy tables;
:func:`write_report` turns them into a report.

The models are independent: ``run_comparison(config, n_jobs=k)`` measures them
in ``k`` joblib worker processes, and with a ``dask.distributed`` client on a
cluster's workers; every model gets the same ``random_state`` either way, so the
numbers do not depend on where it ran.
"""

from ._report import check_report_folder, write_report
from ._run import (
    ATTACKS,
    ComparisonConfig,
    ComparisonResults,
    ModelResult,
    model_family,
    run_comparison,
)

__all__ = [
    "ATTACKS",
    "ComparisonConfig",
    "ComparisonResults",
    "ModelResult",
    "check_report_folder",
    "model_family",
    "run_comparison",
    "write_report",
]
