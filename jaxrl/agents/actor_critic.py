"""The actor-critic networks of the on-policy agents, behind the agent contract.

Two shapes, chosen by :class:`jaxrl.agents.onpolicy.Config`:

- **Separate MLPs** (``torso="mlp"``, ``gru_size=0``; PureJaxRL's and CleanRL's
  classic-control layout): an actor ``MLP -> policy head`` and a critic
  ``MLP -> value head``, each on the flattened observation.
- **A shared trunk** (a CNN torso, or a recurrent core): ``Torso`` (MLP, the
  Nature CNN or the MinAtar CNN, :class:`jaxrl.nets.Torso`), then, with
  ``gru_size > 0``, a GRU core (:class:`jaxrl.nets.GRUCore`), feeding both a
  policy head and a value head (CleanRL's Atari PPO; PureJaxRL's PPO-RNN).

The policy head follows the action space: :class:`~jaxrl.nets.CategoricalHead`
for ``spaces.Discrete``, :class:`~jaxrl.nets.GaussianHead` (state-independent
``log_std``) for a 1-D ``spaces.Box``. A Gaussian action is clipped to the box
only when the environment is stepped (:meth:`Networks.to_env`); its
log-probability is that of the unclipped sample, which is what the rollout
stores.

**The agent contract.** :meth:`Networks.act` is
``act(key, params, actor_state, obs) -> (action, actor_state, extras)``: the
actor state is the GRU carry ``[B, gru_size]`` (``()`` for a feed-forward
network), which the loop resets (:meth:`Networks.reset`) where an episode
starts; ``extras`` (``{"log_prob": [B], "value": [B]}``: ``log pi(a|s)`` and
``V(s)`` from the same forward pass) travel in the stored transition, so the update need
not run the critic over the rollout again. For learning, :meth:`Networks.unroll` re-runs
a stored rollout ``[T, B]`` from the actor state it started with, resetting where
``first`` holds, so a recurrent policy's log-probabilities are recomputed with the
memory it acted with.
"""

import dataclasses
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from gymnax.environments import spaces

from jaxrl import nets
from jaxrl.ops import (
    categorical_entropy,
    categorical_log_prob,
    gaussian_entropy,
    gaussian_log_prob,
)

__all__ = ["Networks", "make_networks", "over_batch"]


def _flatten_obs(obs: jax.Array, obs_ndim: int) -> jax.Array:
    """``[..., *obs_shape] -> [..., prod(obs_shape)]`` so an MLP can take it."""
    obs = jnp.asarray(obs, jnp.float32)
    if obs_ndim == 1:
        return obs
    lead = obs.shape[: obs.ndim - obs_ndim]
    return obs.reshape(lead + (-1,))


def _policy_head(num_actions: int | None, action_dim: int | None) -> nn.Module:
    if num_actions is not None:
        return nets.CategoricalHead(num_actions)
    return nets.GaussianHead(action_dim)


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
        return _policy_head(self.num_actions, self.action_dim)(x)


class _Critic(nn.Module):
    hidden_sizes: tuple[int, ...]
    activation: str
    obs_ndim: int

    @nn.compact
    def __call__(self, obs: jax.Array) -> jax.Array:
        x = _flatten_obs(obs, self.obs_ndim)
        x = nets.MLP(self.hidden_sizes, self.activation)(x)
        return nets.ValueHead()(x)


class _Trunk(nn.Module):
    """``(carry, obs [..., *obs_shape], reset [...]) -> (carry, policy, value)``
    through a shared torso and an optional GRU core (``gru_size > 0``; without
    it the carry passes through untouched)."""

    torso: str
    hidden_sizes: tuple[int, ...]
    activation: str
    obs_ndim: int
    num_actions: int | None
    action_dim: int | None
    gru_size: int

    @nn.compact
    def __call__(self, carry: Any, obs: jax.Array, reset: jax.Array):
        x = nets.Torso(self.torso, self.hidden_sizes, self.activation, self.obs_ndim)(
            obs
        )
        if self.gru_size:
            carry, x = nets.GRUCore(self.gru_size)(carry, x, reset)
        policy = _policy_head(self.num_actions, self.action_dim)(x)
        return carry, policy, nets.ValueHead()(x)


def over_batch(fn: Callable, *args: jax.Array) -> jax.Array:
    """Apply an unbatched op over the leading axes ``[...]`` of its arguments.

    The first argument (logits ``[..., A]`` or a Gaussian parameter
    ``[..., D]``) sets the leading shape; ``fn`` returns a scalar per element.
    """
    lead = args[0].shape[:-1]
    flat = [a.reshape((-1,) + a.shape[len(lead) :]) for a in args]
    return jax.vmap(fn)(*flat).reshape(lead)


@dataclasses.dataclass(frozen=True)
class Networks:
    """An on-policy agent's actor and critic as pure functions.

    Observations carry any leading batch shape ``[...]`` (``[B]``, ``[T, B]``)
    followed by the observation shape, except where a method says otherwise.

    Attributes:
        discrete: whether the action space is ``Discrete``.
        obs_shape: one observation's shape.
        separate: an actor MLP and a critic MLP (``{"actor", "critic"}``
            parameters) instead of one shared trunk (``{"trunk"}``).
        gru_size: width of the GRU core (0: feed-forward).
        action_low, action_high: the ``Box`` bounds (continuous only), ``[D]``.
    """

    modules: tuple[nn.Module, ...]
    discrete: bool
    obs_shape: tuple[int, ...]
    separate: bool
    gru_size: int = 0
    action_low: Any = None
    action_high: Any = None

    @property
    def recurrent(self) -> bool:
        return self.gru_size > 0

    # ------------------------------------------------------------ parameters

    def init(self, key: jax.Array) -> dict[str, Any]:
        """Parameters for one observation."""
        obs = jnp.zeros(self.obs_shape, jnp.float32)
        if self.separate:
            actor, critic = self.modules
            actor_key, critic_key = jax.random.split(key)
            return {
                "actor": actor.init(actor_key, obs),
                "critic": critic.init(critic_key, obs),
            }
        (trunk,) = self.modules
        return {"trunk": trunk.init(key, self.initial_state(()), obs, jnp.bool_(False))}

    def initial_state(self, batch_shape: tuple[int, ...]) -> Any:
        """The actor state an episode starts from: zeros ``[*batch_shape,
        gru_size]``, or ``()`` for a feed-forward network."""
        if not self.recurrent:
            return ()
        return jnp.zeros(tuple(batch_shape) + (self.gru_size,), jnp.float32)

    def reset(self, actor_state: Any, first: jax.Array) -> Any:
        """``actor_state`` with the initial state where ``first`` ``[B]`` holds."""
        return jax.tree.map(
            lambda s: jnp.where(first.reshape(first.shape + (1,) * (s.ndim - 1)), 0, s),
            actor_state,
        )

    # ------------------------------------------------------------ forward passes

    def _step(self, params, actor_state, obs, reset):
        """One step of every network: ``(actor_state, policy, value)``."""
        if self.separate:
            actor, critic = self.modules
            policy = actor.apply(params["actor"], obs)
            return actor_state, policy, critic.apply(params["critic"], obs)
        (trunk,) = self.modules
        return trunk.apply(params["trunk"], actor_state, obs, reset)

    def unroll(
        self, params: Any, actor_state: Any, obs: jax.Array, first: jax.Array
    ) -> tuple[Any, jax.Array, Any]:
        """The policy and value along a stored rollout.

        Args:
            params: parameters.
            actor_state: the state the rollout started from, ``[B, ...]``.
            obs: observations ``[T, B, *obs_shape]``.
            first: bool ``[T, B]``, where a new episode starts at ``obs_t``
                (the state is reset before it is read).

        Returns:
            ``(policy, value, states)``: the policy output and ``V(s_t)``,
            each ``[T, B, ...]``, and the actor state after each step,
            ``[T, B, ...]`` (``()`` feed-forward). A feed-forward network is
            applied to every step at once.
        """
        if not self.recurrent:
            _, policy, value = self._step(params, (), obs, first)
            return policy, value, ()

        def step(carry, x):
            obs_t, first_t = x
            carry, policy, value = self._step(params, carry, obs_t, first_t)
            return carry, (policy, value, carry)

        _, (policy, value, states) = jax.lax.scan(step, actor_state, (obs, first))
        return policy, value, states

    def value_after(self, params: Any, states: Any, obs: jax.Array) -> jax.Array:
        """``V`` of observations reached, ``obs`` ``[T, B, ...]``, each seen
        with the actor state after the step that reached it (``states`` from
        :meth:`unroll`; no reset: it continues that episode). Used to bootstrap
        from a truncated episode's final observation."""
        if not self.recurrent:
            return self._step(params, (), obs, None)[2]
        no_reset = jnp.zeros(obs.shape[: obs.ndim - len(self.obs_shape)], bool)
        return self._step(params, states, obs, no_reset)[2]

    def policy(self, params: Any, obs: jax.Array) -> Any:
        """A feed-forward policy's output: logits ``[..., A]`` or ``(mean,
        log_std)``, each ``[..., D]`` (recurrent: use :meth:`unroll`)."""
        self._feed_forward("policy")
        return self._step(params, (), obs, None)[1]

    def value(self, params: Any, obs: jax.Array) -> jax.Array:
        """A feed-forward critic's ``V(s)``, ``[...]`` (recurrent: use
        :meth:`unroll`)."""
        self._feed_forward("value")
        return self._step(params, (), obs, None)[2]

    def _feed_forward(self, name: str) -> None:
        if self.recurrent:
            raise ValueError(
                f"Networks.{name} needs a feed-forward network; a recurrent one "
                "reads a sequence: use Networks.unroll"
            )

    # ------------------------------------------------------------ the contract

    def act(
        self, key: jax.Array, params: Any, actor_state: Any, obs: jax.Array
    ) -> tuple[jax.Array, Any, dict[str, jax.Array]]:
        """Sample ``a ~ pi(.|s)`` for a batch ``[B]``.

        Returns:
            ``(action, actor_state, extras)``: the sampled action (unclipped;
            what the rollout stores), the next actor state and
            ``{"log_prob": log pi(action|s), "value": V(s)}``.
        """
        no_reset = jnp.zeros(obs.shape[:1], bool)
        actor_state, policy, value = self._step(params, actor_state, obs, no_reset)
        if self.discrete:
            action = jax.random.categorical(key, policy, axis=-1)
            log_prob = over_batch(categorical_log_prob, policy, action)
        else:
            mean, log_std = policy
            action = mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)
            log_prob = over_batch(gaussian_log_prob, mean, log_std, action)
        return action, actor_state, {"log_prob": log_prob, "value": value}

    def greedy(
        self, key: jax.Array, params: Any, actor_state: Any, obs: jax.Array
    ) -> tuple[jax.Array, Any]:
        """The deterministic policy (``argmax`` logits, or the clipped mean)
        for a batch ``[B]``: ``(env_action, actor_state)``."""
        del key
        no_reset = jnp.zeros(obs.shape[:1], bool)
        actor_state, policy, _ = self._step(params, actor_state, obs, no_reset)
        if self.discrete:
            return jnp.argmax(policy, axis=-1), actor_state
        return self.to_env(policy[0]), actor_state

    def log_prob_entropy(
        self, policy: Any, action: jax.Array
    ) -> tuple[jax.Array, jax.Array]:
        """``log pi(a|s)`` and ``H(pi(.|s))`` of a policy output, each ``[...]``."""
        if self.discrete:
            return (
                over_batch(categorical_log_prob, policy, action),
                over_batch(categorical_entropy, policy),
            )
        mean, log_std = policy
        return (
            over_batch(gaussian_log_prob, mean, log_std, action),
            over_batch(gaussian_entropy, log_std),
        )

    def to_env(self, action: jax.Array) -> jax.Array:
        """The action to step the environment with: a Gaussian sample clipped
        to the box; a discrete action as it is."""
        if self.discrete:
            return action
        low = jnp.broadcast_to(self.action_low, action.shape)
        high = jnp.broadcast_to(self.action_high, action.shape)
        return jnp.clip(action, low, high)


def make_networks(config: Any, env: Any, env_params: Any) -> Networks:
    """The actor and critic for ``env``'s spaces and ``config``'s ``torso``,
    ``hidden_sizes``, ``activation`` and ``gru_size``.

    Raises:
        ValueError: for an observation space other than a ``Box`` of rank
            >= 1, or an action space other than ``Discrete`` or a 1-D ``Box``.
    """
    action_space = env.action_space(env_params)
    obs_space = env.observation_space(env_params)
    obs_shape = tuple(getattr(obs_space, "shape", None) or ())
    name = getattr(env, "name", env)
    if not isinstance(obs_space, spaces.Box) or obs_shape == ():
        raise ValueError(
            f"unsupported observation space {obs_space!r} of {name!r}: the "
            "on-policy agents need a Box observation of rank >= 1 (tabular "
            "envs: use the agents in jaxrl.tabular)"
        )
    if isinstance(action_space, spaces.Discrete):
        num_actions, action_dim, low, high = int(action_space.n), None, None, None
    elif isinstance(action_space, spaces.Box):
        shape = tuple(action_space.shape)
        if len(shape) != 1:
            raise ValueError(
                f"Box action space of shape {shape} is unsupported: the Gaussian "
                "policy needs a 1-D Box, shape (D,)"
            )
        num_actions, action_dim = None, shape[0]
        low = jnp.broadcast_to(jnp.asarray(action_space.low, jnp.float32), shape)
        high = jnp.broadcast_to(jnp.asarray(action_space.high, jnp.float32), shape)
    else:
        raise ValueError(
            f"unsupported action space {action_space!r} of {name!r}: the "
            "on-policy agents take gymnax spaces.Discrete (categorical policy) "
            "or a 1-D spaces.Box (Gaussian policy)"
        )
    common = dict(
        hidden_sizes=config.hidden_sizes,
        activation=config.activation,
        obs_ndim=len(obs_shape),
    )
    separate = config.torso == "mlp" and config.gru_size == 0
    if separate:
        modules = (
            _Actor(**common, num_actions=num_actions, action_dim=action_dim),
            _Critic(**common),
        )
    else:
        modules = (
            _Trunk(
                torso=config.torso,
                **common,
                num_actions=num_actions,
                action_dim=action_dim,
                gru_size=config.gru_size,
            ),
        )
    return Networks(
        modules,
        discrete=num_actions is not None,
        obs_shape=obs_shape,
        separate=separate,
        gru_size=config.gru_size,
        action_low=low,
        action_high=high,
    )
