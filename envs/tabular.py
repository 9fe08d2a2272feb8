"""Base class and exact model for tabular (finite-state) environments.

A tabular environment is a gymnax ``Environment`` whose observation is the
integer state index. It also exposes its exact model, so dynamic programming
gives the true values that learned values are compared against.
"""

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces


@struct.dataclass
class TabularModel:
    """The exact model of a finite MDP.

    Attributes:
        P: transition probabilities ``P[s, a, s']``, shape ``[S, A, S]``; each
            row sums to one. Terminal states loop onto themselves.
        R: expected immediate reward ``R[s, a] = E[r_{t+1} | s_t=s, a_t=a]``,
            shape ``[S, A]``; zero in terminal states.
        terminal: ``True`` for terminal (absorbing, zero-value) states, ``[S]``.
        start: start-state distribution, shape ``[S]``, sums to one.
    """

    P: jax.Array
    R: jax.Array
    terminal: jax.Array
    start: jax.Array

    @property
    def num_states(self) -> int:
        return self.P.shape[0]

    @property
    def num_actions(self) -> int:
        return self.P.shape[1]


class TabularEnv(environment.Environment):
    """A gymnax environment over ``num_states`` states and ``num_actions`` actions.

    Subclasses implement ``step_env``/``reset_env`` (gymnax 1.0: ``step_env``
    returns ``obs, state, reward, terminated, info``), ``num_states(params)``
    and ``model(params)``. Observations are ``int32`` state indices.

    Every tabular env here starts deterministically (``reset_env`` ignores its
    key; the model's ``start`` is one state), so :meth:`step` auto-resets
    without gymnax's per-step split of a reset key: a subclass whose start is
    random sets ``random_start = True`` and gets gymnax's step.
    """

    random_start: bool = False

    def step(self, key: jax.Array, state: Any, action: Any, params: Any = None):
        """gymnax's ``step`` (auto-reset, ``info["final_observation"]``);
        ``key`` goes to ``step_env`` whole when the start is deterministic."""
        if self.random_start:
            return super().step(key, state, action, params)
        if params is None:
            params = self.default_params
        obs_st, state_st, reward, terminated, info = self.step_env(
            key, state, action, params
        )
        truncated = self.is_truncated(state_st, params)
        done = terminated | truncated
        obs_re, state_re = self.reset_env(key, params)  # the key is not read
        state = jax.tree.map(
            lambda r, s: jax.lax.select(done, r, s), state_re, state_st
        )
        obs = jax.lax.select(done, obs_re, obs_st)
        info = {
            **info,
            "terminated": terminated,
            "truncated": truncated,
            "final_observation": obs_st,
        }
        return obs, state, reward, terminated, truncated, info

    def num_states(self, params: Any) -> int:
        raise NotImplementedError

    def model(self, params: Any) -> TabularModel:
        """The exact model ``(P, R, terminal, start)`` for ``params``."""
        raise NotImplementedError

    def action_space(self, params: Any = None) -> spaces.Discrete:
        return spaces.Discrete(self.num_actions)

    def observation_space(self, params: Any) -> spaces.Discrete:
        return spaces.Discrete(self.num_states(params))


def one_hot_rows(next_state: jax.Array, num_states: int) -> jax.Array:
    """``[S, A]`` next-state indices to a ``[S, A, S]`` deterministic transition."""
    return jax.nn.one_hot(next_state, num_states, dtype=jnp.float32)
