"""Neural-network classifiers, their modules and the penalties on their hidden layers."""

from .classifier import RobustNetClassifier
from .lil import StackedLILClassifier
from .modules import MLP, LinearHead
from .penalties import (
    IsometryPenalty,
    JacobianPenalty,
    L2Penalty,
    Penalty,
    PenaltyBatch,
    SpectralPenalty,
)

__all__ = [
    "MLP",
    "IsometryPenalty",
    "JacobianPenalty",
    "L2Penalty",
    "LinearHead",
    "Penalty",
    "PenaltyBatch",
    "RobustNetClassifier",
    "SpectralPenalty",
    "StackedLILClassifier",
]
