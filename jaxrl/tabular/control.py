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
from jaxrl.types import Trainer, check_range

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

    Attributes:
        num_episodes: episodes in a run (one Trainer iteration each).
        algorithm: ``"q_learning"``, ``"sarsa"`` or ``"expected_sarsa"``.
    """

    num_episodes: int = 500
    algorithm: str = "q_learning"

    def __post_init__(self):
        if not isinstance(self.num_episodes, int | np.integer) or self.num_episodes < 1:
            raise ValueError(
                f"num_episodes={self.num_episodes!r} must be an integer >= 1"
            )
        if self.algorithm not in ALGORITHMS:
            raise ValueError(
                f"algorithm={self.algorithm!r} is unknown; allowed: {ALGORITHMS}"
            )


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

    alpha: float = 0.1
    epsilon: float = 0.1
    gamma: float = 0.99
    initial_value: float = 0.0

    def validate(self) -> None:
        """Raise ``ValueError`` naming any out-of-range hyperparameter."""
        check_range("alpha", self.alpha, 0.0, 1.0, low_open=True)
        check_range("epsilon", self.epsilon, 0.0, 1.0)
        check_range("gamma", self.gamma, 0.0, 1.0)
        check_range(
            "initial_value",
            self.initial_value,
            -np.inf,
            np.inf,
            low_open=True,
            high_open=True,
        )


@struct.dataclass
class ControlState:
    """State of a control run.

    Attributes:
        q: action values ``Q(s, a)``, ``[S, A]``; extract the greedy policy
            with :func:`greedy_policy`.
        obs: current observation (the start of the next episode), int32.
        env_state: the environment's state.
        key: PRNG key for the next episode.
        hparams: the run's :class:`ControlHParams`.
    """

    q: jax.Array
    obs: jax.Array
    env_state: Any
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
        :class:`ControlState` and whose metrics are ``return`` and ``length``,
        each ``[num_episodes]``.
    """
    num_states, num_actions = _num_states(env, env_params), env.num_actions
    algorithm = config.algorithm
    max_steps = int(env_params.max_steps_in_episode)

    def init(key: jax.Array, hparams: ControlHParams) -> ControlState:
        key, reset_key = jax.random.split(key)
        obs, env_state = env.reset(reset_key, env_params)
        q = jnp.full((num_states, num_actions), hparams.initial_value, jnp.float32)
        return ControlState(q=q, obs=obs, env_state=env_state, key=key, hparams=hparams)

    def update(state: ControlState) -> tuple[ControlState, dict[str, jax.Array]]:
        hp = state.hparams
        key, episode_key, first_key = jax.random.split(state.key, 3)
        # SARSA picks A' before the update; the others act on the updated Q.
        a0 = policies.epsilon_greedy(first_key, state.q[state.obs], hp.epsilon)

        def cond(carry):
            *_, t, done, _ = carry
            return (~done) & (t < max_steps)

        def body(carry):
            key, q, obs, action, env_state, t, _, ret = carry
            key, act_key, step_key, next_key = jax.random.split(key, 4)
            if algorithm != "sarsa":
                action = policies.epsilon_greedy(act_key, q[obs], hp.epsilon)
            obs1, env_state, reward, terminated, truncated, info = env.step(
                step_key, env_state, action, env_params
            )
            reward = reward.astype(jnp.float32)
            s1 = info["final_observation"]
            discount = hp.gamma * (1.0 - terminated.astype(jnp.float32))
            if algorithm == "sarsa":
                # A' ~ pi(.|S') from the Q that chose A, before the update
                # (the pseudocode's order); it is the next action taken.
                a1 = policies.epsilon_greedy(next_key, q[s1], hp.epsilon)
            else:
                a1 = action  # unused
            delta = td_error(
                algorithm, q, obs, action, reward, discount, s1, a1, hp.epsilon
            )
            # A set, not a scatter-add: the same fused multiply-add with or
            # without vmap, so batched runs equal unbatched ones bit for bit.
            q = q.at[obs, action].set(q[obs, action] + hp.alpha * delta)
            done = terminated | truncated
            return key, q, obs1, a1, env_state, t + 1, done, ret + reward

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

    return Trainer(init=init, update=update, num_iterations=config.num_episodes)
