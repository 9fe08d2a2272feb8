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
from jaxrl.agents.common import masked_mean
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

    def __post_init__(self):
        super().__post_init__()
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

    @nn.compact
    def __call__(self, obs: jax.Array) -> jax.Array:
        x = nets.MLP(self.hidden_sizes, "relu")(obs)
        return nets.CategoricalHead(self.num_actions)(x)


def _init_learner(key, hparams, actor, critic, actor_args, critic_args) -> Learner:
    actor_key, critic_key = jax.random.split(key)
    params = {
        "actor": actor.init(actor_key, *actor_args),
        "critic": critic.init(critic_key, *critic_args),
        "log_alpha": jnp.log(jnp.asarray(hparams.alpha_init, jnp.float32)),
    }
    lrs = _lrs(hparams)
    opt_state = {k: offpolicy.adam(lrs[k]).init(v) for k, v in params.items()}
    return Learner(params, {"critic": params["critic"]}, opt_state)


def _lrs(hparams) -> dict[str, Any]:
    return {
        "actor": hparams.actor_lr,
        "critic": hparams.critic_lr,
        "log_alpha": hparams.alpha_lr,
    }


def _temperature_step(
    learner: Learner, hparams, loss_op, policy_out, target_entropy, valid
):
    """Adam step on ``log_alpha`` for the batch mean (over ``valid`` samples)
    of ``loss_op(log_alpha, policy_out[i], target_entropy)``, the policy output
    held fixed.

    Returns ``(learner, loss)``.
    """

    def temperature_loss(log_alpha):
        losses = jax.vmap(loss_op, (None, 0, None))(
            log_alpha, jax.lax.stop_gradient(policy_out), target_entropy
        )
        return masked_mean(losses, valid)

    loss, grads = jax.value_and_grad(temperature_loss)(learner.params["log_alpha"])
    return _step(learner, hparams, "log_alpha", grads), loss


def _step(learner: Learner, hparams, name: str, grads) -> Learner:
    """Adam step on ``params[name]``."""
    params, opt_state = offpolicy.apply_gradients(
        offpolicy.adam(_lrs(hparams)[name]),
        grads,
        learner.opt_state[name],
        learner.params[name],
    )
    return learner.replace(
        params={**learner.params, name: params},
        opt_state={**learner.opt_state, name: opt_state},
    )


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
        ``eval_return``, ``env_steps``, ``critic_loss``, ``actor_loss``,
        ``alpha_loss``, ``alpha``, ``entropy`` (of the ``(-1, 1)`` actions) and
        ``q_mean``.

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
    obs_shape = tuple(env.observation_space(env_params).shape)
    actor = Actor(dim, config.hidden_sizes, config.log_std_min, config.log_std_max)
    critic = nets.TwinQ(config.hidden_sizes, "relu")

    def pi(params, obs):
        return actor.apply(params, offpolicy.flatten_obs(obs, obs_shape))

    def q(params, obs, action):
        return critic.apply(params, offpolicy.flatten_obs(obs, obs_shape), action)

    def sample(key, mean, log_std):
        """Batched tanh-Gaussian samples ``[B, D]`` and log-densities ``[B]``."""
        keys = jax.random.split(key, mean.shape[0])
        return jax.vmap(tanh_gaussian_sample)(keys, mean, log_std)

    def init(key: jax.Array, hparams: SACHParams) -> Learner:
        obs = jnp.zeros((1, math.prod(obs_shape)), jnp.float32)
        action = jnp.zeros((1, dim), jnp.float32)
        return _init_learner(key, hparams, actor, critic, (obs,), (obs, action))

    def act(key, learner: Learner, hparams: SACHParams, obs, env_steps):
        policy_key, random_key = jax.random.split(key)
        mean, log_std = pi(learner.params["actor"], obs)
        action, _ = sample(policy_key, mean, log_std)
        random = jax.random.uniform(random_key, action.shape, minval=-1.0, maxval=1.0)
        return jnp.where(env_steps < config.learning_starts, random, action)

    def act_eval(key, learner: Learner, obs):
        del key  # deterministic
        mean, _ = pi(learner.params["actor"], obs)
        return jnp.tanh(mean)

    def to_env(action):
        lo, hi = (
            jnp.broadcast_to(low, action.shape),
            jnp.broadcast_to(high, action.shape),
        )
        scaled = lo + (action + 1.0) * 0.5 * (hi - lo)
        scaled = jnp.clip(scaled, lo, hi)
        return scaled.reshape(action.shape[:-1] + shape)

    def learn(key, learner: Learner, hparams: SACHParams, batch: Transition):
        next_key, actor_key = jax.random.split(key)
        target_entropy = hparams.target_entropy_scale * continuous_target_entropy(dim)
        alpha = jnp.exp(learner.params["log_alpha"])
        discount = batch.discount  # gamma, 0 at terminations

        # Critics: a_t ~ pi(.|s_t) from the current actor, target critics.
        mean_t, log_std_t = pi(learner.params["actor"], batch.next_obs)
        a_t, log_prob_t = sample(next_key, mean_t, log_std_t)
        q1_t, q2_t = q(learner.target_params["critic"], batch.next_obs, a_t)

        def critic_loss(params):
            q1, q2 = q(params, batch.obs, batch.action)
            losses = jax.vmap(sac_critic_loss, (0,) * 7 + (None,))(
                q1, q2, batch.reward, discount, q1_t, q2_t, log_prob_t, alpha
            )
            v = batch.valid
            q_mean = 0.5 * (masked_mean(q1, v) + masked_mean(q2, v))
            return masked_mean(losses, v), q_mean

        (c_loss, q_mean), grads = jax.value_and_grad(critic_loss, has_aux=True)(
            learner.params["critic"]
        )
        learner = _step(learner, hparams, "critic", grads)

        # Actor: reparameterised a ~ pi(.|s), the updated critics.
        def actor_loss(params):
            mean, log_std = pi(params, batch.obs)
            action, log_prob = sample(actor_key, mean, log_std)
            q1, q2 = q(learner.params["critic"], batch.obs, action)
            losses = jax.vmap(sac_actor_loss, (0, 0, 0, None))(q1, q2, log_prob, alpha)
            return masked_mean(losses, batch.valid), log_prob

        (a_loss, log_prob), grads = jax.value_and_grad(actor_loss, has_aux=True)(
            learner.params["actor"]
        )
        learner = _step(learner, hparams, "actor", grads)

        # Temperature, on the actor's sample (held fixed).
        learner, t_loss = _temperature_step(
            learner,
            hparams,
            sac_temperature_loss,
            log_prob,
            target_entropy,
            batch.valid,
        )
        return learner, {
            "critic_loss": c_loss,
            "actor_loss": a_loss,
            "alpha_loss": t_loss,
            "alpha": jnp.exp(learner.params["log_alpha"]),
            "entropy": -masked_mean(log_prob, batch.valid),
            "q_mean": q_mean,
        }

    agent = offpolicy.Agent(
        init=init,
        act=act,
        act_eval=act_eval,
        learn=learn,
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
    obs_shape = tuple(env.observation_space(env_params).shape)
    actor = DiscreteActor(num_actions, config.hidden_sizes)
    critic = nets.TwinQ(config.hidden_sizes, "relu", num_actions)

    def pi(params, obs):
        return actor.apply(params, offpolicy.flatten_obs(obs, obs_shape))

    def q(params, obs):
        return critic.apply(params, offpolicy.flatten_obs(obs, obs_shape))

    def init(key: jax.Array, hparams: SACDiscreteHParams) -> Learner:
        obs = jnp.zeros((1, math.prod(obs_shape)), jnp.float32)
        return _init_learner(key, hparams, actor, critic, (obs,), (obs,))

    def act(key, learner: Learner, hparams: SACDiscreteHParams, obs, env_steps):
        policy_key, random_key = jax.random.split(key)
        logits = pi(learner.params["actor"], obs)
        action = jax.random.categorical(policy_key, logits)
        random = jax.random.randint(random_key, action.shape, 0, num_actions)
        action = jnp.where(env_steps < config.learning_starts, random, action)
        return action.astype(jnp.int32)

    def act_eval(key, learner: Learner, obs):
        del key  # greedy
        return jnp.argmax(pi(learner.params["actor"], obs), -1).astype(jnp.int32)

    def learn(key, learner: Learner, hparams: SACDiscreteHParams, batch: Transition):
        del key  # every expectation over actions is exact
        target_entropy = hparams.target_entropy_scale * discrete_target_entropy(
            num_actions, 1.0
        )
        alpha = jnp.exp(learner.params["log_alpha"])
        discount = batch.discount  # gamma, 0 at terminations
        logits_t = pi(learner.params["actor"], batch.next_obs)
        q1_t, q2_t = q(learner.target_params["critic"], batch.next_obs)

        def critic_loss(params):
            q1, q2 = q(params, batch.obs)
            losses = jax.vmap(discrete_sac_critic_loss, (0,) * 8 + (None,))(
                q1,
                q2,
                batch.action,
                batch.reward,
                discount,
                q1_t,
                q2_t,
                logits_t,
                alpha,
            )
            taken = batch.action[:, None]
            q_taken = 0.5 * (
                jnp.take_along_axis(q1, taken, -1) + jnp.take_along_axis(q2, taken, -1)
            )
            v = batch.valid
            return masked_mean(losses, v), masked_mean(q_taken, v)

        (c_loss, q_mean), grads = jax.value_and_grad(critic_loss, has_aux=True)(
            learner.params["critic"]
        )
        learner = _step(learner, hparams, "critic", grads)
        q1, q2 = q(learner.params["critic"], batch.obs)

        def actor_loss(params):
            logits = pi(params, batch.obs)
            losses = jax.vmap(discrete_sac_actor_loss, (0, 0, 0, None))(
                logits, q1, q2, alpha
            )
            return masked_mean(losses, batch.valid), logits

        (a_loss, logits), grads = jax.value_and_grad(actor_loss, has_aux=True)(
            learner.params["actor"]
        )
        learner = _step(learner, hparams, "actor", grads)

        learner, t_loss = _temperature_step(
            learner,
            hparams,
            discrete_sac_temperature_loss,
            logits,
            target_entropy,
            batch.valid,
        )
        return learner, {
            "critic_loss": c_loss,
            "actor_loss": a_loss,
            "alpha_loss": t_loss,
            "alpha": jnp.exp(learner.params["log_alpha"]),
            "entropy": masked_mean(jax.vmap(categorical_entropy)(logits), batch.valid),
            "q_mean": q_mean,
        }

    agent = offpolicy.Agent(
        init=init,
        act=act,
        act_eval=act_eval,
        learn=learn,
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
