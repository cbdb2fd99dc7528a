"""Robustness evaluation: attacks, accuracy curves, critical distances, certification, scorers."""

from .attacks import fgsm, pgd, prepare_attack, random_noise
from .curves import accuracy_curve, critical_distance

__all__ = [
    "accuracy_curve",
    "critical_distance",
    "fgsm",
    "pgd",
    "prepare_attack",
    "random_noise",
]
