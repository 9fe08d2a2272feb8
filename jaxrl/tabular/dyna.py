"""Dyna-Q and Dyna-Q+: Q-learning with planning on a learned model.

Sutton & Barto (2018), sections 8.2-8.3. Every real step

1. acts epsilon-greedily in ``Q`` (ties broken at random), ``A ~ pi(.|S)``;
2. updates ``Q`` from the real transition ``(S, A, R, S')`` with one-step
   Q-learning (eq. 6.8, :func:`q_update`):
   ``Q(S, A) <- Q(S, A) + alpha [R + gamma' max_a Q(S', a) - Q(S, A)]``,
   ``gamma' = gamma (1 - terminated)`` (a truncated step bootstraps);
3. records the transition in a deterministic model
   ``Model(S, A) = (S', R, terminated)`` (:func:`model_update`);
4. plans: ``planning_steps`` times (static), draws a previously observed state
   uniformly, then an action previously taken in it uniformly (the book's
   pseudocode, step (f)), and applies the same Q-learning update to the
   modelled transition (:func:`planning_step`, :func:`plan`).

**Dyna-Q+** (section 8.3) plans with the reward ``R + kappa sqrt(tau)``, where
``tau`` is the number of real steps since ``(S, A)`` was last tried, and, as
the book's footnote says, lets planning draw every action of a visited state:
an action never tried there is modelled as leading back to the same state
with reward 0 (and ``tau`` counts from the run's start). Acting and the real
update are Dyna-Q's.

The model is the :class:`DynaModel` pytree, ``[S, A]`` tables. The run is
counted in episodes (one Trainer iteration each; metrics ``return`` and
``length``) or, with ``num_steps > 0``, in env steps (``steps_per_iteration``
per iteration; metrics ``reward``, the sum of rewards in the iteration, whose
running sum is the book's cumulative reward, plus ``episodes`` ended and their
mean ``return`` and ``length``, NaN where none ended).

Random numbers: a real step's uniforms (one for the action, ``planning_steps``
for the states and as many for the actions planning draws) come from one
``jax.random.uniform`` call per iteration (step mode) or per step (episode
mode, whose length is not known in advance), never from a key split per
planning update. Every write is a ``set`` at one index, so a ``vmap`` over
seeds gives the same bits as a loop.
"""

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jax.typing import ArrayLike

from jaxrl.ops import value as value_ops
from jaxrl.tabular import control
from jaxrl.tabular.policies import epsilon_greedy_uniform, sample_uniform
from jaxrl.types import Trainer, hparam

__all__ = [
    "ALGORITHMS",
    "DynaConfig",
    "DynaHParams",
    "DynaModel",
    "DynaPlusHParams",
    "DynaQConfig",
    "DynaQPlusConfig",
    "DynaState",
    "exploration_bonus",
    "init_model",
    "make_step",
    "make_train",
    "model_update",
    "num_uniforms",
    "plan",
    "planning_step",
    "q_update",
    "sample_pairs",
]

ALGORITHMS = ("dyna_q", "dyna_q_plus")


@dataclasses.dataclass(frozen=True)
class DynaConfig:
    """Static settings of a Dyna run.

    Attributes:
        num_episodes: episodes in a run (episode mode, the book's figure 8.2).
        algorithm: ``"dyna_q"`` or ``"dyna_q_plus"``.
        planning_steps: ``n``, planning updates per real step (0 is
            Q-learning).
        num_steps: if > 0, env steps per seed (step mode, figures 8.4-8.5).
        steps_per_iteration: steps per iteration in step mode; must divide
            ``num_steps``.
    """

    num_episodes: int = 50
    algorithm: str = "dyna_q"
    planning_steps: int = 5
    num_steps: int = 0
    steps_per_iteration: int = 100

    def __post_init__(self):
        for name in ("num_episodes", "steps_per_iteration"):
            value = getattr(self, name)
            if not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(f"{name}={value!r} must be an integer >= 1")
        for name, what in (
            ("planning_steps", "0 is plain Q-learning"),
            ("num_steps", "0 counts the run in episodes"),
        ):
            value = getattr(self, name)
            if not isinstance(value, int | np.integer) or value < 0:
                raise ValueError(f"{name}={value!r} must be an integer >= 0 ({what})")
        if self.num_steps and self.num_steps % self.steps_per_iteration:
            raise ValueError(
                f"num_steps={self.num_steps} is not a multiple of "
                f"steps_per_iteration={self.steps_per_iteration}"
            )
        if self.algorithm not in ALGORITHMS:
            raise ValueError(
                f"algorithm={self.algorithm!r} is unknown; allowed: {ALGORITHMS}"
            )

    @property
    def plus(self) -> bool:
        return self.algorithm == "dyna_q_plus"

    @property
    def num_iterations(self) -> int:
        if self.num_steps:
            return self.num_steps // self.steps_per_iteration
        return self.num_episodes

    def check_hparams(self, hparams: Any) -> None:
        """Dyna-Q+ needs ``kappa`` (:class:`DynaPlusHParams`)."""
        if self.plus and not hasattr(hparams, "kappa"):
            raise ValueError(
                "dyna_q_plus needs an exploration-bonus weight kappa: use "
                "DynaPlusHParams"
            )


@dataclasses.dataclass(frozen=True)
class DynaQConfig(DynaConfig):
    """Dyna-Q (section 8.2)."""


@dataclasses.dataclass(frozen=True)
class DynaQPlusConfig(DynaConfig):
    """Dyna-Q+ (section 8.3)."""

    algorithm: str = "dyna_q_plus"


@struct.dataclass
class DynaHParams:
    """Traced hyperparameters of Dyna-Q (the book's values by default).

    Attributes:
        alpha: step size of real and planning updates, in ``(0, 1]``.
        epsilon: exploration probability of the behaviour policy, ``[0, 1]``.
        gamma: discount, in ``[0, 1]``.
    """

    alpha: float = hparam(0.1, "(0, 1]")
    epsilon: float = hparam(0.1, "[0, 1]")
    gamma: float = hparam(0.95, "[0, 1]")


@struct.dataclass
class DynaPlusHParams(DynaHParams):
    """Dyna-Q+'s hyperparameters: Dyna-Q's and the bonus weight.

    Attributes:
        kappa: weight of the exploration bonus ``kappa sqrt(tau)``, ``>= 0``.
    """

    kappa: float = hparam(1e-3, "[0, inf)")


@struct.dataclass
class DynaModel:
    """A learned deterministic model, ``[S, A]`` tables.

    Attributes:
        next_state: ``S'`` of the last real transition from ``(s, a)``, int32;
            ``s`` itself where none was seen (Dyna-Q+'s initial model).
        reward: its reward, float32; 0 where none was seen.
        terminated: whether it ended the episode, bool.
        observed: whether ``(s, a)`` was ever tried, bool.
        last_tried: the real step (1-based) at which ``(s, a)`` was last
            tried, int32; 0 if never.
    """

    next_state: jax.Array
    reward: jax.Array
    terminated: jax.Array
    observed: jax.Array
    last_tried: jax.Array


@struct.dataclass
class DynaState:
    """State of a Dyna run.

    Attributes:
        q: action values ``Q(s, a)``, ``[S, A]``.
        model: the learned :class:`DynaModel`.
        obs: current observation, int32.
        env_state: the environment's state.
        t: real steps taken so far, int32.
        episode_return: return so far of the episode in progress (step mode).
        episode_length: its length so far (step mode).
        key: PRNG key for the next iteration.
        hparams: the run's hyperparameters.
    """

    q: jax.Array
    model: DynaModel
    obs: jax.Array
    env_state: Any
    t: jax.Array
    episode_return: jax.Array
    episode_length: jax.Array
    key: jax.Array
    hparams: Any


def init_model(num_states: int, num_actions: int) -> DynaModel:
    """The empty model: nothing observed, every ``(s, a)`` a self-loop with
    reward 0 (what Dyna-Q+ assumes of untried actions)."""
    shape = (num_states, num_actions)
    return DynaModel(
        next_state=jnp.broadcast_to(
            jnp.arange(num_states, dtype=jnp.int32)[:, None], shape
        ),
        reward=jnp.zeros(shape, jnp.float32),
        terminated=jnp.zeros(shape, bool),
        observed=jnp.zeros(shape, bool),
        last_tried=jnp.zeros(shape, jnp.int32),
    )


def model_update(
    model: DynaModel,
    s: ArrayLike,
    a: ArrayLike,
    r: ArrayLike,
    terminated: ArrayLike,
    s1: ArrayLike,
    t: ArrayLike,
) -> DynaModel:
    """Record the real transition ``(s, a) -> (s1, r, terminated)`` made at
    real step ``t`` (1-based): ``Model(s, a) <- (s1, r, terminated)``, the
    pair is observed and was last tried at ``t``. Scalars in; pure."""
    return DynaModel(
        next_state=model.next_state.at[s, a].set(jnp.asarray(s1, jnp.int32)),
        reward=model.reward.at[s, a].set(jnp.asarray(r, jnp.float32)),
        terminated=model.terminated.at[s, a].set(jnp.asarray(terminated, bool)),
        observed=model.observed.at[s, a].set(True),
        last_tried=model.last_tried.at[s, a].set(jnp.asarray(t, jnp.int32)),
    )


def q_update(
    q: jax.Array,
    s: ArrayLike,
    a: ArrayLike,
    r: ArrayLike,
    discount: ArrayLike,
    s1: ArrayLike,
    alpha: ArrayLike,
) -> jax.Array:
    """One-step tabular Q-learning on ``q`` ``[S, A]`` (eq. 6.8):

    ``Q(s, a) <- Q(s, a) + alpha [r + discount max_b Q(s1, b) - Q(s, a)]``
    with ``discount = gamma (1 - terminated)``, the error from
    :func:`jaxrl.ops.value.q_learning`. A ``set`` at one index, as in
    :mod:`jaxrl.tabular.control`, so a batched update equals unbatched ones.
    """
    delta = value_ops.q_learning(
        q[s], a, jnp.asarray(r, q.dtype), jnp.asarray(discount, q.dtype), q[s1]
    )
    return q.at[s, a].set(q[s, a] + alpha * delta)


def exploration_bonus(kappa: ArrayLike, tau: ArrayLike) -> jax.Array:
    """Dyna-Q+'s bonus ``kappa sqrt(tau)`` (section 8.3), ``tau`` the real
    steps since the pair was last tried."""
    return kappa * jnp.sqrt(jnp.asarray(tau, jnp.float32))


def sample_pairs(
    model: DynaModel, u_state: ArrayLike, u_action: ArrayLike, untried: bool = False
) -> tuple[jax.Array, jax.Array]:
    """The ``(s, a)`` pairs that uniforms ``[n]`` pick for planning.

    ``s`` is uniform over the states with an observed action; ``a`` is uniform
    over the actions observed in ``s`` or, with ``untried`` (Dyna-Q+, static),
    over all actions. Inverse CDF
    (:func:`~jaxrl.tabular.policies.sample_uniform`); the model must hold at
    least one observed pair.

    Returns:
        ``(s, a)``, int32 ``[n]`` each.
    """
    visited = model.observed.any(axis=1).astype(jnp.float32)  # [S]
    s = jax.vmap(sample_uniform, (0, None))(u_state, visited)
    allowed = model.observed[s].astype(jnp.float32)  # [n, A]
    if untried:
        allowed = jnp.ones_like(allowed)
    a = jax.vmap(sample_uniform)(u_action, allowed)
    return s, a


def planning_step(
    q: jax.Array,
    model: DynaModel,
    s: ArrayLike,
    a: ArrayLike,
    t: ArrayLike,
    hparams: Any,
    plus: bool = False,
) -> jax.Array:
    """One Q-planning update of ``(s, a)`` from the model (step (f)).

    ``R, S' = Model(s, a)``; Dyna-Q+ (``plus``, static) adds
    :func:`exploration_bonus` with ``tau = t - last_tried(s, a)``, ``t`` the
    real steps so far; then :func:`q_update` with ``hparams.alpha`` and
    ``gamma (1 - terminated)``.
    """
    r = model.reward[s, a]
    if plus:
        r = r + exploration_bonus(hparams.kappa, t - model.last_tried[s, a])
    discount = hparams.gamma * (1.0 - model.terminated[s, a].astype(jnp.float32))
    return q_update(q, s, a, r, discount, model.next_state[s, a], hparams.alpha)


def plan(
    q: jax.Array,
    model: DynaModel,
    u_state: ArrayLike,
    u_action: ArrayLike,
    t: ArrayLike,
    hparams: Any,
    plus: bool = False,
) -> jax.Array:
    """``n = len(u_state)`` planning updates in order: the pairs from
    :func:`sample_pairs` (the model does not change while planning, so they
    are drawn at once), then :func:`planning_step` on each, a ``lax.scan``."""
    s, a = sample_pairs(model, u_state, u_action, untried=plus)

    def body(q, sa):
        return planning_step(q, model, sa[0], sa[1], t, hparams, plus), None

    q, _ = jax.lax.scan(body, q, (s, a))
    return q


def num_uniforms(config: DynaConfig) -> int:
    """Uniforms a real step reads: ``1 + 2 * planning_steps``."""
    return 1 + 2 * config.planning_steps


def make_step(config: DynaConfig, env: Any, env_params: Any):
    """One real step with its planning, as a pure function.

    Returns:
        ``step(state, env_key, u) -> (state, reward, terminated, truncated)``
        on a :class:`DynaState`: ``u`` ``[1 + 2n]`` holds the action's
        uniform, then the ``n`` planning states', then the ``n`` planning
        actions' (:func:`num_uniforms`); ``env_key`` goes to ``env.step``.
        The episode statistics and ``key`` of ``state`` are left alone.
    """
    n, plus = config.planning_steps, config.plus

    def step(state: DynaState, env_key: jax.Array, u: jax.Array):
        hp, s = state.hparams, state.obs
        a = epsilon_greedy_uniform(u[0], state.q[s], hp.epsilon)
        obs1, env_state, reward, terminated, truncated, info = env.step(
            env_key, state.env_state, a, env_params
        )
        reward = jnp.asarray(reward, jnp.float32)
        s1 = info["final_observation"]
        t = state.t + 1
        discount = hp.gamma * (1.0 - terminated.astype(jnp.float32))
        q = q_update(state.q, s, a, reward, discount, s1, hp.alpha)
        model = model_update(state.model, s, a, reward, terminated, s1, t)
        if n:
            q = plan(q, model, u[1 : 1 + n], u[1 + n :], t, hp, plus)
        state = state.replace(q=q, model=model, obs=obs1, env_state=env_state, t=t)
        return state, reward, terminated, truncated

    return step


def make_train(config: DynaConfig, env: Any, env_params: Any) -> Trainer:
    """Build a Dyna-Q or Dyna-Q+ run on ``env`` (integer observations).

    Returns:
        A :class:`~jaxrl.types.Trainer` whose final state is a
        :class:`DynaState`. Episode mode: metrics ``return`` and ``length``
        of each episode, ``[num_episodes]``. Step mode: per iteration
        ``reward`` (the sum over its steps), the number of ``episodes`` that
        ended in it and their mean ``return`` and ``length`` (NaN if none).
    """
    num_states = control.num_states_of(env, env_params, "Dyna")
    num_actions = env.num_actions
    max_steps = int(env_params.max_steps_in_episode)
    width = num_uniforms(config)
    step = make_step(config, env, env_params)

    def init(key: jax.Array, hparams: Any) -> DynaState:
        config.check_hparams(hparams)
        key, reset_key = jax.random.split(key)
        obs, env_state = env.reset(reset_key, env_params)
        return DynaState(
            q=jnp.zeros((num_states, num_actions), jnp.float32),
            model=init_model(num_states, num_actions),
            obs=obs,
            env_state=env_state,
            t=jnp.int32(0),
            episode_return=jnp.float32(0.0),
            episode_length=jnp.int32(0),
            key=key,
            hparams=hparams,
        )

    def episode(state: DynaState) -> tuple[DynaState, dict[str, jax.Array]]:
        key, u_key, env_key = jax.random.split(state.key, 3)

        def cond(carry):
            _, length, done, _ = carry
            return (~done) & (length < max_steps)

        def body(carry):
            state, length, _, ret = carry
            u = jax.random.uniform(jax.random.fold_in(u_key, length), (width,))
            state, reward, terminated, truncated = step(
                state, jax.random.fold_in(env_key, length), u
            )
            return state, length + 1, terminated | truncated, ret + reward

        carry = (state, jnp.int32(0), jnp.bool_(False), jnp.float32(0.0))
        state, length, _, ret = jax.lax.while_loop(cond, body, carry)
        return state.replace(key=key), {"return": ret, "length": length}

    def steps(state: DynaState) -> tuple[DynaState, dict[str, jax.Array]]:
        key, u_key, env_key = jax.random.split(state.key, 3)
        num = config.steps_per_iteration
        us = jax.random.uniform(u_key, (num, width))
        env_keys = jax.random.split(env_key, num)

        def body(carry, xs):
            state, ended, ret_sum, len_sum, reward_sum = carry
            state, reward, terminated, truncated = step(state, *xs)
            done = terminated | truncated
            ret = state.episode_return + reward
            length = state.episode_length + 1
            state = state.replace(
                episode_return=jnp.where(done, 0.0, ret),
                episode_length=jnp.where(done, 0, length),
            )
            carry = (
                state,
                ended + done,
                ret_sum + jnp.where(done, ret, 0.0),
                len_sum + jnp.where(done, length, 0),
                reward_sum + reward,
            )
            return carry, None

        carry = (state, jnp.int32(0), jnp.float32(0.0), jnp.int32(0), jnp.float32(0))
        (state, ended, ret_sum, len_sum, reward_sum), _ = jax.lax.scan(
            body, carry, (env_keys, us)
        )
        n = jnp.maximum(ended, 1)
        return state.replace(key=key), {
            "reward": reward_sum,
            "episodes": ended,
            "return": jnp.where(ended > 0, ret_sum / n, jnp.nan),
            "length": jnp.where(ended > 0, len_sum / n, jnp.nan),
        }

    update = steps if config.num_steps else episode
    return Trainer(init=init, update=update, num_iterations=config.num_iterations)
