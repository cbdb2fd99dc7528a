"""Neural-network classifiers, their modules and the penalties on their hidden layers."""

from .modules import MLP
from .penalties import L2Penalty, Penalty, PenaltyBatch

__all__ = ["MLP", "L2Penalty", "Penalty", "PenaltyBatch"]
