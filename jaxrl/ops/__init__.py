"""Unbatched, pure RL operations (rlax style).

Every op takes the arrays of a single transition (or a single trajectory for
the return ops), checks their shapes on entry and is batched by the caller
with :func:`jax.vmap`. Names carry a time suffix: ``q_tm1, a_tm1, r_t,
discount_t, q_t``. ``discount_t`` is ``gamma * (1 - terminated_t)``: it is zero
on termination and ``gamma`` on truncation, so truncated episodes bootstrap.
"""

from jaxrl.ops.value import (
    double_q_learning,
    expected_sarsa,
    q_learning,
    sarsa,
    td_learning,
)

__all__ = [
    "double_q_learning",
    "expected_sarsa",
    "q_learning",
    "sarsa",
    "td_learning",
]
