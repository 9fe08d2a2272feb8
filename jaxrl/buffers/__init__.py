"""Replay buffers as pure ``(init, add, sample)`` function bundles."""

from jaxrl.buffers.replay import BufferState, add, can_sample, init, sample

__all__ = ["BufferState", "add", "can_sample", "init", "sample"]
