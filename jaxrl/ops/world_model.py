"""Ops of a DreamerV3-style world model (Hafner et al., 2023, "Mastering
Diverse Domains through World Models", arXiv:2301.04104).

Unbatched and pure like every op here: the caller maps them over batch and
time with :func:`jax.vmap`. The lambda-return over imagined trajectories is
:func:`jaxrl.ops.lambda_returns` with ``discount_t = gamma * continue_t`` and
``done_t = 0`` (see :func:`imagined_lambda_returns`).
"""

import chex
import jax
import jax.numpy as jnp
from flax import struct
from jax.typing import ArrayLike

from jaxrl.ops.returns import lambda_returns


def symlog(x: ArrayLike) -> jax.Array:
    """``symlog(x) = sign(x) * log(1 + |x|)`` (DreamerV3, eq. 9): squashes
    large magnitudes, the identity near 0, and is its own sign's mirror."""
    x = jnp.asarray(x)
    return jnp.sign(x) * jnp.log1p(jnp.abs(x))


def symexp(x: ArrayLike) -> jax.Array:
    """``symexp(x) = sign(x) * (exp(|x|) - 1)``, the inverse of
    :func:`symlog`."""
    x = jnp.asarray(x)
    return jnp.sign(x) * jnp.expm1(jnp.abs(x))


def symexp_bins(num_bins: int = 255, low: float = -20.0, high: float = 20.0):
    """The two-hot heads' bins: ``symexp`` of ``num_bins`` points spaced evenly
    over ``[low, high]`` in symlog space (DreamerV3: 255 bins over
    ``[-20, 20]``), so they are dense near 0 and reach ``+-symexp(20) ~ 4.9e8``.

    Built from the half-grid ``[low, 0]`` mirrored, so the bins are exactly
    symmetric and 0 is a bin when ``num_bins`` is odd (as DreamerV3's code
    does): a zero-initialised head then predicts exactly 0.

    Returns:
        the bins, ascending, shape ``[num_bins]``.
    """
    if num_bins < 2:
        raise ValueError(f"num_bins must be at least 2, got {num_bins}")
    if not low < high:
        raise ValueError(f"need low < high, got low={low}, high={high}")
    if num_bins % 2 == 1 and low == -high:
        half = symexp(jnp.linspace(low, 0.0, (num_bins - 1) // 2 + 1))
        return jnp.concatenate([half, -half[:-1][::-1]])
    return symexp(jnp.linspace(low, high, num_bins))


def two_hot(x: ArrayLike, bins: ArrayLike) -> jax.Array:
    """Two-hot encoding of a scalar over ascending bins (DreamerV3, eq. 10).

    With ``b_k <= x < b_{k+1}`` the weights are ``(b_{k+1} - x) / (b_{k+1} -
    b_k)`` on ``k`` and ``(x - b_k) / (b_{k+1} - b_k)`` on ``k + 1``, zero
    elsewhere, so ``sum_i w_i b_i = x`` exactly: decoding the encoding gives
    the scalar back. Values outside the bins are clipped to the end bins.

    Args:
        x: the scalar, shape ``[]``.
        bins: ascending bins, shape ``[K]`` (e.g. :func:`symexp_bins`).

    Returns:
        the weights, non-negative and summing to 1, shape ``[K]``.
    """
    x, bins = jnp.asarray(x), jnp.asarray(bins)
    chex.assert_rank([x, bins], [0, 1])
    dtype = jnp.result_type(x.dtype, bins.dtype, jnp.float32)
    x, bins = x.astype(dtype), bins.astype(dtype)
    x = jnp.clip(x, bins[0], bins[-1])
    k = jnp.clip(jnp.searchsorted(bins, x, side="right") - 1, 0, bins.size - 2)
    lo, hi = bins[k], bins[k + 1]
    w_hi = (x - lo) / (hi - lo)
    num = bins.size
    return (1 - w_hi) * jax.nn.one_hot(k, num, dtype=dtype) + w_hi * jax.nn.one_hot(
        k + 1, num, dtype=dtype
    )


def two_hot_mean(logits: ArrayLike, bins: ArrayLike) -> jax.Array:
    """The expected value of a two-hot head: ``sum_i softmax(logits)_i b_i``.

    Each bin's product is added to its mirror image's before the sum (as
    DreamerV3's code does), so the huge symmetric outer bins cancel before
    they meet the small inner ones: a head with equal logits decodes to
    exactly 0 on any backend.

    Args:
        logits: shape ``[K]``.
        bins: shape ``[K]``.

    Returns:
        the scalar, shape ``[]``.
    """
    logits, bins = jnp.asarray(logits), jnp.asarray(bins)
    chex.assert_rank([logits, bins], 1)
    chex.assert_equal_shape([logits, bins])
    pb = jax.nn.softmax(logits) * bins
    n = bins.size // 2
    # each product added to its mirror's first, so equal weights on
    # symmetric bins cancel exactly whatever the reduction order
    pairs = pb[:n] + pb[bins.size - n :][::-1]
    return jnp.sum(pairs) + jnp.sum(pb[n : bins.size - n])


def two_hot_loss(logits: ArrayLike, x: ArrayLike, bins: ArrayLike) -> jax.Array:
    """Cross-entropy of a two-hot head against the two-hot target of ``x``:
    ``-sum_i two_hot(x)_i log softmax(logits)_i`` (the target is constant).

    Args:
        logits: shape ``[K]``.
        x: the target scalar (in the bins' space, not symlog), shape ``[]``.
        bins: shape ``[K]``.

    Returns:
        the loss, shape ``[]``.
    """
    logits = jnp.asarray(logits)
    chex.assert_rank(logits, 1)
    target = jax.lax.stop_gradient(two_hot(x, bins))
    return -jnp.sum(target * jax.nn.log_softmax(logits))


def unimix_logits(logits: ArrayLike, unimix: float = 0.01) -> jax.Array:
    """Logits of ``(1 - unimix) * softmax(logits) + unimix / K`` over the last
    axis (DreamerV3's 1% uniform mix: no class's probability reaches 0, so
    the KL terms stay bounded).

    Args:
        logits: shape ``[..., K]``.
        unimix: the uniform share, in ``[0, 1)``.
    """
    logits = jnp.asarray(logits)
    if unimix == 0:
        return jax.nn.log_softmax(logits)
    probs = jax.nn.softmax(logits)
    probs = (1 - unimix) * probs + unimix / logits.shape[-1]
    return jnp.log(probs)


def straight_through_sample(key: jax.Array, logits: ArrayLike) -> jax.Array:
    """A one-hot sample of each categorical over the last axis, with
    straight-through gradients: ``onehot + p - stop_gradient(p)`` (Bengio et
    al., 2013), whose value is the sample and whose gradient is that of
    ``p = softmax(logits)``.

    Args:
        key: PRNG key.
        logits: shape ``[..., K]``.

    Returns:
        one-hot samples, shape ``[..., K]``.
    """
    logits = jnp.asarray(logits)
    idx = jax.random.categorical(key, logits)
    onehot = jax.nn.one_hot(idx, logits.shape[-1], dtype=logits.dtype)
    p = jax.nn.softmax(logits)
    return onehot + p - jax.lax.stop_gradient(p)


def categorical_kl(p_logits: ArrayLike, q_logits: ArrayLike) -> jax.Array:
    """``KL(p || q) = sum_k p_k (log p_k - log q_k)`` summed over the last
    axis and over every other axis of one latent (a ``[S, K]`` latent of
    ``S`` categoricals: the sum of their KLs, as the categoricals are
    independent).

    Args:
        p_logits, q_logits: shape ``[S, K]`` (or ``[K]``).

    Returns:
        the KL, shape ``[]``.
    """
    p_logits, q_logits = jnp.asarray(p_logits), jnp.asarray(q_logits)
    chex.assert_rank(p_logits, {1, 2})
    chex.assert_equal_shape([p_logits, q_logits])
    log_p = jax.nn.log_softmax(p_logits)
    log_q = jax.nn.log_softmax(q_logits)
    return jnp.sum(jnp.exp(log_p) * (log_p - log_q))


class KLBalance(struct.PyTreeNode):
    """The two KL terms of :func:`kl_balance_loss` (before weighting)."""

    dynamics: jax.Array
    representation: jax.Array
    kl: jax.Array


def kl_balance_loss(
    post_logits: ArrayLike,
    prior_logits: ArrayLike,
    free_nats: float = 1.0,
) -> KLBalance:
    """DreamerV3's KL balancing with free bits (eq. 5), for one step:

    ::

        L_dyn = max(free, KL(sg(posterior) || prior))
        L_rep = max(free, KL(posterior || sg(prior)))

    ``L_dyn`` trains the prior (the dynamics predictor) towards the
    posterior; ``L_rep`` trains the posterior (the representation) towards
    the prior. The free bits clip each term below ``free`` nats: once the KL
    is that small its gradient is zero, so the model spends its capacity on
    the prediction loss. The loss is ``0.5 * L_dyn + 0.1 * L_rep`` with
    DreamerV3's weights (the world model's loss applies them).

    Args:
        post_logits: posterior logits (after unimix), shape ``[S, K]``.
        prior_logits: prior logits (after unimix), shape ``[S, K]``.
        free_nats: the free bits, in nats.

    Returns:
        ``KLBalance(dynamics, representation, kl)``, scalars; ``kl`` is the
        unclipped KL for logging.
    """
    sg = jax.lax.stop_gradient
    dyn = categorical_kl(sg(post_logits), prior_logits)
    rep = categorical_kl(post_logits, sg(prior_logits))
    return KLBalance(
        dynamics=jnp.maximum(dyn, free_nats),
        representation=jnp.maximum(rep, free_nats),
        kl=sg(dyn),
    )


class ReturnScale(struct.PyTreeNode):
    """EMAs of the 5th and 95th percentiles of the imagined returns."""

    low: jax.Array
    high: jax.Array
    count: jax.Array


def return_scale_init() -> ReturnScale:
    """The scale before any update (``S = 0``, so ``max(1, S) = 1``)."""
    z = jnp.zeros((), jnp.float32)
    return ReturnScale(low=z, high=z, count=jnp.zeros((), jnp.int32))


def return_scale_update(
    state: ReturnScale,
    returns: ArrayLike,
    decay: float = 0.99,
    low_pct: float = 5.0,
    high_pct: float = 95.0,
) -> ReturnScale:
    """One update of DreamerV3's return normaliser (eq. 7):
    ``S = EMA(Per(R, 95) - Per(R, 5), decay)`` over a batch of returns.

    The two percentiles are averaged separately (``S = high - low``; the EMA
    is linear, so this is the EMA of the range) and debiased as Adam does:
    ``low_n = (1 - decay) sum_i decay^(n-i) Per_i / (1 - decay^n)``, so the
    first update gives the first batch's range rather than ``1 - decay`` of
    it.

    Args:
        state: the current :class:`ReturnScale`.
        returns: a batch of returns, any shape (flattened; gradients stopped).
        decay: the EMA's decay.
        low_pct, high_pct: the percentiles, in ``[0, 100]``.

    Returns:
        the updated state.
    """
    r = jax.lax.stop_gradient(jnp.asarray(returns, jnp.float32)).reshape(-1)
    lo = jnp.percentile(r, low_pct)
    hi = jnp.percentile(r, high_pct)
    n = state.count + 1
    # Undo the previous debias, update the raw EMA, debias again.
    prev = 1 - decay ** state.count.astype(jnp.float32)
    now = 1 - decay ** n.astype(jnp.float32)
    low = (decay * state.low * prev + (1 - decay) * lo) / now
    high = (decay * state.high * prev + (1 - decay) * hi) / now
    return ReturnScale(low=low, high=high, count=n)


def return_scale(state: ReturnScale) -> jax.Array:
    """``max(1, S)`` with ``S = high - low``: returns are divided by it, so
    large returns are scaled down and small ones are not scaled up (which
    would amplify noise in sparse-reward tasks)."""
    return jnp.maximum(1.0, state.high - state.low)


def imagined_lambda_returns(
    r_t: ArrayLike,
    continue_t: ArrayLike,
    v_t: ArrayLike,
    gamma: ArrayLike,
    lambda_: ArrayLike = 0.95,
    *,
    stop_target_gradients: bool = True,
) -> jax.Array:
    """DreamerV3's lambda-returns over an imagined trajectory (eq. 8):

    ::

        R_t = r_t + gamma c_t ((1 - lambda) v_t + lambda R_{t+1}),  R_H = v_H

    where ``r_t, c_t`` are the predicted reward and continue probability on
    reaching imagined state ``t + 1`` and ``v_t`` its value. This is
    :func:`jaxrl.ops.lambda_returns` with ``discount_t = gamma * c_t`` and no
    hard episode boundaries: a predicted episode end weighs the future by
    ``c_t``, and the last step bootstraps from ``v_{H-1}``.

    Args:
        r_t: predicted rewards, shape ``[H]``.
        continue_t: predicted continue probabilities (or flags), ``[H]``.
        v_t: values of the states reached, shape ``[H]``.
        gamma: discount, scalar.
        lambda_: scalar or ``[H]``.
        stop_target_gradients: stop gradients into ``v_t`` (False when the
            actor learns by backpropagating the returns through the model).

    Returns:
        the returns, shape ``[H]``.
    """
    continue_t = jnp.asarray(continue_t)
    chex.assert_rank(continue_t, 1)
    discount = jnp.asarray(gamma) * continue_t
    return lambda_returns(
        r_t,
        discount,
        v_t,
        jnp.zeros_like(continue_t),
        lambda_,
        stop_target_gradients=stop_target_gradients,
    )
