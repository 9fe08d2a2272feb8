"""Tabular TD control: Q-learning, SARSA, Expected SARSA, their n-step
versions and SARSA(lambda).

Sutton & Barto (2018), sections 6.4-6.6, 7.2 and 12.7. The behaviour policy is
epsilon-greedy
in the current ``Q`` with ties broken at random
(:func:`~jaxrl.tabular.policies.epsilon_greedy_uniform`). After every step

``Q(S, A) <- Q(S, A) + alpha * delta``

with the TD error ``delta`` of :mod:`jaxrl.ops.value`:

* **Q-learning** (eq. 6.8): ``R + gamma' max_a Q(S', a) - Q(S, A)``, off-policy.
* **SARSA** (eq. 6.7): ``R + gamma' Q(S', A') - Q(S, A)`` where ``A'`` is the
  action the behaviour policy then takes, on-policy.
* **Expected SARSA** (eq. 6.9): ``R + gamma' sum_a pi(a|S') Q(S', a) - Q(S, A)``
  with ``pi`` the epsilon-greedy behaviour policy itself.

**n-step SARSA**, **n-step Expected SARSA** (section 7.2) and **SARSA(lambda)**
(12.7) use the window and traces of :mod:`~jaxrl.tabular.multistep`, in
episode mode.

``gamma' = gamma * (1 - terminated)``: a terminated step does not bootstrap, a
truncated one (the env's ``max_steps_in_episode``) bootstraps from the state
it reached, ``info["final_observation"]``. One Trainer iteration is one
episode, an inner ``lax.while_loop`` until terminated or truncated; the env
auto-resets, so the next episode starts where the loop left off. Metrics per
episode: ``return`` (the undiscounted sum of rewards), ``length`` and
``truncated`` (cut by the cap, not terminated); step mode reports them per
iteration (see :func:`make_train`).
"""

import dataclasses
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxrl.ops import value as value_ops
from jaxrl.tabular import multistep, policies
from jaxrl.tabular.policies import greedy_policy
from jaxrl.types import Trainer, hparam

__all__ = [
    "ALGORITHMS",
    "ControlConfig",
    "ControlHParams",
    "ControlState",
    "ExpectedSarsaConfig",
    "LambdaControlHParams",
    "NStepControlHParams",
    "NStepExpectedSarsaConfig",
    "NStepSarsaConfig",
    "QLearningConfig",
    "SarsaConfig",
    "SarsaLambdaConfig",
    "greedy_policy",
    "make_train",
    "td_error",
]

ALGORITHMS = (
    "q_learning",
    "sarsa",
    "expected_sarsa",
    "nstep_sarsa",
    "nstep_expected_sarsa",
    "sarsa_lambda",
)
# Algorithms whose next action is chosen before the update (A' in the target).
_ON_POLICY = ("sarsa", "nstep_sarsa", "sarsa_lambda")
# Algorithms with per-episode memory (an n-step window, traces): episode mode.
_MULTISTEP = ("nstep_sarsa", "nstep_expected_sarsa", "sarsa_lambda")


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
        max_n: n-step algorithms: the window's size, the largest ``n_step``.
        trace: SARSA(lambda): ``"accumulating"`` or ``"replacing"`` traces.
    """

    num_episodes: int = 500
    algorithm: str = "q_learning"
    num_steps: int = 0
    steps_per_iteration: int = 1000
    max_n: int = 32
    trace: str = "accumulating"

    # Settings that only some algorithms read (jaxrl.config.settable).
    FIELDS_FOR: ClassVar[dict[str, tuple[str, ...]]] = {
        "num_steps": ("q_learning", "sarsa", "expected_sarsa"),
        "steps_per_iteration": ("q_learning", "sarsa", "expected_sarsa"),
        "max_n": ("nstep_sarsa", "nstep_expected_sarsa"),
        "trace": ("sarsa_lambda",),
    }

    def __post_init__(self):
        from jaxrl.config import check_fields_for

        for name in ("num_episodes", "steps_per_iteration", "max_n"):
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
        if self.num_steps and self.algorithm in _MULTISTEP:
            raise ValueError(
                f"{self.algorithm} runs in episodes (its window or traces end "
                "with each episode); set num_steps=0 and num_episodes"
            )
        check_fields_for(self)
        if self.trace not in multistep.TRACES:
            raise ValueError(
                f"trace={self.trace!r} is unknown; allowed: {multistep.TRACES}"
            )

    def check_hparams(self, hparams: Any) -> None:
        """n-step's ``n_step`` is a whole number in ``[1, max_n]``."""
        if self.algorithm.startswith("nstep"):
            multistep.check_n_step(getattr(hparams, "n_step", None), self.max_n)

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


@dataclasses.dataclass(frozen=True)
class NStepSarsaConfig(ControlConfig):
    """n-step SARSA (section 7.2)."""

    algorithm: str = "nstep_sarsa"


@dataclasses.dataclass(frozen=True)
class NStepExpectedSarsaConfig(ControlConfig):
    """n-step Expected SARSA (section 7.2, eq. 7.7)."""

    algorithm: str = "nstep_expected_sarsa"


@dataclasses.dataclass(frozen=True)
class SarsaLambdaConfig(ControlConfig):
    """SARSA(lambda) (section 12.7)."""

    algorithm: str = "sarsa_lambda"


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
class NStepControlHParams(ControlHParams):
    """n-step control: ``n_step`` (the book's ``n``), a whole number in
    ``[1, max_n]``, traced (a sweep over it is one compiled call)."""

    n_step: int = hparam(4, "[1, inf)")


@struct.dataclass
class LambdaControlHParams(ControlHParams):
    """SARSA(lambda): ``lambda_`` in ``[0, 1]``."""

    lambda_: float = hparam(0.9, "[0, 1]")


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


def num_states_of(env: Any, env_params: Any, who: str = "tabular control") -> int:
    """The number of states of an env with integer observations (a tabular
    env's ``num_states``, else a ``Discrete`` observation space's ``n``);
    ``ValueError`` naming ``who`` for any other env."""
    if hasattr(env, "num_states"):
        return int(env.num_states(env_params))
    space = env.observation_space(env_params)
    if not hasattr(space, "n"):
        raise ValueError(
            f"{getattr(env, 'name', env)!r} does not have integer observations; "
            f"{who} needs a tabular env such as envs.make('GridWorld-v0')"
        )
    return int(space.n)


def make_train(config: ControlConfig, env: Any, env_params: Any) -> Trainer:
    """Build a tabular control run on ``env`` (integer observations).

    Randomness: a step's action (and SARSA's next action) comes from uniforms
    drawn with :func:`~jaxrl.tabular.policies.epsilon_greedy_uniform`; in step
    mode all of an iteration's uniforms and env keys are drawn in two calls,
    instead of a key split per step.

    Returns:
        A :class:`~jaxrl.types.Trainer` whose final state is a
        :class:`ControlState`. Episode mode: metrics ``return`` and ``length``
        of each episode, ``[num_episodes]``, and ``truncated`` (the episode
        hit the env's ``max_steps_in_episode`` without terminating). Step
        mode: per iteration the
        mean ``return`` and ``length`` of the episodes that ended in it (NaN
        if none), their number ``episodes`` and how many of those were
        ``truncated``.
    """
    num_states, num_actions = num_states_of(env, env_params), env.num_actions
    algorithm = config.algorithm
    on_policy = algorithm in _ON_POLICY
    max_steps = int(env_params.max_steps_in_episode)

    def act(u: jax.Array, q: jax.Array, obs: jax.Array, hp) -> jax.Array:
        return policies.epsilon_greedy_uniform(u, q[obs], hp.epsilon)

    def env_step(step_key, u, q, obs, action, env_state, hp):
        """Act (unless the next action was already chosen) and step.

        ``u`` holds two uniforms: acting, and the next action of an on-policy
        algorithm, chosen at the state reached from the ``q`` that chose this
        one, before the update (the pseudocode's order).
        """
        if not on_policy:
            action = act(u[0], q, obs, hp)
        obs1, env_state, reward, terminated, truncated, info = env.step(
            step_key, env_state, action, env_params
        )
        s1 = info["final_observation"]
        a1 = act(u[1], q, s1, hp) if on_policy else action
        return (
            action,
            obs1,
            s1,
            a1,
            env_state,
            reward.astype(jnp.float32),
            (
                terminated,
                truncated,
            ),
        )

    def one_step_update(q, obs, action, reward, terminated, s1, a1, hp):
        discount = hp.gamma * (1.0 - terminated.astype(jnp.float32))
        delta = td_error(
            algorithm, q, obs, action, reward, discount, s1, a1, hp.epsilon
        )
        # A set, not a scatter-add: the same fused multiply-add with or
        # without vmap, so batched runs equal unbatched ones bit for bit.
        return q.at[obs, action].set(q[obs, action] + hp.alpha * delta)

    def bootstrap(q, s1, a1, hp):
        """``Q(S', A')`` or the expected value under the behaviour policy."""
        if algorithm == "nstep_expected_sarsa":
            return jnp.dot(policies.epsilon_greedy_probs(q[s1], hp.epsilon), q[s1])
        return q[s1, a1]

    def init(key: jax.Array, hparams: ControlHParams) -> ControlState:
        key, reset_key, act_key = jax.random.split(key, 3)
        obs, env_state = env.reset(reset_key, env_params)
        q = jnp.full((num_states, num_actions), hparams.initial_value, jnp.float32)
        return ControlState(
            q=q,
            obs=obs,
            action=act(jax.random.uniform(act_key), q, obs, hparams),
            env_state=env_state,
            episode_return=jnp.float32(0.0),
            episode_length=jnp.int32(0),
            key=key,
            hparams=hparams,
        )

    def memory_init():
        if algorithm.startswith("nstep"):
            return multistep.window_init(config.max_n)
        if algorithm == "sarsa_lambda":
            return jnp.zeros((num_states, num_actions), jnp.float32)
        return None

    def learn(q, mem, obs, action, reward, terminated, s1, a1, hp):
        """The algorithm's update after one step: ``(q, mem)``."""
        live = 1.0 - terminated.astype(jnp.float32)
        if algorithm.startswith("nstep"):
            mem = multistep.window_push(mem, obs, action, reward)
            boot = live * bootstrap(q, s1, a1, hp)
            q = multistep.nstep_q_step(q, mem, hp.n_step, hp.gamma, hp.alpha, boot)
            return q, mem
        if algorithm == "sarsa_lambda":
            return multistep.sarsa_lambda_step(
                q,
                mem,
                obs,
                action,
                reward,
                q[s1, a1],
                hp.gamma * live,
                hp.gamma,
                hp.lambda_,
                hp.alpha,
                config.trace,
            )
        return one_step_update(q, obs, action, reward, terminated, s1, a1, hp), mem

    def episode(state: ControlState) -> tuple[ControlState, dict[str, jax.Array]]:
        hp = state.hparams
        key, episode_key, first_key = jax.random.split(state.key, 3)
        a0 = act(jax.random.uniform(first_key), state.q, state.obs, hp)

        def cond(carry):
            *_, t, done, _ = carry
            return (~done) & (t < max_steps)

        def body(carry):
            key, q, mem, obs, action, env_state, last, t, _, ret = carry
            key, step_key, u_key = jax.random.split(key, 3)
            u = jax.random.uniform(u_key, (2,))
            action, obs1, s1, a1, env_state, reward, (term, trunc) = env_step(
                step_key, u, q, obs, action, env_state, hp
            )
            q, mem = learn(q, mem, obs, action, reward, term, s1, a1, hp)
            last = (s1, a1, term, trunc)
            done = term | trunc
            return key, q, mem, obs1, a1, env_state, last, t + 1, done, ret + reward

        last0 = (state.obs, a0, jnp.bool_(False), jnp.bool_(False))
        carry0 = (
            episode_key,
            state.q,
            memory_init(),
            state.obs,
            a0,
            state.env_state,
            last0,
            jnp.int32(0),
            jnp.bool_(False),
            jnp.float32(0.0),
        )
        carry = jax.lax.while_loop(cond, body, carry0)
        _, q, mem, obs, _, env_state, last, length, _, ret = carry
        s_end, a_end, term_end, trunc_end = last
        if algorithm.startswith("nstep"):
            live = 1.0 - term_end.astype(jnp.float32)
            q = multistep.nstep_flush(
                q,
                mem,
                hp.n_step,
                hp.gamma,
                hp.alpha,
                lambda table: live * bootstrap(table, s_end, a_end, hp),
            )
        state = state.replace(q=q, obs=obs, env_state=env_state, key=key)
        # Truncated: cut by the cap without terminating (as step mode counts).
        truncated = trunc_end & ~term_end
        return state, {"return": ret, "length": length, "truncated": truncated}

    def steps(state: ControlState) -> tuple[ControlState, dict[str, jax.Array]]:
        hp = state.hparams
        key, keys_key, u_key = jax.random.split(state.key, 3)

        def body(carry, xs):
            q, obs, action, env_state, ret, length, ended, cut, ret_sum, len_sum = carry
            step_key, u = xs
            action, obs1, s1, a1, env_state, reward, (term, trunc) = env_step(
                step_key, u, q, obs, action, env_state, hp
            )
            q = one_step_update(q, obs, action, reward, term, s1, a1, hp)
            obs = obs1
            done = term | trunc
            action = a1
            if on_policy:
                # After a reset the next action belongs to the new start.
                action = jnp.where(done, act(u[2], q, obs, hp), action)
            ret, length = ret + reward, length + 1
            ended = ended + done
            cut = cut + (trunc & ~term)
            ret_sum = ret_sum + jnp.where(done, ret, 0.0)
            len_sum = len_sum + jnp.where(done, length, 0)
            ret, length = jnp.where(done, 0.0, ret), jnp.where(done, 0, length)
            carry = (
                q,
                obs,
                action,
                env_state,
                ret,
                length,
                ended,
                cut,
                ret_sum,
                len_sum,
            )
            return carry, None

        carry0 = (
            state.q,
            state.obs,
            state.action,
            state.env_state,
            state.episode_return,
            state.episode_length,
            jnp.int32(0),
            jnp.int32(0),
            jnp.float32(0.0),
            jnp.int32(0),
        )
        n = config.steps_per_iteration
        xs = (jax.random.split(keys_key, n), jax.random.uniform(u_key, (n, 3)))
        carry, _ = jax.lax.scan(body, carry0, xs)
        q, obs, action, env_state, ret, length, ended, cut, ret_sum, len_sum = carry
        state = state.replace(
            q=q,
            obs=obs,
            action=action,
            env_state=env_state,
            episode_return=ret,
            episode_length=length,
            key=key,
        )
        count = jnp.maximum(ended, 1)
        return state, {
            "return": jnp.where(ended > 0, ret_sum / count, jnp.nan),
            "length": jnp.where(ended > 0, len_sum / count, jnp.nan),
            "episodes": ended,
            "truncated": cut,
        }

    update = steps if config.num_steps else episode
    return Trainer(init=init, update=update, num_iterations=config.num_iterations)
