"""A DreamerV3-style agent (Hafner et al., 2023, arXiv:2301.04104) on the
shared off-policy loop: learn a world model from replayed sequences, train
the actor and critic on trajectories imagined by it.

Each gradient step (:mod:`jaxrl.agents.offpolicy` runs them, ``train_ratio``
replayed steps per env step) takes a ``[batch_size, seq_length]`` batch of
replayed windows (:func:`jaxrl.buffers.sequences`) and

1. **World model** (:func:`jaxrl.agents.world_model.sequence_loss`): observes
   each window with the posterior, reconstructs the observations (symlog
   squared error), predicts rewards (two-hot over symexp bins) and episode
   continuation, with DreamerV3's KL balance (0.5 dynamics, 0.1
   representation, 1 free nat). Its posterior states, gradients stopped, are
   the imagination's ``B * L`` starts (kept in ``Learner.stats``).
2. **Imagination** (:func:`jaxrl.agents.world_model.imagine`): ``horizon``
   steps of the prior under the actor from every start; rewards ``r^``,
   continue probabilities ``c^`` and values ``v`` from the heads give the
   lambda-returns (:func:`jaxrl.ops.imagined_lambda_returns`, ``gamma = 1 -
   1/333``, ``lambda = 0.95``), each step weighted by ``w_t = gamma^t
   prod_{k<=t} c^_k``.
3. **Critic**: a two-hot head regressed on the returns and on a slow EMA copy
   of itself (``tau = 0.02`` per step), both as two-hot cross-entropies.
4. **Actor**: advantages ``(R_t - v_t) / max(1, S)`` with ``S`` the EMA of the
   returns' 5th-95th percentile range (:func:`jaxrl.ops.return_scale_update`);
   REINFORCE for discrete actions (``-sg(A_t) log pi(a_t|s_t)``), the
   returns' own gradient through the model for continuous ones, and an
   entropy bonus ``3e-4 H(pi)``.

Acting runs the posterior on the env's observations, carrying the model state
and the previous action as the actor state (zeros where an episode starts);
before ``learning_starts`` actions are uniform. On gymnax the env batch resets
one step late (:class:`envs.vector.DelayedResetVec`), as EnvPool does, so the
terminal observation of every episode is in the replay.
"""

import dataclasses
import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct
from gymnax.environments import spaces

from jaxrl import buffers, nets
from jaxrl.agents import offpolicy
from jaxrl.agents import world_model as wm
from jaxrl.agents.offpolicy import Learner, OffPolicyConfig
from jaxrl.ops import world_model as ops
from jaxrl.registry import AlgoSpec, register
from jaxrl.types import Trainer, hparam

__all__ = [
    "Actor",
    "Config",
    "Critic",
    "DreamerConfig",
    "DreamerHParams",
    "HParams",
    "imagination_weights",
    "make_train",
    "networks",
    "observe_and_act",
    "policy",
]


@dataclasses.dataclass(frozen=True)
class DreamerConfig(OffPolicyConfig):
    """Static settings of the Dreamer agent; see
    :class:`~jaxrl.agents.offpolicy.OffPolicyConfig` for the loop's own.

    The defaults are the few-sample settings measured here on CartPole-v1,
    Pendulum-v1 and a MinAtar game (the README's Dreamer section; a 2-core
    CPU ran 8 CartPole seeds of them in 58 minutes): DreamerV3's
    model and losses with batch 16 x 32, train ratio 256 (one gradient step
    every 2 env steps) and actor and critic Adam 1e-4, 8,192 env steps.
    DreamerV3's own settings differ by domain (its ``configs.yaml`` at
    423291a: train ratio 512 for DMC, 1024 for Atari 100k and bsuite, "128
    for cartpole"; batch 16 x 64; actor and critic 3e-5); ``--preset
    dreamer-atari`` has its Atari 100k settings, and ``--set seq_length=64
    --set train_ratio=512 --set actor_lr=3e-5 --set critic_lr=3e-5`` its
    DMC ones.

    Attributes:
        batch_size: replayed windows per gradient step (DreamerV3: 16).
        seq_length: steps per window (DreamerV3: 64; ours 32).
        horizon: imagined steps (DreamerV3: 15).
        size: the model's size by name, one of
            :data:`jaxrl.agents.world_model.SIZES` (``"xs"``, ours for a CPU;
            ``"dreamerv3-xs"`` ... ``"dreamerv3-xl"``, DreamerV3's).
        torso: ``"mlp"`` (vector observations), ``"minatar_cnn"`` or
            ``"nature_cnn"`` (images).
        train_ratio: replayed steps per env step, ``gradient_steps *
            batch_size * seq_length / (num_envs * train_freq)`` (DreamerV3:
            512 for DMC, 1024 for Atari 100k; ours 256); it sets ``train_freq``
            (or ``gradient_steps``) and must give whole numbers. ``0``: keep
            the ``train_freq`` and ``gradient_steps`` given.
        num_bins: bins of the two-hot reward and value heads.
        model_grad_clip, ac_grad_clip: global gradient-norm clips of the world
            model (1000) and of the actor and critic each (100).
    """

    num_envs: int = 1
    total_timesteps: int = 8_192
    buffer_size: int = 100_000
    batch_size: int = 16
    learning_starts: int = 1_024
    seq_length: int = 32
    horizon: int = 15
    size: str = "xs"
    torso: str = "mlp"
    train_ratio: int = 256
    target_update_every: int = 1
    num_bins: int = 255
    model_grad_clip: float = 1000.0
    ac_grad_clip: float = 100.0
    # Iterations, each train_freq env steps: every 512 env steps at the
    # defaults (another train_ratio moves it: 512 gives every 256 steps).
    eval_every: int = 256
    hidden_sizes: tuple[int, ...] = ()  # unused: the sizes come from `size`

    def __post_init__(self):
        for name in ("seq_length", "horizon", "num_bins"):
            value = getattr(self, name)
            if not offpolicy._is_int(value) or value < 1:
                raise ValueError(f"{name}={value!r} must be an integer >= 1")
        if self.num_bins < 2:
            raise ValueError(f"num_bins={self.num_bins} must be >= 2")
        if self.size not in wm.SIZES:
            raise ValueError(
                f"size={self.size!r} is unknown; allowed: {', '.join(wm.SIZES)}"
            )
        if self.torso not in nets.TORSOS:
            raise ValueError(
                f"torso={self.torso!r} is unknown; allowed: {', '.join(nets.TORSOS)}"
            )
        r = self.train_ratio
        if not offpolicy._is_int(r) or r < 0:
            raise ValueError(f"train_ratio={r!r} must be an integer >= 0")
        if r and all(
            offpolicy._is_int(getattr(self, n))
            for n in ("batch_size", "seq_length", "num_envs")
        ):
            replayed = self.batch_size * self.seq_length
            env_steps = r * self.num_envs
            if replayed >= env_steps and replayed % env_steps == 0:
                freq, grads = replayed // env_steps, 1
            elif replayed < env_steps and env_steps % replayed == 0:
                freq, grads = 1, env_steps // replayed
            else:
                raise ValueError(
                    f"train_ratio={r} with batch_size * seq_length = {replayed} "
                    f"replayed steps per gradient step and num_envs="
                    f"{self.num_envs} needs a whole number of env steps per "
                    f"gradient step (or of gradient steps per env step); "
                    f"{replayed} / ({r} * {self.num_envs}) is not one"
                )
            object.__setattr__(self, "train_freq", freq)
            object.__setattr__(self, "gradient_steps", grads)
        for name in ("model_grad_clip", "ac_grad_clip"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name}={getattr(self, name)!r} must be > 0")
        super().__post_init__()
        if self.seq_length > self.buffer_size // self.num_envs:
            raise ValueError(
                f"buffer_size={self.buffer_size} holds "
                f"{self.buffer_size // self.num_envs} steps per env, fewer than "
                f"seq_length={self.seq_length}"
            )

    @property
    def replay_ratio(self) -> float:
        """Replayed steps per env step as run."""
        replayed = self.gradient_steps * self.batch_size * self.seq_length
        return replayed / (self.num_envs * self.train_freq)


@struct.dataclass
class DreamerHParams:
    """Traced hyperparameters (DreamerV3's, but for the actor's and critic's
    learning rates).

    Attributes:
        model_lr: world-model Adam learning rate.
        actor_lr, critic_lr: Adam learning rates of the actor and critic
            (DreamerV3: 3e-5; ours 1e-4, see :class:`DreamerConfig`).
        gamma: discount of the imagined returns, ``1 - 1/333``.
        lambda_: lambda of the imagined returns.
        entropy: actor entropy bonus (advantages are normalised).
        tau: the slow critic's EMA step per gradient step.
        free_nats: free bits of each KL term.
        dyn_scale, rep_scale: weights of the dynamics and representation KL.
        return_decay: EMA decay of the return percentiles.
    """

    model_lr: float = hparam(1e-4, "(0, inf)")
    actor_lr: float = hparam(1e-4, "(0, inf)")
    critic_lr: float = hparam(1e-4, "(0, inf)")
    gamma: float = hparam(1 - 1 / 333, "[0, 1]")
    lambda_: float = hparam(0.95, "[0, 1]")
    entropy: float = hparam(3e-4, "[0, inf)")
    tau: float = hparam(0.02, "(0, 1]")
    free_nats: float = hparam(1.0, "[0, inf)")
    dyn_scale: float = hparam(0.5, "[0, inf)")
    rep_scale: float = hparam(0.1, "[0, inf)")
    return_decay: float = hparam(0.99, "[0, 1)")


Config = DreamerConfig
HParams = DreamerHParams


class Actor(nn.Module):
    """The policy on model features: categorical logits (1% unimix) for
    ``discrete``, else ``(mean, std)`` of a normal with ``tanh`` mean and std
    in ``[0.1, 1]`` (DreamerV3's bounded normal), actions clipped to
    ``[-1, 1]``."""

    action_dim: int
    discrete: bool
    hidden: int
    layers: int

    @nn.compact
    def __call__(self, feat: jax.Array):
        x = wm.Block(self.hidden, self.layers)(feat)
        if self.discrete:
            return ops.unimix_logits(nn.Dense(self.action_dim)(x), 0.01)
        out = nn.Dense(2 * self.action_dim)(x)
        mean, std = jnp.split(out, 2, axis=-1)
        return jnp.tanh(mean), 0.9 * jax.nn.sigmoid(std + 2.0) + 0.1


class Critic(nn.Module):
    """Two-hot value logits over the symexp bins (zero-initialised output, so
    a new critic predicts exactly 0)."""

    hidden: int
    layers: int
    num_bins: int

    @nn.compact
    def __call__(self, feat: jax.Array) -> jax.Array:
        x = wm.Block(self.hidden, self.layers)(feat)
        return nn.Dense(self.num_bins, kernel_init=nn.initializers.zeros)(x)


def imagination_weights(cont: jax.Array, gamma: jax.typing.ArrayLike) -> jax.Array:
    """The weight of each imagined state in the actor and critic losses:
    ``w_t = gamma^t prod_{k<=t} c_k`` for ``t < H`` (DreamerV3's
    ``cumprod(gamma * cont) / gamma``), so a state after a predicted episode
    end counts for nothing; ``c_0`` is the start's own continue prediction.

    Args:
        cont: continue probabilities of ``s_0 .. s_H``, ``[H + 1, N]``.
        gamma: the discount.

    Returns:
        the weights of ``s_0 .. s_{H-1}``, ``[H, N]`` (gradients stopped).
    """
    horizon = cont.shape[0] - 1
    discounts = jnp.asarray(gamma) ** jnp.arange(horizon, dtype=jnp.float32)
    weight = discounts[:, None] * jnp.cumprod(cont[:horizon], axis=0)
    return jax.lax.stop_gradient(weight)


def _spaces(env: Any, env_params: Any):
    space = env.action_space(env_params)
    if isinstance(space, spaces.Discrete):
        return True, int(space.n), None
    if isinstance(space, spaces.Box):
        shape = tuple(space.shape)
        low = np.broadcast_to(np.asarray(space.low, np.float32), shape).reshape(-1)
        high = np.broadcast_to(np.asarray(space.high, np.float32), shape).reshape(-1)
        if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
            raise ValueError(
                "dreamer needs finite action bounds; got "
                f"{offpolicy.describe_space(space)}"
            )
        return False, math.prod(shape), (low, high, shape)
    raise ValueError(
        f"dreamer needs a Discrete or Box action space; got "
        f"{offpolicy.describe_space(space)}"
    )


def env_action(action: jax.Array, env: Any, env_params: Any) -> jax.Array:
    """The action the env takes for a model action: discrete ones as they
    are; continuous ones, in ``[-1, 1]`` per dimension, mapped linearly onto
    the env's bounds (clipped there) and reshaped to its action shape."""
    discrete, _, bounds = _spaces(env, env_params)
    if discrete:
        return action
    low, high, shape = bounds
    low = jnp.broadcast_to(low, action.shape)
    high = jnp.broadcast_to(high, action.shape)
    scaled = low + (action + 1.0) * 0.5 * (high - low)
    return jnp.clip(scaled, low, high).reshape(action.shape[:-1] + shape)


def policy(actor: Actor, actor_params, key, feat, mode: bool = False):
    """An action (as stored and as the model takes it) from model features:
    a sample, or with ``mode`` the greedy action (argmax, or the mean)."""
    if actor.discrete:
        logits = actor.apply(actor_params, feat)
        if mode:
            return jnp.argmax(logits, -1).astype(jnp.int32)
        return jax.random.categorical(key, logits).astype(jnp.int32)
    mean, std = actor.apply(actor_params, feat)
    if mode:
        return mean
    # Not clipped: the model takes |a| > 1 rescaled with its gradient kept
    # (WorldModel.action_input); acting clips what it stores and sends.
    return mean + std * jax.random.normal(key, mean.shape)


def observe_and_act(model, actor, params, key, actor_state, obs, mode=False):
    """One acting step: the posterior of ``obs`` after the actor state
    ``(model state, encoded previous action)``, then an action from it.

    Returns:
        ``(action, model state)``; the caller encodes the action it takes
        into the next actor state (``WorldModel.action_input``).
    """
    state, prev_in = actor_state
    obs_key, act_key = jax.random.split(key)
    pm = params["model"]
    embed = model.apply(pm, obs, method=wm.WorldModel.encode)
    state, _, _ = model.apply(
        pm, obs_key, state, prev_in, embed, method=wm.WorldModel.obs_step
    )
    action = policy(actor, params["ac"]["actor"], act_key, wm.features(state), mode)
    return action, state


def networks(config: DreamerConfig, env: Any, env_params: Any):
    """The run's modules, to apply a trained state's parameters with:
    ``(model, actor, critic, bins)`` for ``params["model"]``,
    ``params["ac"]["actor"]`` and ``params["ac"]["critic"]``."""
    discrete, action_dim, _ = _spaces(env, env_params)
    size = wm.SIZES[config.size]
    obs_shape = tuple(env.observation_space(env_params).shape)
    model = wm.WorldModel(
        size, obs_shape, action_dim, discrete, config.torso, config.num_bins
    )
    actor = Actor(action_dim, discrete, size.hidden, size.layers)
    critic = Critic(size.hidden, size.layers, config.num_bins)
    return model, actor, critic, ops.symexp_bins(config.num_bins)


def make_train(config: DreamerConfig, env: Any, env_params: Any) -> Trainer:
    """Build a Dreamer run.

    Args:
        config: a :class:`DreamerConfig`.
        env, env_params: a gymnax environment (vector or image observations)
            or an EnvPool task; Discrete or bounded Box actions.

    Returns:
        A :class:`~jaxrl.types.Trainer` whose state is an
        :class:`~jaxrl.agents.offpolicy.OffPolicyState`; its learner holds
        ``params["model"]`` and ``params["ac"]`` (``{"actor", "critic"}``),
        the slow critic in ``target_params["ac"]`` and the return scale in
        ``stats["return_scale"]``. Metrics per iteration: ``return``,
        ``eval_return``, ``env_steps``, ``replay_fill``, ``model_loss`` and its
        terms (``recon``, ``reward``, ``cont``, ``dynamics``, ``representation``,
        ``kl``), ``ac_loss``, ``actor_loss``, ``critic_loss``, ``entropy``,
        ``imagined_return`` and ``return_scale``.
    """
    discrete, action_dim, _ = _spaces(env, env_params)
    size = wm.SIZES[config.size]
    obs_space = env.observation_space(env_params)
    obs_shape = tuple(obs_space.shape)
    model, actor, critic, bins = networks(config, env, env_params)
    feat_dim = size.deter + size.stoch * size.classes
    B, L, H = config.batch_size, config.seq_length, config.horizon
    sg = jax.lax.stop_gradient

    def example_action():
        if discrete:
            return jnp.zeros((), jnp.int32)
        return jnp.zeros((action_dim,), jnp.float32)

    def init(key: jax.Array, hparams: DreamerHParams) -> dict[str, Any]:
        model_key, sample_key, actor_key, critic_key = jax.random.split(key, 4)
        obs = jnp.zeros(obs_shape, getattr(obs_space, "dtype", jnp.float32))
        feat = jnp.zeros((feat_dim,), jnp.float32)
        return {
            "model": model.init(model_key, sample_key, obs, example_action()),
            "ac": {
                "actor": actor.init(actor_key, feat),
                "critic": critic.init(critic_key, feat),
            },
        }

    def optimisers(hparams: DreamerHParams):
        ac = optax.multi_transform(
            {
                "actor": offpolicy.adam(hparams.actor_lr, config.ac_grad_clip, 1e-5),
                "critic": offpolicy.adam(hparams.critic_lr, config.ac_grad_clip, 1e-5),
            },
            lambda p: {k: jax.tree.map(lambda _, k=k: k, v) for k, v in p.items()},
        )
        return {
            "model": offpolicy.adam(hparams.model_lr, config.model_grad_clip),
            "ac": ac,
        }

    def log_prob_entropy(actor_params, feat, action):
        """``(log pi(a|s), H(pi(.|s)))``; the log-prob only for discrete
        actions (continuous ones learn by backpropagation: ``None``)."""
        if discrete:
            logits = actor.apply(actor_params, feat)
            logp = jnp.take_along_axis(logits, action[..., None], -1)[..., 0]
            entropy = -jnp.sum(jnp.exp(logits) * logits, -1)
            return logp, entropy
        _, std = actor.apply(actor_params, feat)
        entropy = jnp.sum(0.5 + 0.5 * jnp.log(2 * jnp.pi) + jnp.log(std), -1)
        return None, entropy

    def to_env(action):
        return env_action(action, env, env_params)

    def initial_actor_state(batch_shape):
        a_in = jnp.zeros(tuple(batch_shape) + (action_dim,), jnp.float32)
        return (wm.initial_state(size, batch_shape), a_in)

    def reset(actor_state, first):
        def zero(x):
            return jnp.where(first.reshape(first.shape + (1,) * (x.ndim - 1)), 0.0, x)

        return jax.tree.map(zero, actor_state)

    def _step(key, params, actor_state, obs, mode):
        return observe_and_act(model, actor, params, key, actor_state, obs, mode)

    def act(key, params, actor_state, obs, hparams, env_steps):
        step_key, random_key = jax.random.split(key)
        action, state = _step(step_key, params, actor_state, obs, mode=False)
        batch = action.shape[:1]
        if discrete:
            random = jax.random.randint(random_key, batch, 0, action_dim)
        else:
            random = jax.random.uniform(
                random_key, batch + (action_dim,), minval=-1.0, maxval=1.0
            )
        action = jnp.where(env_steps < config.learning_starts, random, action)
        if not discrete:
            action = jnp.clip(action, -1.0, 1.0)
        a_in = model.apply(params["model"], action, method=wm.WorldModel.action_input)
        return action.astype(example_action().dtype), (state, a_in), None

    def greedy(key, params, actor_state, obs):
        action, state = _step(key, params, actor_state, obs, mode=True)
        a_in = model.apply(params["model"], action, method=wm.WorldModel.action_input)
        return to_env(action), (state, a_in)

    def model_loss(params, learner: Learner, hp: DreamerHParams, keys, batch):
        def one(key, seq):
            return wm.sequence_loss(
                model,
                params,
                key,
                seq.obs,
                seq.action,
                seq.reward,
                seq.is_first,
                seq.is_terminal,
                bins,
                free_nats=hp.free_nats,
                dyn_scale=hp.dyn_scale,
                rep_scale=hp.rep_scale,
            )

        terms, seen = jax.vmap(one)(keys, batch)
        metrics = {k: jnp.mean(v) for k, v in terms._asdict().items() if k != "loss"}
        return terms.loss.mean(), metrics, {"starts": sg(seen.states)}

    def ac_loss(params, learner: Learner, hp: DreamerHParams, keys, batch):
        del batch  # imagination starts from the model loss's posteriors
        pm = sg(learner.params["model"])
        starts = jax.tree.map(
            lambda x: x.reshape((-1,) + x.shape[2:]), learner.stats["starts"]
        )
        actor_p = params["actor"] if not discrete else sg(params["actor"])

        def act_fn(key, feat):  # the actor reads sg(s); a's gradient reaches it
            return policy(actor, actor_p, key, sg(feat))

        states, actions = wm.imagine(model, pm, act_fn, keys[0], starts, H)
        if discrete:
            states = sg(states)
        feat = wm.features(states)  # [H + 1, N, F]
        heads = jax.vmap(
            jax.vmap(ops.two_hot_mean, in_axes=(0, None)), in_axes=(0, None)
        )
        reward = heads(
            model.apply(pm, feat[1:], method=wm.WorldModel.reward_logits), bins
        )
        cont = jax.nn.sigmoid(model.apply(pm, feat, method=wm.WorldModel.cont_logit))
        value = heads(critic.apply(sg(params["critic"]), feat), bins)  # [H + 1, N]
        # Continuous actions learn by backpropagating the returns through
        # the model: the returns keep the gradient of the values they
        # bootstrap from (the critic's parameters are stopped).
        returns = jax.vmap(
            lambda r, c, v: ops.imagined_lambda_returns(
                r, c, v, hp.gamma, hp.lambda_, stop_target_gradients=discrete
            ),
            in_axes=1,
            out_axes=1,
        )(reward, cont[1:], value[1:])  # [H, N]
        weight = imagination_weights(cont, hp.gamma)
        scale_state = ops.return_scale_update(
            learner.stats["return_scale"], returns, hp.return_decay
        )
        scale = ops.return_scale(scale_state)
        advantage = (returns - sg(value[:H])) / scale
        logp, entropy = log_prob_entropy(params["actor"], sg(feat[:H]), actions)
        if discrete:
            objective = sg(advantage) * logp + hp.entropy * entropy
        else:
            objective = advantage + hp.entropy * entropy
        actor_loss = -jnp.mean(weight * objective)
        feat_c = sg(feat[:H])
        logits = critic.apply(params["critic"], feat_c)
        slow = heads(critic.apply(learner.target_params["ac"]["critic"], feat_c), bins)
        ce = jax.vmap(
            jax.vmap(ops.two_hot_loss, in_axes=(0, 0, None)), in_axes=(0, 0, None)
        )
        critic_loss = jnp.mean(
            weight * (ce(logits, sg(returns), bins) + ce(logits, sg(slow), bins))
        )
        metrics = {
            "actor_loss": actor_loss,
            "critic_loss": critic_loss,
            "entropy": jnp.mean(entropy),
            "imagined_return": jnp.mean(returns[0]),
            "return_scale": scale,
        }
        return actor_loss + critic_loss, metrics, {"return_scale": scale_state}

    def init_stats(hparams):
        return {
            "return_scale": ops.return_scale_init(),
            "starts": wm.initial_state(size, (B, L)),
        }

    agent = offpolicy.Agent(
        init=init,
        optimisers=optimisers,
        act=act,
        greedy=greedy,
        losses=(
            offpolicy.Loss("model", model_loss, "model_loss", batched=True),
            offpolicy.Loss("ac", ac_loss, "ac_loss", batched=True),
        ),
        example_action=example_action(),
        targets=("ac",),
        initial_state=initial_actor_state,
        reset=reset,
        to_env=to_env,
        init_stats=init_stats,
    )
    capacity = config.buffer_size // config.num_envs * config.num_envs
    buffer = buffers.sequences(capacity, config.num_envs, B, L)
    return offpolicy.make_trainer(
        config, env, env_params, agent, buffer=buffer, delayed_reset=True
    )


register(
    AlgoSpec(
        name="dreamer",
        description="DreamerV3-style world model (RSSM, categorical latents, "
        "two-hot heads, KL balance) with an actor-critic trained in imagination "
        "(Hafner et al. 2023)",
        config_cls=DreamerConfig,
        hparams_cls=DreamerHParams,
        make_train=make_train,
        env_kind="discrete or continuous",
        default_env="CartPole-v1",
    )
)
