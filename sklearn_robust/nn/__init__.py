"""Neural-network classifiers, their modules and the penalties on their hidden layers."""

from .augmentation import RandomCropFlip
from .classifier import RobustNetClassifier
from .conv import BasicBlock, ConvNet, ResNet
from .lil import StackedLILClassifier, StackedLILLevel
from .modules import MLP, LinearHead
from .penalties import (
    IsometryPenalty,
    JacobianPenalty,
    L2Penalty,
    Penalty,
    PenaltyBatch,
    SpectralPenalty,
)
from .torch_classifier import TorchClassifier

__all__ = [
    "MLP",
    "BasicBlock",
    "ConvNet",
    "IsometryPenalty",
    "JacobianPenalty",
    "L2Penalty",
    "LinearHead",
    "Penalty",
    "PenaltyBatch",
    "RandomCropFlip",
    "ResNet",
    "RobustNetClassifier",
    "SpectralPenalty",
    "StackedLILClassifier",
    "StackedLILLevel",
    "TorchClassifier",
]
