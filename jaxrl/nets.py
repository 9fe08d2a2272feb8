"""Network building blocks (flax.linen).

Torsos map observations to features; heads map features to what an op needs:
logits for :func:`jaxrl.ops.policy.categorical_log_prob`, ``(mean, log_std)``
for the Gaussian and tanh-Gaussian ops, a scalar value, or Q-values. Modules
work on a single observation or on any leading batch shape.

Initialisation follows the PPO implementations (Engstrom et al., 2020;
Huang et al., 2022, "The 37 implementation details of PPO"): orthogonal
weights with gain ``sqrt(2)`` in hidden layers, ``0.01`` for the policy output
and ``1`` for the value output, zero biases.
"""

import math
from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxrl import conv

_ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "tanh": nn.tanh,
    "relu": nn.relu,
}


def _activation(name: str) -> Callable[[jax.Array], jax.Array]:
    try:
        return _ACTIVATIONS[name]
    except KeyError:
        raise ValueError(
            f"unknown activation {name!r}; allowed: {sorted(_ACTIVATIONS)}"
        ) from None


def orthogonal(scale: float = 1.0) -> Callable[..., jax.Array]:
    """flax's orthogonal initialiser, one matrix at a time under ``vmap``.

    Under ``vmap`` (many seeds) ``nn.initializers.orthogonal`` becomes one
    batched QR, and on the CPU a program with several batched QRs (actor and
    critic) can hang for good: each runs its batch on the intra-op thread
    pool from inside a pool thread and waits for the others (reproduced with
    jaxlib 0.10 on two cores: ``jit(vmap(...))`` of four 64x64 orthogonal
    inits over 2 or 64 keys never returns). Here a ``vmap`` becomes a
    ``lax.map`` of unbatched QRs (nested ``vmap``s nest the maps): the same
    matrices bit for bit, and initialisation runs once per run.
    """
    base = nn.initializers.orthogonal(scale)

    def init(key: jax.Array, shape: Sequence[int], dtype=jnp.float32) -> jax.Array:
        fn = jax.custom_batching.custom_vmap(lambda k: base(k, shape, dtype))

        @fn.def_vmap
        def rule(axis_size, in_batched, k):
            del axis_size, in_batched  # the key is the only input: batched
            return jax.lax.map(lambda one: init(one, shape, dtype), k), True

        return fn(key)

    return init


def _dense(features: int, scale: float, name: str | None = None) -> nn.Dense:
    return nn.Dense(
        features,
        kernel_init=orthogonal(scale),
        bias_init=nn.initializers.zeros,
        name=name,
    )


class MLP(nn.Module):
    """Multi-layer perceptron torso: ``Dense -> activation`` per hidden size.

    Attributes:
        hidden_sizes: widths of the hidden layers, e.g. ``(64, 64)``.
        activation: ``"tanh"`` (the PPO default) or ``"relu"``.
        kernel_scale: gain of the orthogonal initialisation.
    """

    hidden_sizes: Sequence[int] = (64, 64)
    activation: str = "tanh"
    kernel_scale: float = math.sqrt(2.0)

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        act = _activation(self.activation)
        x = jnp.asarray(x, jnp.float32)
        for size in self.hidden_sizes:
            x = act(_dense(size, self.kernel_scale)(x))
        return x


class CategoricalHead(nn.Module):
    """Policy logits over ``num_actions`` discrete actions, ``[..., A]``."""

    num_actions: int
    kernel_scale: float = 0.01

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        return _dense(self.num_actions, self.kernel_scale)(x)


class GaussianHead(nn.Module):
    """Diagonal Gaussian policy head returning ``(mean, log_std)``, ``[..., D]``.

    With ``state_dependent_std=False`` (PPO) ``log_std`` is a free parameter
    initialised to ``log_std_init``; with ``True`` (SAC) it is a second linear
    output, squashed smoothly into ``[log_std_min, log_std_max]``.

    Attributes:
        action_dim: ``D``.
        state_dependent_std: whether ``log_std`` depends on the input.
        log_std_init: initial value of the free ``log_std``.
        log_std_min, log_std_max: range of the state-dependent ``log_std``.
        kernel_scale: gain of the orthogonal initialisation of the outputs.
    """

    action_dim: int
    state_dependent_std: bool = False
    log_std_init: float = 0.0
    log_std_min: float = -5.0
    log_std_max: float = 2.0
    kernel_scale: float = 0.01

    @nn.compact
    def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        mean = _dense(self.action_dim, self.kernel_scale, name="mean")(x)
        if self.state_dependent_std:
            raw = _dense(self.action_dim, self.kernel_scale, name="log_std")(x)
            # tanh maps the raw output smoothly into [min, max] (as in CleanRL's
            # SAC) rather than clipping, so the gradient never vanishes.
            half_range = 0.5 * (self.log_std_max - self.log_std_min)
            log_std = self.log_std_min + half_range * (jnp.tanh(raw) + 1.0)
        else:
            param = self.param(
                "log_std",
                nn.initializers.constant(self.log_std_init),
                (self.action_dim,),
            )
            log_std = jnp.broadcast_to(param, mean.shape)
        return mean, log_std


class ValueHead(nn.Module):
    """Scalar state value, ``[...]`` (the last axis of the features is dropped)."""

    kernel_scale: float = 1.0

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        return _dense(1, self.kernel_scale)(x)[..., 0]


class QNetwork(nn.Module):
    """One Q-network on an MLP torso, or (discrete actions) on a CNN torso
    named by ``torso`` (see :class:`Torso`; the CNN feeds the head directly).

    With ``num_actions`` set (discrete actions) it maps ``obs`` to ``Q(s, .)``,
    ``[..., A]``; with ``num_actions=None`` (continuous actions) it maps
    ``(obs, action)`` to ``Q(s, a)``, ``[...]``, concatenating the two.
    """

    hidden_sizes: Sequence[int] = (256, 256)
    activation: str = "relu"
    num_actions: int | None = None
    torso: str = "mlp"

    @nn.compact
    def __call__(self, obs: jax.Array, action: jax.Array | None = None) -> jax.Array:
        if self.torso != "mlp":
            if self.num_actions is None or action is not None:
                raise ValueError("a CNN torso serves discrete-action Q-networks")
            x = Torso(self.torso)(obs)
            return _dense(self.num_actions, 1.0)(x)
        if self.num_actions is None:
            if action is None:
                raise ValueError("a continuous-action QNetwork needs an action")
            x = jnp.concatenate(
                [jnp.asarray(obs, jnp.float32), jnp.asarray(action, jnp.float32)],
                axis=-1,
            )
            x = MLP(self.hidden_sizes, self.activation)(x)
            return _dense(1, 1.0)(x)[..., 0]
        if action is not None:
            raise ValueError(
                "a discrete-action QNetwork returns Q(s, .) for every action; "
                "call it with the observation only"
            )
        x = MLP(self.hidden_sizes, self.activation)(obs)
        return _dense(self.num_actions, 1.0)(x)


class TwinQ(nn.Module):
    """Two independent Q-networks (Fujimoto et al., 2018), as used by SAC.

    Returns ``(q1, q2)``: each ``Q(s, a)``, ``[...]``, for continuous actions
    (``num_actions=None``, call with ``(obs, action)``), or each ``Q(s, .)``,
    ``[..., A]``, for discrete actions (call with ``obs``; a CNN ``torso``
    gives each its own).
    """

    hidden_sizes: Sequence[int] = (256, 256)
    activation: str = "relu"
    num_actions: int | None = None
    torso: str = "mlp"

    @nn.compact
    def __call__(
        self, obs: jax.Array, action: jax.Array | None = None
    ) -> tuple[jax.Array, jax.Array]:
        args = (self.hidden_sizes, self.activation, self.num_actions, self.torso)
        q1 = QNetwork(*args, name="q1")
        q2 = QNetwork(*args, name="q2")
        return q1(obs, action), q2(obs, action)


class NatureCNN(nn.Module):
    """The DQN torso of Mnih et al. (2015).

    ``uint8`` frames ``[..., C, H, W]`` as EnvPool gives them (``[..., 4, 84,
    84]`` for Atari; ``channels_first=False`` for ``[..., H, W, C]``), scaled
    by ``1/255`` inside, through ``conv 32 8x8 stride 4 -> conv 64 4x4 stride 2
    -> conv 64 3x3 stride 1 -> dense 512``, each followed by ReLU (VALID
    padding). Returns ``[..., 512]``.
    """

    kernel_scale: float = math.sqrt(2.0)
    channels_first: bool = True

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        if x.ndim < 3:
            layout = (
                "channels, height, width"
                if self.channels_first
                else ("height, width, channels")
            )
            raise ValueError(f"NatureCNN expects [..., {layout}], got {x.shape}")
        x = jnp.asarray(x, jnp.float32) / 255.0
        batch_shape = x.shape[:-3]
        x = x.reshape((-1,) + x.shape[-3:])
        if self.channels_first:
            x = jnp.transpose(x, (0, 2, 3, 1))  # flax convolves [N, H, W, C]
        init = dict(
            kernel_init=orthogonal(self.kernel_scale),
            bias_init=nn.initializers.zeros,
            conv_general_dilated=conv.conv_general_dilated,  # fast in loops on CPU
        )
        x = nn.relu(nn.Conv(32, (8, 8), (4, 4), padding="VALID", **init)(x))
        x = nn.relu(nn.Conv(64, (4, 4), (2, 2), padding="VALID", **init)(x))
        x = nn.relu(nn.Conv(64, (3, 3), (1, 1), padding="VALID", **init)(x))
        x = x.reshape((x.shape[0], -1))
        x = nn.relu(_dense(512, self.kernel_scale)(x))
        return x.reshape(batch_shape + (512,))


class MinAtarCNN(nn.Module):
    """The MinAtar torso of Young & Tian (2019): ``[..., 10, 10, C]`` (gymnax's
    MinAtar layout, bool or float channels) through ``conv 16 3x3 stride 1``
    (VALID) and ``dense 128``, each with ReLU. Returns ``[..., 128]``."""

    kernel_scale: float = math.sqrt(2.0)

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        if x.ndim < 3:
            raise ValueError(
                f"MinAtarCNN expects [..., height, width, channels], got {x.shape}"
            )
        x = jnp.asarray(x, jnp.float32)
        batch_shape = x.shape[:-3]
        x = x.reshape((-1,) + x.shape[-3:])
        init = dict(
            kernel_init=orthogonal(self.kernel_scale),
            bias_init=nn.initializers.zeros,
            conv_general_dilated=conv.conv_general_dilated,  # fast in loops on CPU
        )
        x = nn.relu(nn.Conv(16, (3, 3), (1, 1), padding="VALID", **init)(x))
        x = x.reshape((x.shape[0], -1))
        x = nn.relu(_dense(128, self.kernel_scale)(x))
        return x.reshape(batch_shape + (128,))


TORSOS = ("mlp", "nature_cnn", "minatar_cnn")


class Torso(nn.Module):
    """The torso by name: ``"mlp"`` (observations flattened to a vector first),
    ``"nature_cnn"`` (Atari frames ``[C, H, W]``) or ``"minatar_cnn"``
    (``[10, 10, C]``). ``obs_ndim`` is the rank of one observation, so that any
    leading batch shape passes through."""

    kind: str = "mlp"
    hidden_sizes: Sequence[int] = (64, 64)
    activation: str = "tanh"
    obs_ndim: int = 1

    @nn.compact
    def __call__(self, obs: jax.Array) -> jax.Array:
        if self.kind == "mlp":
            batch = obs.shape[: obs.ndim - self.obs_ndim]
            x = jnp.asarray(obs, jnp.float32).reshape(batch + (-1,))
            return MLP(self.hidden_sizes, self.activation)(x)
        if self.kind == "nature_cnn":
            return NatureCNN()(obs)
        if self.kind == "minatar_cnn":
            return MinAtarCNN()(obs)
        raise ValueError(f"unknown torso {self.kind!r}; choose one of {TORSOS}")


class GRUCore(nn.Module):
    """A recurrent core on top of any torso: ``features -> GRU(hidden)``.

    ``(carry [..., hidden], features [..., F], reset [...]) -> (carry,
    output [..., hidden])``: where ``reset`` holds (a new episode starts at
    this input) the carry is zeroed first, so that no memory leaks across
    episodes (Cho et al., 2014; the GRU of flax.linen).
    """

    hidden: int = 128

    @nn.compact
    def __call__(
        self, carry: jax.Array, features: jax.Array, reset: jax.Array
    ) -> tuple[jax.Array, jax.Array]:
        carry = jnp.where(jnp.asarray(reset)[..., None], 0.0, carry)
        # flax's default recurrent initialiser is its orthogonal one, whose
        # batched QR can hang XLA:CPU under vmap (see orthogonal): use ours.
        cell = nn.GRUCell(self.hidden, recurrent_kernel_init=orthogonal())
        carry, out = cell(carry, features)
        return carry, out

    def initial_carry(self, batch_shape: Sequence[int] = ()) -> jax.Array:
        """The zero state, ``[*batch_shape, hidden]``."""
        return jnp.zeros(tuple(batch_shape) + (self.hidden,), jnp.float32)
