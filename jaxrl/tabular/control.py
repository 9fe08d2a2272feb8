"""Tabular TD control: Q-learning, SARSA and Expected SARSA.

Sutton & Barto (2018), sections 6.4-6.6. The behaviour policy is epsilon-greedy
in the current ``Q`` with ties broken at random
(:func:`~jaxrl.tabular.policies.epsilon_greedy`). After every step

``Q(S, A) <- Q(S, A) + alpha * delta``

with the TD error ``delta`` of :mod:`jaxrl.ops.value`:

* **Q-learning** (eq. 6.8): ``R + gamma' max_a Q(S', a) - Q(S, A)``, off-policy.
* **SARSA** (eq. 6.7): ``R + gamma' Q(S', A') - Q(S, A)`` where ``A'`` is the
  action the behaviour policy then takes, on-policy.
* **Expected SARSA** (eq. 6.9): ``R + gamma' sum_a pi(a|S') Q(S', a) - Q(S, A)``
  with ``pi`` the epsilon-greedy behaviour policy itself.

``gamma' = gamma * (1 - terminated)``: a terminated step does not bootstrap, a
truncated one (the env's ``max_steps_in_episode``) bootstraps from the state
it reached, ``info["final_observation"]``. One Trainer iteration is one
episode, an inner ``lax.while_loop`` until terminated or truncated; the env
auto-resets, so the next episode starts where the loop left off. Metrics per
episode: ``return`` (the undiscounted sum of rewards) and ``length``.
"""

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxrl.ops import value as value_ops
from jaxrl.tabular import policies
from jaxrl.tabular.policies import greedy_policy
from jaxrl.types import Trainer, hparam

__all__ = [
    "ALGORITHMS",
    "ControlConfig",
    "ControlHParams",
    "ControlState",
    "ExpectedSarsaConfig",
    "QLearningConfig",
    "SarsaConfig",
    "greedy_policy",
    "make_train",
    "td_error",
]

ALGORITHMS = ("q_learning", "sarsa", "expected_sarsa")


@dataclasses.dataclass(frozen=True)
class ControlConfig:
    """Static settings of a control run.

    A run is counted in episodes (the textbook's unit, one Trainer iteration
    each) or, with ``num_steps > 0``, in environment steps: each iteration is
    then ``steps_per_iteration`` steps with auto-reset, so every seed of a
    ``vmap`` does useful work at every step instead of waiting for the longest
    episode of the batch (the fast mode for thousands of seeds).

    Attributes:
        num_episodes: episodes in a run (episode mode).
        algorithm: ``"q_learning"``, ``"sarsa"`` or ``"expected_sarsa"``.
        num_steps: if > 0, environment steps per seed (step mode).
        steps_per_iteration: steps per iteration in step mode; must divide
            ``num_steps``.
    """

    num_episodes: int = 500
    algorithm: str = "q_learning"
    num_steps: int = 0
    steps_per_iteration: int = 1000

    def __post_init__(self):
        for name in ("num_episodes", "steps_per_iteration"):
            value = getattr(self, name)
            if not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(f"{name}={value!r} must be an integer >= 1")
        if not isinstance(self.num_steps, int | np.integer) or self.num_steps < 0:
            raise ValueError(
                f"num_steps={self.num_steps!r} must be an integer >= 0 "
                "(0 counts the run in episodes)"
            )
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
    def num_iterations(self) -> int:
        if self.num_steps:
            return self.num_steps // self.steps_per_iteration
        return self.num_episodes


@dataclasses.dataclass(frozen=True)
class QLearningConfig(ControlConfig):
    """Q-learning (section 6.5)."""


@dataclasses.dataclass(frozen=True)
class SarsaConfig(ControlConfig):
    """SARSA (section 6.4)."""

    algorithm: str = "sarsa"


@dataclasses.dataclass(frozen=True)
class ExpectedSarsaConfig(ControlConfig):
    """Expected SARSA (section 6.6)."""

    algorithm: str = "expected_sarsa"


@struct.dataclass
class ControlHParams:
    """Traced hyperparameters.

    Attributes:
        alpha: step size, in ``(0, 1]``.
        epsilon: exploration probability of the behaviour policy, ``[0, 1]``.
        gamma: discount, in ``[0, 1]``.
        initial_value: ``Q_0(s, a)``, finite (optimism when large).
    """

    alpha: float = hparam(0.1, "(0, 1]")
    epsilon: float = hparam(0.1, "[0, 1]")
    gamma: float = hparam(0.99, "[0, 1]")
    initial_value: float = hparam(0.0, "(-inf, inf)")


@struct.dataclass
class ControlState:
    """State of a control run.

    Attributes:
        q: action values ``Q(s, a)``, ``[S, A]``; extract the greedy policy
            with :func:`greedy_policy`.
        obs: current observation, int32.
        action: SARSA's next action, already chosen at ``obs`` (step mode).
        env_state: the environment's state.
        episode_return: return so far of the episode in progress (step mode).
        episode_length: its length so far (step mode).
        key: PRNG key for the next iteration.
        hparams: the run's :class:`ControlHParams`.
    """

    q: jax.Array
    obs: jax.Array
    action: jax.Array
    env_state: Any
    episode_return: jax.Array
    episode_length: jax.Array
    key: jax.Array
    hparams: ControlHParams


def td_error(
    algorithm: str,
    q: jax.Array,
    s: jax.Array,
    a: jax.Array,
    r: jax.Array,
    discount: jax.Array,
    s1: jax.Array,
    a1: jax.Array,
    epsilon: jax.Array,
) -> jax.Array:
    """The TD error of one transition for ``algorithm`` (static).

    Args:
        algorithm: one of :data:`ALGORITHMS`.
        q: action values ``[S, A]``.
        s, a, r: state, action, reward of the transition.
        discount: ``gamma * (1 - terminated)``.
        s1: the state reached (``info["final_observation"]``).
        a1: SARSA's next action (ignored by the others).
        epsilon: Expected SARSA's target policy is epsilon-greedy with it.

    Returns:
        ``delta``, shape ``[]``.
    """
    if algorithm == "q_learning":
        return value_ops.q_learning(q[s], a, r, discount, q[s1])
    if algorithm == "sarsa":
        return value_ops.sarsa(q[s], a, r, discount, q[s1], a1)
    probs = policies.epsilon_greedy_probs(q[s1], epsilon)
    return value_ops.expected_sarsa(q[s], a, r, discount, q[s1], probs)


def _num_states(env: Any, env_params: Any) -> int:
    if hasattr(env, "num_states"):
        return int(env.num_states(env_params))
    space = env.observation_space(env_params)
    if not hasattr(space, "n"):
        raise ValueError(
            f"{getattr(env, 'name', env)!r} does not have integer observations; "
            "tabular control needs a tabular env such as envs.make('GridWorld-v0')"
        )
    return int(space.n)


def make_train(config: ControlConfig, env: Any, env_params: Any) -> Trainer:
    """Build a tabular control run on ``env`` (integer observations).

    Returns:
        A :class:`~jaxrl.types.Trainer` whose final state is a
        :class:`ControlState`. Episode mode: metrics ``return`` and ``length``
        of each episode, ``[num_episodes]``. Step mode: per iteration the mean
        ``return`` and ``length`` of the episodes that ended in it (NaN if
        none) and their number, ``episodes``.
    """
    num_states, num_actions = _num_states(env, env_params), env.num_actions
    algorithm = config.algorithm
    max_steps = int(env_params.max_steps_in_episode)

    def act(key: jax.Array, q: jax.Array, obs: jax.Array, hp) -> jax.Array:
        return policies.epsilon_greedy(key, q[obs], hp.epsilon)

    def transition(keys, q, obs, action, env_state, hp):
        """Act (unless SARSA already chose), step, update Q.

        ``keys`` holds three keys (acting, stepping, SARSA's next action).
        Returns ``(q, obs1, a1, env_state, reward, done)`` where ``a1`` is
        SARSA's next action, chosen at the state reached.
        """
        act_key, step_key, next_key = keys
        if algorithm != "sarsa":
            action = act(act_key, q, obs, hp)
        obs1, env_state, reward, terminated, truncated, info = env.step(
            step_key, env_state, action, env_params
        )
        reward = reward.astype(jnp.float32)
        s1 = info["final_observation"]
        discount = hp.gamma * (1.0 - terminated.astype(jnp.float32))
        # SARSA: A' ~ pi(.|S') from the Q that chose A, before the update
        # (the pseudocode's order); it is the next action taken.
        a1 = act(next_key, q, s1, hp) if algorithm == "sarsa" else action
        delta = td_error(
            algorithm, q, obs, action, reward, discount, s1, a1, hp.epsilon
        )
        # A set, not a scatter-add: the same fused multiply-add with or
        # without vmap, so batched runs equal unbatched ones bit for bit.
        q = q.at[obs, action].set(q[obs, action] + hp.alpha * delta)
        return q, obs1, a1, env_state, reward, terminated | truncated

    def init(key: jax.Array, hparams: ControlHParams) -> ControlState:
        key, reset_key, act_key = jax.random.split(key, 3)
        obs, env_state = env.reset(reset_key, env_params)
        q = jnp.full((num_states, num_actions), hparams.initial_value, jnp.float32)
        return ControlState(
            q=q,
            obs=obs,
            action=act(act_key, q, obs, hparams),
            env_state=env_state,
            episode_return=jnp.float32(0.0),
            episode_length=jnp.int32(0),
            key=key,
            hparams=hparams,
        )

    def episode(state: ControlState) -> tuple[ControlState, dict[str, jax.Array]]:
        hp = state.hparams
        key, episode_key, first_key = jax.random.split(state.key, 3)
        a0 = act(first_key, state.q, state.obs, hp)

        def cond(carry):
            *_, t, done, _ = carry
            return (~done) & (t < max_steps)

        def body(carry):
            key, q, obs, action, env_state, t, _, ret = carry
            key, *step_keys = jax.random.split(key, 4)
            q, obs, action, env_state, reward, done = transition(
                step_keys, q, obs, action, env_state, hp
            )
            return key, q, obs, action, env_state, t + 1, done, ret + reward

        carry0 = (
            episode_key,
            state.q,
            state.obs,
            a0,
            state.env_state,
            jnp.int32(0),
            jnp.bool_(False),
            jnp.float32(0.0),
        )
        _, q, obs, _, env_state, length, _, ret = jax.lax.while_loop(cond, body, carry0)
        state = state.replace(q=q, obs=obs, env_state=env_state, key=key)
        return state, {"return": ret, "length": length}

    def steps(state: ControlState) -> tuple[ControlState, dict[str, jax.Array]]:
        hp = state.hparams
        key, steps_key = jax.random.split(state.key)

        def body(carry, keys):
            q, obs, action, env_state, ret, length, ended, ret_sum, len_sum = carry
            restart_key = keys[3]
            q, obs, action, env_state, reward, done = transition(
                keys[:3], q, obs, action, env_state, hp
            )
            if algorithm == "sarsa":
                # After a reset SARSA's next action belongs to the new start.
                action = jnp.where(done, act(restart_key, q, obs, hp), action)
            ret, length = ret + reward, length + 1
            ended = ended + done
            ret_sum = ret_sum + jnp.where(done, ret, 0.0)
            len_sum = len_sum + jnp.where(done, length, 0)
            ret, length = jnp.where(done, 0.0, ret), jnp.where(done, 0, length)
            return (
                q,
                obs,
                action,
                env_state,
                ret,
                length,
                ended,
                ret_sum,
                len_sum,
            ), None

        carry0 = (
            state.q,
            state.obs,
            state.action,
            state.env_state,
            state.episode_return,
            state.episode_length,
            jnp.int32(0),
            jnp.float32(0.0),
            jnp.int32(0),
        )
        step_keys = jax.random.split(steps_key, (config.steps_per_iteration, 4))
        carry, _ = jax.lax.scan(body, carry0, step_keys)
        q, obs, action, env_state, ret, length, ended, ret_sum, len_sum = carry
        state = state.replace(
            q=q,
            obs=obs,
            action=action,
            env_state=env_state,
            episode_return=ret,
            episode_length=length,
            key=key,
        )
        n = jnp.maximum(ended, 1)
        return state, {
            "return": jnp.where(ended > 0, ret_sum / n, jnp.nan),
            "length": jnp.where(ended > 0, len_sum / n, jnp.nan),
            "episodes": ended,
        }

    update = steps if config.num_steps else episode
    return Trainer(init=init, update=update, num_iterations=config.num_iterations)
