"""EnvPool tasks behind the batched interface the deep-RL loops use.

``envs.make("envpool:CartPole-v1")`` returns an :class:`EnvPoolEnv`: the task's
spaces as gymnax spaces, its :class:`EnvPoolParams` and ``make_vec``, which
builds the pool (C++ threads, one per process) and wraps it in an
:class:`EnvPoolVec` with :class:`~envs.vector.VecEnv`'s ``reset``/``step``.
``step`` runs EnvPool's XLA interface, so it works inside ``jit`` and
``lax.scan``; the pool's batch axis is the env axis.

**Delayed auto-reset.** EnvPool resets an environment on the step *after* its
episode ended: that step ignores the action and returns the reset observation
with reward 0 and ``terminated = truncated = False``. Learning from it would
teach a false transition (final observation, ignored action -> reset
observation). The state carries a per-env ``resetting`` flag (the previous
step ended an episode), and :class:`~envs.vector.VecStep.valid` is False on
exactly those steps; the loops weight such samples by 0. On every other step
the observation returned *is* the observation reached, so ``final_obs = obs``.

**Seeds and vmap.** A pool is seeded once, when it is built
(``EnvPoolParams.seed``, ``--seed`` on the command line); the training key
drives the networks and the action sampling. The pool cannot be ``vmap``ped:
``reset`` and ``step`` accept a ``vmap`` of size 1 (what
:func:`jaxrl.parallel.run` does with one seed) and refuse larger ones, so an
EnvPool run is one seed per process.

**Evaluation.** Greedy evaluation (:func:`jaxrl.agents.common.evaluate`) runs
episodes under ``vmap``, which a pool cannot do, and stepping a second pool
from inside the compiled update would tie the evaluation to that pool's RNG
stream. So the loops evaluate on the task's gymnax twin, the same dynamics
in pure JAX (``CartPole-v1``, ``Pendulum-v1``, ``Acrobot-v1``,
``MountainCar-v0``, ``MountainCarContinuous-v0``), with the pool's episode
cap. A task without a twin (Atari, MuJoCo) is not evaluated greedily:
``eval_return`` is NaN and ``return`` (the training episodes) is the measure.
"""

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import spaces
from jax.experimental import io_callback

from envs.vector import VecStep

__all__ = [
    "PREFIX",
    "EnvPoolEnv",
    "EnvPoolParams",
    "EnvPoolState",
    "EnvPoolVec",
    "GYMNAX_TWINS",
]

PREFIX = "envpool:"

# EnvPool task id -> gymnax name of the same dynamics (for greedy evaluation).
GYMNAX_TWINS = {
    "CartPole-v1": "CartPole-v1",
    "Pendulum-v1": "Pendulum-v1",
    "Acrobot-v1": "Acrobot-v1",
    "MountainCar-v0": "MountainCar-v0",
    "MountainCarContinuous-v0": "MountainCarContinuous-v0",
}


def import_envpool() -> Any:
    """``import envpool``, or an ImportError that says how to install it."""
    try:
        import envpool
    except ImportError as e:
        raise ImportError(
            "EnvPool environments need the envpool package, jaxrl's optional "
            "'atari' extra: pip install -e \".[atari]\" (Linux only)"
        ) from e
    return envpool


def task_ids() -> list[str]:
    """EnvPool's registered task ids (empty if envpool is not installed)."""
    try:
        envpool = import_envpool()
    except ImportError:
        return []
    return list(envpool.list_all_envs())


@struct.dataclass
class EnvPoolParams:
    """Settings of a pool, fixed when it is built.

    Attributes:
        max_steps_in_episode: EnvPool's ``max_episode_steps`` (truncation).
        seed: the pool's seed; env ``i`` is seeded ``seed + i``.
    """

    max_steps_in_episode: int = struct.field(pytree_node=False, default=500)
    seed: int = struct.field(pytree_node=False, default=0)


@struct.dataclass
class EnvPoolState:
    """The batch's state inside the loop.

    Attributes:
        handle: EnvPool's XLA handle, ``uint8 [8]`` (threaded through the
            steps so that they stay in order).
        resetting: bool ``[num_envs]``: the previous step ended the episode,
            so this step is EnvPool's delayed reset.
    """

    handle: jax.Array
    resetting: jax.Array


def _to_gymnax(space: Any, what: str, task_id: str) -> Any:
    """A gymnasium ``Discrete``/``Box`` as the gymnax space."""
    if hasattr(space, "n"):
        return spaces.Discrete(int(space.n))
    if hasattr(space, "low") and hasattr(space, "high"):
        return spaces.Box(
            np.asarray(space.low),
            np.asarray(space.high),
            tuple(space.shape),
            jnp.dtype(space.dtype),
        )
    raise ValueError(
        f"envpool:{task_id} has a {what} space {space!r}; the adapter converts "
        "Discrete and Box only"
    )


def _single_pool(fn: Any, what: str) -> Any:
    """``fn`` that a ``vmap`` of size 1 passes through and a larger one refuses.

    EnvPool's XLA calls have no batching rule: one pool steps one batch of
    envs. ``jaxrl.parallel`` ``vmap``s a single seed with size 1; squeezing
    that axis away keeps the one pool usable there.
    """
    wrapped = jax.custom_batching.custom_vmap(fn)

    @wrapped.def_vmap
    def rule(axis_size, in_batched, *args):
        if axis_size != 1:
            raise ValueError(
                f"an EnvPool pool cannot be vmapped ({what} under a vmap of size "
                f"{axis_size}): run one seed per process (--seeds 1), or use the "
                "gymnax version of the environment for many seeds"
            )
        flat, tree = jax.tree.flatten(args)
        flat_batched = jax.tree.leaves(in_batched)
        flat = [x[0] if b else x for x, b in zip(flat, flat_batched, strict=True)]
        out = fn(*jax.tree.unflatten(tree, flat))
        out = jax.tree.map(lambda x: x[None], out)
        return out, jax.tree.map(lambda _: True, out)

    return wrapped


class EnvPoolEnv:
    """An EnvPool task as the loops see an environment.

    It has the gymnax spaces and default params of the task, but no
    single-env ``reset``/``step``: EnvPool steps batches, through
    :meth:`make_vec`.

    Args:
        task_id: an EnvPool task, e.g. ``"CartPole-v1"``, ``"Pendulum-v1"``,
            ``"Breakout-v5"``.
        **kwargs: more arguments of ``envpool.make`` (``num_threads``,
            ``episodic_life``, ...); ``max_episode_steps`` sets the default
            ``max_steps_in_episode``.

    Raises:
        ImportError: envpool is not installed (the ``atari`` extra).
        ValueError: unknown task, or spaces other than Discrete/Box.
    """

    def __init__(self, task_id: str, **kwargs: Any):
        envpool = import_envpool()
        if task_id not in envpool.list_all_envs():
            raise ValueError(
                f"unknown EnvPool task {task_id!r}; e.g. CartPole-v1, Pendulum-v1, "
                "Breakout-v5 (envpool.list_all_envs() lists them all)"
            )
        for reserved in ("num_envs", "batch_size", "seed", "env_type"):
            if reserved in kwargs:
                raise ValueError(
                    f"EnvPoolEnv sets {reserved} itself (num_envs from the "
                    "agent's config, seed from EnvPoolParams.seed)"
                )
        self.task_id = task_id
        self.kwargs = dict(kwargs)
        spec = envpool.make_spec(task_id, **kwargs)
        self._action_space = _to_gymnax(spec.action_space, "action", task_id)
        self._obs_space = _to_gymnax(spec.observation_space, "observation", task_id)
        self.default_params = EnvPoolParams(
            max_steps_in_episode=int(spec.config.max_episode_steps)
        )

    @property
    def name(self) -> str:
        return PREFIX + self.task_id

    def __repr__(self) -> str:
        return f"EnvPoolEnv({self.task_id!r})"

    def action_space(self, params: Any = None) -> Any:
        return self._action_space

    def observation_space(self, params: Any = None) -> Any:
        return self._obs_space

    def make_vec(
        self, num_envs: int, params: Any = None, seed: int | None = None
    ) -> "EnvPoolVec":
        """Build a pool of ``num_envs`` envs (seed ``params.seed`` unless
        ``seed`` is given)."""
        params = self.default_params if params is None else params
        return EnvPoolVec(self, params, num_envs, params.seed if seed is None else seed)

    def eval_env(self, params: Any = None) -> tuple[Any, Any] | None:
        """The gymnax twin and its params (with the pool's episode cap), or
        ``None`` when the task has none (then no greedy evaluation)."""
        twin = GYMNAX_TWINS.get(self.task_id)
        if twin is None:
            return None
        import gymnax

        params = self.default_params if params is None else params
        env, env_params = gymnax.make(twin)
        return env, env_params.replace(
            max_steps_in_episode=int(params.max_steps_in_episode)
        )

    def reset(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(
            f"{self.name} steps batches only: use make_vec(num_envs, params) "
            "(envs.vector.make_vec) and its reset/step"
        )

    step = reset


class EnvPoolVec:
    """A pool of ``num_envs`` EnvPool envs with the :class:`VecEnv` interface.

    ``reset`` resets the pool from the host (an ``io_callback``, so it works
    inside ``jit``); ``step`` is EnvPool's XLA ``step``. The ``key`` arguments
    are accepted for the interface and unused: the pool has its own seeded
    RNG.
    """

    def __init__(self, env: EnvPoolEnv, params: Any, num_envs: int, seed: int):
        if num_envs < 1:
            raise ValueError(f"num_envs={num_envs} must be >= 1")
        envpool = import_envpool()
        self.env, self.params, self.num_envs = env, params, num_envs
        self.pool = envpool.make(
            env.task_id,
            env_type="gymnasium",
            num_envs=num_envs,
            batch_size=num_envs,
            seed=int(seed),
            max_episode_steps=int(params.max_steps_in_episode),
            **{k: v for k, v in env.kwargs.items() if k != "max_episode_steps"},
        )
        handle, _, _, self._xla_step = self.pool.xla()
        self._handle = np.asarray(handle)
        space = env.observation_space(params)
        self._obs = jax.ShapeDtypeStruct((num_envs, *space.shape), space.dtype)
        self._discrete = isinstance(env.action_space(params), spaces.Discrete)
        self._reset = _single_pool(self._reset_unbatched, "reset")
        self._step = _single_pool(self._step_unbatched, "step")

    @property
    def action_space(self) -> Any:
        return self.env.action_space(self.params)

    @property
    def observation_space(self) -> Any:
        return self.env.observation_space(self.params)

    def _host_reset(self) -> np.ndarray:
        obs, _ = self.pool.reset()
        return np.asarray(obs, self._obs.dtype)

    def _reset_unbatched(self, key: jax.Array) -> tuple[jax.Array, EnvPoolState]:
        del key
        obs = io_callback(self._host_reset, self._obs)
        state = EnvPoolState(
            handle=jnp.asarray(self._handle),
            resetting=jnp.zeros(self.num_envs, bool),
        )
        return obs, state

    def _step_unbatched(self, state: EnvPoolState, action: jax.Array) -> VecStep:
        if self._discrete:
            action = action.astype(jnp.int32)
        else:
            action = action.astype(jnp.float32)
        handle, (obs, reward, terminated, truncated, info) = self._xla_step(
            state.handle, action
        )
        # Results come back in env_id order in EnvPool's synchronous mode;
        # sort to be sure (the per-env flags and stats are indexed by env).
        order = jnp.argsort(info["env_id"])
        obs, reward, terminated, truncated = (
            x[order] for x in (obs, reward, terminated, truncated)
        )
        valid = ~state.resetting
        terminated = terminated.astype(bool) & valid
        truncated = truncated.astype(bool) & ~terminated & valid
        return VecStep(
            obs=obs,
            state=EnvPoolState(handle=handle, resetting=terminated | truncated),
            reward=jnp.where(valid, reward.astype(jnp.float32), 0.0),
            terminated=terminated,
            truncated=truncated,
            final_obs=obs,
            valid=valid,
        )

    def reset(self, key: jax.Array) -> tuple[jax.Array, EnvPoolState]:
        """Reset every env of the pool; ``(obs [num_envs, ...], state)``."""
        return self._reset(key)

    def step(self, key: jax.Array, state: EnvPoolState, action: jax.Array) -> VecStep:
        """Step every env; ``valid`` is False on EnvPool's delayed resets."""
        del key
        return self._step(state, action)
