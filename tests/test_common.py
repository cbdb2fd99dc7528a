"""scikit-learn's estimator checks on every public estimator."""

import torch
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_robust import (
    DPGMMClassDensity,
    KHEncoder,
    LayerActivations,
    PowerLawSpectrum,
    SOMProbe,
    VectorCodes,
)
from sklearn_robust.nn import (
    IsometryPenalty,
    JacobianPenalty,
    L2Penalty,
    RobustNetClassifier,
    SpectralPenalty,
    StackedLILClassifier,
)

# Checks that truly do not apply, each with the reason. Keep it empty unless a
# check's premise does not hold for an estimator.
# KHEncoder: these checks set n_components=1, where the k-th ranked unit that the
# learning rule pushes away (k >= 2) cannot exist, so fit rightly raises ValueError.
# tests/test_hebbian.py asserts the same properties with a valid number of units.
_NEEDS_K_UNITS = "sets n_components=1 < k; the rule needs a k-th ranked unit (k >= 2)"
# RobustNetClassifier: with full batches a weight is exactly a repetition in exact
# arithmetic, but float32 sums over other rows in another order differ by an ulp
# (measured 6e-8 absolute, 2.8e-7 relative on the check's data, against its
# rtol=1e-7; tests/nn/test_classifier.py checks the equivalence to 1e-5). With the
# penalties that read the batch's rows (Jacobian, Spectral, Isometry) the models truly
# differ (up to 0.06): the penalty is unweighted by design, so it sees rows of weight 0
# and counts each repeated row.
_WEIGHT_IS_NOT_REPETITION = (
    "weighted rows equal repeated ones up to float32 rounding (~1 ulp, beyond rtol=1e-7); "
    "the penalties that read the batch are unweighted, so with them the models differ"
)
EXPECTED_FAILED_CHECKS: dict[str, dict[str, str]] = {
    "RobustNetClassifier": {
        "check_sample_weight_equivalence_on_dense_data": _WEIGHT_IS_NOT_REPETITION,
    },
    "KHEncoder": {
        check: _NEEDS_K_UNITS
        for check in (
            "check_dont_overwrite_parameters",
            "check_methods_sample_order_invariance",
            "check_methods_subset_invariance",
            "check_fit2d_1sample",
            "check_fit2d_1feature",
            "check_fit2d_predict1d",
        )
    },
}


def _expected_failed_checks(estimator):
    return EXPECTED_FAILED_CHECKS.get(type(estimator).__name__, {})


@parametrize_with_checks(
    [
        KHEncoder(),
        # Few sweeps keep the checks fast; every check still runs the full sampler.
        DPGMMClassDensity(n_iter=10, burn_in=5),
        PowerLawSpectrum(),
        RobustNetClassifier(),
        RobustNetClassifier(penalty=L2Penalty()),
        RobustNetClassifier(penalty=JacobianPenalty()),
        RobustNetClassifier(penalty=SpectralPenalty()),
        RobustNetClassifier(penalty=IsometryPenalty()),
        # Fewer epochs than the default keep the ~50 checks fast; every check
        # still trains the full model.
        StackedLILClassifier(max_epochs=50),
        SOMProbe(n_rows=4, n_cols=4, n_epochs=2),
        SOMProbe(n_rows=3, n_cols=4, n_epochs=1, algorithm="batch", output="coordinates"),
        # Each row read as one channel's 1-D map.
        VectorCodes(map_shape=(1, -1)),
        # An elementwise network takes rows of any width, as the checks need.
        LayerActivations(torch.nn.Sequential(torch.nn.Tanh(), torch.nn.Softplus()), "0"),
    ],
    expected_failed_checks=_expected_failed_checks,
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
