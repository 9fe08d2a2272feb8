"""The world model of DreamerV3 (Hafner et al., 2023, arXiv:2301.04104):
a recurrent state-space model (RSSM) with categorical latents, its encoder,
decoder, reward and continue heads, and its loss over replayed sequences.

The model state at step ``t`` is ``s_t = (h_t, z_t)``: a deterministic GRU
state ``h_t`` and a stochastic state ``z_t`` of ``S`` categoricals with ``K``
classes each (one-hot, straight-through gradients; 1% uniform mix):

::

    h_t = GRU(h_{t-1}, [z_{t-1}, a_{t-1}])        sequence model
    z_t ~ q(z_t | h_t, embed(x_t))                 posterior (representation)
    z^_t ~ p(z^_t | h_t)                            prior (dynamics)
    x^_t, r^_t, c^_t = dec(s_t), rew(s_t), cont(s_t)

``r^_t`` is the reward received on arriving at ``x_t`` and ``c^_t`` whether
the episode goes on after it. Training (per sequence, :func:`sequence_loss`)
is observing the replayed steps with the posterior; imagination
(:func:`imagine`) steps the prior. Everything is unbatched over the batch
axis (one sequence ``[L, ...]``), and batched by the caller with ``vmap``.

**Replay layout.** A replayed slot holds ``x_t``, the action ``a_t`` taken in
it, the reward ``r_{t+1}`` of that step and its flags (:class:`jaxrl.buffers.
Sequence`). Episodes must end on their last observation, as EnvPool's
delayed reset does and :class:`envs.vector.DelayedResetVec` does for gymnax:
the slot after a terminal step holds the terminal observation, the one after
it the reset. So the targets of slot ``t`` are the reward and termination of
the step from slot ``t - 1`` (0 and "continue" after the reset step), and the
window's first slot, whose incoming step is not in the window, has none.
"""

import dataclasses
import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxrl import nets
from jaxrl.ops import world_model as ops

__all__ = [
    "SIZES",
    "Block",
    "ModelSize",
    "RSSMState",
    "WorldModel",
    "features",
    "initial_state",
    "observe",
    "open_loop",
    "sequence_loss",
]


@dataclasses.dataclass(frozen=True)
class ModelSize:
    """Sizes of the world model and of the actor and critic MLPs.

    Attributes:
        deter: GRU units (``h``).
        stoch: categorical latents (``S``).
        classes: classes per latent (``K``).
        hidden: width of every MLP layer.
        layers: layers of every MLP (encoder, decoder, heads, actor, critic).
        cnn_depth: DreamerV3's CNN multiplier for this size, kept for the
            record but not used: images are encoded by the config's
            ``torso`` (the Nature or MinAtar CNN), not by DreamerV3's CNN.
    """

    deter: int
    stoch: int
    classes: int
    hidden: int
    layers: int
    cnn_depth: int


# "xs" is ours, small enough for a CPU; the others are DreamerV3's (its
# table of model sizes: GRU / MLP units, CNN multiplier, MLP layers; 32x32
# latents), named with their prefix since our "xs" is smaller than theirs.
SIZES = {
    "xs": ModelSize(128, 16, 16, 128, 1, 16),
    "dreamerv3-xs": ModelSize(256, 32, 32, 256, 1, 24),
    "dreamerv3-s": ModelSize(512, 32, 32, 512, 2, 32),
    "dreamerv3-m": ModelSize(1024, 32, 32, 640, 3, 48),
    "dreamerv3-l": ModelSize(2048, 32, 32, 768, 4, 64),
    "dreamerv3-xl": ModelSize(4096, 32, 32, 1024, 5, 96),
}


class RSSMState(NamedTuple):
    """``h [..., D]`` and the one-hot ``z [..., S, K]``."""

    deter: jax.Array
    stoch: jax.Array


def initial_state(size: ModelSize, batch_shape: Sequence[int] = ()) -> RSSMState:
    """The zero state (where an episode starts)."""
    batch = tuple(batch_shape)
    return RSSMState(
        deter=jnp.zeros(batch + (size.deter,), jnp.float32),
        stoch=jnp.zeros(batch + (size.stoch, size.classes), jnp.float32),
    )


def features(state: RSSMState) -> jax.Array:
    """``[h, flatten(z)]``, ``[..., D + S * K]``: what every head reads."""
    z = state.stoch.reshape(state.stoch.shape[:-2] + (-1,))
    return jnp.concatenate([state.deter, z], axis=-1)


def _dense(units: int, zeros: bool = False, name: str | None = None) -> nn.Dense:
    init = (
        nn.initializers.zeros
        if zeros
        else nn.initializers.variance_scaling(1.0, "fan_avg", "truncated_normal")
    )
    return nn.Dense(units, kernel_init=init, bias_init=nn.initializers.zeros, name=name)


class Block(nn.Module):
    """``layers`` x (Dense -> LayerNorm -> SiLU), DreamerV3's MLP layer."""

    units: int
    layers: int = 1

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = jnp.asarray(x, jnp.float32)
        for _ in range(self.layers):
            x = nn.silu(nn.LayerNorm()(_dense(self.units)(x)))
        return x


class WorldModel(nn.Module):
    """Encoder, RSSM, decoder, reward and continue heads.

    Attributes:
        size: a :class:`ModelSize`.
        obs_shape: one observation's shape.
        action_dim: ``A`` (the number of discrete actions, or the size of a
            continuous action).
        discrete: actions are integers (one-hot encoded) or vectors.
        torso: ``"mlp"`` (vectors, symlog inputs), ``"minatar_cnn"`` or
            ``"nature_cnn"`` (images: the torsos of :mod:`jaxrl.nets`).
        num_bins: bins of the two-hot reward head.
    """

    size: ModelSize
    obs_shape: tuple[int, ...]
    action_dim: int
    discrete: bool = True
    torso: str = "mlp"
    num_bins: int = 255

    def setup(self):
        s = self.size
        if self.torso == "mlp":
            self.encoder = Block(s.hidden, s.layers)
        else:
            self.encoder = nets.Torso(self.torso, obs_ndim=len(self.obs_shape))
        self.img_in = Block(s.hidden)
        self.gru = nn.GRUCell(s.deter, recurrent_kernel_init=nets.orthogonal())
        self.prior_hidden = Block(s.hidden)
        self.prior_out = _dense(s.stoch * s.classes)
        self.post_hidden = Block(s.hidden)
        self.post_out = _dense(s.stoch * s.classes)
        self.decoder = Block(s.hidden, s.layers)
        self.decoder_out = _dense(math.prod(self.obs_shape))
        self.reward_hidden = Block(s.hidden, s.layers)
        self.reward_out = _dense(self.num_bins, zeros=True)
        self.cont_hidden = Block(s.hidden, s.layers)
        self.cont_out = _dense(1)

    # --- observations -------------------------------------------------------

    def target(self, obs: jax.Array) -> jax.Array:
        """What the decoder predicts, flattened: ``symlog(x)`` for vectors,
        images scaled to ``[0, 1]`` (uint8 frames by 1/255)."""
        batch = obs.shape[: obs.ndim - len(self.obs_shape)]
        if self.torso == "mlp":
            x = ops.symlog(jnp.asarray(obs, jnp.float32))
        elif jnp.issubdtype(obs.dtype, jnp.integer):
            x = jnp.asarray(obs, jnp.float32) / 255.0
        else:
            x = jnp.asarray(obs, jnp.float32)
        return x.reshape(batch + (-1,))

    def encode(self, obs: jax.Array) -> jax.Array:
        if self.torso == "mlp":
            return self.encoder(self.target(obs))
        return self.encoder(obs)

    def decode(self, feat: jax.Array) -> jax.Array:
        return self.decoder_out(self.decoder(feat))

    # --- the RSSM -----------------------------------------------------------

    def action_input(self, action: jax.Array) -> jax.Array:
        if self.discrete:
            return jax.nn.one_hot(action, self.action_dim)
        # |a| > 1 scaled back to 1 with the factor's gradient stopped, so an
        # imagined action outside the bounds still passes its gradient
        # (DreamerV3's rescaling; a clip would pass none).
        a = jnp.asarray(action, jnp.float32)
        return a * jax.lax.stop_gradient(1.0 / jnp.maximum(1.0, jnp.abs(a)))

    def _logits(self, hidden, out, x):
        logits = out(hidden(x))
        logits = logits.reshape(logits.shape[:-1] + (self.size.stoch, -1))
        return ops.unimix_logits(logits, 0.01)

    def img_step(self, key, state: RSSMState, action_in: jax.Array):
        """One prior step from ``s_{t-1}`` and the encoded ``a_{t-1}``:
        ``(state_t, prior_logits [S, K])``."""
        z = state.stoch.reshape(state.stoch.shape[:-2] + (-1,))
        x = self.img_in(jnp.concatenate([z, action_in], axis=-1))
        deter, _ = self.gru(state.deter, x)
        prior = self._logits(self.prior_hidden, self.prior_out, deter)
        stoch = ops.straight_through_sample(key, prior)
        return RSSMState(deter, stoch), prior

    def obs_step(self, key, state: RSSMState, action_in: jax.Array, embed):
        """One posterior step: ``(state_t, post_logits, prior_logits)``; the
        posterior reads the new ``h_t`` and the observation's embedding."""
        prior_key, post_key = jax.random.split(key)
        prior_state, prior = self.img_step(prior_key, state, action_in)
        x = jnp.concatenate([prior_state.deter, embed], axis=-1)
        post = self._logits(self.post_hidden, self.post_out, x)
        stoch = ops.straight_through_sample(post_key, post)
        return RSSMState(prior_state.deter, stoch), post, prior

    # --- heads --------------------------------------------------------------

    def reward_logits(self, feat: jax.Array) -> jax.Array:
        return self.reward_out(self.reward_hidden(feat))

    def cont_logit(self, feat: jax.Array) -> jax.Array:
        return self.cont_out(self.cont_hidden(feat))[..., 0]

    def __call__(self, key, obs: jax.Array, action: jax.Array):
        """Every part once, for ``init``: one observation and action."""
        state = initial_state(self.size, obs.shape[: obs.ndim - len(self.obs_shape)])
        state, _, _ = self.obs_step(
            key, state, self.action_input(action), self.encode(obs)
        )
        feat = features(state)
        return self.decode(feat), self.reward_logits(feat), self.cont_logit(feat)


class Observed(NamedTuple):
    """What observing a sequence gives, per step ``[L, ...]``."""

    states: RSSMState
    post: jax.Array
    prior: jax.Array


def observe(
    model: WorldModel,
    params: Any,
    key: jax.Array,
    obs: jax.Array,
    action: jax.Array,
    is_first: jax.Array,
    start: RSSMState | None = None,
) -> Observed:
    """The posterior states of one sequence.

    Slot ``t`` is observed after the action of slot ``t - 1``; where
    ``is_first[t]`` (and at ``t = 0`` without a ``start``) the state and the
    previous action are zeros.

    Args:
        model, params: the world model and its parameters.
        key: PRNG key.
        obs: ``[L, *obs_shape]``.
        action: the actions taken in each slot, ``[L]`` or ``[L, A]``.
        is_first: bool ``[L]``.
        start: the state before slot 0 and ``None`` (zeros, slot 0 a reset).

    Returns:
        :class:`Observed` with leaves ``[L, ...]``.
    """
    length = is_first.shape[0]
    embed = model.apply(params, obs, method=WorldModel.encode)
    act_in = model.apply(params, action, method=WorldModel.action_input)
    prev_in = jnp.concatenate([jnp.zeros_like(act_in[:1]), act_in[:-1]], axis=0)
    reset = jnp.asarray(is_first, bool)
    if start is None:
        reset = reset.at[0].set(True)
        start = initial_state(model.size)

    def step(state, inputs):
        step_key, a_in, e, first = inputs
        state = jax.tree.map(lambda x: jnp.where(first, 0.0, x), state)
        a_in = jnp.where(first, 0.0, a_in)
        state, post, prior = model.apply(
            params, step_key, state, a_in, e, method=WorldModel.obs_step
        )
        return state, (state, post, prior)

    keys = jax.random.split(key, length)
    _, (states, post, prior) = jax.lax.scan(step, start, (keys, prev_in, embed, reset))
    return Observed(states, post, prior)


class ModelLoss(NamedTuple):
    """The terms of :func:`sequence_loss`, each a mean over the sequence."""

    loss: jax.Array
    recon: jax.Array
    reward: jax.Array
    cont: jax.Array
    dynamics: jax.Array
    representation: jax.Array
    kl: jax.Array


def sequence_loss(
    model: WorldModel,
    params: Any,
    key: jax.Array,
    obs: jax.Array,
    action: jax.Array,
    reward: jax.Array,
    is_first: jax.Array,
    is_terminal: jax.Array,
    bins: jax.Array,
    *,
    free_nats: jax.typing.ArrayLike = 1.0,
    dyn_scale: jax.typing.ArrayLike = 0.5,
    rep_scale: jax.typing.ArrayLike = 0.1,
) -> tuple[ModelLoss, Observed]:
    """DreamerV3's world-model loss on one replayed sequence (eq. 4-5):

    ::

        L = mean_t [ L_pred(t) + dyn_scale * L_dyn(t) + rep_scale * L_rep(t) ]
        L_pred(t) = ||dec(s_t) - symlog(x_t)||^2       (images: x_t in [0, 1])
                    - log p(r_t | s_t)                  two-hot over ``bins``
                    - log p(c_t | s_t)                  Bernoulli

    with the KL terms of :func:`jaxrl.ops.world_model.kl_balance_loss`. The
    reward and continue terms of slot ``t`` are those of the step from slot
    ``t - 1`` (``r_t = reward[t-1]``, ``c_t = 1 - is_terminal[t-1]``), so
    slot 0 has none and they are averaged over slots ``1..L-1``.

    Args:
        model, params, key: the world model, its parameters, a PRNG key.
        obs, action, reward, is_first, is_terminal: one replayed
            :class:`jaxrl.buffers.Sequence`'s fields, ``[L, ...]``.
        bins: the reward head's bins (:func:`jaxrl.ops.symexp_bins`).
        free_nats, dyn_scale, rep_scale: DreamerV3's 1, 0.5, 0.1.

    Returns:
        ``(ModelLoss, Observed)``: the terms, and the posterior states (the
        starts of imagination).
    """
    seen = observe(model, params, key, obs, action, is_first)
    feat = features(seen.states)
    recon = model.apply(params, feat, method=WorldModel.decode)
    target = model.apply(params, obs, method=WorldModel.target)
    recon_loss = jnp.sum((recon - jax.lax.stop_gradient(target)) ** 2, axis=-1)
    r_logits = model.apply(params, feat[1:], method=WorldModel.reward_logits)
    reward_loss = jax.vmap(ops.two_hot_loss, in_axes=(0, 0, None))(
        r_logits, jnp.asarray(reward[:-1], jnp.float32), bins
    )
    c_logit = model.apply(params, feat[1:], method=WorldModel.cont_logit)
    cont = 1.0 - jnp.asarray(is_terminal[:-1], jnp.float32)
    cont_loss = -(
        cont * jax.nn.log_sigmoid(c_logit) + (1 - cont) * jax.nn.log_sigmoid(-c_logit)
    )
    kl = jax.vmap(ops.kl_balance_loss, in_axes=(0, 0, None))(
        seen.post, seen.prior, free_nats
    )
    terms = dict(
        recon=recon_loss.mean(),
        reward=reward_loss.mean(),
        cont=cont_loss.mean(),
        dynamics=kl.dynamics.mean(),
        representation=kl.representation.mean(),
        kl=kl.kl.mean(),
    )
    loss = (
        terms["recon"]
        + terms["reward"]
        + terms["cont"]
        + dyn_scale * terms["dynamics"]
        + rep_scale * terms["representation"]
    )
    return ModelLoss(loss=loss, **terms), seen


def imagine(
    model: WorldModel,
    params: Any,
    policy,
    key: jax.Array,
    start: RSSMState,
    horizon: int,
) -> tuple[RSSMState, jax.Array]:
    """Roll the prior forward from ``start`` under ``policy``.

    Args:
        model, params: the world model and its parameters.
        policy: ``(key, feat [..., F]) -> action`` (as the env takes it).
        key: PRNG key.
        start: the states to start from, leaves ``[N, ...]``.
        horizon: imagined steps ``H``.

    Returns:
        ``(states, actions)``: the states ``s_0 .. s_H`` with leaves ``[H + 1,
        N, ...]`` (``s_0 = start``) and the actions ``a_0 .. a_{H-1}``, ``[H,
        N, ...]``.
    """

    def step(state, step_key):
        act_key, img_key = jax.random.split(step_key)
        action = policy(act_key, features(state))
        a_in = model.apply(params, action, method=WorldModel.action_input)
        nxt, _ = model.apply(params, img_key, state, a_in, method=WorldModel.img_step)
        return nxt, (nxt, action)

    _, (states, actions) = jax.lax.scan(step, start, jax.random.split(key, horizon))
    states = jax.tree.map(
        lambda s0, s: jnp.concatenate([s0[None], s], 0), start, states
    )
    return states, actions


class OpenLoop(NamedTuple):
    """Predictions of :func:`open_loop` for slots ``context .. L - 1``."""

    obs: jax.Array  # decoded, in the observations' own space, [L - context, ...]
    reward: jax.Array  # [L - context]
    cont: jax.Array  # continue probabilities, [L - context]


def open_loop(
    model: WorldModel,
    params: Any,
    key: jax.Array,
    obs: jax.Array,
    action: jax.Array,
    is_first: jax.Array,
    context: int,
    bins: jax.Array,
) -> OpenLoop:
    """The model's open-loop predictions of a real sequence: observe slots
    ``0 .. context - 1``, then imagine the rest with the real actions and
    never see another observation (DreamerV3's open-loop video predictions).

    Args:
        model, params, key: the world model, its parameters, a PRNG key.
        obs, action, is_first: a real sequence, ``[L, ...]`` (one episode
            from slot 0: later ``is_first`` flags are not applied).
        context: observed slots, ``1 <= context < L``.
        bins: the reward head's bins.

    Returns:
        :class:`OpenLoop` for slots ``context .. L - 1``: decoded observations
        (``symexp`` of the decoder's output for vectors, ``[0, 1]`` images),
        predicted rewards (of the step into each slot) and continue
        probabilities.
    """
    length = is_first.shape[0]
    if not 1 <= context < length:
        raise ValueError(f"context={context} must be in [1, {length - 1}]")
    obs_key, img_key = jax.random.split(key)
    seen = observe(
        model, params, obs_key, obs[:context], action[:context], is_first[:context]
    )
    state = jax.tree.map(lambda x: x[-1], seen.states)

    def step(state, inputs):
        k, a_prev = inputs
        a_in = model.apply(params, a_prev, method=WorldModel.action_input)
        state, _ = model.apply(params, k, state, a_in, method=WorldModel.img_step)
        feat = features(state)
        recon = model.apply(params, feat, method=WorldModel.decode)
        logits = model.apply(params, feat, method=WorldModel.reward_logits)
        cont = jax.nn.sigmoid(model.apply(params, feat, method=WorldModel.cont_logit))
        return state, (recon, ops.two_hot_mean(logits, bins), cont)

    keys = jax.random.split(img_key, length - context)
    _, (recon, reward, cont) = jax.lax.scan(
        step, state, (keys, action[context - 1 : -1])
    )
    if model.torso == "mlp":
        recon = ops.symexp(recon).reshape((length - context,) + obs.shape[1:])
    else:
        recon = recon.reshape((length - context,) + model.obs_shape)
    return OpenLoop(obs=recon, reward=reward, cont=cont)
