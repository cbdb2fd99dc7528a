"""Robustness evaluation: attacks, accuracy curves, critical distances, certification, scorers."""

from .attacks import fgsm, pgd, prepare_attack, random_noise
from .curves import accuracy_curve, critical_distance
from .scorers import certified_accuracy_scorer, critical_distance_scorer, robust_accuracy_scorer

__all__ = [
    "accuracy_curve",
    "certified_accuracy_scorer",
    "critical_distance",
    "critical_distance_scorer",
    "fgsm",
    "pgd",
    "prepare_attack",
    "random_noise",
    "robust_accuracy_scorer",
]
