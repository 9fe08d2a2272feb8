"""The random walk of Sutton & Barto, example 6.2 (5 states) and 7.1 (19 states).

States ``0 .. n+1``: ``0`` and ``n+1`` are terminal, ``1 .. n`` are the walk
(A..E for ``n = 5``), and every episode starts in the middle, ``(n + 1) // 2``.
Action 0 moves left, action 1 right; under the uniform random policy this is the
textbook's Markov reward process. Entering the right end pays ``right_reward``
(+1), entering the left end ``left_reward`` (0; -1 for the 19-state walk of
example 7.1), every other step 0. With ``gamma = 1`` the true values of the
5-state walk are ``1/6, 2/6, ..., 5/6``.
"""

from functools import partial

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment

from envs.tabular import TabularEnv, TabularModel


@struct.dataclass
class EnvState(environment.EnvState):
    pos: jax.Array


@struct.dataclass
class RandomWalkParams(environment.EnvParams):
    n: int = struct.field(pytree_node=False, default=5)
    left_reward: float = 0.0
    right_reward: float = 1.0
    max_steps_in_episode: int = 1000


def validate_params(p: RandomWalkParams) -> None:
    if p.n < 1:
        raise ValueError(f"n={p.n} must be >= 1 (number of non-terminal states)")
    if int(p.max_steps_in_episode) < 1:
        raise ValueError(f"max_steps_in_episode={p.max_steps_in_episode} must be >= 1")


class RandomWalk(TabularEnv):
    """``RandomWalk-v0``: n non-terminal states between two terminal ends."""

    @property
    def name(self) -> str:
        return "RandomWalk-v0"

    @property
    def default_params(self) -> RandomWalkParams:
        return RandomWalkParams()

    @property
    def num_actions(self) -> int:
        return 2

    def num_states(self, params: RandomWalkParams) -> int:
        return params.n + 2

    def reset_env(self, key: jax.Array, params: RandomWalkParams):
        del key
        pos = jnp.int32((params.n + 1) // 2)
        return pos, EnvState(time=jnp.int32(0), pos=pos)

    def _outcome(self, params: RandomWalkParams, s, a):
        s1 = (s + 2 * jnp.asarray(a, jnp.int32) - 1).astype(jnp.int32)
        reward = jnp.where(s1 == 0, params.left_reward, 0.0)
        reward = jnp.where(s1 == params.n + 1, params.right_reward, reward)
        terminated = (s1 == 0) | (s1 == params.n + 1)
        return s1, reward.astype(jnp.float32), terminated

    def step_env(self, key, state: EnvState, action, params: RandomWalkParams):
        del key
        s1, reward, terminated = self._outcome(params, state.pos, action)
        return s1, EnvState(time=state.time + 1, pos=s1), reward, terminated, {}

    @partial(jax.jit, static_argnums=0)
    def model(self, params: RandomWalkParams) -> TabularModel:
        S = self.num_states(params)
        s = jnp.arange(S)[:, None].repeat(2, 1)
        a = jnp.arange(2)[None, :].repeat(S, 0)
        s_safe = jnp.clip(s, 1, params.n)  # terminal rows are overwritten below
        s1, r, _ = self._outcome(params, s_safe, a)
        terminal = (jnp.arange(S) == 0) | (jnp.arange(S) == params.n + 1)
        P = jax.nn.one_hot(s1, S)
        eye = jnp.eye(S)[:, None, :].repeat(2, 1)
        P = jnp.where(terminal[:, None, None], eye, P)
        R = jnp.where(terminal[:, None], 0.0, r)
        start = jax.nn.one_hot((params.n + 1) // 2, S)
        return TabularModel(P=P, R=R, terminal=terminal, start=start)

    def true_values(self, params: RandomWalkParams) -> jax.Array:
        """Closed-form values under the uniform random policy with gamma = 1.

        ``V(i) = L + (R - L) * i / (n + 1)`` for ``i = 1..n`` (a gambler's-ruin
        martingale), 0 at the ends.
        """
        i = jnp.arange(params.n + 2, dtype=jnp.float32)
        v = params.left_reward + (params.right_reward - params.left_reward) * i / (
            params.n + 1
        )
        return v.at[0].set(0.0).at[params.n + 1].set(0.0)
