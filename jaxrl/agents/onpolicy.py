"""The loop every on-policy agent shares: collect a rollout, estimate advantages,
take gradient steps.

One iteration (one call of :attr:`Trainer.update`) of every agent here is

1. **Collect** ``num_steps`` steps from ``num_envs`` environments (``lax.scan``
   over time) with the current stochastic policy, recording a
   :class:`Transition` per step, ``[T, B]`` with ``T = num_steps`` and
   ``B = num_envs``.
2. **Read the critic** on the observations left, ``V(s_t)`` (returned by
   ``act`` from the forward pass that chose the action), and on the
   observations reached, ``V(s'_t)`` with ``s'_t`` = ``VecStep.final_obs`` (the
   state the step actually reached, not the reset observation that auto-reset
   puts in its place). Where the episode went on, ``s'_t = s_{t+1}`` and its
   value is already known; only the rollout's last step and the truncated
   steps need the critic again (passes over ``B`` observations each).
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
   schedule, constant within an iteration), injected into the optimiser
   state (``optax.inject_hyperparams``) at the start of the iteration.
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

**Networks and the agent contract.** The networks
(:mod:`jaxrl.agents.actor_critic`: separate actor and critic MLPs, or a
shared CNN/MLP torso with an optional GRU core, ``Config.gru_size``) act
through ``act(key, params, actor_state, obs) -> (action, actor_state,
extras)``. The loop resets the actor state where an episode starts
(``first``: the previous step ended an episode, or was an invalid step) and
stores ``extras`` (the log-probability and ``V(s_t)``) with the step. A recurrent
network's minibatches are whole environments' rollouts ``[T, B / num_minibatches]`` (the
time axis kept, re-run from the actor state the rollout started from); a feed-forward
network's are shuffled samples ``[N]``.

**The agent's part** is a **per-sample** loss ``loss(hparams, LossInputs)
-> (loss, {name: scalar})`` on unbatched inputs; the loop vmaps it over the
minibatch, averages it over the valid samples
(:func:`jaxrl.agents.batch_ops.mean_loss`) and takes the optimiser step.
An agent module (:mod:`jaxrl.agents.ppo`, :mod:`~jaxrl.agents.a2c`,
:mod:`~jaxrl.agents.reinforce`) subclasses :class:`Config`, defines its
``HParams`` (which must carry ``lr``, ``gamma`` and ``max_grad_norm``) and
calls :func:`make_on_policy_train` with its loss.
"""

import dataclasses
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from envs.vector import VecEnv, eval_env, make_vec
from jaxrl.agents.actor_critic import Networks, make_networks
from jaxrl.agents.batch_ops import compute_advantages, mean_loss, standardize
from jaxrl.agents.common import EpisodeStats, evaluate, mean_or_nan
from jaxrl.nets import TORSOS
from jaxrl.types import Trainer

__all__ = [
    "ACTIVATIONS",
    "OPTIMIZERS",
    "Config",
    "LossFn",
    "LossInputs",
    "Networks",
    "OnPolicyState",
    "Transition",
    "compute_advantages",
    "make_networks",
    "make_on_policy_train",
    "mean_loss",
    "next_values",
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
        hidden_sizes: hidden layer widths of the actor and of the critic (of
            the shared MLP torso with ``gru_size > 0``).
        activation: ``"tanh"`` or ``"relu"``.
        torso: ``"mlp"``, ``"nature_cnn"`` (Atari ``[C, H, W]`` uint8) or
            ``"minatar_cnn"`` (``[10, 10, C]``); a CNN is one torso shared
            by the policy and value heads.
        gru_size: width of a GRU core after the torso, shared by the policy
            and value heads (0: feed-forward). Recurrent minibatches are whole
            environments, so ``num_minibatches`` must divide ``num_envs``.
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
    torso: str = "mlp"
    gru_size: int = 0
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
        fix("gru_size", _as_int("gru_size", self.gru_size, 0))
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
        if self.torso not in TORSOS:
            raise ValueError(
                f"torso={self.torso!r} is unknown; allowed: {', '.join(TORSOS)}"
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
        if self.gru_size and self.num_envs % self.num_minibatches:
            raise ValueError(
                f"num_minibatches={self.num_minibatches} must divide num_envs="
                f"{self.num_envs} with gru_size={self.gru_size}: a recurrent "
                "policy's minibatches are whole environments' rollouts"
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
    """One step of the rollout; stacked by the scan into ``[T, B]``.

    Attributes:
        obs: the observation acted on, ``s_t``.
        first: ``s_t`` starts an episode (the actor state was reset for it).
        action: the action sampled (unclipped for a Gaussian policy).
        reward: ``r_t``.
        terminated: the episode ended in a terminal state after this step.
        truncated: the episode was cut (time limit) after this step.
        final_obs: the observation the step reached, ``s'_t`` (the next
            ``obs`` unless the episode ended and auto-reset replaced it).
        valid: False for a step to learn nothing from (EnvPool's delayed
            reset; see the module docstring).
        extras: what ``act`` returned beside the action:
            ``{"log_prob": log pi_old(a_t|s_t), "value": V_old(s_t)}``.
    """

    obs: jax.Array
    first: jax.Array
    action: jax.Array
    reward: jax.Array
    terminated: jax.Array
    truncated: jax.Array
    final_obs: jax.Array
    valid: jax.Array
    extras: dict[str, jax.Array]


class LossInputs(NamedTuple):
    """One sample as an agent's per-sample loss sees it (scalar leaves).

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
"""``(hparams, one sample) -> (loss, {name: scalar})``."""


@struct.dataclass
class OnPolicyState:
    """The train state of an on-policy run.

    Attributes:
        params: network parameters (:meth:`Networks.init`).
        opt_state: the optimiser's state.
        env_state: the ``num_envs`` environment states.
        obs: the observations to act on next, ``[B, ...]``.
        first: bool ``[B]``, ``obs`` starts an episode.
        actor_state: the actor state to act with next (``()`` feed-forward).
        episode_stats: returns of the episodes in progress.
        key: PRNG key for the next iteration.
        iteration: iterations done so far, int32.
        hparams: the run's hyperparameters (traced floats).
    """

    params: Any
    opt_state: Any
    env_state: Any
    obs: jax.Array
    first: jax.Array
    actor_state: Any
    episode_stats: EpisodeStats
    key: jax.Array
    iteration: jax.Array
    hparams: Any


def require_one_update(name: str, config: Config) -> None:
    """Refuse several epochs or minibatches for a one-step-per-rollout agent."""
    if config.update_epochs != 1 or config.num_minibatches != 1:
        raise ValueError(
            f"{name} takes one gradient step per rollout: update_epochs="
            f"{config.update_epochs} and num_minibatches={config.num_minibatches} "
            "must both be 1 (use ppo for several epochs or minibatches)"
        )


# ---------------------------------------------------------------- the loop


def _transform(config: Config, max_grad_norm: jax.Array):
    """Global-norm clipping then Adam/RMSProp with the learning rate injected
    (``optax.inject_hyperparams``, as the off-policy agents do): the rate is
    an array in the optimiser state, traced (a sweep vmaps it) and set each
    iteration by :func:`_with_lr` (the annealed schedule)."""
    if config.optimizer == "adam":
        opt = optax.inject_hyperparams(optax.adam)(learning_rate=0.0, eps=1e-5)
    else:
        opt = optax.inject_hyperparams(optax.rmsprop)(
            learning_rate=0.0, decay=0.99, eps=1e-5
        )
    return optax.chain(optax.clip_by_global_norm(max_grad_norm), opt)


def _with_lr(opt_state: Any, lr: jax.Array) -> Any:
    """``opt_state`` with its injected learning rate set to ``lr``."""
    return optax.tree_utils.tree_set(opt_state, learning_rate=jnp.float32(lr))


def next_values(
    value_after: Callable[[Any, jax.Array], jax.Array],
    values: jax.Array,
    truncated: jax.Array,
    final_obs: jax.Array,
    states: Any,
    last_state: Any,
) -> jax.Array:
    """``V(s'_t)`` ``[T, B]``, the values GAE bootstraps from, without a second
    pass of the critic over the rollout.

    Where the episode went on, ``s'_t = s_{t+1}`` and its value is the next
    step's ``V(s_{t+1})``, known from acting; after the rollout's last step it
    takes one pass over ``B`` observations. A truncated step's final
    observation is not the next one (auto-reset replaced it): those get passes
    of ``B`` observations at a time, as many as the truncations need (under
    ``vmap``, as many as the run with the most truncations needs; usually
    none or one). A terminated step's ``V(s'_t)`` is multiplied by 0 in GAE;
    it is the next step's value, any finite number.

    Args:
        value_after: ``(actor_state [N, ...], obs [N, ...]) -> V [N]``, the
            critic on observations reached, each with the actor state after
            the step that reached it (:meth:`Networks.value_after`).
        values: ``V(s_t)`` ``[T, B]`` from acting.
        truncated: bool ``[T, B]``.
        final_obs: ``s'_t`` ``[T, B, ...]``.
        states: the actor states after each step, ``[T, B, ...]`` (``()``
            feed-forward).
        last_state: the actor state after the last step, ``[B, ...]``.
    """
    num_steps, num_envs = values.shape
    v_last = value_after(last_state, final_obs[-1])
    v_next = jnp.concatenate([values[1:], v_last[None]])
    flat = lambda x: x.reshape((num_steps * num_envs,) + x.shape[2:])  # noqa: E731
    cut, obs, states = flat(truncated), flat(final_obs), jax.tree.map(flat, states)
    order = jnp.argsort(~cut, stable=True)  # the truncated steps first
    passes = (cut.sum() + num_envs - 1) // num_envs

    def one_pass(i, v_final):
        idx = jax.lax.dynamic_slice(order, (i * num_envs,), (num_envs,))
        v = value_after(jax.tree.map(lambda x: x[idx], states), obs[idx])
        return v_final.at[idx].set(v)

    v_final = jax.lax.fori_loop(0, passes, one_pass, jnp.zeros_like(cut, values.dtype))
    return jnp.where(truncated, v_final.reshape(values.shape), v_next)


def make_on_policy_train(
    config: Config,
    env: Any,
    env_params: Any,
    loss_fn: LossFn,
    gae_lambda: Callable[[Any], jax.Array],
) -> Trainer:
    """Build an on-policy run around an agent's per-sample loss.

    Args:
        config: the static settings.
        env, env_params: a gymnax environment, or an adapter with
            ``make_vec`` (EnvPool, :mod:`envs.envpool_env`), with a
            ``Discrete`` or 1-D ``Box`` action space. Greedy evaluation runs
            on :func:`envs.vector.eval_env` (for EnvPool the gymnax twin; none
            without one: ``eval_return`` stays NaN).
        loss_fn: ``(hparams, LossInputs) -> (loss, {name: scalar})`` for one
            sample (scalar leaves); the loop averages it over the valid
            samples of each minibatch (:func:`mean_loss`).
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
    num_envs, num_steps = config.num_envs, config.num_steps

    def init(key: jax.Array, hparams: Any) -> OnPolicyState:
        hparams = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), hparams)
        key, net_key, reset_key = jax.random.split(key, 3)
        params = networks.init(net_key)
        opt_state = _transform(config, hparams.max_grad_norm).init(params)
        opt_state = _with_lr(opt_state, hparams.lr)
        obs, env_state = vec.reset(reset_key)
        return OnPolicyState(
            params=params,
            opt_state=opt_state,
            env_state=env_state,
            obs=obs,
            first=jnp.ones(num_envs, bool),
            actor_state=networks.initial_state((num_envs,)),
            episode_stats=EpisodeStats.zeros(num_envs),
            key=key,
            iteration=jnp.int32(0),
            hparams=hparams,
        )

    def rollout(key, state: OnPolicyState):
        params = state.params

        def step(carry, key):
            env_state, obs, first, actor_state, stats = carry
            act_key, step_key = jax.random.split(key)
            actor_state = networks.reset(actor_state, first)
            action, actor_state, extras = networks.act(
                act_key, params, actor_state, obs
            )
            out = vec.step(step_key, env_state, networks.to_env(action))
            stats, finished, count = stats.track(out)
            transition = Transition(
                obs=obs,
                first=first,
                action=action,
                reward=out.reward,
                terminated=out.terminated,
                truncated=out.truncated,
                final_obs=out.final_obs,
                valid=out.valid,
                extras=extras,
            )
            # The next observation starts an episode after an episode's end
            # and after an invalid step (EnvPool's reset step).
            next_first = out.terminated | out.truncated | ~out.valid
            carry = (out.state, out.obs, next_first, actor_state, stats)
            # A recurrent critic reads a truncated episode's final observation
            # with the state after the step (see ``update``).
            after = actor_state if networks.recurrent else ()
            return carry, (transition, finished, count, after)

        carry = (
            state.env_state,
            state.obs,
            state.first,
            state.actor_state,
            state.episode_stats,
        )
        keys = jax.random.split(key, num_steps)
        carry, (traj, finished, count, states) = jax.lax.scan(step, carry, keys)
        return carry, traj, states, mean_or_nan(finished.sum(), count.sum())

    def loss_of_params(params, hp, mb):
        if networks.recurrent:  # mb leaves [T, b]: re-run from the start state
            policy, value, _ = networks.unroll(
                params, mb["actor_state"], mb["obs"], mb["first"]
            )
            mb = jax.tree.map(
                lambda x: x.reshape((-1,) + x.shape[2:]),
                {k: v for k, v in mb.items() if k != "actor_state"},
            )
            value = value.reshape(-1)
            policy = jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:]), policy)
        else:  # mb leaves [N]
            policy, value, _ = networks.unroll(params, (), mb["obs"], mb["first"])
        log_prob, entropy = networks.log_prob_entropy(policy, mb["action"])
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
        loss, aux = mean_loss(loss_fn, hp, inputs, valid)
        return loss, {"loss": loss, **aux}

    grad_fn = jax.grad(loss_of_params, has_aux=True)

    def minibatches(key, batch, actor_state):
        """``num_minibatches`` shuffled minibatches, stacked on a new axis 0:
        samples ``[M, N / M]`` (feed-forward) or environments ``[M, T, B / M]``
        with their start states (recurrent)."""
        m = config.num_minibatches
        if not networks.recurrent:
            flat = jax.tree.map(
                lambda x: x.reshape((config.batch_size,) + x.shape[2:]), batch
            )
            if m == 1:
                return jax.tree.map(lambda x: x[None], flat)
            perm = jax.random.permutation(key, config.batch_size)
            return jax.tree.map(
                lambda x: x[perm].reshape((m, config.minibatch_size) + x.shape[1:]),
                flat,
            )
        perm = jax.random.permutation(key, num_envs)
        size = num_envs // m

        def split_envs(x, axis):
            x = jnp.take(x, perm, axis=axis)
            x = x.reshape(x.shape[:axis] + (m, size) + x.shape[axis + 1 :])
            return jnp.moveaxis(x, axis, 0)

        out = jax.tree.map(lambda x: split_envs(x, 1), batch)
        out["actor_state"] = jax.tree.map(lambda x: split_envs(x, 0), actor_state)
        return out

    def optimise(key, params, opt_state, hp, lr, batch, actor_state):
        tx = _transform(config, hp.max_grad_norm)
        opt_state = _with_lr(opt_state, lr)

        def minibatch_step(carry, mb):
            params, opt_state = carry
            grads, aux = grad_fn(params, hp, mb)
            updates, opt_state = tx.update(grads, opt_state, params)
            params = optax.apply_updates(params, updates)
            return (params, opt_state), aux

        def epoch(carry, key):
            return jax.lax.scan(
                minibatch_step, carry, minibatches(key, batch, actor_state)
            )

        keys = jax.random.split(key, config.update_epochs)
        (params, opt_state), aux = jax.lax.scan(epoch, (params, opt_state), keys)
        return params, opt_state, jax.tree.map(jnp.mean, aux)

    def update(state: OnPolicyState) -> tuple[OnPolicyState, dict[str, jax.Array]]:
        hp = state.hparams
        key, rollout_key, update_key, _ = jax.random.split(state.key, 4)
        carry, traj, states, train_return = rollout(rollout_key, state)
        env_state, obs, first, actor_state, stats = carry
        v_tm1 = traj.extras["value"]  # V(s_t), from the forward pass that acted
        v_t = next_values(
            lambda s, o: networks.value_after(state.params, s, o),
            v_tm1,
            traj.truncated,
            traj.final_obs,
            states,
            actor_state,
        )
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
            "first": traj.first,
            "action": traj.action,
            "log_prob": traj.extras["log_prob"],
            "value": v_tm1,
            "advantage": advantages,
            "target": targets,
        }
        if masked:
            # Invalid samples weigh 0; give them harmless finite values too.
            batch["valid"] = traj.valid
            batch["advantage"] = jnp.where(traj.valid, advantages, 0.0)
            batch["target"] = jnp.where(traj.valid, targets, v_tm1)
        lr = hp.lr
        if config.anneal_lr:
            lr = lr * (1.0 - state.iteration.astype(jnp.float32) / num_iterations)
        params, opt_state, losses = optimise(
            update_key, state.params, state.opt_state, hp, lr, batch, state.actor_state
        )
        iteration = state.iteration + 1
        state = state.replace(
            params=params,
            opt_state=opt_state,
            env_state=env_state,
            obs=obs,
            first=first,
            actor_state=actor_state,
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

        def act(key, actor_state, obs):
            return networks.greedy(key, state.params, actor_state, obs)

        ret = evaluate(
            eval_key,
            act,
            *evaluation,
            config.eval_episodes,
            actor_state=networks.initial_state((config.eval_episodes,)),
        )
        return {"eval_return": jnp.asarray(ret, jnp.float32)}

    return Trainer(
        init=init,
        update=update,
        num_iterations=num_iterations,
        evaluate=evaluate_greedy if evaluation is not None else None,
        eval_every=config.eval_every if evaluation is not None else 0,
        one_device_per_process=getattr(vec, "one_device_per_process", False),
    )
