"""Deep Q-networks: DQN (Mnih et al., 2015) and double DQN (van Hasselt et al.,
2016) on the shared off-policy loop (:mod:`jaxrl.agents.offpolicy`).

A Q-network ``Q(s, .; theta)`` (an MLP, :class:`jaxrl.nets.QNetwork`) is
regressed on replayed transitions with the Huber loss
(:func:`jaxrl.ops.dqn_loss`):

::

    y     = r_t + gamma * (1 - terminated_t) * max_a Q(s_t, a; theta')      (DQN)
    y     = r_t + gamma * (1 - terminated_t)
              * Q(s_t, argmax_a Q(s_t, a; theta); theta')            (double DQN)
    L     = mean_batch huber(y - Q(s_{t-1}, a_{t-1}; theta))

with target parameters ``theta'`` copied from ``theta`` every
``target_update_every`` gradient steps (``tau = 1``; a smaller ``tau`` makes it
a Polyak average). The behaviour policy is epsilon-greedy with epsilon
decayed linearly from ``epsilon_start`` to ``epsilon_end`` over the first
``exploration_fraction * total_timesteps`` environment steps, then held.
Evaluation is greedy.

The defaults follow CleanRL's ``dqn.py`` for CartPole (Huang et al., 2022):
one env, a 10k buffer, learning after 10k steps, a gradient step every 10
steps, a target copy every 500 steps, Adam at 2.5e-4; the Huber threshold is
10 rather than 1 (see :class:`DQNHParams`).
"""

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import spaces

from jaxrl import nets
from jaxrl.agents import offpolicy
from jaxrl.agents.offpolicy import Learner, OffPolicyConfig, Transition
from jaxrl.ops import double_dqn_loss, dqn_loss
from jaxrl.registry import AlgoSpec, register
from jaxrl.types import Trainer, hparam

__all__ = [
    "Config",
    "DQNConfig",
    "DQNHParams",
    "HParams",
    "epsilon_schedule",
    "make_train",
    "q_function",
]


@dataclasses.dataclass(frozen=True)
class DQNConfig(OffPolicyConfig):
    """Static settings of DQN; see :class:`~jaxrl.agents.offpolicy.OffPolicyConfig`.

    Attributes:
        double: use the double-DQN target (van Hasselt et al., 2016).
        activation: ``"relu"`` or ``"tanh"`` for the Q-network's hidden layers.
        torso: ``"mlp"`` (``hidden_sizes`` on the flattened observation),
            ``"nature_cnn"`` (Atari frames ``[C, H, W]`` uint8, Mnih et al.,
            2015) or ``"minatar_cnn"`` (MinAtar's ``[10, 10, C]``); a CNN torso
            feeds the Q head directly and ``hidden_sizes`` is unused.
        max_grad_norm: clip the global gradient norm to this (``None`` or
            ``inf``: no clipping; ``--set max_grad_norm=Infinity``).
        adam_eps: Adam's epsilon, ``> 0``.
        huber: regress with the Huber loss (``HParams.huber_delta``); False:
            the squared error ``0.5 * delta^2`` (CleanRL's ``dqn_atari_jax``
            uses the squared error).
    """

    total_timesteps: int = 500_000
    buffer_size: int = 10_000
    batch_size: int = 128
    learning_starts: int = 10_000
    train_freq: int = 10
    target_update_every: int = 50  # gradient steps = 500 env steps here
    hidden_sizes: tuple[int, ...] = (120, 84)
    eval_every: int = 500
    double: bool = False
    activation: str = "relu"
    torso: str = "mlp"
    max_grad_norm: float | None = 10.0
    huber: bool = True
    adam_eps: float = 1e-8

    def __post_init__(self):
        super().__post_init__()
        if not self.adam_eps > 0:
            raise ValueError(f"adam_eps={self.adam_eps!r} must be > 0")
        for name in ("double", "huber"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(
                    f"{name}={getattr(self, name)!r} must be True or False"
                )
        if self.activation not in ("relu", "tanh"):
            raise ValueError(
                f"activation={self.activation!r} is unknown; allowed: relu, tanh"
            )
        if self.torso not in nets.TORSOS:
            raise ValueError(
                f"torso={self.torso!r} is unknown; allowed: {', '.join(nets.TORSOS)}"
            )
        if self.max_grad_norm is not None and not self.max_grad_norm > 0:
            raise ValueError(
                f"max_grad_norm={self.max_grad_norm!r} must be > 0 or None"
            )


@struct.dataclass
class DQNHParams:
    """Traced hyperparameters of DQN.

    Attributes:
        lr: Adam learning rate, ``> 0``.
        gamma: discount, ``[0, 1]``.
        tau: target update step, ``(0, 1]``; 1 is a hard copy.
        epsilon_start: exploration at step 0, ``[0, 1]``.
        epsilon_end: exploration after the decay, ``[0, 1]``.
        exploration_fraction: fraction of ``total_timesteps`` over which
            epsilon decays linearly, ``[0, 1]``.
        huber_delta: where the Huber loss turns linear, ``> 0``. Mnih et al.
            use 1 with rewards clipped to ``[-1, 1]``. With unclipped rewards
            and values of order 100 (CartPole) most TD errors exceed 1, the
            regression becomes median-like, ignores the rare terminal
            targets and the Q-values drift upwards without bound (observed:
            ``q_mean`` near 2000 after 40k CartPole steps); 10 keeps the
            mean-seeking squared loss for errors up to 10.
    """

    lr: float = hparam(2.5e-4, "(0, inf)")
    gamma: float = hparam(0.99, "[0, 1]")
    tau: float = hparam(1.0, "(0, 1]")
    epsilon_start: float = hparam(1.0, "[0, 1]")
    epsilon_end: float = hparam(0.05, "[0, 1]")
    exploration_fraction: float = hparam(0.5, "[0, 1]")
    huber_delta: float = hparam(10.0, "(0, inf)")


Config = DQNConfig
HParams = DQNHParams


def epsilon_schedule(
    hparams: DQNHParams, env_steps: jax.typing.ArrayLike, total_timesteps: int
) -> jax.Array:
    """Linearly decayed exploration rate (Mnih et al., 2015).

    ``eps(t) = eps_end + (eps_start - eps_end) * max(0, 1 - t / (f * T))``
    with ``T = total_timesteps`` and ``f = exploration_fraction``
    (``eps_end`` throughout when ``f = 0``).

    Args:
        hparams: supplies ``epsilon_start``, ``epsilon_end``,
            ``exploration_fraction``.
        env_steps: ``t``, shape ``[]``.
        total_timesteps: ``T``, static.

    Returns:
        ``eps(t)``, shape ``[]``.
    """
    duration = hparams.exploration_fraction * total_timesteps
    t = jnp.asarray(env_steps, jnp.float32)
    progress = jnp.where(duration > 0, t / jnp.maximum(duration, 1e-8), 1.0)
    start, end = hparams.epsilon_start, hparams.epsilon_end
    return end + (start - end) * jnp.maximum(0.0, 1.0 - progress)


def _check_env(env: Any, env_params: Any) -> spaces.Discrete:
    space = env.action_space(env_params)
    if not isinstance(space, spaces.Discrete):
        raise ValueError(
            offpolicy.action_space_error("dqn", "Discrete", env, space, "sac")
        )
    return space


def _network(config: DQNConfig, env: Any, env_params: Any):
    """The Q-network, its apply on raw observations, ``A`` and the obs shape."""
    num_actions = int(_check_env(env, env_params).n)
    space = env.observation_space(env_params)
    obs_shape = tuple(space.shape)
    net = nets.QNetwork(
        config.hidden_sizes, config.activation, num_actions, torso=config.torso
    )
    if config.torso == "mlp":
        example = jnp.zeros((1, math.prod(obs_shape)), jnp.float32)

        def apply(params, obs):
            return net.apply(params, offpolicy.flatten_obs(obs, obs_shape))

    else:
        example = jnp.zeros((1,) + obs_shape, getattr(space, "dtype", jnp.float32))
        apply = net.apply
    return net, apply, num_actions, example


def q_function(config: DQNConfig, env: Any, env_params: Any):
    """``(params, obs [..., *obs_shape]) -> Q [..., A]`` for a trained state's
    ``state.learner.params["q"]``."""
    return _network(config, env, env_params)[1]


def make_train(config: DQNConfig, env: Any, env_params: Any) -> Trainer:
    """Build a DQN (or, with ``config.double``, double DQN) run.

    Args:
        config: a :class:`DQNConfig`.
        env, env_params: a gymnax environment with a Discrete action space.

    Returns:
        A :class:`~jaxrl.types.Trainer`; its state is an
        :class:`~jaxrl.agents.offpolicy.OffPolicyState` whose learner holds
        ``params["q"]`` and ``target_params["q"]``. Metrics per iteration:
        ``return``, ``eval_return``, ``env_steps``, ``replay_fill``,
        ``epsilon``, ``loss`` and ``q_mean`` (mean ``Q(s, a)`` of the replayed pairs).

    Raises:
        ValueError: a non-Discrete action space.
    """
    net, q_fn, num_actions, example_obs = _network(config, env, env_params)
    loss_fn = double_dqn_loss if config.double else dqn_loss

    def init(key: jax.Array, hparams: DQNHParams) -> dict[str, Any]:
        return {"q": net.init(key, example_obs)}

    def optimisers(hparams: DQNHParams):
        return {"q": offpolicy.adam(hparams.lr, config.max_grad_norm, config.adam_eps)}

    def act(key, params, actor_state, obs, hparams: DQNHParams, env_steps):
        explore_key, random_key = jax.random.split(key)
        batch = jax.tree.leaves(obs)[0].shape[0]
        greedy = jnp.argmax(q_fn(params["q"], obs), axis=-1)
        random = jax.random.randint(random_key, (batch,), 0, num_actions)
        eps = epsilon_schedule(hparams, env_steps, config.total_timesteps)
        explore = jax.random.uniform(explore_key, (batch,)) < eps
        action = jnp.where(explore, random, greedy).astype(jnp.int32)
        return action, actor_state, None

    def greedy(key, params, actor_state, obs):
        del key  # greedy
        q = q_fn(params["q"], obs)
        return jnp.argmax(q, axis=-1).astype(jnp.int32), actor_state

    def loss(params, learner: Learner, hparams: DQNHParams, key, sample: Transition):
        """The TD loss of one replayed transition (and its ``Q(s, a)``)."""
        del key  # deterministic given the sample
        q_tm1 = q_fn(params, sample.obs)
        q_t = q_fn(learner.target_params["q"], sample.next_obs)
        args = (q_tm1, sample.action, sample.reward, sample.discount, q_t)
        if config.double:
            q_select_t = jax.lax.stop_gradient(q_fn(params, sample.next_obs))
            args = args + (q_select_t,)
        value = loss_fn(*args, hparams.huber_delta if config.huber else None)
        return value, {"q_mean": q_tm1[sample.action]}

    def schedules(hparams: DQNHParams, env_steps):
        eps = epsilon_schedule(hparams, env_steps, config.total_timesteps)
        return {"epsilon": jnp.asarray(eps, jnp.float32)}

    agent = offpolicy.Agent(
        init=init,
        optimisers=optimisers,
        act=act,
        greedy=greedy,
        losses=(offpolicy.Loss("q", loss, "loss"),),
        example_action=jnp.zeros((), jnp.int32),
        targets=("q",),
        schedules=schedules,
    )
    return offpolicy.make_trainer(config, env, env_params, agent)


register(
    AlgoSpec(
        name="dqn",
        description="DQN with a target network, Huber loss and linearly decayed "
        "epsilon-greedy exploration; double=true for double DQN (Mnih et al. "
        "2015; van Hasselt et al. 2016)",
        config_cls=DQNConfig,
        hparams_cls=DQNHParams,
        make_train=make_train,
        env_kind="discrete",
        default_env="CartPole-v1",
    )
)
