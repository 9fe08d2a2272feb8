"""Shared test set-up: strict rank promotion; the compilation counter
(:mod:`compiles`) listens from the start."""

import compiles  # noqa: F401 - registers the compilation listener
import jax

# Broadcasting between arrays of different ranks is an error in the tests, so
# a [T] array that meets a [T, 1] one by accident fails loudly.
jax.config.update("jax_numpy_rank_promotion", "raise")
