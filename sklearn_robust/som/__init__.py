"""Self-organizing maps (optionally toroidal) as probes of learned representations."""

from ._som import SOMProbe, grid_distance
from ._training import decay_factor, som_minibatch_step

__all__ = ["SOMProbe", "decay_factor", "grid_distance", "som_minibatch_step"]
