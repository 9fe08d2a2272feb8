"""EnvPool tasks behind the batched interface the deep-RL loops use.

``envs.make("envpool:CartPole-v1")`` returns an :class:`EnvPoolEnv`: the task's
spaces as gymnax spaces, its :class:`EnvPoolParams` and ``make_vec``, which
builds the pool (C++ threads, one per process) and wraps it in an
:class:`EnvPoolVec` with :class:`~envs.vector.VecEnv`'s ``reset``/``step``.
``step`` runs EnvPool's XLA interface, so it works inside ``jit`` and
``lax.scan``; the pool's batch axis is the env axis. A task whose
observations or actions are 64-bit (MuJoCo's float64) cannot go through
that interface without ``jax_enable_x64``, so its pool steps from the host
(an ``io_callback``, still inside the compiled loop) and its spaces are
float32.

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
drives the networks and the action sampling. EnvPool's XLA calls have no
batching rule, so many seeds share one pool: built with
``EnvPoolParams(lanes=L)`` it holds ``L * num_envs`` envs, and under a
``vmap`` over ``L`` seeds (:func:`jaxrl.parallel.run`) ``reset`` and ``step``
fold the seed axis into the pool's env axis, make one call for all seeds, and
split the results back: seed ``l`` steps envs ``l * num_envs`` to
``(l + 1) * num_envs - 1`` (seeded ``seed + l * num_envs + i``). Nested
``vmap``s fold the same way.

**One pool per process.** In a multi-process run (``jax.distributed``,
:mod:`jaxrl.distributed`) ``lanes`` counts the seeds of every process; each
process builds its own pool for its share, ``lanes / P`` lanes (process
``p`` holds lanes ``p L / P`` to ``(p + 1) L / P - 1``, the seeds it runs),
seeded so that every env gets the seed it has in a one-process pool of
``L`` lanes. The trainer then runs on one device per process
(``Trainer.one_device_per_process``), since a pool is stepped from one
program. A ``vmap`` whose lanes do not add up to ``L``
fails when the compiled call runs, with a message naming both counts (every
level is traced, so the check cannot stop the trace); so does a sweep of
several settings whose reset key does not vary over the settings (the CLI
runs one setting per EnvPool run).
A pool's state lives in C++: a resumed run continues from a fresh pool, so it
is not bit-identical to an uninterrupted one.

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
        lanes: how many runs share the pool under ``vmap`` (seeds x sweep
            settings; :func:`jaxrl.parallel.run` with ``num_seeds=lanes``). The
            pool holds ``lanes * num_envs`` envs and lane ``l`` steps envs
            ``l * num_envs`` to ``(l + 1) * num_envs - 1``. In a run of ``P``
            processes, the lanes of all of them: each process's pool holds
            its ``lanes / P``.
    """

    max_steps_in_episode: int = struct.field(pytree_node=False, default=500)
    seed: int = struct.field(pytree_node=False, default=0)
    lanes: int = struct.field(pytree_node=False, default=1)


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
    """A gymnasium ``Discrete``/``Box`` as the gymnax space, in JAX's dtypes
    (MuJoCo's float64 is float32 unless ``jax_enable_x64`` is on)."""
    if hasattr(space, "n"):
        return spaces.Discrete(int(space.n))
    if hasattr(space, "low") and hasattr(space, "high"):
        dtype = jax.dtypes.canonicalize_dtype(space.dtype)
        return spaces.Box(
            np.asarray(space.low, dtype),
            np.asarray(space.high, dtype),
            tuple(space.shape),
            dtype,
        )
    raise ValueError(
        f"envpool:{task_id} has a {what} space {space!r}; the adapter converts "
        "Discrete and Box only"
    )


def _merge(x: jax.Array, batched: bool, size: int) -> jax.Array:
    """``[size, n, ...] -> [size * n, ...]``: a vmap axis of lanes folded into
    the env axis (an unbatched ``[n, ...]`` is broadcast over the lanes first)."""
    if not batched:
        x = jnp.broadcast_to(x, (size,) + x.shape)
    return x.reshape((size * x.shape[1],) + x.shape[2:])


def _split(tree: Any, size: int) -> Any:
    """The inverse of :func:`_merge` on a step's or reset's outputs; the
    state's handle (the same for every lane) is broadcast."""

    def split(x):
        if isinstance(x, EnvPoolState):
            return EnvPoolState(
                handle=jnp.broadcast_to(x.handle, (size,) + x.handle.shape),
                resetting=split(x.resetting),
            )
        return x.reshape((size, x.shape[0] // size) + x.shape[1:])

    return jax.tree.map(split, tree, is_leaf=lambda x: isinstance(x, EnvPoolState))


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
        from envs import atari  # it imports this module's EnvPoolParams

        spec = envpool.make_spec(task_id, **kwargs)
        self.is_atari = atari.is_atari(spec.config)
        if self.is_atari:
            clash = sorted(set(kwargs) & set(atari.OPTIONS))
            if clash:
                raise ValueError(
                    f"set the Atari option(s) {', '.join(clash)} as env params "
                    "(envs.make(name, option=value), --set env.option=value), "
                    "not as EnvPoolEnv arguments"
                )
            self.default_params = atari.with_preset(atari.AtariParams(), "atari")
        else:
            self.default_params = EnvPoolParams(
                max_steps_in_episode=int(spec.config.max_episode_steps)
            )
        self._spaces: dict[tuple, tuple[Any, Any]] = {}
        self._spaces[self._options_key(self.default_params)] = self._convert(
            spec if not self.is_atari else None
        )

    @property
    def name(self) -> str:
        return PREFIX + self.task_id

    def __repr__(self) -> str:
        return f"EnvPoolEnv({self.task_id!r})"

    def options(self, params: Any = None) -> dict[str, Any]:
        """The ``envpool.make`` arguments of ``params`` beyond the pool size
        and seed: the Atari options (all of them, explicitly) and the
        constructor's extra arguments."""
        params = self.default_params if params is None else params
        extra = {k: v for k, v in self.kwargs.items() if k != "max_episode_steps"}
        if self.is_atari:
            extra.update(params.options())
        return extra

    def _options_key(self, params: Any) -> tuple:
        return tuple(sorted(self.options(params).items()))

    def _convert(self, spec: Any = None, params: Any = None) -> tuple[Any, Any]:
        if spec is None:
            spec = import_envpool().make_spec(self.task_id, **self.options(params))
        return (
            _to_gymnax(spec.action_space, "action", self.task_id),
            _to_gymnax(spec.observation_space, "observation", self.task_id),
        )

    def _space(self, params: Any, which: int) -> Any:
        params = self.default_params if params is None else params
        key = self._options_key(params)
        if key not in self._spaces:
            self._spaces[key] = self._convert(params=params)
        return self._spaces[key][which]

    def action_space(self, params: Any = None) -> Any:
        return self._space(params, 0)

    def observation_space(self, params: Any = None) -> Any:
        return self._space(params, 1)

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
    RNG. In a multi-process run the pool holds this process's lanes only
    (see the module docstring); ``lanes`` is then the process's count.
    """

    # a pool is stepped from one program: one device per process
    one_device_per_process = True

    def __init__(self, env: EnvPoolEnv, params: Any, num_envs: int, seed: int):
        if num_envs < 1:
            raise ValueError(f"num_envs={num_envs} must be >= 1")
        envpool = import_envpool()
        self.env, self.params, self.num_envs = env, params, num_envs
        lanes = int(getattr(params, "lanes", 1))
        if lanes < 1:
            raise ValueError(f"lanes={lanes} must be >= 1")
        processes = jax.process_count()
        if lanes % processes:
            raise ValueError(
                f"{env.name}: lanes={lanes} do not split over {processes} "
                "processes (each process's pool holds its share of the seeds): "
                f"use a multiple of {processes}"
            )
        self.lanes = lanes // processes
        first_lane = jax.process_index() * self.lanes
        self.pool_size = num_envs * self.lanes
        self.pool = envpool.make(
            env.task_id,
            env_type="gymnasium",
            num_envs=self.pool_size,
            batch_size=self.pool_size,
            seed=int(seed) + first_lane * num_envs,
            max_episode_steps=int(params.max_steps_in_episode),
            **env.options(params),
        )
        self._atari = env.is_atari
        self._max_steps = int(params.max_steps_in_episode)
        handle, _, _, self._xla_step = self.pool.xla()
        self._handle = np.asarray(handle)
        space = env.observation_space(params)
        self._obs = jax.ShapeDtypeStruct((self.pool_size, *space.shape), space.dtype)
        self._discrete = isinstance(env.action_space(params), spaces.Discrete)
        # EnvPool's XLA step takes and returns the pool's own dtypes; a 64-bit
        # one (MuJoCo's float64 observations and actions) cannot exist in a
        # program without jax_enable_x64, so such a pool steps from the host.
        wide = [
            np.dtype(s.dtype)
            for s in (self.pool.observation_space, self.pool.action_space)
        ]
        # (integer actions of any width go through: the XLA step takes int32)
        self._host_steps = any(
            d.kind == "f" and jax.dtypes.canonicalize_dtype(d) != d for d in wide
        )
        self._action_dtype = np.dtype(self.pool.action_space.dtype)
        self._fns: dict[tuple[str, int], Any] = {}

    @property
    def action_space(self) -> Any:
        return self.env.action_space(self.params)

    @property
    def observation_space(self) -> Any:
        return self.env.observation_space(self.params)

    def _host_reset(self) -> np.ndarray:
        obs, _ = self.pool.reset()
        return np.asarray(obs, self._obs.dtype)

    def _host_step(self, handle: np.ndarray, action: np.ndarray):
        """EnvPool's step from the host, in JAX's dtypes: what the XLA step
        returns, with the two ``info`` fields the adapter reads."""
        obs, reward, terminated, truncated, info = self.pool.step(
            np.asarray(action, self._action_dtype)
        )
        out = (
            np.asarray(obs, self._obs.dtype),
            np.asarray(reward, np.float32),
            np.asarray(terminated, bool),
            np.asarray(truncated, bool),
            {
                "env_id": np.asarray(info["env_id"], np.int32),
                "elapsed_step": np.asarray(info["elapsed_step"], np.int32),
            },
        )
        return handle, out

    def _step_from_host(self, handle: jax.Array, action: jax.Array):
        n = self.pool_size
        flag = jax.ShapeDtypeStruct((n,), bool)
        index = jax.ShapeDtypeStruct((n,), jnp.int32)
        shapes = (
            jax.ShapeDtypeStruct(handle.shape, handle.dtype),
            (
                self._obs,
                jax.ShapeDtypeStruct((n,), jnp.float32),
                flag,
                flag,
                {"env_id": index, "elapsed_step": index},
            ),
        )
        # the handle in and out keeps the calls in order, as in the XLA step
        return io_callback(self._host_step, shapes, handle, action)

    def _refused(self, what: str, lanes: int, result: Any) -> Any:
        """A call that raises, when it runs, why ``lanes`` is wrong; shaped
        like ``result``. (Under ``custom_vmap`` every level's unbatched
        function is traced, so the check cannot raise while tracing; only the
        level that actually runs is executed.)"""
        message = (
            f"{self.env.name}: {what} under vmaps of {lanes} lane(s) in all, but "
            f"the pool was built for lanes={self.lanes} (EnvPoolParams.lanes, "
            f"{self.lanes} x {self.num_envs} envs): build it with lanes = the "
            "number of vmapped runs (seeds x sweep settings)"
        )

        def fail():
            raise ValueError(message)

        shapes = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), result)
        return io_callback(fail, shapes)

    def _reset_pool(self, lanes: int) -> tuple[jax.Array, EnvPoolState]:
        n = lanes * self.num_envs
        state = EnvPoolState(
            handle=jnp.asarray(self._handle), resetting=jnp.zeros(n, bool)
        )
        if lanes != self.lanes:
            obs = jnp.zeros((n,) + self._obs.shape[1:], self._obs.dtype)
            return self._refused("reset", lanes, (obs, state))
        return io_callback(self._host_reset, self._obs), state

    def _step_pool(self, state: EnvPoolState, action: jax.Array, lanes: int) -> VecStep:
        if lanes != self.lanes:
            n = lanes * self.num_envs
            flag = jnp.zeros(n, bool)
            obs = jnp.zeros((n,) + self._obs.shape[1:], self._obs.dtype)
            result = VecStep(
                obs=obs,
                state=EnvPoolState(handle=state.handle, resetting=flag),
                reward=jnp.zeros(n, jnp.float32),
                terminated=flag,
                truncated=flag,
                final_obs=obs,
                valid=flag,
                score=jnp.zeros(n, jnp.float32),
                game_over=flag,
            )
            return self._refused("step", lanes, result)
        if self._discrete:
            action = action.astype(jnp.int32)
        else:
            action = action.astype(jnp.float32)
        step = self._step_from_host if self._host_steps else self._xla_step
        handle, (obs, reward, terminated, truncated, info) = step(state.handle, action)
        # Results come back in env_id order in EnvPool's synchronous mode;
        # sort to be sure (the per-env flags and stats are indexed by env).
        order = jnp.argsort(info["env_id"])
        obs, reward, terminated = (x[order] for x in (obs, reward, terminated))
        valid = ~state.resetting
        terminated = terminated.astype(bool) & valid
        # The time limit from the step count, not EnvPool's flag (envpool#239).
        elapsed = info["elapsed_step"][order]
        truncated = (elapsed >= self._max_steps) & ~terminated & valid
        if self._atari:
            # With episodic_life a lost life terminates the learner's episode
            # but the game goes on: no reset follows. The score is the
            # unclipped reward; the game ends when EnvPool says so.
            game_over = (info["terminated"][order].astype(bool) & valid) | truncated
            score = info["reward"][order].astype(jnp.float32)
        else:
            game_over = terminated | truncated
            score = reward.astype(jnp.float32)
        return VecStep(
            obs=obs,
            state=EnvPoolState(handle=handle, resetting=game_over),
            reward=jnp.where(valid, reward.astype(jnp.float32), 0.0),
            terminated=terminated,
            truncated=truncated,
            final_obs=obs,
            valid=valid,
            score=jnp.where(valid, score, 0.0),
            game_over=game_over,
        )

    def _lane_fn(self, what: str, lanes: int) -> Any:
        """``reset(key)`` or ``step(state, action)`` as seen from inside vmaps
        of ``lanes`` lanes in all; a further vmap folds its axis into the env
        axis and recurses with ``lanes * size`` (see the module docstring)."""
        cache_key = (what, lanes)
        if cache_key in self._fns:
            return self._fns[cache_key]
        if what == "reset":
            fn = jax.custom_batching.custom_vmap(lambda key: self._reset_pool(lanes))

            @fn.def_vmap
            def rule(size, in_batched, key):
                del in_batched  # the key is the only input, so it is batched
                out = self._lane_fn("reset", lanes * size)(key[0])
                return _split(out, size), jax.tree.map(lambda _: True, out)

        else:
            fn = jax.custom_batching.custom_vmap(
                lambda state, action: self._step_pool(state, action, lanes)
            )

            @fn.def_vmap
            def rule(size, in_batched, state, action):
                state_b, action_b = in_batched
                merged = EnvPoolState(
                    handle=state.handle[0] if state_b.handle else state.handle,
                    resetting=_merge(state.resetting, state_b.resetting, size),
                )
                action = _merge(action, action_b, size)
                out = self._lane_fn("step", lanes * size)(merged, action)
                return _split(out, size), jax.tree.map(lambda _: True, out)

        self._fns[cache_key] = fn
        return fn

    def reset(self, key: jax.Array) -> tuple[jax.Array, EnvPoolState]:
        """Reset every env of the pool; ``(obs [num_envs, ...], state)`` per
        lane."""
        return self._lane_fn("reset", 1)(key)

    def step(self, key: jax.Array, state: EnvPoolState, action: jax.Array) -> VecStep:
        """Step every env; ``valid`` is False on EnvPool's delayed resets."""
        del key
        return self._lane_fn("step", 1)(state, action)
