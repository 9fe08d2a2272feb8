"""Counting XLA compilations in tests (``from compiles import
count_compilations``; ``tests/`` is on the path through its conftest)."""

import contextlib
from collections.abc import Callable, Iterator

import jax

_BACKEND_COMPILE = "/jax/core/compile/backend_compile_duration"
_compiles = [0]


def _on_duration(event: str, duration: float, **kwargs) -> None:
    if event == _BACKEND_COMPILE:
        _compiles[0] += 1


jax.monitoring.register_event_duration_secs_listener(_on_duration)


@contextlib.contextmanager
def count_compilations() -> Iterator[Callable[[], int]]:
    """Count XLA compilations inside the block (JAX's own compile event, as
    optax's tests do with its compilation log): ``with count_compilations()
    as n: f(x)`` then ``n()``, the count at the block's end (or so far, inside
    it). Eager operations compile too, so build inputs outside the block."""
    start, end = _compiles[0], []

    def count() -> int:
        return (end[0] if end else _compiles[0]) - start

    try:
        yield count
    finally:
        end.append(_compiles[0])
