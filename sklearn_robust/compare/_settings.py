"""The comparison's fixed choices: one record, used by the run and quoted by the report."""

from __future__ import annotations

from dataclasses import dataclass, replace

__all__ = ["SETTINGS", "Settings", "settings_for"]


@dataclass(frozen=True)
class Settings:
    """What every run measures with, whatever its :class:`ComparisonConfig`.

    The results keep the record they were measured with, so that the report's
    sentences quote the numbers of the run and not of the code that reads it.

    Attributes
    ----------
    som_size : int
        Rows and columns of every toroidal SOM, as in ``examples/som_digits.py``.
    som_sigma : float
        The SOMs' initial neighbourhood width, in grid units.
    som_top_k : int
        Best matching units compared per example (Lee and Vijayan, figure 11).
    som_pgd_eps : float
        L2 radius of the PGD of the BMU shift, for pixels in [0, 1].
    smoothing_sigma : float
        Noise level of the smoothed classifier (Cohen et al.'s smallest on images).
    certified_radius : float
        The L2 radius of the certified accuracy.
    dpgmm_dimensions : int
        PCA dimensions of the hidden layer for the DP-GMM class densities (the
        authors used 16-64); fewer if the layer is narrower.
    plane_resolution : int
        Points per side of the random plane of the landscapes (15 for the
        convolutional family: each point's exact Jacobian costs a backward
        pass per hidden unit through the whole network).
    """

    som_size: int = 10
    som_sigma: float = 3.0
    som_top_k: int = 10
    som_pgd_eps: float = 1.0
    smoothing_sigma: float = 0.25
    certified_radius: float = 0.25
    dpgmm_dimensions: int = 16
    plane_resolution: int = 31


SETTINGS = Settings()


def settings_for(convolutional):
    """The settings of a run: :data:`SETTINGS`, with a coarser plane for convolutional models."""
    return replace(SETTINGS, plane_resolution=15) if convolutional else SETTINGS
