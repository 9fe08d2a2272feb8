"""Invalid steps (EnvPool's delayed auto-reset) weigh nothing: masked means,
losses, advantage standardisation and GAE. Pure functions, so these run
without EnvPool installed."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.agents import common, onpolicy, ppo


def test_masked_mean_drops_invalid_samples():
    x = jnp.array([1.0, 5.0, 100.0, 3.0])
    valid = jnp.array([True, True, False, True])
    np.testing.assert_allclose(common.masked_mean(x, valid), 3.0)
    assert common.masked_mean(x) == x.mean()
    assert common.masked_mean(x, jnp.zeros(4, bool)) == 0.0  # no valid sample
    rows = jnp.arange(8.0).reshape(4, 2)  # [B, 1]-style extra axes broadcast
    expected = rows[jnp.array([0, 1, 3])].mean()
    np.testing.assert_allclose(common.masked_mean(rows, valid), expected)
    grad = jax.grad(lambda x: common.masked_mean(x**2, valid))(x)
    assert grad[2] == 0.0 and grad[0] != 0.0


def test_masked_loss_and_advantages_ignore_invalid_samples():
    key = jax.random.key(1)
    n = 8
    k = jax.random.split(key, 5)
    valid = np.array([1, 1, 0, 1, 0, 1, 1, 1], bool)
    raw = jax.random.normal(k[0], (n,)) * 3.0 + 1.0
    inputs = onpolicy.LossInputs(
        log_prob=jax.random.normal(k[1], (n,)) * 0.1 - 0.7,
        entropy=jnp.full((n,), 0.69),
        value=jax.random.normal(k[2], (n,)),
        old_log_prob=jax.random.normal(k[3], (n,)) * 0.1 - 0.7,
        old_value=jax.random.normal(k[4], (n,)),
        advantage=raw,
        target=raw + 1.0,
    )
    # Standardisation uses the valid samples' mean and (population) std only.
    adv = onpolicy.standardize(raw, valid)
    r = np.asarray(raw)[valid]
    np.testing.assert_allclose(
        np.asarray(adv)[valid], (r - r.mean()) / (r.std() + 1e-8), rtol=1e-5
    )
    np.testing.assert_array_equal(np.asarray(adv)[~valid], 0.0)
    np.testing.assert_allclose(
        onpolicy.standardize(raw),
        onpolicy.standardize(raw, np.ones(n, bool)),
        rtol=1e-5,
        atol=1e-6,
    )

    loss_fn = ppo.make_loss(ppo.Config())
    hp = jax.tree.map(jnp.float32, ppo.HParams())
    inputs = inputs._replace(advantage=adv)
    masked, aux = onpolicy.mean_loss(loss_fn, hp, inputs, valid)
    subset = jax.tree.map(lambda x: x[valid], inputs)
    # The reference: the plain mean of the per-sample losses of the valid ones.
    ref, ref_aux = jax.vmap(lambda x: loss_fn(hp, x))(subset)
    ref, ref_aux = ref.mean(), {k: v.mean() for k, v in ref_aux.items()}
    np.testing.assert_allclose(masked, ref, rtol=1e-5)
    for name in ref_aux:
        np.testing.assert_allclose(aux[name], ref_aux[name], rtol=1e-5, atol=1e-7)
    # Garbage in an invalid sample changes nothing, and gets no gradient.
    junk = inputs._replace(
        value=inputs.value.at[2].set(1e3), target=inputs.target.at[4].set(-1e3)
    )
    np.testing.assert_allclose(
        onpolicy.mean_loss(loss_fn, hp, junk, valid)[0], masked, rtol=1e-6
    )
    grad = jax.grad(lambda x: onpolicy.mean_loss(loss_fn, hp, x, valid)[0])(inputs)
    for leaf in (grad.log_prob, grad.value, grad.entropy):
        np.testing.assert_array_equal(np.asarray(leaf)[~valid], 0.0)


def test_gae_is_cut_before_the_delayed_reset_step():
    # t=1 ends the episode (truncated); t=2 is the delayed reset (invalid).
    # done_1 cuts A_1 from A_2, so whatever the invalid step holds, the valid
    # steps' advantages are the same.
    def adv(r2, v2):
        v_tm1 = jnp.array([[0.5], [0.2], [v2], [0.1]])
        r = jnp.array([[1.0], [1.0], [r2], [1.0]])
        trunc = jnp.array([[False], [True], [False], [False]])
        v_t = jnp.array([[0.2], [0.3], [0.0], [0.4]])
        return onpolicy.compute_advantages(
            v_tm1, r, jnp.zeros_like(trunc), trunc, v_t, 0.9, 0.95
        )[0]

    a, b = adv(0.0, 0.0), adv(100.0, -50.0)
    np.testing.assert_array_equal(a[:2], b[:2])
    np.testing.assert_array_equal(a[3:], b[3:])
