"""Soft actor-critic for continuous actions (Haarnoja et al., 2018) and for
discrete actions (Christodoulou, 2019) on the shared off-policy loop
(:mod:`jaxrl.agents.offpolicy`).

SAC maximises the entropy-regularised return ``E[sum_t gamma^t (r_t + alpha
H(pi(.|s_t)))]``. Per gradient step, on a replayed batch:

* **Critics** (twin soft Q-functions, clipped double Q of Fujimoto et al.,
  2018; :func:`jaxrl.ops.sac_critic_loss`):
  ``y = r_t + gamma (1 - terminated_t) (min_i Q'_i(s_t, a_t) - alpha log
  pi(a_t|s_t))``, ``a_t ~ pi(.|s_t)``, loss ``sum_i 0.5 (Q_i(s_{t-1},
  a_{t-1}) - y)^2`` with target critics ``Q'_i`` Polyak-averaged with ``tau``
  after every gradient step.
* **Actor** (:func:`jaxrl.ops.sac_actor_loss`): ``alpha log pi(a|s) - min_i
  Q_i(s, a)`` with ``a`` a reparameterised tanh-Gaussian sample
  (:func:`jaxrl.ops.tanh_gaussian_sample`), using the just-updated critics.
* **Temperature** (:func:`jaxrl.ops.sac_temperature_loss`, Haarnoja et al.,
  2018b, eq. 18): ``-log_alpha (log pi(a|s) + H_target)`` with the default
  target ``H_target = -|A|`` (:func:`jaxrl.ops.continuous_target_entropy`)
  times ``target_entropy_scale``.

The policy's actions live in ``(-1, 1)^|A|``; the buffer and the critics see
those, and the environment gets ``low + (a + 1) (high - low) / 2`` in the Box
bounds. Densities and the entropy target refer to the ``(-1, 1)`` actions (as
in Stable-Baselines3; the affine map only shifts the entropy by a constant).
Before ``learning_starts`` actions are uniform in the Box. Evaluation is
deterministic: ``tanh(mean)``.

**SAC-discrete** (``sac_discrete``, Christodoulou, 2019) replaces sampled
expectations over actions with exact sums over ``|A|`` logits
(:func:`jaxrl.ops.discrete_sac_critic_loss`,
:func:`jaxrl.ops.discrete_sac_actor_loss`,
:func:`jaxrl.ops.discrete_sac_temperature_loss`), its critics output
``Q(s, .)`` and its entropy target is ``target_entropy_scale * log|A|``
(:func:`jaxrl.ops.discrete_target_entropy`; 0.5 by default, see
:class:`SACDiscreteHParams`).
Evaluation is greedy in the logits.
"""

import dataclasses
import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import spaces

from jaxrl import nets
from jaxrl.agents import offpolicy
from jaxrl.agents.offpolicy import Learner, OffPolicyConfig, Transition
from jaxrl.ops import (
    categorical_entropy,
    continuous_target_entropy,
    discrete_sac_actor_loss,
    discrete_sac_critic_loss,
    discrete_sac_temperature_loss,
    discrete_target_entropy,
    sac_actor_loss,
    sac_critic_loss,
    sac_temperature_loss,
    tanh_gaussian_sample,
)
from jaxrl.registry import AlgoSpec, register
from jaxrl.types import Trainer, hparam

__all__ = [
    "Actor",
    "Config",
    "DiscreteActor",
    "DiscreteConfig",
    "DiscreteHParams",
    "HParams",
    "SACConfig",
    "SACDiscreteConfig",
    "SACDiscreteHParams",
    "SACHParams",
    "make_train",
    "make_train_discrete",
]


@dataclasses.dataclass(frozen=True)
class SACConfig(OffPolicyConfig):
    """Static settings of SAC; see :class:`~jaxrl.agents.offpolicy.OffPolicyConfig`.

    Defaults after CleanRL's ``sac_continuous_action.py`` (256-256 ReLU
    networks, batch 256, 5k random warm-up steps, a gradient step per env step,
    Polyak targets every step), with a 100k buffer.

    Attributes:
        log_std_min, log_std_max: range of the actor's state-dependent
            ``log std`` (continuous SAC only).
        torso: ``"mlp"`` (``hidden_sizes`` on the flattened observation) or,
            for SAC-discrete only, ``"nature_cnn"`` / ``"minatar_cnn"``: the
            actor and each critic get their own CNN (as CleanRL's
            ``sac_atari``), ``hidden_sizes`` unused.
        adam_eps: Adam's epsilon for every network, ``> 0`` (CleanRL's
            ``sac_atari`` uses 1e-4).
    """

    total_timesteps: int = 100_000
    buffer_size: int = 100_000
    batch_size: int = 256
    learning_starts: int = 5_000
    train_freq: int = 1
    gradient_steps: int = 1
    target_update_every: int = 1
    hidden_sizes: tuple[int, ...] = (256, 256)
    eval_every: int = 1_000
    log_std_min: float = -5.0
    log_std_max: float = 2.0
    torso: str = "mlp"
    adam_eps: float = 1e-8

    def __post_init__(self):
        super().__post_init__()
        if self.torso not in nets.TORSOS:
            raise ValueError(
                f"torso={self.torso!r} is unknown; allowed: {', '.join(nets.TORSOS)}"
            )
        if not self.adam_eps > 0:
            raise ValueError(f"adam_eps={self.adam_eps!r} must be > 0")
        if not self.log_std_min < self.log_std_max:
            raise ValueError(
                f"log_std_min={self.log_std_min} must be < "
                f"log_std_max={self.log_std_max}"
            )


@dataclasses.dataclass(frozen=True)
class SACDiscreteConfig(SACConfig):
    """Static settings of SAC-discrete (the ``log_std`` fields are unused)."""

    total_timesteps: int = 100_000
    batch_size: int = 128
    learning_starts: int = 1_000
    hidden_sizes: tuple[int, ...] = (64, 64)
    eval_every: int = 1_000


@struct.dataclass
class SACHParams:
    """Traced hyperparameters of SAC.

    Attributes:
        actor_lr, critic_lr: Adam learning rates, ``> 0``.
        alpha_lr: Adam learning rate of ``log alpha``, ``>= 0``; 0 keeps the
            temperature fixed at ``alpha_init``.
        gamma: discount, ``[0, 1]``.
        tau: Polyak step of the target critics, ``(0, 1]``.
        alpha_init: initial temperature, ``> 0``.
        target_entropy_scale: the entropy target is this times ``-|A|``
            (continuous) or times ``log|A|`` (discrete).
    """

    actor_lr: float = hparam(3e-4, "(0, inf)")
    critic_lr: float = hparam(1e-3, "(0, inf)")
    alpha_lr: float = hparam(1e-3, "[0, inf)")
    gamma: float = hparam(0.99, "[0, 1]")
    tau: float = hparam(0.005, "(0, 1]")
    alpha_init: float = hparam(1.0, "(0, inf)")
    target_entropy_scale: float = hparam(1.0, "(-inf, inf)")


@struct.dataclass
class SACDiscreteHParams:
    """Traced hyperparameters of SAC-discrete; as :class:`SACHParams`, with
    ``target_entropy_scale`` the fraction of ``log|A|``.

    Christodoulou uses 0.98 and CleanRL 0.89; on CartPole-v1 (30k steps,
    these defaults) 0.89 made ``alpha`` double every ~2.5k steps, to ~400,
    with Q-values in the thousands: the entropy sits just below a
    near-maximal target, and Adam moves ``log alpha`` at a near-constant
    rate whatever the gap. 0.5 (and 0.3, 0.7) kept ``alpha`` bounded.
    """

    actor_lr: float = hparam(3e-4, "(0, inf)")
    critic_lr: float = hparam(3e-4, "(0, inf)")
    alpha_lr: float = hparam(3e-4, "[0, inf)")
    gamma: float = hparam(0.99, "[0, 1]")
    tau: float = hparam(0.005, "(0, 1]")
    alpha_init: float = hparam(1.0, "(0, inf)")
    target_entropy_scale: float = hparam(0.5, "(-inf, inf)")


Config, HParams = SACConfig, SACHParams
DiscreteConfig, DiscreteHParams = SACDiscreteConfig, SACDiscreteHParams


class Actor(nn.Module):
    """Tanh-Gaussian policy torso and head: ``obs -> (mean, log_std)``,
    ``[..., D]`` each, ``log_std`` state-dependent in ``[min, max]``."""

    action_dim: int
    hidden_sizes: tuple[int, ...] = (256, 256)
    log_std_min: float = -5.0
    log_std_max: float = 2.0

    @nn.compact
    def __call__(self, obs: jax.Array) -> tuple[jax.Array, jax.Array]:
        x = nets.MLP(self.hidden_sizes, "relu")(obs)
        return nets.GaussianHead(
            self.action_dim,
            state_dependent_std=True,
            log_std_min=self.log_std_min,
            log_std_max=self.log_std_max,
        )(x)


class DiscreteActor(nn.Module):
    """Categorical policy: ``obs -> logits [..., A]``."""

    num_actions: int
    hidden_sizes: tuple[int, ...] = (64, 64)
    torso: str = "mlp"

    @nn.compact
    def __call__(self, obs: jax.Array) -> jax.Array:
        if self.torso == "mlp":
            x = nets.MLP(self.hidden_sizes, "relu")(obs)
        else:
            x = nets.Torso(self.torso)(obs)
        return nets.CategoricalHead(self.num_actions)(x)


def _agent(config, init, act, greedy, critic_loss, actor_loss, temperature_loss, **kw):
    """The three losses in SAC's order: critics, then the actor on the updated
    critics, then the temperature on the updated actor's samples; Adam for
    each, at its own (traced) learning rate."""
    eps = config.adam_eps

    def optimisers(hparams) -> dict[str, Any]:
        return {
            "actor": offpolicy.adam(hparams.actor_lr, eps=eps),
            "critic": offpolicy.adam(hparams.critic_lr, eps=eps),
            "log_alpha": offpolicy.adam(hparams.alpha_lr, eps=eps),
        }

    return offpolicy.Agent(
        init=init,
        optimisers=optimisers,
        act=act,
        greedy=greedy,
        losses=(
            offpolicy.Loss("critic", critic_loss, "critic_loss"),
            offpolicy.Loss("actor", actor_loss, "actor_loss"),
            offpolicy.Loss("log_alpha", temperature_loss, "alpha_loss"),
        ),
        targets=("critic",),
        **kw,
    )


def _init_params(key, hparams, actor, critic, actor_args, critic_args):
    actor_key, critic_key = jax.random.split(key)
    return {
        "actor": actor.init(actor_key, *actor_args),
        "critic": critic.init(critic_key, *critic_args),
        "log_alpha": jnp.log(jnp.asarray(hparams.alpha_init, jnp.float32)),
    }


def make_train(config: SACConfig, env: Any, env_params: Any) -> Trainer:
    """Build a continuous-action SAC run.

    Args:
        config: a :class:`SACConfig`.
        env, env_params: a gymnax environment with a Box action space with
            finite bounds.

    Returns:
        A :class:`~jaxrl.types.Trainer` whose state is an
        :class:`~jaxrl.agents.offpolicy.OffPolicyState`; its learner holds
        ``params["actor"]``, ``params["critic"]`` (twin), ``params["log_alpha"]``
        and ``target_params["critic"]``. Metrics per iteration: ``return``,
        ``eval_return``, ``env_steps``, ``replay_fill``, ``critic_loss``,
        ``actor_loss``, ``alpha_loss``, ``alpha``, ``entropy`` (of the ``(-1, 1)``
        actions) and ``q_mean``.

    Raises:
        ValueError: a Discrete action space (use :func:`make_train_discrete`,
            ``sac_discrete``) or unbounded Box.
    """
    space = env.action_space(env_params)
    if not isinstance(space, spaces.Box):
        raise ValueError(
            offpolicy.action_space_error("sac", "Box", env, space, "sac_discrete")
        )
    shape = tuple(space.shape)
    dim = math.prod(shape)
    low = np.broadcast_to(np.asarray(space.low, np.float32), shape).reshape(dim)
    high = np.broadcast_to(np.asarray(space.high, np.float32), shape).reshape(dim)
    if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
        raise ValueError(
            f"sac needs finite action bounds; got {offpolicy.describe_space(space)}"
        )
    if config.torso != "mlp":
        raise ValueError(
            f"sac (continuous actions) has an MLP torso only; torso={config.torso!r} "
            "is for sac_discrete"
        )
    obs_shape = tuple(env.observation_space(env_params).shape)
    actor = Actor(dim, config.hidden_sizes, config.log_std_min, config.log_std_max)
    critic = nets.TwinQ(config.hidden_sizes, "relu")

    def pi(params, obs):
        return actor.apply(params, offpolicy.flatten_obs(obs, obs_shape))

    def q(params, obs, action):
        return critic.apply(params, offpolicy.flatten_obs(obs, obs_shape), action)

    def init(key: jax.Array, hparams: SACHParams) -> dict[str, Any]:
        obs = jnp.zeros((1, math.prod(obs_shape)), jnp.float32)
        action = jnp.zeros((1, dim), jnp.float32)
        return _init_params(key, hparams, actor, critic, (obs,), (obs, action))

    def act(key, params, actor_state, obs, hparams: SACHParams, env_steps):
        policy_key, random_key = jax.random.split(key)
        mean, log_std = pi(params["actor"], obs)
        keys = jax.random.split(policy_key, mean.shape[0])
        action, _ = jax.vmap(tanh_gaussian_sample)(keys, mean, log_std)
        random = jax.random.uniform(random_key, action.shape, minval=-1.0, maxval=1.0)
        action = jnp.where(env_steps < config.learning_starts, random, action)
        return action, actor_state, None

    def to_env(action):
        lo, hi = (
            jnp.broadcast_to(low, action.shape),
            jnp.broadcast_to(high, action.shape),
        )
        scaled = lo + (action + 1.0) * 0.5 * (hi - lo)
        scaled = jnp.clip(scaled, lo, hi)
        return scaled.reshape(action.shape[:-1] + shape)

    def greedy(key, params, actor_state, obs):
        del key  # deterministic
        mean, _ = pi(params["actor"], obs)
        return to_env(jnp.tanh(mean)), actor_state

    def critic_loss(params, learner: Learner, hparams, key, s: Transition):
        """Twin soft-Q loss; ``a_t ~ pi(.|s_t)`` from the current actor."""
        alpha = jnp.exp(learner.params["log_alpha"])
        mean_t, log_std_t = pi(learner.params["actor"], s.next_obs)
        a_t, log_prob_t = tanh_gaussian_sample(key, mean_t, log_std_t)
        q1_t, q2_t = q(learner.target_params["critic"], s.next_obs, a_t)
        q1, q2 = q(params, s.obs, s.action)
        loss = sac_critic_loss(
            q1, q2, s.reward, s.discount, q1_t, q2_t, log_prob_t, alpha
        )
        return loss, {"q_mean": 0.5 * (q1 + q2)}

    def actor_loss(params, learner: Learner, hparams, key, s: Transition):
        """Reparameterised ``a ~ pi(.|s)`` against the updated critics."""
        alpha = jnp.exp(learner.params["log_alpha"])
        mean, log_std = pi(params, s.obs)
        action, log_prob = tanh_gaussian_sample(key, mean, log_std)
        q1, q2 = q(learner.params["critic"], s.obs, action)
        return sac_actor_loss(q1, q2, log_prob, alpha), {"entropy": -log_prob}

    def temperature_loss(log_alpha, learner: Learner, hparams, key, s: Transition):
        """On a fresh sample of the updated actor (as CleanRL's)."""
        target = hparams.target_entropy_scale * continuous_target_entropy(dim)
        mean, log_std = pi(learner.params["actor"], s.obs)
        _, log_prob = tanh_gaussian_sample(key, mean, log_std)
        loss = sac_temperature_loss(log_alpha, log_prob, target)
        return loss, {"alpha": jnp.exp(log_alpha)}

    agent = _agent(
        config,
        init,
        act,
        greedy,
        critic_loss,
        actor_loss,
        temperature_loss,
        example_action=jnp.zeros((dim,), jnp.float32),
        to_env=to_env,
    )
    return offpolicy.make_trainer(config, env, env_params, agent)


def make_train_discrete(config: SACConfig, env: Any, env_params: Any) -> Trainer:
    """Build a SAC-discrete run (Christodoulou, 2019).

    Args:
        config: a :class:`SACDiscreteConfig` (or :class:`SACConfig`).
        env, env_params: a gymnax environment with a Discrete action space.

    Returns:
        A :class:`~jaxrl.types.Trainer` as :func:`make_train`'s, with critics
        ``Q(s, .)`` over the ``|A|`` actions and the same metrics (``entropy``
        is the policy's exact entropy).

    Raises:
        ValueError: a non-Discrete action space (use :func:`make_train`,
            ``sac``).
    """
    space = env.action_space(env_params)
    if not isinstance(space, spaces.Discrete):
        raise ValueError(
            offpolicy.action_space_error("sac_discrete", "Discrete", env, space, "sac")
        )
    num_actions = int(space.n)
    obs_space = env.observation_space(env_params)
    obs_shape = tuple(obs_space.shape)
    actor = DiscreteActor(num_actions, config.hidden_sizes, config.torso)
    critic = nets.TwinQ(config.hidden_sizes, "relu", num_actions, config.torso)
    mlp = config.torso == "mlp"

    def features(obs):
        return offpolicy.flatten_obs(obs, obs_shape) if mlp else obs

    def pi(params, obs):
        return actor.apply(params, features(obs))

    def q(params, obs):
        return critic.apply(params, features(obs))

    def init(key: jax.Array, hparams: SACDiscreteHParams) -> dict[str, Any]:
        if mlp:
            obs = jnp.zeros((1, math.prod(obs_shape)), jnp.float32)
        else:
            obs = jnp.zeros((1,) + obs_shape, getattr(obs_space, "dtype", jnp.float32))
        return _init_params(key, hparams, actor, critic, (obs,), (obs,))

    def act(key, params, actor_state, obs, hparams: SACDiscreteHParams, env_steps):
        policy_key, random_key = jax.random.split(key)
        logits = pi(params["actor"], obs)
        action = jax.random.categorical(policy_key, logits)
        random = jax.random.randint(random_key, action.shape, 0, num_actions)
        action = jnp.where(env_steps < config.learning_starts, random, action)
        return action.astype(jnp.int32), actor_state, None

    def greedy(key, params, actor_state, obs):
        del key  # greedy
        action = jnp.argmax(pi(params["actor"], obs), -1).astype(jnp.int32)
        return action, actor_state

    # Every expectation over actions is exact: the losses use no key.
    def critic_loss(params, learner: Learner, hparams, key, s: Transition):
        alpha = jnp.exp(learner.params["log_alpha"])
        logits_t = pi(learner.params["actor"], s.next_obs)
        q1_t, q2_t = q(learner.target_params["critic"], s.next_obs)
        q1, q2 = q(params, s.obs)
        loss = discrete_sac_critic_loss(
            q1, q2, s.action, s.reward, s.discount, q1_t, q2_t, logits_t, alpha
        )
        return loss, {"q_mean": 0.5 * (q1[s.action] + q2[s.action])}

    def actor_loss(params, learner: Learner, hparams, key, s: Transition):
        alpha = jnp.exp(learner.params["log_alpha"])
        logits = pi(params, s.obs)
        q1, q2 = q(learner.params["critic"], s.obs)
        loss = discrete_sac_actor_loss(logits, q1, q2, alpha)
        return loss, {"entropy": categorical_entropy(logits)}

    def temperature_loss(log_alpha, learner: Learner, hparams, key, s: Transition):
        target = hparams.target_entropy_scale * discrete_target_entropy(
            num_actions, 1.0
        )
        logits = pi(learner.params["actor"], s.obs)
        loss = discrete_sac_temperature_loss(log_alpha, logits, target)
        return loss, {"alpha": jnp.exp(log_alpha)}

    agent = _agent(
        config,
        init,
        act,
        greedy,
        critic_loss,
        actor_loss,
        temperature_loss,
        example_action=jnp.zeros((), jnp.int32),
    )
    return offpolicy.make_trainer(config, env, env_params, agent)


register(
    AlgoSpec(
        name="sac",
        description="soft actor-critic, tanh-Gaussian actor, twin critics, "
        "automatic temperature (Haarnoja et al. 2018)",
        config_cls=SACConfig,
        hparams_cls=SACHParams,
        make_train=make_train,
        env_kind="continuous",
        default_env="Pendulum-v1",
    )
)
register(
    AlgoSpec(
        name="sac_discrete",
        description="soft actor-critic for discrete actions, exact expectations "
        "over actions (Christodoulou 2019)",
        config_cls=SACDiscreteConfig,
        hparams_cls=SACDiscreteHParams,
        make_train=make_train_discrete,
        env_kind="discrete",
        default_env="CartPole-v1",
    )
)
