"""The loop every on-policy agent shares: collect a rollout, estimate advantages,
take gradient steps.

One iteration (one call of :attr:`Trainer.update`) of every agent here is

1. **Collect** ``num_steps`` steps from ``num_envs`` environments (``lax.scan``
   over time) with the current stochastic policy, recording a
   :class:`Transition` per step, ``[T, B]`` with ``T = num_steps`` and
   ``B = num_envs``.
2. **Evaluate the critic** on the observations left, ``V(s_t)``, and on the
   observations reached, ``V(s'_t)`` with ``s'_t`` = ``VecStep.final_obs`` (the
   state the step actually reached, not the reset observation that auto-reset
   puts in its place), in one batched call each.
3. **Estimate advantages** with GAE (Schulman et al., 2016) through
   :func:`compute_advantages`::

       discount_t = gamma * (1 - terminated_t)
       done_t     = terminated_t | truncated_t
       delta_t    = r_t + discount_t * V(s'_t) - V(s_t)
       A_t        = delta_t + discount_t * lambda * (1 - done_t) * A_{t+1}
       G_t        = A_t + V(s_t)                       (the value target)

   so a truncated step (a time limit) bootstraps from the value of the state
   it reached, a terminated one does not, no return leaks from one episode
   into the next, and the rollout's last step bootstraps from ``V(s'_{T-1})``.
   ``lambda = 1`` gives Monte-Carlo returns within the rollout, bootstrapped at
   the cut (REINFORCE); ``lambda < 1`` the GAE of PPO and A2C.
4. **Optimise** the agent's loss (the one thing each agent module supplies)
   for ``update_epochs`` passes over the ``num_envs * num_steps`` samples,
   each split into ``num_minibatches`` shuffled minibatches, one Adam (or
   RMSProp) step per minibatch after clipping the gradient's global norm to
   ``max_grad_norm``. The learning rate is the traced ``hparams.lr``, times
   ``1 - iteration / num_iterations`` when ``anneal_lr`` (PureJaxRL's linear
   schedule, constant within an iteration).
5. **Report** scalars only (memory does not grow with the run): ``env_steps``,
   ``return`` (mean undiscounted return of the episodes that finished during
   the rollout, NaN if none), ``eval_return`` (greedy/deterministic policy,
   every ``eval_every`` iterations, NaN otherwise) and the loss terms averaged
   over the iteration's gradient steps.

**Invalid steps.** An environment batch may mark steps ``VecStep.valid =
False``: EnvPool's delayed auto-reset spends the step after each episode end
on the reset (action ignored, reward 0; :mod:`envs.envpool_env`). Such a step
is recorded but learns nothing: its samples weigh 0 in the losses, which are
averaged over the valid samples only (:func:`masked_loss`), advantages are
standardised over the valid samples only (:func:`standardize`), and it counts
neither toward an episode's return nor its length. GAE needs no change: the
step before it ended the episode (``done``), which already cuts the recursion,
so nothing flows from it into a valid step's advantage. With every step valid
(gymnax, decided statically by the batch's type) the loop is the unmasked one,
bit for bit; ``env_steps`` counts every step the batch took, delayed resets
included.

The actor and the critic are separate MLPs (as in PureJaxRL and CleanRL),
optimised together by one optimiser. The policy head follows the action
space: :class:`~jaxrl.nets.CategoricalHead` for ``spaces.Discrete`` and
:class:`~jaxrl.nets.GaussianHead` (state-independent ``log_std``) for a 1-D
``spaces.Box``. A Gaussian action is clipped to the box when the environment
is stepped; its log-probability is that of the unclipped sample, which is what
the rollout stores.

An agent module (:mod:`jaxrl.agents.ppo`, :mod:`~jaxrl.agents.a2c`,
:mod:`~jaxrl.agents.reinforce`) subclasses :class:`Config`, defines its
``HParams`` (which must carry ``lr``, ``gamma`` and ``max_grad_norm``) and
calls :func:`make_on_policy_train` with its loss.
"""

import dataclasses
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct
from gymnax.environments import spaces

from envs.vector import VecEnv, eval_env, make_vec
from jaxrl import nets
from jaxrl.agents.common import EpisodeStats, evaluate, mean_or_nan
from jaxrl.ops import (
    categorical_entropy,
    categorical_log_prob,
    gaussian_entropy,
    gaussian_log_prob,
    generalized_advantage_estimation,
)
from jaxrl.types import Trainer

__all__ = [
    "ACTIVATIONS",
    "OPTIMIZERS",
    "Config",
    "LossInputs",
    "Networks",
    "OnPolicyState",
    "Transition",
    "compute_advantages",
    "make_networks",
    "make_on_policy_train",
    "masked_loss",
    "standardize",
]

ACTIVATIONS = ("tanh", "relu")
OPTIMIZERS = ("adam", "rmsprop")


def _as_int(name: str, value: Any, low: int) -> int:
    """``value`` as an int ``>= low`` (integral floats such as ``5e5`` pass)."""
    if isinstance(value, bool) or not isinstance(
        value, int | float | np.integer | np.floating
    ):
        raise ValueError(f"{name}={value!r} must be an integer >= {low}")
    if float(value) != math.floor(float(value)) or value < low:
        raise ValueError(f"{name}={value!r} must be an integer >= {low}")
    return int(value)


@dataclasses.dataclass(frozen=True)
class Config:
    """Static, shape-setting settings of an on-policy run.

    Attributes:
        num_envs: environments stepped in parallel, ``B``.
        num_steps: rollout length per iteration, ``T``.
        total_timesteps: environment steps in a run; the run has
            ``total_timesteps // (num_envs * num_steps)`` iterations.
        update_epochs: passes over each rollout.
        num_minibatches: minibatches per pass; must divide
            ``num_envs * num_steps``.
        hidden_sizes: hidden layer widths of the actor and of the critic.
        activation: ``"tanh"`` or ``"relu"``.
        anneal_lr: decay the learning rate linearly to 0 over the run.
        normalize_advantages: standardise advantages over each minibatch.
        optimizer: ``"adam"`` (eps 1e-5, as in PPO) or ``"rmsprop"``
            (decay 0.99, eps 1e-5, as in A2C).
        eval_every: evaluate the greedy policy after every ``eval_every``-th
            iteration, on the updated parameters (0: never; ``eval_return``
            is NaN on the other iterations).
        eval_episodes: episodes per evaluation.
    """

    num_envs: int = 4
    num_steps: int = 128
    total_timesteps: int = 500_000
    update_epochs: int = 4
    num_minibatches: int = 4
    hidden_sizes: tuple[int, ...] = (64, 64)
    activation: str = "tanh"
    anneal_lr: bool = True
    normalize_advantages: bool = True
    optimizer: str = "adam"
    eval_every: int = 50
    eval_episodes: int = 10

    def __post_init__(self):
        def fix(name, value):  # frozen: normalise types in place
            object.__setattr__(self, name, value)

        fix("num_envs", _as_int("num_envs", self.num_envs, 1))
        fix("num_steps", _as_int("num_steps", self.num_steps, 1))
        fix("total_timesteps", _as_int("total_timesteps", self.total_timesteps, 1))
        fix("update_epochs", _as_int("update_epochs", self.update_epochs, 1))
        fix("num_minibatches", _as_int("num_minibatches", self.num_minibatches, 1))
        fix("eval_every", _as_int("eval_every", self.eval_every, 0))
        fix("eval_episodes", _as_int("eval_episodes", self.eval_episodes, 1))
        sizes = self.hidden_sizes
        if isinstance(sizes, int | np.integer):
            sizes = (sizes,)
        try:
            sizes = tuple(_as_int("hidden_sizes", s, 1) for s in sizes)
        except (TypeError, ValueError):
            raise ValueError(
                f"hidden_sizes={self.hidden_sizes!r} must be a sequence of "
                "positive integers, e.g. (64, 64)"
            ) from None
        fix("hidden_sizes", sizes)
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"activation={self.activation!r} is unknown; allowed: {ACTIVATIONS}"
            )
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(
                f"optimizer={self.optimizer!r} is unknown; allowed: {OPTIMIZERS}"
            )
        for name in ("anneal_lr", "normalize_advantages"):
            if not isinstance(getattr(self, name), bool | np.bool_):
                raise ValueError(f"{name}={getattr(self, name)!r} must be a bool")
        batch = self.num_envs * self.num_steps
        if batch % self.num_minibatches:
            raise ValueError(
                f"num_envs*num_steps={self.num_envs}*{self.num_steps}={batch} does "
                f"not divide into num_minibatches={self.num_minibatches}"
            )
        if self.total_timesteps < batch:
            raise ValueError(
                f"total_timesteps={self.total_timesteps} is less than one rollout, "
                f"num_envs*num_steps={batch}: the run would have no iterations"
            )

    @property
    def batch_size(self) -> int:
        """Samples per rollout, ``num_envs * num_steps``."""
        return self.num_envs * self.num_steps

    @property
    def minibatch_size(self) -> int:
        return self.batch_size // self.num_minibatches

    @property
    def num_iterations(self) -> int:
        """``total_timesteps // (num_envs * num_steps)``."""
        return self.total_timesteps // self.batch_size


class Transition(NamedTuple):
    """One step of the rollout; stacked by the scan into ``[T, B, ...]``.

    Attributes:
        obs: the observation acted on, ``s_t``.
        action: the action sampled (unclipped for a Gaussian policy).
        log_prob: ``log pi_old(a_t|s_t)`` of the behaviour policy.
        reward: ``r_t``.
        terminated: the episode ended in a terminal state after this step.
        truncated: the episode was cut (time limit) after this step.
        final_obs: the observation the step reached, ``s'_t`` (the next
            ``obs`` unless the episode ended and auto-reset replaced it).
        valid: False for a step to learn nothing from (EnvPool's delayed
            reset; see the module docstring).
    """

    obs: jax.Array
    action: jax.Array
    log_prob: jax.Array
    reward: jax.Array
    terminated: jax.Array
    truncated: jax.Array
    final_obs: jax.Array
    valid: jax.Array


class LossInputs(NamedTuple):
    """A flat minibatch ``[N]`` as an agent's loss sees it.

    ``log_prob``, ``entropy`` and ``value`` come from the current parameters
    (gradients flow through them); the rest are fixed rollout quantities.

    Attributes:
        log_prob: ``log pi(a_t|s_t)`` under the current parameters.
        entropy: ``H(pi(.|s_t))`` under the current parameters.
        value: ``V(s_t)`` under the current parameters.
        old_log_prob: ``log pi_old(a_t|s_t)`` from the rollout.
        old_value: ``V_old(s_t)`` from the rollout.
        advantage: ``A_t`` (standardised over the minibatch when
            ``Config.normalize_advantages``).
        target: the value target ``G_t = A_t + V_old(s_t)`` (before any
            standardisation of ``A_t``).
    """

    log_prob: jax.Array
    entropy: jax.Array
    value: jax.Array
    old_log_prob: jax.Array
    old_value: jax.Array
    advantage: jax.Array
    target: jax.Array


LossFn = Callable[[Any, LossInputs], tuple[jax.Array, dict[str, jax.Array]]]


@struct.dataclass
class OnPolicyState:
    """The train state of an on-policy run.

    Attributes:
        params: ``{"actor": ..., "critic": ...}`` network parameters.
        opt_state: the optimiser's state.
        env_state: the ``num_envs`` environment states.
        obs: the observations to act on next, ``[B, ...]``.
        episode_stats: returns of the episodes in progress.
        key: PRNG key for the next iteration.
        iteration: iterations done so far, int32.
        hparams: the run's hyperparameters (traced floats).
    """

    params: Any
    opt_state: Any
    env_state: Any
    obs: jax.Array
    episode_stats: EpisodeStats
    key: jax.Array
    iteration: jax.Array
    hparams: Any


# ---------------------------------------------------------------- networks


class _Actor(nn.Module):
    hidden_sizes: tuple[int, ...]
    activation: str
    obs_ndim: int
    num_actions: int | None  # discrete
    action_dim: int | None  # continuous

    @nn.compact
    def __call__(self, obs: jax.Array) -> Any:
        x = _flatten_obs(obs, self.obs_ndim)
        x = nets.MLP(self.hidden_sizes, self.activation)(x)
        if self.num_actions is not None:
            return nets.CategoricalHead(self.num_actions)(x)
        return nets.GaussianHead(self.action_dim)(x)


class _Critic(nn.Module):
    hidden_sizes: tuple[int, ...]
    activation: str
    obs_ndim: int

    @nn.compact
    def __call__(self, obs: jax.Array) -> jax.Array:
        x = _flatten_obs(obs, self.obs_ndim)
        x = nets.MLP(self.hidden_sizes, self.activation)(x)
        return nets.ValueHead()(x)


def _flatten_obs(obs: jax.Array, obs_ndim: int) -> jax.Array:
    """``[..., *obs_shape] -> [..., prod(obs_shape)]`` so an MLP can take it."""
    obs = jnp.asarray(obs, jnp.float32)
    if obs_ndim == 1:
        return obs
    lead = obs.shape[: obs.ndim - obs_ndim]
    return obs.reshape(lead + (-1,))


def _over_batch(fn: Callable, *args: jax.Array) -> jax.Array:
    """Apply an unbatched op over the leading axes ``[...]`` of its arguments.

    The first argument (logits ``[..., A]`` or a Gaussian parameter
    ``[..., D]``) sets the leading shape; ``fn`` returns a scalar per element.
    """
    lead = args[0].shape[:-1]
    flat = [a.reshape((-1,) + a.shape[len(lead) :]) for a in args]
    return jax.vmap(fn)(*flat).reshape(lead)


@dataclasses.dataclass(frozen=True)
class Networks:
    """The actor and critic of an on-policy agent, as pure functions.

    Every function takes observations with any leading batch shape ``[...]``
    (e.g. ``[B]`` or ``[T, B]``) followed by the observation shape.

    Attributes:
        discrete: whether the action space is ``Discrete``.
        action_low, action_high: the ``Box`` bounds (continuous only),
            ``[D]``.
    """

    actor: nn.Module
    critic: nn.Module
    discrete: bool
    obs_shape: tuple[int, ...]
    action_low: Any = None
    action_high: Any = None

    def init(self, key: jax.Array) -> dict[str, Any]:
        """``{"actor": ..., "critic": ...}`` parameters for one observation."""
        actor_key, critic_key = jax.random.split(key)
        obs = jnp.zeros(self.obs_shape, jnp.float32)
        return {
            "actor": self.actor.init(actor_key, obs),
            "critic": self.critic.init(critic_key, obs),
        }

    def value(self, params: dict[str, Any], obs: jax.Array) -> jax.Array:
        """``V(s)``, ``[...]``."""
        return self.critic.apply(params["critic"], obs)

    def policy(self, params: dict[str, Any], obs: jax.Array) -> Any:
        """Logits ``[..., A]`` or ``(mean, log_std)``, each ``[..., D]``."""
        return self.actor.apply(params["actor"], obs)

    def sample(
        self, key: jax.Array, params: dict[str, Any], obs: jax.Array
    ) -> tuple[jax.Array, jax.Array, jax.Array]:
        """Sample ``a ~ pi(.|s)``.

        Returns:
            ``(action, env_action, log_prob)``: the sampled action (what the
            rollout stores), the action to step the environment with (the
            Gaussian sample clipped to the box) and ``log pi(action|s)``.
        """
        out = self.policy(params, obs)
        if self.discrete:
            action = jax.random.categorical(key, out, axis=-1)
            return action, action, _over_batch(categorical_log_prob, out, action)
        mean, log_std = out
        action = mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)
        log_prob = _over_batch(gaussian_log_prob, mean, log_std, action)
        return action, self.clip(action), log_prob

    def log_prob_entropy(
        self, params: dict[str, Any], obs: jax.Array, action: jax.Array
    ) -> tuple[jax.Array, jax.Array]:
        """``log pi(a|s)`` and ``H(pi(.|s))``, each ``[...]``."""
        out = self.policy(params, obs)
        if self.discrete:
            return (
                _over_batch(categorical_log_prob, out, action),
                _over_batch(categorical_entropy, out),
            )
        mean, log_std = out
        return (
            _over_batch(gaussian_log_prob, mean, log_std, action),
            _over_batch(gaussian_entropy, log_std),
        )

    def greedy(self, params: dict[str, Any], obs: jax.Array) -> jax.Array:
        """The deterministic policy: ``argmax`` logits, or the clipped mean."""
        out = self.policy(params, obs)
        if self.discrete:
            return jnp.argmax(out, axis=-1)
        return self.clip(out[0])

    def clip(self, action: jax.Array) -> jax.Array:
        low = jnp.broadcast_to(self.action_low, action.shape)
        high = jnp.broadcast_to(self.action_high, action.shape)
        return jnp.clip(action, low, high)


def require_one_update(name: str, config: "Config") -> None:
    """Refuse several epochs or minibatches for a one-step-per-rollout agent."""
    if config.update_epochs != 1 or config.num_minibatches != 1:
        raise ValueError(
            f"{name} takes one gradient step per rollout: update_epochs="
            f"{config.update_epochs} and num_minibatches={config.num_minibatches} "
            "must both be 1 (use ppo for several epochs or minibatches)"
        )


def make_networks(config: Config, env: Any, env_params: Any) -> Networks:
    """The actor and critic for ``env``'s spaces.

    Raises:
        ValueError: for an action space other than ``Discrete`` or a 1-D
            ``Box``.
    """
    action_space = env.action_space(env_params)
    obs_space = env.observation_space(env_params)
    obs_shape = tuple(getattr(obs_space, "shape", None) or ())
    if not isinstance(obs_space, spaces.Box) or obs_shape == ():
        raise ValueError(
            f"unsupported observation space {obs_space!r} of "
            f"{getattr(env, 'name', env)!r}: the on-policy agents need a Box "
            "observation of rank >= 1 (tabular envs: use the agents in "
            "jaxrl.tabular)"
        )
    obs_ndim = len(obs_shape)
    common = dict(
        hidden_sizes=config.hidden_sizes,
        activation=config.activation,
        obs_ndim=obs_ndim,
    )
    critic = _Critic(**common)
    if isinstance(action_space, spaces.Discrete):
        actor = _Actor(**common, num_actions=int(action_space.n), action_dim=None)
        return Networks(actor, critic, True, obs_shape)
    if isinstance(action_space, spaces.Box):
        shape = tuple(action_space.shape)
        if len(shape) != 1:
            raise ValueError(
                f"Box action space of shape {shape} is unsupported: the Gaussian "
                "policy needs a 1-D Box, shape (D,)"
            )
        low = jnp.broadcast_to(jnp.asarray(action_space.low, jnp.float32), shape)
        high = jnp.broadcast_to(jnp.asarray(action_space.high, jnp.float32), shape)
        actor = _Actor(**common, num_actions=None, action_dim=shape[0])
        return Networks(actor, critic, False, obs_shape, low, high)
    raise ValueError(
        f"unsupported action space {action_space!r} of "
        f"{getattr(env, 'name', env)!r}: the on-policy agents take "
        "gymnax spaces.Discrete (categorical policy) or a 1-D spaces.Box "
        "(Gaussian policy)"
    )


# ---------------------------------------------------------------- advantages


def compute_advantages(
    v_tm1: jax.Array,
    r_t: jax.Array,
    terminated_t: jax.Array,
    truncated_t: jax.Array,
    v_t: jax.Array,
    gamma: jax.Array,
    lambda_: jax.Array,
) -> tuple[jax.Array, jax.Array]:
    """GAE advantages and value targets of a batched rollout.

    With ``discount_t = gamma * (1 - terminated_t)`` and ``done_t =
    terminated_t | truncated_t`` this is
    :func:`~jaxrl.ops.generalized_advantage_estimation` per environment::

        A_t = delta_t + discount_t * lambda * (1 - done_t) * A_{t+1},
        delta_t = r_t + discount_t * v_t - v_tm1_t,   A_T = 0,
        G_t = A_t + v_tm1_t.

    A truncated step bootstraps from ``v_t`` (pass the value of the final
    observation, not of the reset one); a terminated step does not.

    Args:
        v_tm1: ``V(s_t)``, ``[T, B]``.
        r_t: rewards, ``[T, B]``.
        terminated_t, truncated_t: bool, ``[T, B]``.
        v_t: ``V(s'_t)`` of the observation each step reached, ``[T, B]``.
        gamma: discount, ``[]``.
        lambda_: GAE parameter, ``[]``; ``1`` gives Monte-Carlo returns
            bootstrapped at the rollout's end.

    Returns:
        ``(advantages, targets)``, each ``[T, B]``.
    """
    terminated_t = jnp.asarray(terminated_t, bool)
    done_t = terminated_t | jnp.asarray(truncated_t, bool)
    discount_t = gamma * (1.0 - terminated_t.astype(jnp.float32))
    gae = jax.vmap(
        generalized_advantage_estimation, in_axes=(1, 1, 1, 1, 1, None), out_axes=1
    )
    advantages = gae(v_tm1, r_t, discount_t, v_t, done_t, lambda_)
    return advantages, advantages + v_tm1


# ---------------------------------------------------------------- masking


def standardize(advantage: jax.Array, valid: jax.Array | None = None) -> jax.Array:
    """``(A - mean) / (std + 1e-8)`` over the valid samples of ``[N]``.

    ``mean = sum(w A) / n``, ``std**2 = sum(w (A - mean)**2) / n`` with
    ``w = valid`` and ``n = max(sum(w), 1)``; invalid samples come out 0.
    ``valid=None`` is the plain (all-valid) standardisation.
    """
    if valid is None:
        return (advantage - advantage.mean()) / (advantage.std() + 1e-8)
    w = jnp.asarray(valid, jnp.float32)
    n = jnp.maximum(w.sum(), 1.0)
    mean = jnp.sum(w * advantage) / n
    std = jnp.sqrt(jnp.sum(w * (advantage - mean) ** 2) / n)
    return jnp.where(valid, (advantage - mean) / (std + 1e-8), 0.0)


def masked_loss(
    loss_fn: "LossFn", hparams: Any, inputs: "LossInputs", valid: jax.Array
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """An agent's minibatch-mean loss, averaged over the valid samples only.

    ``loss_fn`` is the mean over samples of a per-sample loss (every agent's
    is), so it is evaluated on each sample alone (a batch of one, under
    ``vmap``) and the loss and each reported term ``l_i`` averaged as
    ``sum_i w_i l_i / max(sum_i w_i, 1)``, ``w = valid``: an invalid sample
    contributes nothing to the value or the gradient, and with every sample
    valid this is ``loss_fn``'s mean.

    Args:
        loss_fn: ``(hparams, LossInputs) -> (loss, {name: scalar})``.
        hparams: passed to ``loss_fn``.
        inputs: a minibatch, leaves ``[N]``.
        valid: bool ``[N]``.
    """
    per_loss, per_aux = jax.vmap(
        lambda x: loss_fn(hparams, jax.tree.map(lambda y: y[None], x))
    )(inputs)
    valid = jnp.asarray(valid, bool)
    n = jnp.maximum(valid.sum(), 1).astype(jnp.float32)

    def mean(x):
        return jnp.sum(jnp.where(valid, x, 0.0)) / n

    return mean(per_loss), {k: mean(v) for k, v in per_aux.items()}


# ---------------------------------------------------------------- the loop


def _transform(config: Config, max_grad_norm: jax.Array):
    """Global-norm clipping then Adam/RMSProp, without the learning rate (the
    loop scales by ``-lr`` itself so that the rate can be traced)."""
    if config.optimizer == "adam":
        scale = optax.scale_by_adam(eps=1e-5)
    else:
        scale = optax.scale_by_rms(decay=0.99, eps=1e-5)
    return optax.chain(optax.clip_by_global_norm(max_grad_norm), scale)


def make_on_policy_train(
    config: Config,
    env: Any,
    env_params: Any,
    loss_fn: LossFn,
    gae_lambda: Callable[[Any], jax.Array],
) -> Trainer:
    """Build an on-policy run around an agent's loss.

    Args:
        config: the static settings.
        env, env_params: a gymnax environment, or an adapter with
            ``make_vec`` (EnvPool, :mod:`envs.envpool_env`), with a
            ``Discrete`` or 1-D ``Box`` action space. Greedy evaluation runs
            on :func:`envs.vector.eval_env` (for EnvPool the gymnax twin; none
            without one: ``eval_return`` stays NaN).
        loss_fn: ``(hparams, LossInputs) -> (loss, {name: scalar})``, the
            mean loss over a minibatch and the terms to report; a mean of
            per-sample terms (so that :func:`masked_loss` can drop invalid
            samples).
        gae_lambda: ``hparams -> lambda`` for :func:`compute_advantages`.

    Returns:
        A :class:`~jaxrl.types.Trainer` over :class:`OnPolicyState`; its
        metrics are ``env_steps``, ``return``, ``eval_return``, ``loss`` and
        the terms of ``loss_fn``.
    """
    networks = make_networks(config, env, env_params)
    vec = make_vec(env, env_params, config.num_envs)
    # gymnax batches have no invalid steps: keep the unmasked loop (bit-identical).
    masked = not isinstance(vec, VecEnv)
    evaluation = eval_env(env, env_params) if config.eval_every > 0 else None
    num_iterations = config.num_iterations

    def init(key: jax.Array, hparams: Any) -> OnPolicyState:
        hparams = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), hparams)
        key, net_key, reset_key = jax.random.split(key, 3)
        params = networks.init(net_key)
        opt_state = _transform(config, hparams.max_grad_norm).init(params)
        obs, env_state = vec.reset(reset_key)
        return OnPolicyState(
            params=params,
            opt_state=opt_state,
            env_state=env_state,
            obs=obs,
            episode_stats=EpisodeStats.zeros(config.num_envs),
            key=key,
            iteration=jnp.int32(0),
            hparams=hparams,
        )

    def rollout(key, params, env_state, obs, stats):
        def step(carry, key):
            env_state, obs, stats = carry
            act_key, step_key = jax.random.split(key)
            action, env_action, log_prob = networks.sample(act_key, params, obs)
            out = vec.step(step_key, env_state, env_action)
            stats, finished, count = stats.track(out)
            transition = Transition(
                obs=obs,
                action=action,
                log_prob=log_prob,
                reward=out.reward,
                terminated=out.terminated,
                truncated=out.truncated,
                final_obs=out.final_obs,
                valid=out.valid,
            )
            return (out.state, out.obs, stats), (transition, finished, count)

        keys = jax.random.split(key, config.num_steps)
        (env_state, obs, stats), (traj, finished, count) = jax.lax.scan(
            step, (env_state, obs, stats), keys
        )
        return env_state, obs, stats, traj, mean_or_nan(finished.sum(), count.sum())

    def loss_of_params(params, hp, mb):
        log_prob, entropy = networks.log_prob_entropy(params, mb["obs"], mb["action"])
        value = networks.value(params, mb["obs"])
        advantage = mb["advantage"]
        valid = mb["valid"] if masked else None
        if config.normalize_advantages:
            advantage = standardize(advantage, valid)
        inputs = LossInputs(
            log_prob=log_prob,
            entropy=entropy,
            value=value,
            old_log_prob=mb["log_prob"],
            old_value=mb["value"],
            advantage=advantage,
            target=mb["target"],
        )
        if masked:
            loss, aux = masked_loss(loss_fn, hp, inputs, valid)
        else:
            loss, aux = loss_fn(hp, inputs)
        return loss, {"loss": loss, **aux}

    grad_fn = jax.grad(loss_of_params, has_aux=True)

    def optimise(key, params, opt_state, hp, lr, batch):
        tx = _transform(config, hp.max_grad_norm)

        def minibatch_step(carry, mb):
            params, opt_state = carry
            grads, aux = grad_fn(params, hp, mb)
            updates, opt_state = tx.update(grads, opt_state, params)
            params = jax.tree.map(lambda p, u: p - lr * u, params, updates)
            return (params, opt_state), aux

        def epoch(carry, key):
            if config.num_minibatches == 1:
                minibatches = jax.tree.map(lambda x: x[None], batch)
            else:
                perm = jax.random.permutation(key, config.batch_size)
                minibatches = jax.tree.map(
                    lambda x: x[perm].reshape(
                        (config.num_minibatches, config.minibatch_size) + x.shape[1:]
                    ),
                    batch,
                )
            return jax.lax.scan(minibatch_step, carry, minibatches)

        keys = jax.random.split(key, config.update_epochs)
        (params, opt_state), aux = jax.lax.scan(epoch, (params, opt_state), keys)
        return params, opt_state, jax.tree.map(jnp.mean, aux)

    def update(state: OnPolicyState) -> tuple[OnPolicyState, dict[str, jax.Array]]:
        hp = state.hparams
        key, rollout_key, update_key, _ = jax.random.split(state.key, 4)
        env_state, obs, stats, traj, train_return = rollout(
            rollout_key, state.params, state.env_state, state.obs, state.episode_stats
        )
        v_tm1 = networks.value(state.params, traj.obs)
        v_t = networks.value(state.params, traj.final_obs)
        advantages, targets = compute_advantages(
            v_tm1,
            traj.reward,
            traj.terminated,
            traj.truncated,
            v_t,
            hp.gamma,
            gae_lambda(hp),
        )
        batch = {
            "obs": traj.obs,
            "action": traj.action,
            "log_prob": traj.log_prob,
            "value": v_tm1,
            "advantage": advantages,
            "target": targets,
        }
        if masked:
            # Invalid samples weigh 0; give them harmless finite values too.
            batch["valid"] = traj.valid
            batch["advantage"] = jnp.where(traj.valid, advantages, 0.0)
            batch["target"] = jnp.where(traj.valid, targets, v_tm1)
        batch = jax.tree.map(
            lambda x: x.reshape((config.batch_size,) + x.shape[2:]), batch
        )
        lr = hp.lr
        if config.anneal_lr:
            lr = lr * (1.0 - state.iteration.astype(jnp.float32) / num_iterations)
        params, opt_state, losses = optimise(
            update_key, state.params, state.opt_state, hp, lr, batch
        )
        iteration = state.iteration + 1
        state = state.replace(
            params=params,
            opt_state=opt_state,
            env_state=env_state,
            obs=obs,
            episode_stats=stats,
            key=key,
            iteration=iteration,
        )
        metrics = {
            "env_steps": iteration * config.batch_size,
            "return": train_return,
            **losses,
        }
        if evaluation is None:
            metrics["eval_return"] = jnp.float32(jnp.nan)
        return state, metrics

    def evaluate_greedy(key: jax.Array, state: OnPolicyState) -> dict[str, jax.Array]:
        """The greedy policy's return; ``key`` is the iteration's key (its 4th
        split, as ``update`` draws it)."""
        eval_key = jax.random.split(key, 4)[3]
        act = lambda _, obs: networks.greedy(state.params, obs)  # noqa: E731
        ret = evaluate(eval_key, act, *evaluation, config.eval_episodes)
        return {"eval_return": jnp.asarray(ret, jnp.float32)}

    return Trainer(
        init=init,
        update=update,
        num_iterations=num_iterations,
        evaluate=evaluate_greedy if evaluation is not None else None,
        eval_every=config.eval_every if evaluation is not None else 0,
    )
