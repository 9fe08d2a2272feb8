"""Replay as pure ``(init, add, sample, can_sample)`` bundles.

- :func:`uniform`: n-step transitions from an env-major store, frame stacks
  rebuilt by index (:mod:`jaxrl.buffers.uniform`);
- :func:`sequences`: ``[batch, length]`` windows with episode flags;
- :mod:`jaxrl.buffers.replay`: a flat circular buffer of whole transitions.
"""

from jaxrl.buffers.trajectory import Timestep, TrajectoryState, nbytes
from jaxrl.buffers.uniform import Buffer, Sequence, Transition, sequences, uniform

__all__ = [
    "Buffer",
    "Sequence",
    "Timestep",
    "TrajectoryState",
    "Transition",
    "nbytes",
    "sequences",
    "uniform",
]
