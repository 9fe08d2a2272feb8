"""Replay as pure ``(init, add, sample, can_sample)`` bundles.

- :func:`uniform`: n-step transitions from an env-major store, frame stacks
  rebuilt by index (:mod:`jaxrl.buffers.uniform`);
- :func:`sequences`: ``[batch, length]`` windows with episode flags.

Both share one store (:mod:`jaxrl.buffers.trajectory`), so a loop can take
either. The off-policy loop takes a ``Buffer`` (``make_trainer(...,
buffer=...)``), by default ``uniform`` of one-step transitions.
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
