"""Robustness evaluation: attacks, accuracy curves, critical distances, certification, scorers."""

from .attacks import fgsm, pgd, prepare_attack, random_noise
from .curves import accuracy_curve, critical_distance
from .landscape import DecisionLandscape, JacobianNormMap, decision_landscape, jacobian_norm_map
from .scorers import certified_accuracy_scorer, critical_distance_scorer, robust_accuracy_scorer
from .smoothing import certify, smoothed_predict

__all__ = [
    "DecisionLandscape",
    "JacobianNormMap",
    "accuracy_curve",
    "certified_accuracy_scorer",
    "certify",
    "critical_distance",
    "critical_distance_scorer",
    "decision_landscape",
    "fgsm",
    "jacobian_norm_map",
    "pgd",
    "prepare_attack",
    "random_noise",
    "robust_accuracy_scorer",
    "smoothed_predict",
]
