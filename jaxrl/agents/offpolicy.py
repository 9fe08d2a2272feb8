"""The loop every off-policy agent (DQN, SAC, SAC-discrete) shares.

One Trainer iteration is one act-then-learn cycle (Mnih et al., 2015,
algorithm 1; Haarnoja et al., 2018, algorithm 1):

1. **Act**: step ``num_envs`` environments ``train_freq`` times with the
   agent's behaviour policy (a ``lax.scan``), adding each step of every
   environment to the replay buffer, a :class:`jaxrl.buffers.Buffer` (by
   default :func:`jaxrl.buffers.uniform`: an env-major store from which the
   next observation of a step is its neighbour's observation).
2. **Learn**: once ``env_steps >= learning_starts`` (and the buffer holds a
   batch), take ``gradient_steps`` gradient steps on minibatches of
   ``batch_size`` replayed transitions (another ``lax.scan``); after every
   ``target_update_every``-th gradient step move the target networks towards
   the online ones by Polyak averaging,

   ``theta' <- tau * theta + (1 - tau) * theta'``,

   a hard copy when ``tau = 1`` (DQN, Mnih et al., 2015) and a slow average
   for small ``tau`` (Lillicrap et al., 2016; SAC uses ``tau = 0.005``).
3. **Evaluate** every ``eval_every`` iterations: the greedy/deterministic
   policy on ``eval_episodes`` fresh episodes
   (:func:`jaxrl.agents.common.evaluate`).

**Invalid steps.** On an environment batch that marks steps ``VecStep.valid
= False`` (EnvPool's delayed auto-reset: the step after an episode end
ignores the action and returns the reset observation), the buffer also stores
``valid``, the agents weight such samples by 0 in every loss (critic, actor,
temperature) and in their reported means, and the step is no step of the next
episode's length. Greedy evaluation runs on :func:`envs.vector.eval_env` (for
EnvPool the task's gymnax twin; none without one: ``eval_return`` stays NaN).

A replayed :class:`jaxrl.buffers.Transition` carries ``discount`` (``gamma``,
0 only where the episode terminated) and the observation the step actually
reached as its next observation (``VecStep.final_obs`` for gymnax batches,
the next slot for EnvPool's delayed reset), so an episode cut by a time limit
bootstraps, ``y = r + gamma * V(s')``, and only a true termination stops it,
``y = r``.

An agent plugs in through :class:`Agent`, the contract of both families:
its parameters and optimisers, ``act(key, params, actor_state, obs, hparams,
env_steps) -> (action, actor_state, extras)`` (the actor state reset where an
episode starts; the extras stored with the step), a greedy policy, and a
**per-sample** :class:`Loss` for each trained network. The loop is everything
else: it vmaps each loss over the replayed batch, averages it over the valid
samples, takes the optimiser step and updates the targets; the agent modules
hold only their networks, losses and defaults.

The schedule is structure, not a gate (:class:`~jaxrl.types.Trainer`): the
iterations before learning starts are a warm-up scan that only acts, and each
evaluation follows a scan of ``eval_every`` iterations. Under ``jax.vmap`` over
seeds a ``lax.cond`` on the iteration would run both branches every time.
"""

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct
from gymnax.environments import spaces

from envs.vector import DelayedResetVec, VecEnv, eval_env, make_vec
from jaxrl import buffers
from jaxrl.agents import common
from jaxrl.agents.batch_ops import mean_loss
from jaxrl.types import Trainer

__all__ = [
    "Agent",
    "Learner",
    "Loss",
    "OffPolicyConfig",
    "OffPolicyState",
    "Transition",
    "action_space_error",
    "adam",
    "apply_gradients",
    "describe_space",
    "flatten_obs",
    "make_trainer",
    "polyak_update",
]


# --- Configuration ------------------------------------------------------------


def _is_int(x: Any) -> bool:
    return isinstance(x, int | np.integer) and not isinstance(x, bool)


@dataclasses.dataclass(frozen=True)
class OffPolicyConfig:
    """Static, shape-setting settings of the shared off-policy loop.

    Agents subclass it to change the defaults and add their own fields.

    Attributes:
        num_envs: environments stepped in parallel.
        total_timesteps: environment steps in a run (all envs together); the
            run has ``total_timesteps // (num_envs * train_freq)`` iterations.
        buffer_size: replay capacity in transitions, ``>= batch_size`` and
            ``>= num_envs * train_freq`` (one iteration's transitions).
        batch_size: transitions per gradient step.
        learning_starts: environment steps before the first gradient step
            (``<=`` the run's total steps).
        train_freq: steps per environment between learning phases.
        gradient_steps: gradient steps per learning phase.
        target_update_every: gradient steps between target-network updates
            (each a Polyak step with ``hparams.tau``).
        hidden_sizes: widths of the hidden layers of every network.
        eval_every: iterations between greedy evaluations (0: never).
        eval_episodes: episodes per evaluation, run in parallel.
        frame_stack: frames per observation (axis 0, EnvPool's ``[K, H, W]``)
            of which the replay stores only the newest, rebuilding the stack
            at sample time (:func:`jaxrl.buffers.uniform`); 1 stores
            observations whole. ``4`` for Atari's 4-frame stacks: about 7 KB a
            transition instead of 56 KB.
    """

    num_envs: int = 1
    total_timesteps: int = 100_000
    buffer_size: int = 100_000
    batch_size: int = 256
    learning_starts: int = 1_000
    train_freq: int = 1
    gradient_steps: int = 1
    target_update_every: int = 1
    hidden_sizes: Sequence[int] = (256, 256)
    eval_every: int = 100
    eval_episodes: int = 10
    frame_stack: int = 1

    def __post_init__(self):
        if isinstance(self.hidden_sizes, list | tuple):
            object.__setattr__(self, "hidden_sizes", tuple(self.hidden_sizes))
        positive = (
            "num_envs",
            "total_timesteps",
            "buffer_size",
            "batch_size",
            "train_freq",
            "gradient_steps",
            "target_update_every",
            "eval_episodes",
            "frame_stack",
        )
        for name in positive:
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise ValueError(f"{name}={value!r} must be an integer >= 1")
        for name in ("learning_starts", "eval_every"):
            value = getattr(self, name)
            if not _is_int(value) or value < 0:
                raise ValueError(f"{name}={value!r} must be an integer >= 0")
        if not isinstance(self.hidden_sizes, tuple) or not all(
            _is_int(h) and h >= 1 for h in self.hidden_sizes
        ):
            raise ValueError(
                f"hidden_sizes={self.hidden_sizes!r} must be a sequence of "
                "integers >= 1, e.g. (64, 64)"
            )
        per_iteration = self.steps_per_iteration
        if self.total_timesteps < per_iteration:
            raise ValueError(
                f"total_timesteps={self.total_timesteps} is less than one "
                f"iteration, num_envs * train_freq = {self.num_envs} * "
                f"{self.train_freq} = {per_iteration}"
            )
        if self.batch_size > self.buffer_size:
            raise ValueError(
                f"batch_size={self.batch_size} is larger than "
                f"buffer_size={self.buffer_size}; it must be <= buffer_size"
            )
        if self.buffer_size // self.num_envs < 2:
            raise ValueError(
                f"buffer_size={self.buffer_size} holds "
                f"{self.buffer_size // self.num_envs} step(s) per environment "
                f"(num_envs={self.num_envs}); it needs at least 2 (a step and "
                f"the next), e.g. buffer_size={2 * self.num_envs}"
            )
        if per_iteration > self.buffer_size:
            raise ValueError(
                f"buffer_size={self.buffer_size} cannot hold one iteration's "
                f"num_envs * train_freq = {per_iteration} transitions"
            )
        total = self.num_iterations * per_iteration
        if self.learning_starts > total:
            raise ValueError(
                f"learning_starts={self.learning_starts} is more than the "
                f"{total} environment steps of the run (total_timesteps="
                f"{self.total_timesteps} rounded down to a multiple of num_envs "
                f"* train_freq = {per_iteration}): it would never learn"
            )

    @property
    def steps_per_iteration(self) -> int:
        """Environment steps per iteration, ``num_envs * train_freq``."""
        return self.num_envs * self.train_freq

    @property
    def num_iterations(self) -> int:
        """``total_timesteps // (num_envs * train_freq)``."""
        return self.total_timesteps // self.steps_per_iteration


# --- Records and states -------------------------------------------------------


Transition = buffers.Transition  # what ``Agent.learn`` gets: see jaxrl.buffers


@struct.dataclass
class Learner:
    """What an agent learns.

    Attributes:
        params: online parameters by name, e.g. ``{"q": ...}`` or
            ``{"actor": ..., "critic": ..., "log_alpha": ...}``.
        target_params: slow copies of some of them, under the same names,
            e.g. ``{"q": ...}`` or ``{"critic": ...}``; the loop updates them.
        opt_state: optimiser states by name.
        stats: state a batched :class:`Loss` keeps that is no parameter (a
            running statistic, as flax's ``batch_stats``; e.g. DreamerV3's
            return scale), by name; empty for most agents.
    """

    params: dict[str, Any]
    target_params: dict[str, Any]
    opt_state: dict[str, Any]
    stats: dict[str, Any] = struct.field(default_factory=dict)


@struct.dataclass
class OffPolicyState:
    """The state of an off-policy run.

    Attributes:
        learner: the agent's :class:`Learner`.
        buffer: the replay buffer's state (of :class:`jaxrl.buffers.Timestep`).
        obs: the observations to act on next, ``[num_envs, ...]``.
        first: bool ``[num_envs]``, ``obs`` starts an episode.
        actor_state: the behaviour policy's state (``()`` for a feed-forward
            agent), reset where an episode starts.
        env_state: the environments' states, ``[num_envs, ...]``.
        stats: returns of the episodes in progress.
        key: PRNG key for the next iteration.
        env_steps: environment steps so far (all envs), int32.
        num_updates: gradient steps so far, int32.
        iteration: iterations so far, int32.
        hparams: the run's hyperparameters (traced).
    """

    learner: Learner
    buffer: Any
    obs: Any
    first: jax.Array
    actor_state: Any
    env_state: Any
    stats: common.EpisodeStats
    key: jax.Array
    env_steps: jax.Array
    num_updates: jax.Array
    iteration: jax.Array
    hparams: Any


class Loss(NamedTuple):
    """One network's per-sample loss; an agent's losses are taken in order.

    Attributes:
        name: the entry of ``params`` it differentiates (and whose optimiser
            steps).
        fn: ``(params, learner, hparams, key, sample) -> (loss, {name:
            scalar})`` on **one** replayed sample (unbatched leaves of a
            :class:`jaxrl.buffers.Transition`, or of whatever the buffer
            samples), ``params`` being ``learner.params[name]``; ``learner``
            holds the updates of the losses before it in the step, and ``key``
            is the sample's own key. The loop vmaps it over the batch, averages
            loss and metrics over the valid samples
            (:func:`jaxrl.agents.batch_ops.mean_loss`) and takes the optimiser
            step.
        metric: the name the averaged loss is reported under.
        batched: ``fn`` takes the whole batch instead: ``(params, learner,
            hparams, keys [B], batch [B, ...]) -> (loss, {name: scalar},
            stats)``, already averaged (and masked) by the agent, for a loss
            that needs batch-wide quantities (DreamerV3's return percentiles).
            ``stats`` (a dict, gradients stopped) replaces those entries of
            ``learner.stats`` after the step.
    """

    name: str
    fn: Callable[..., tuple[jax.Array, dict[str, jax.Array]]]
    metric: str = "loss"
    batched: bool = False


@dataclasses.dataclass(frozen=True)
class Agent:
    """The pieces that make the shared loop a particular algorithm.

    The contract is the on-policy one (:class:`jaxrl.agents.actor_critic.Networks`):
    networks that act with an actor state, and per-sample losses; the loop
    does the masking, the means and the optimiser steps.

    Attributes:
        init: ``(key, hparams) -> params``, the online parameters by name
            (e.g. ``{"q": ...}`` or ``{"actor": ..., "critic": ...,
            "log_alpha": ...}``).
        optimisers: ``hparams -> {name: optax.GradientTransformation}``, one
            per differentiated entry of ``params``; a traced learning rate goes
            through ``optax.inject_hyperparams`` (see :func:`adam`).
        act: the behaviour policy ``(key, params, actor_state, obs [B, ...],
            hparams, env_steps) -> (actions [B, ...], actor_state, extras)``;
            ``hparams`` and ``env_steps`` drive schedules (epsilon) and random
            warm-up. The actions and ``extras`` (``None`` for none) are stored
            in the buffer.
        greedy: the greedy/deterministic policy ``(key, params, actor_state,
            obs [B, ...]) -> (actions as the env takes them, actor_state)``.
        losses: the per-sample :class:`Loss` of each trained entry, in order.
        example_action: one action as ``act`` returns it, without the batch
            axis (sets the buffer's action shape and dtype).
        targets: names of ``params`` with slow target copies (the loop
            Polyak-averages them after every ``target_update_every``-th
            gradient step).
        initial_state: ``batch_shape -> actor_state`` (``()`` for a
            feed-forward agent).
        reset: ``(actor_state, first [B]) -> actor_state``, the state where an
            episode starts (after a done or an invalid EnvPool step).
        example_extras: one step's ``extras`` without the batch axis (``None``).
        to_env: maps actions from ``act`` to what the env takes (e.g.
            ``[-1, 1]`` to the Box bounds); identity by default.
        schedules: ``(hparams, env_steps) -> {name: scalar}``, metrics
            reported every iteration (e.g. the exploration epsilon).
        init_stats: ``hparams -> {name: array}``, the initial
            ``Learner.stats`` (those a batched loss updates).
    """

    init: Callable[[jax.Array, Any], dict[str, Any]]
    optimisers: Callable[[Any], dict[str, optax.GradientTransformation]]
    act: Callable[..., tuple[jax.Array, Any, Any]]
    greedy: Callable[..., tuple[jax.Array, Any]]
    losses: tuple[Loss, ...]
    example_action: jax.Array
    targets: tuple[str, ...] = ()
    initial_state: Callable[[tuple[int, ...]], Any] = lambda batch_shape: ()
    reset: Callable[[Any, jax.Array], Any] = lambda actor_state, first: actor_state
    example_extras: Any = None
    to_env: Callable[[jax.Array], jax.Array] = lambda action: action
    schedules: Callable[[Any, jax.Array], dict[str, jax.Array]] | None = None
    init_stats: Callable[[Any], dict[str, Any]] = lambda hparams: {}


# --- Helpers for agents -------------------------------------------------------


def adam(
    lr: jax.typing.ArrayLike, max_grad_norm: float | None = None, eps: float = 1e-8
):
    """Adam (Kingma & Ba, 2015) with a traced learning rate.

    ``optax.inject_hyperparams`` stores ``lr`` in the optimiser state, so the
    learning rate is an array (it can come from a vmapped ``HParams``) and
    the state's value is the one used by ``update``. ``max_grad_norm`` (static)
    clips the global gradient norm first (``None`` or ``inf``: no clipping);
    ``eps`` (static) is Adam's epsilon (optax's default 1e-8; Dopamine's DQN
    uses 1.5e-4).
    """
    opt = optax.inject_hyperparams(optax.adam)(learning_rate=lr, eps=eps)
    if max_grad_norm is not None and math.isfinite(max_grad_norm):
        opt = optax.chain(optax.clip_by_global_norm(max_grad_norm), opt)
    return opt


def apply_gradients(
    opt: optax.GradientTransformation, grads: Any, opt_state: Any, params: Any
) -> tuple[Any, Any]:
    """One optimiser step; returns ``(params, opt_state)``."""
    updates, opt_state = opt.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state


def polyak_update(online: Any, target: Any, tau: jax.typing.ArrayLike) -> Any:
    """``tau * online + (1 - tau) * target``, leafwise (``tau = 1``: a copy)."""
    return jax.tree.map(lambda o, t: tau * o + (1.0 - tau) * t, online, target)


def flatten_obs(obs: jax.Array, obs_shape: Sequence[int]) -> jax.Array:
    """``[..., *obs_shape] -> [..., prod(obs_shape)]`` for an MLP torso."""
    obs = jnp.asarray(obs)
    batch = obs.shape[: obs.ndim - len(obs_shape)]
    return obs.reshape(batch + (math.prod(obs_shape),)).astype(jnp.float32)


def describe_space(space: Any) -> str:
    """``Discrete(2)`` or ``Box(low=-2.0, high=2.0, shape=(1,))``."""
    if isinstance(space, spaces.Discrete):
        return f"Discrete({space.n})"
    if isinstance(space, spaces.Box):
        low, high = np.asarray(space.low), np.asarray(space.high)
        low = low.item() if low.size == 1 else low.tolist()
        high = high.item() if high.size == 1 else high.tolist()
        return f"Box(low={low}, high={high}, shape={tuple(space.shape)})"
    return type(space).__name__


def action_space_error(algo: str, want: str, env: Any, space: Any, use: str) -> str:
    """``"sac needs a Box action space; CartPole-v1 has Discrete(2): use
    sac_discrete"``: the message for an agent given the wrong action space."""
    name = getattr(env, "name", type(env).__name__)
    return (
        f"{algo} needs a {want} action space; {name} has {describe_space(space)}: "
        f"use {use}"
    )


def _nan_like(tree: Any) -> Any:
    return jax.tree.map(lambda s: jnp.full(s.shape, jnp.nan, s.dtype), tree)


# --- The loop -----------------------------------------------------------------


def make_trainer(
    config: OffPolicyConfig,
    env: Any,
    env_params: Any,
    agent: Agent,
    buffer: buffers.Buffer | None = None,
    delayed_reset: bool = False,
) -> Trainer:
    """The shared act-then-learn loop as a :class:`~jaxrl.types.Trainer`.

    Args:
        config: the static settings (an :class:`OffPolicyConfig`).
        env, env_params: a gymnax environment (auto-resetting, six-value step),
            or an adapter with ``make_vec`` (EnvPool, :mod:`envs.envpool_env`).
        agent: the algorithm's pieces.
        buffer: the replay; by default :func:`jaxrl.buffers.uniform` of
            ``buffer_size`` steps (rounded down to a multiple of
            ``num_envs``) sampling ``batch_size`` one-step transitions.
        delayed_reset: step a gymnax env batch as
            :class:`envs.vector.DelayedResetVec` (the last observation of each
            episode is a stored step, as with EnvPool); EnvPool already is.

    Returns:
        A Trainer whose state is an :class:`OffPolicyState` and whose metrics,
        each ``[num_iterations]``, are ``env_steps`` (cumulative), ``return``
        (mean return of the episodes that ended during the iteration, NaN if
        none), ``eval_return`` (NaN except every ``eval_every``-th iteration),
        ``replay_fill`` (the fraction of the replay's slots written, in
        ``[0, 1]``), the agent's ``schedules`` and its ``learn`` metrics
        (averaged over the iteration's gradient steps, NaN before learning starts).
    """
    vec = make_vec(env, env_params, config.num_envs)
    if delayed_reset and isinstance(vec, VecEnv):
        vec = DelayedResetVec(env, env_params, config.num_envs)
    # gymnax batches have no invalid steps: no valid leaf, plain means.
    masked = not isinstance(vec, VecEnv)
    evaluation = eval_env(env, env_params) if config.eval_every > 0 else None
    num_envs, train_freq = config.num_envs, config.train_freq
    batch_size, gradient_steps = config.batch_size, config.gradient_steps
    target_every, eval_every = config.target_update_every, config.eval_every
    if buffer is None:
        k = config.frame_stack
        obs_shape = tuple(vec.observation_space.shape)
        if k > 1 and (not obs_shape or obs_shape[0] != k):
            raise ValueError(
                f"frame_stack={k} needs observations stacked {k} deep on axis "
                f"0; {getattr(env, 'name', env)} gives {obs_shape} (an Atari "
                f"preset's stack_num sets it; frame_stack=1 stores them whole)"
            )
        if k > 1 and not masked:
            raise ValueError(
                f"frame_stack={k} needs an EnvPool task (its delayed reset keeps "
                "each episode's last frames); a gymnax batch resets in the same "
                "step: use frame_stack=1"
            )
        capacity = config.buffer_size // num_envs * num_envs
        buffer = buffers.uniform(capacity, num_envs, batch_size, frame_stack=k)

    def init(key: jax.Array, hparams: Any) -> OffPolicyState:
        key, learner_key, reset_key = jax.random.split(key, 3)
        params = agent.init(learner_key, hparams)
        optimisers = agent.optimisers(hparams)
        learner = Learner(
            params=params,
            target_params={name: params[name] for name in agent.targets},
            opt_state={n: opt.init(params[n]) for n, opt in optimisers.items()},
            stats=agent.init_stats(hparams),
        )
        obs, env_state = vec.reset(reset_key)
        example_obs = jax.tree.map(lambda x: x[0], obs)
        example = buffers.Timestep(
            obs=example_obs,
            action=jnp.asarray(agent.example_action),
            reward=jnp.zeros((), jnp.float32),
            terminated=jnp.zeros((), bool),
            truncated=jnp.zeros((), bool),
            valid=jnp.ones((), bool) if masked else None,
            final_obs=None if masked else example_obs,
            extras=agent.example_extras,
        )
        return OffPolicyState(
            learner=learner,
            buffer=buffer.init(example),
            obs=obs,
            first=jnp.ones(num_envs, bool),
            actor_state=agent.initial_state((num_envs,)),
            env_state=env_state,
            stats=common.EpisodeStats.zeros(num_envs),
            key=key,
            env_steps=jnp.zeros((), jnp.int32),
            num_updates=jnp.zeros((), jnp.int32),
            iteration=jnp.zeros((), jnp.int32),
            hparams=hparams,
        )

    def rollout(key, state: OffPolicyState):
        """``train_freq`` steps of every env, each added to the buffer."""
        params, hp = state.learner.params, state.hparams

        def step_fn(carry, step_key):
            obs, first, actor_state, env_state, stats, env_steps, memory = carry
            act_key, env_key = jax.random.split(step_key)
            actor_state = agent.reset(actor_state, first)
            action, actor_state, extras = agent.act(
                act_key, params, actor_state, obs, hp, env_steps
            )
            step = vec.step(env_key, env_state, agent.to_env(action))
            stats, finished, count = stats.track(step)
            memory = buffer.add(
                memory,
                buffers.Timestep(
                    obs=obs,
                    action=action,
                    reward=step.reward,
                    terminated=step.terminated,
                    truncated=step.truncated,
                    valid=step.valid if masked else None,
                    final_obs=None if masked else step.final_obs,
                    extras=extras,
                ),
            )
            next_first = step.terminated | step.truncated
            if masked:
                next_first = next_first | ~step.valid
            carry = (
                step.obs,
                next_first,
                actor_state,
                step.state,
                stats,
                env_steps + num_envs,
                memory,
            )
            return carry, (finished, count)

        carry = (
            state.obs,
            state.first,
            state.actor_state,
            state.env_state,
            state.stats,
            state.env_steps,
            state.buffer,
        )
        carry, (finished, count) = jax.lax.scan(
            step_fn, carry, jax.random.split(key, train_freq)
        )
        obs, first, actor_state, env_state, stats, env_steps, memory = carry
        ret = common.mean_or_nan(finished.sum(), count.sum())
        state = state.replace(
            obs=obs,
            first=first,
            actor_state=actor_state,
            env_state=env_state,
            stats=stats,
            env_steps=env_steps,
            buffer=memory,
        )
        return state, ret

    def gradient_step(key, learner: Learner, hp, batch):
        """Each of the agent's losses in turn: its per-sample value averaged
        over the valid samples, one optimiser step on its entry."""
        optimisers = agent.optimisers(hp)
        valid = getattr(batch, "valid", None)
        metrics = {}
        for loss, loss_key in zip(
            agent.losses, jax.random.split(key, len(agent.losses)), strict=True
        ):
            keys = jax.random.split(loss_key, jax.tree.leaves(batch)[0].shape[0])

            def batch_loss(params, learner=learner, loss=loss, keys=keys):
                if loss.batched:
                    value, aux, stats = loss.fn(params, learner, hp, keys, batch)
                    return value, (aux, stats)

                def one(hp, sample):
                    return loss.fn(params, learner, hp, *sample)

                value, aux = mean_loss(one, hp, (keys, batch), valid)
                return value, (aux, {})

            (value, (aux, stats)), grads = jax.value_and_grad(batch_loss, has_aux=True)(
                learner.params[loss.name]
            )
            params, opt_state = apply_gradients(
                optimisers[loss.name],
                grads,
                learner.opt_state[loss.name],
                learner.params[loss.name],
            )
            learner = learner.replace(
                params={**learner.params, loss.name: params},
                opt_state={**learner.opt_state, loss.name: opt_state},
                stats={**learner.stats, **jax.lax.stop_gradient(stats)},
            )
            metrics[loss.metric] = value
            metrics.update(aux)
        return learner, metrics

    def learn_phase(key, state: OffPolicyState):
        """``gradient_steps`` gradient and target updates, metrics averaged."""
        hp, memory = state.hparams, state.buffer

        def grad_step(carry, step_key):
            learner, num_updates = carry
            sample_key, update_key = jax.random.split(step_key)
            batch = buffer.sample(sample_key, memory, hp.gamma)
            learner, metrics = gradient_step(update_key, learner, hp, batch)
            num_updates = num_updates + 1
            tau = jnp.where(num_updates % target_every == 0, hp.tau, 0.0)
            target = {
                name: polyak_update(learner.params[name], old, tau)
                for name, old in learner.target_params.items()
            }
            return (learner.replace(target_params=target), num_updates), metrics

        (learner, num_updates), metrics = jax.lax.scan(
            grad_step,
            (state.learner, state.num_updates),
            jax.random.split(key, gradient_steps),
        )
        state = state.replace(learner=learner, num_updates=num_updates)
        return state, jax.tree.map(jnp.mean, metrics)

    def no_learning(state: OffPolicyState) -> dict[str, jax.Array]:
        """NaN in place of each learning metric (the warm-up)."""

        def one_step():
            key = jax.random.key(0)
            batch = buffer.sample(key, state.buffer, state.hparams.gamma)
            return gradient_step(key, state.learner, state.hparams, batch)[1]

        return _nan_like(jax.eval_shape(one_step))

    def iteration(state: OffPolicyState, learn: bool):
        key, rollout_key, learn_key, _ = jax.random.split(state.key, 4)
        state, ret = rollout(rollout_key, state)
        if learn:
            state, learn_metrics = learn_phase(learn_key, state)
        else:
            learn_metrics = no_learning(state)
        state = state.replace(key=key, iteration=state.iteration + 1)
        metrics = {"return": ret.astype(jnp.float32), "env_steps": state.env_steps}
        if isinstance(state.buffer, buffers.TrajectoryState):
            metrics["replay_fill"] = state.buffer.size / state.buffer.time
        if evaluation is None:
            metrics["eval_return"] = jnp.full((), jnp.nan, jnp.float32)
        if agent.schedules is not None:
            metrics.update(agent.schedules(state.hparams, state.env_steps))
        metrics.update(learn_metrics)
        return state, metrics

    def evaluate(key: jax.Array, state: OffPolicyState) -> dict[str, jax.Array]:
        """Greedy evaluation; ``key`` is the iteration's key (its 4th split)."""
        eval_env_, eval_params = evaluation
        eval_key = jax.random.split(key, 4)[3]

        def act(act_key, actor_state, obs):
            return agent.greedy(act_key, state.learner.params, actor_state, obs)

        ret = common.evaluate(
            eval_key,
            act,
            eval_env_,
            eval_params,
            config.eval_episodes,
            actor_state=agent.initial_state((config.eval_episodes,)),
        )
        return {"eval_return": ret.astype(jnp.float32)}

    # Learning starts once the buffer holds learning_starts steps and a batch
    # (after iteration i, 1-based, it holds i * steps_per_iteration) and each
    # env's ring can rebuild a transition (buffer.min_steps steps each).
    first = max(config.learning_starts, batch_size)
    first_iteration = max(
        -(-first // config.steps_per_iteration), -(-buffer.min_steps // train_freq)
    )
    warmup_iterations = min(config.num_iterations, first_iteration - 1)
    return Trainer(
        init=init,
        update=lambda state: iteration(state, learn=True),
        num_iterations=config.num_iterations,
        warmup=lambda state: iteration(state, learn=False),
        warmup_iterations=warmup_iterations,
        evaluate=evaluate if evaluation is not None else None,
        eval_every=eval_every if evaluation is not None else 0,
        one_device_per_process=getattr(vec, "one_device_per_process", False),
    )
