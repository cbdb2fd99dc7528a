"""Estimators for the geometry, spectrum and robustness of neural representations."""

from . import datasets, mixture
from .hebbian import KHEncoder
from .mixture import DPGMMClassDensity
from .nn import RobustNetClassifier, StackedLILClassifier, TorchClassifier
from .representations import LayerActivations, VectorCodes
from .som import SOMProbe
from .spectrum import PowerLawSpectrum, covariance_spectrum, fit_power_law

__version__ = "0.1.0"

__all__ = [
    "DPGMMClassDensity",
    "KHEncoder",
    "LayerActivations",
    "PowerLawSpectrum",
    "RobustNetClassifier",
    "SOMProbe",
    "StackedLILClassifier",
    "TorchClassifier",
    "VectorCodes",
    "__version__",
    "covariance_spectrum",
    "datasets",
    "fit_power_law",
    "mixture",
]
