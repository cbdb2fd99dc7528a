"""Dirichlet-process Gaussian mixtures of each class's representations."""

from ._dpgmm import DPGMMClassDensity

__all__ = ["DPGMMClassDensity"]
