"""Multi-armed bandit agents on the k-armed testbed (Sutton & Barto 2018, ch. 2).

One runner serves every agent: one Trainer iteration is one pull, and a run
of ``num_steps`` pulls is one ``lax.scan`` on a single bandit problem (the
testbed's "run"; figures average thousands of runs with ``jax.vmap`` over
keys). The agents:

* **epsilon-greedy** (section 2.2-2.4): act greedily on the estimates ``Q``
  (ties broken at random) except with probability ``epsilon``; update
  ``Q(A) <- Q(A) + step * (R - Q(A))`` with ``step = 1 / N(A)`` (sample
  average, eq. 2.3) or a constant ``alpha`` (eq. 2.5, for drifting problems).
* **optimistic initial values** (section 2.6): the same agent with a large
  ``initial_value`` (``Q_1 = 5``), usually with ``epsilon = 0`` and a
  constant step size.
* **UCB** (section 2.7, eq. 2.10):
  ``A_t = argmax_a [Q(a) + c sqrt(ln t / N(a))]``, an arm with ``N(a) = 0``
  counting as maximising.
* **gradient bandit** (section 2.8, eq. 2.12): soft-max over preferences ``H``,
  ``H(a) <- H(a) + alpha (R - Rbar) (1[a = A] - pi(a))`` with the baseline
  ``Rbar`` the average of the rewards before this one (``Rbar_1 = R_1``; the
  default, the book's text for eq. 2.12), or of the rewards up to and
  including this one (``baseline_includes_current=True``, as some printings
  and code read it), or ``0`` without a baseline.

Metrics per pull: ``reward``, ``optimal`` (1 if the arm pulled was the best at
that moment) and ``regret`` ``max_a q*(a) - q*(A)``; cumulative regret is
``jnp.cumsum(metrics["regret"], -1)``.
"""

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxrl.tabular import policies
from jaxrl.types import Trainer, hparam

AGENTS = ("epsilon_greedy", "ucb", "gradient")
STEP_SIZES = ("sample_average", "constant")


@dataclasses.dataclass(frozen=True)
class BanditConfig:
    """Static settings of a bandit run.

    Attributes:
        num_steps: pulls in a run (one Trainer iteration each); at most the
            env's ``max_steps_in_episode``, or the problem would be redrawn.
        agent: ``"epsilon_greedy"``, ``"ucb"`` or ``"gradient"``.
        step_size: value-estimate step size of ``epsilon_greedy`` and ``ucb``:
            ``"sample_average"`` (``1/N(a)``) or ``"constant"`` (``alpha``).
        baseline: gradient bandit only: subtract the average reward.
        baseline_includes_current: gradient bandit: the average includes the
            reward just received (else only the rewards before it).
    """

    num_steps: int = 1000
    agent: str = "epsilon_greedy"
    step_size: str = "sample_average"
    baseline: bool = True
    baseline_includes_current: bool = False

    def __post_init__(self):
        if not isinstance(self.num_steps, int | np.integer) or self.num_steps < 1:
            raise ValueError(f"num_steps={self.num_steps!r} must be an integer >= 1")
        if self.agent not in AGENTS:
            raise ValueError(f"agent={self.agent!r} is unknown; allowed: {AGENTS}")
        if self.step_size not in STEP_SIZES:
            raise ValueError(
                f"step_size={self.step_size!r} is unknown; allowed: {STEP_SIZES}"
            )


@dataclasses.dataclass(frozen=True)
class OptimisticConfig(BanditConfig):
    """Optimistic greedy (fig. 2.3): constant step size."""

    step_size: str = "constant"


@dataclasses.dataclass(frozen=True)
class UCBConfig(BanditConfig):
    """Upper-confidence-bound action selection (fig. 2.4)."""

    agent: str = "ucb"


@dataclasses.dataclass(frozen=True)
class GradientConfig(BanditConfig):
    """Gradient bandit (fig. 2.5)."""

    agent: str = "gradient"


@struct.dataclass
class BanditHParams:
    """Traced hyperparameters (a sweep is a ``vmap`` over them).

    Attributes:
        epsilon: exploration probability of epsilon-greedy, in ``[0, 1]``.
        alpha: constant step size of the estimates, or the gradient bandit's
            step size, in ``(0, 1]``.
        c: UCB's exploration weight, ``>= 0``.
        initial_value: initial estimates ``Q_1(a)`` (optimism), finite.
    """

    epsilon: float = hparam(0.1, "[0, 1]")
    alpha: float = hparam(0.1, "(0, 1]")
    c: float = hparam(2.0, "[0, inf)")
    initial_value: float = hparam(0.0, "(-inf, inf)")


@struct.dataclass
class OptimisticHParams(BanditHParams):
    """Optimistic greedy defaults of fig. 2.3: ``Q_1 = 5``, greedy, alpha 0.1."""

    epsilon: float = hparam(0.0, "[0, 1]")
    initial_value: float = hparam(5.0, "(-inf, inf)")


@struct.dataclass
class BanditState:
    """State of one bandit run.

    Attributes:
        q: value estimates ``Q(a)``, ``[k]``.
        n: pull counts ``N(a)``, float32 ``[k]``.
        h: gradient-bandit preferences ``H(a)``, ``[k]``.
        r_bar: average reward so far (the gradient baseline), ``[]``.
        t: pulls so far, int32 ``[]``.
        env_state: the environment's state (holds ``q*``).
        key: PRNG key for the next pull.
        hparams: the run's :class:`BanditHParams`.
    """

    q: jax.Array
    n: jax.Array
    h: jax.Array
    r_bar: jax.Array
    t: jax.Array
    env_state: Any
    key: jax.Array
    hparams: BanditHParams


def ucb_scores(q: jax.Array, n: jax.Array, t: jax.Array, c: jax.Array) -> jax.Array:
    """UCB scores ``Q(a) + c sqrt(ln t / N(a))``, ``+inf`` where ``N(a) = 0``.

    Sutton & Barto (2018), eq. 2.10; ``t`` is the 1-based index of the pull
    being chosen. Shapes: ``q, n`` ``[k]``, ``t, c`` ``[]``.
    """
    bonus = c * jnp.sqrt(jnp.log(t) / jnp.maximum(n, 1.0))
    return jnp.where(n > 0, q + bonus, jnp.inf)


def gradient_bandit_update(
    h: jax.Array,
    probs: jax.Array,
    action: jax.Array,
    reward: jax.Array,
    baseline: jax.Array,
    alpha: jax.Array,
) -> jax.Array:
    """Gradient-bandit preference update (Sutton & Barto 2018, eq. 2.12).

    ``H(a) <- H(a) + alpha (R - baseline) (1[a = A] - pi(a))``.

    Args:
        h: preferences ``[k]``; probs: ``softmax(h)`` ``[k]``; action: ``A``;
        reward: ``R``; baseline: ``Rbar`` (or 0); alpha: step size.
    """
    indicator = jax.nn.one_hot(action, h.shape[-1], dtype=h.dtype)
    return h + alpha * (reward - baseline) * (indicator - probs)


def _check_env(config: BanditConfig, env: Any, env_params: Any) -> None:
    key = jax.random.key(0)

    def probe(key):
        obs, state = env.reset(key, env_params)
        return env.step(key, state, jnp.int32(0), env_params)

    info = jax.eval_shape(probe, key)[-1]
    if "q_star" not in info or "optimal_arm" not in info:
        raise ValueError(
            f"{getattr(env, 'name', env)!r} is not a bandit: its step info lacks "
            "'q_star'/'optimal_arm'; use envs.make('Bandit-v0')"
        )
    max_steps = int(env_params.max_steps_in_episode)
    if config.num_steps > max_steps:
        raise ValueError(
            f"num_steps={config.num_steps} exceeds the bandit's "
            f"max_steps_in_episode={max_steps} (the problem would be redrawn "
            "mid-run); pass envs.make('Bandit-v0', "
            f"max_steps_in_episode={config.num_steps})"
        )


def make_train(config: BanditConfig, env: Any, env_params: Any) -> Trainer:
    """Build the bandit run for ``config`` on ``env`` (``Bandit-v0``).

    Returns:
        A :class:`~jaxrl.types.Trainer`: ``train(key, hparams) -> TrainOutput``
        with ``metrics`` ``{"reward", "optimal", "regret"}``, each
        ``[num_steps]``, and a final :class:`BanditState`.
    """
    _check_env(config, env, env_params)
    k = env.num_actions

    def init(key: jax.Array, hparams: BanditHParams) -> BanditState:
        key, reset_key = jax.random.split(key)
        _, env_state = env.reset(reset_key, env_params)
        return BanditState(
            q=jnp.full((k,), hparams.initial_value, jnp.float32),
            n=jnp.zeros((k,), jnp.float32),
            h=jnp.zeros((k,), jnp.float32),
            r_bar=jnp.float32(0.0),
            t=jnp.int32(0),
            env_state=env_state,
            key=key,
            hparams=hparams,
        )

    def update(state: BanditState) -> tuple[BanditState, dict[str, jax.Array]]:
        hp = state.hparams
        key, act_key, step_key = jax.random.split(state.key, 3)
        t1 = (state.t + 1).astype(jnp.float32)  # 1-based index of this pull
        if config.agent == "epsilon_greedy":
            probs = None
            action = policies.epsilon_greedy(act_key, state.q, hp.epsilon)
        elif config.agent == "ucb":
            probs = None
            scores = ucb_scores(state.q, state.n, t1, hp.c)
            action = policies.random_argmax(act_key, scores)
        else:
            probs = policies.softmax_probs(state.h)
            action = policies.sample(act_key, probs)

        _, env_state, reward, _, _, info = env.step(
            step_key, state.env_state, action, env_params
        )
        reward = reward.astype(jnp.float32)
        q_star = info["q_star"]
        metrics = {
            "reward": reward,
            "optimal": (action == info["optimal_arm"]).astype(jnp.float32),
            "regret": (jnp.max(q_star) - q_star[action]).astype(jnp.float32),
        }

        n = state.n.at[action].add(1.0)
        q, h = state.q, state.h
        if config.agent == "gradient":
            if config.baseline and config.baseline_includes_current:
                baseline = state.r_bar + (reward - state.r_bar) * (1.0 / t1)
            elif config.baseline:
                baseline = jnp.where(state.t == 0, reward, state.r_bar)
            else:
                baseline = jnp.float32(0.0)
            h = gradient_bandit_update(h, probs, action, reward, baseline, hp.alpha)
        else:
            if config.step_size == "sample_average":
                step = 1.0 / n[action]
            else:
                step = hp.alpha
            # Written as a set, not a scatter-add, so that XLA fuses the same
            # multiply-add with or without vmap (bit-identical runs).
            q = q.at[action].set(q[action] + step * (reward - q[action]))
        r_bar = state.r_bar + (reward - state.r_bar) * (1.0 / t1)
        state = state.replace(
            q=q, n=n, h=h, r_bar=r_bar, t=state.t + 1, env_state=env_state, key=key
        )
        return state, metrics

    return Trainer(init=init, update=update, num_iterations=config.num_steps)
