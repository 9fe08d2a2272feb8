"""The k-armed testbed of Sutton & Barto, section 2.3.

Each episode (instance) draws true action values ``q*(a) ~ N(mean, 1)`` from
its reset key; pulling arm ``a`` pays ``R ~ N(q*(a), reward_std)``. With
``drift_std > 0`` the problem is non-stationary: after every pull each
``q*(a)`` takes an independent random-walk step ``N(0, drift_std)`` (exercise
2.5). The observation is a constant 0; ``info`` carries the true values at the
pull (``q_star``) and the best arm (``optimal_arm``), so regret and % optimal
action are exact rather than estimated.
"""

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces


@struct.dataclass
class EnvState(environment.EnvState):
    q_star: jax.Array


@struct.dataclass
class BanditParams(environment.EnvParams):
    num_arms: int = struct.field(pytree_node=False, default=10)
    mean: float = 0.0
    reward_std: float = 1.0
    drift_std: float = 0.0
    max_steps_in_episode: int = 1000


def validate_params(p: BanditParams) -> None:
    if p.num_arms < 2:
        raise ValueError(f"num_arms={p.num_arms} must be >= 2")
    if float(p.reward_std) < 0:
        raise ValueError(f"reward_std={p.reward_std} must be >= 0")
    if float(p.drift_std) < 0:
        raise ValueError(f"drift_std={p.drift_std} must be >= 0")
    if int(p.max_steps_in_episode) < 1:
        raise ValueError(f"max_steps_in_episode={p.max_steps_in_episode} must be >= 1")


class Bandit(environment.Environment):
    """``Bandit-v0``: the k-armed Gaussian testbed, stationary or drifting."""

    def __init__(self, num_arms: int = 10):
        self._num_arms = num_arms

    @property
    def name(self) -> str:
        return "Bandit-v0"

    @property
    def default_params(self) -> BanditParams:
        return BanditParams(num_arms=self._num_arms)

    @property
    def num_actions(self) -> int:
        return self._num_arms

    def action_space(self, params=None) -> spaces.Discrete:
        return spaces.Discrete(self._num_arms)

    def observation_space(self, params) -> spaces.Discrete:
        return spaces.Discrete(1)

    def reset_env(self, key: jax.Array, params: BanditParams):
        q_star = params.mean + jax.random.normal(key, (params.num_arms,))
        return jnp.int32(0), EnvState(time=jnp.int32(0), q_star=q_star)

    def step_env(self, key, state: EnvState, action, params: BanditParams):
        reward_key, drift_key = jax.random.split(key)
        q = state.q_star
        reward = q[action] + params.reward_std * jax.random.normal(reward_key)
        drift = params.drift_std * jax.random.normal(drift_key, q.shape)
        info = {"q_star": q, "optimal_arm": jnp.argmax(q).astype(jnp.int32)}
        state = EnvState(time=state.time + 1, q_star=q + drift)
        return jnp.int32(0), state, reward, jnp.bool_(False), info
