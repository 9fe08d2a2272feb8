"""Batches of environments behind one interface for the deep-RL loops.

The loops in :mod:`jaxrl.agents` step ``num_envs`` environments at once through
a :class:`VecEnv`: pure ``reset``/``step`` functions over a batch axis. For
gymnax (and our own) environments it is a ``vmap``; the EnvPool adapter (same
interface) steps its pool through EnvPool's XLA interface inside ``jit``.

``step`` returns the observation to act on next (the reset observation after
an episode ends) and, separately, ``final_obs``: the observation the step
actually reached, which a truncated step bootstraps from, and ``valid``:
whether the step is a real transition. Every gymnax step is; EnvPool's delayed
auto-reset spends one step after each episode end on the reset (the action is
ignored, the reward is 0), and the loops must learn nothing from it.

:func:`make_vec` picks the batch for an environment: ``env.make_vec`` when the
environment has one (the EnvPool adapter, :mod:`envs.envpool_env`), else a
:class:`VecEnv`. :func:`eval_env` picks the environment a greedy evaluation
runs on (a gymnax one, since evaluation ``vmap``s over episodes).
"""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from flax import struct


class VecStep(NamedTuple):
    """One batched step; every leaf has a leading ``[num_envs]`` axis."""

    obs: Any
    state: Any
    reward: jax.Array
    terminated: jax.Array
    truncated: jax.Array
    final_obs: Any
    valid: jax.Array  # bool [num_envs]; False: learn nothing from this step
    # What a run reports, where it differs from what the agent learns from
    # (Atari: the unclipped reward, and the game's end rather than a life's);
    # None: the reward, and terminated | truncated.
    score: jax.Array | None = None
    game_over: jax.Array | None = None


class VecEnv:
    """``num_envs`` copies of a gymnax environment, stepped with ``vmap``.

    Attributes:
        env, params: the gymnax environment and its parameters.
        num_envs: the batch size.
    """

    def __init__(self, env: Any, params: Any, num_envs: int):
        if num_envs < 1:
            raise ValueError(f"num_envs={num_envs} must be >= 1")
        self.env, self.params, self.num_envs = env, params, num_envs

    @property
    def action_space(self) -> Any:
        return self.env.action_space(self.params)

    @property
    def observation_space(self) -> Any:
        return self.env.observation_space(self.params)

    def reset(self, key: jax.Array) -> tuple[Any, Any]:
        keys = jax.random.split(key, self.num_envs)
        return jax.vmap(self.env.reset, in_axes=(0, None))(keys, self.params)

    def step(self, key: jax.Array, state: Any, action: jax.Array) -> VecStep:
        keys = jax.random.split(key, self.num_envs)
        obs, state, reward, terminated, truncated, info = jax.vmap(
            self.env.step, in_axes=(0, 0, 0, None)
        )(keys, state, action, self.params)
        return VecStep(
            obs=obs,
            state=state,
            reward=reward.astype(jnp.float32),
            terminated=terminated.astype(bool),
            truncated=truncated.astype(bool) & ~terminated.astype(bool),
            final_obs=info["final_observation"],
            valid=jnp.ones(terminated.shape, bool),
        )


@struct.dataclass
class DelayedResetState:
    """The state of a :class:`DelayedResetVec`: the inner envs' states, and
    per env whether the next step is the pending reset (and its obs)."""

    inner: Any
    pending: jax.Array
    reset_obs: Any


class DelayedResetVec:
    """A gymnax batch that resets one step late, as EnvPool does.

    A step that ends an episode returns the observation it reached (the
    terminal or truncated one) as ``obs``; the next step ignores its action
    and returns the reset observation with reward 0 and ``valid = False``.
    Every observation of an episode, its last included, is then a step of
    the stream, the layout a world model learns from (DreamerV3 encodes
    the terminal observation and predicts ``continue = 0`` there). Costs one
    step per episode.
    """

    def __init__(self, env: Any, params: Any, num_envs: int):
        self.inner = VecEnv(env, params, num_envs)
        self.env, self.params, self.num_envs = env, params, num_envs

    @property
    def action_space(self) -> Any:
        return self.inner.action_space

    @property
    def observation_space(self) -> Any:
        return self.inner.observation_space

    def reset(self, key: jax.Array) -> tuple[Any, DelayedResetState]:
        obs, state = self.inner.reset(key)
        pending = jnp.zeros(self.num_envs, bool)
        return obs, DelayedResetState(inner=state, pending=pending, reset_obs=obs)

    def step(self, key: jax.Array, state: DelayedResetState, action) -> VecStep:
        step = self.inner.step(key, state.inner, action)
        pending = state.pending
        done = (step.terminated | step.truncated) & ~pending

        def pick(a, b, mask):  # a where mask, else b (leading axis [num_envs])
            return jax.tree.map(
                lambda x, y: jnp.where(mask.reshape((-1,) + (1,) * (x.ndim - 1)), x, y),
                a,
                b,
            )

        # A pending env returns its held reset obs and keeps its (reset)
        # state; an env whose episode ended returns the final obs.
        obs = pick(state.reset_obs, pick(step.final_obs, step.obs, done), pending)
        inner = pick(state.inner, step.state, pending)
        new = DelayedResetState(
            inner=inner,
            pending=done,
            reset_obs=pick(step.obs, state.reset_obs, done),
        )
        zero = jnp.zeros_like(step.terminated)
        return VecStep(
            obs=obs,
            state=new,
            reward=jnp.where(pending, 0.0, step.reward),
            terminated=jnp.where(pending, zero, step.terminated),
            truncated=jnp.where(pending, zero, step.truncated),
            final_obs=obs,
            valid=~pending,
        )


def make_vec(env: Any, env_params: Any, num_envs: int) -> Any:
    """``num_envs`` environments behind the :class:`VecEnv` interface.

    Returns ``env.make_vec(num_envs, env_params)`` for an environment that
    batches itself (EnvPool), else ``VecEnv(env, env_params, num_envs)``.
    """
    if hasattr(env, "make_vec"):
        return env.make_vec(num_envs, env_params)
    return VecEnv(env, env_params, num_envs)


def eval_env(env: Any, env_params: Any) -> tuple[Any, Any] | None:
    """The gymnax ``(env, params)`` a greedy evaluation of ``env`` runs on.

    ``env`` itself for a gymnax environment; the adapter's ``eval_env``
    (a gymnax twin, or ``None`` when there is none: no evaluation) for one
    that cannot be ``vmap``ped, such as EnvPool.
    """
    if hasattr(env, "eval_env"):
        return env.eval_env(env_params)
    return env, env_params
