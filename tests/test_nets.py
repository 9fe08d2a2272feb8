"""Tests for jaxrl.nets: shapes, initialisation, transforms.

The tests use few distinct layer shapes (observations of size 3, hidden layers of
8, 2 actions) and eager calls, so the small compiled kernels are shared between
tests and the file runs in seconds on a CPU.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.nets import (
    MLP,
    CategoricalHead,
    GaussianHead,
    GRUCore,
    NatureCNN,
    QNetwork,
    Torso,
    TwinQ,
    ValueHead,
)

KEY = jax.random.key(0)
OBS = jnp.ones((4, 3))  # a batch of 4 observations of size 3


def test_mlp_shapes_activation_and_init():
    mlp = MLP((8, 8), activation="relu")
    params = mlp.init(KEY, OBS[0])
    out = mlp.apply(params, jnp.ones((2, 4, 3)))
    assert out.shape == (2, 4, 8)
    assert np.all(np.asarray(out) >= 0)  # relu on the last layer too
    k = params["params"]["Dense_0"]["kernel"]
    # Orthogonal with gain sqrt(2): the 3 rows of the 3x8 kernel are orthogonal,
    # each with squared norm 2.
    np.testing.assert_allclose(k @ k.T, 2 * np.eye(3), atol=1e-5)
    assert np.all(params["params"]["Dense_0"]["bias"] == 0)
    tanh = MLP((8, 8))
    tanh_out = tanh.apply(tanh.init(KEY, OBS[0]), 100 * OBS)
    assert np.all(np.abs(np.asarray(tanh_out)) <= 1)


def test_mlp_bad_activation():
    with pytest.raises(ValueError, match="allowed"):
        MLP((8,), activation="gelu").init(KEY, OBS[0])


def test_categorical_and_value_heads():
    x = jnp.ones((4, 8))
    head = CategoricalHead(2)
    logits = head.apply(head.init(KEY, x[0]), x)
    assert logits.shape == (4, 2)
    # Gain 0.01: an almost uniform initial policy.
    assert np.max(np.abs(np.asarray(logits))) < 0.1
    v = ValueHead()
    params = v.init(KEY, x[0])
    assert v.apply(params, x).shape == (4,)
    assert v.apply(params, x[0]).shape == ()


def test_gaussian_head_state_independent():
    head = GaussianHead(2, log_std_init=-0.5)
    params = head.init(KEY, jnp.zeros(8))
    mean, log_std = head.apply(params, jnp.ones((4, 8)))
    assert mean.shape == log_std.shape == (4, 2)
    np.testing.assert_allclose(log_std, -0.5)
    assert params["params"]["log_std"].shape == (2,)


def test_gaussian_head_state_dependent_bounds():
    head = GaussianHead(2, state_dependent_std=True, log_std_min=-5.0, log_std_max=2.0)
    params = head.init(KEY, jnp.zeros(8))
    x = jnp.asarray(1e4 * np.random.default_rng(0).standard_normal((4, 8)))
    _, log_std = head.apply(params, x)
    assert np.all((np.asarray(log_std) >= -5.0) & (np.asarray(log_std) <= 2.0))
    _, log_std0 = head.apply(params, jnp.zeros(8))
    np.testing.assert_allclose(log_std0, -1.5, atol=1e-6)  # the middle of the range


def test_twin_q_continuous():
    net = TwinQ((8, 8))
    obs, act = jnp.ones((4, 1)), jnp.ones((4, 2))  # concatenated: size 3
    params = net.init(KEY, obs[0], act[0])
    q1, q2 = net.apply(params, obs, act)
    assert q1.shape == q2.shape == (4,)
    assert not np.allclose(q1, q2)  # independent parameters
    assert set(params["params"]) == {"q1", "q2"}
    with pytest.raises(ValueError, match="needs an action"):
        net.apply(params, obs)


def test_twin_q_discrete():
    net = TwinQ((8, 8), num_actions=2)
    params = net.init(KEY, OBS[0])
    q1, q2 = net.apply(params, OBS)
    assert q1.shape == q2.shape == (4, 2)
    assert not np.allclose(q1, q2)
    with pytest.raises(ValueError, match="observation only"):
        net.apply(params, OBS[0], jnp.ones(2))
    q = QNetwork((8, 8), num_actions=2)
    assert q.apply(q.init(KEY, OBS[0]), OBS[0]).shape == (2,)


def test_nature_cnn():
    net = NatureCNN()
    frame = jnp.zeros((4, 84, 84), jnp.uint8)  # [C, H, W], as EnvPool gives it
    # Shapes from a traced init (the orthogonal init of the 3136x512 kernel is a
    # QR that costs seconds on a CPU, so the values below are random instead).
    shapes = jax.eval_shape(net.init, KEY, frame)
    p = shapes["params"]
    assert p["Conv_0"]["kernel"].shape == (8, 8, 4, 32)
    assert p["Conv_1"]["kernel"].shape == (4, 4, 32, 64)
    assert p["Conv_2"]["kernel"].shape == (3, 3, 64, 64)
    # 84 -> (84 - 8) / 4 + 1 = 20 -> (20 - 4) / 2 + 1 = 9 -> 9 - 3 + 1 = 7:
    # 7 * 7 * 64 = 3136 features into the 512-unit layer.
    assert p["Dense_0"]["kernel"].shape == (3136, 512)
    # numpy draws: jax.random would compile a kernel for every distinct shape.
    rng = np.random.default_rng(0)
    params = jax.tree.map(
        lambda x: jnp.asarray(0.05 * rng.standard_normal(x.shape), jnp.float32),
        shapes,
    )
    frames = jnp.asarray(rng.integers(0, 256, (2, 3, 4, 84, 84)), jnp.uint8)
    cnn = jax.jit(net.apply)
    out = cnn(params, frames)
    assert out.shape == (2, 3, 512) and np.all(np.asarray(out) >= 0)
    assert np.any(np.asarray(out) > 0)
    # Unbatched equals batched; a float input of the same pixel values gives the
    # same features (both are divided by 255).
    np.testing.assert_allclose(cnn(params, frames[1, 2]), out[1, 2], atol=1e-4)
    ref = cnn(params, frames[0, 0].astype(jnp.float32))
    np.testing.assert_allclose(ref, out[0, 0], atol=1e-4)
    # [H, W, C] frames with channels_first=False: the same features.
    last = jax.jit(NatureCNN(channels_first=False).apply)
    hwc = jnp.moveaxis(frames[0, 0], 0, -1)
    np.testing.assert_allclose(last(params, hwc), out[0, 0], atol=1e-4)


def test_minatar_cnn_and_torso_by_name():
    obs = jnp.asarray(np.random.default_rng(1).random((5, 10, 10, 4)) < 0.3)
    torso = Torso("minatar_cnn", obs_ndim=3)
    params = torso.init(KEY, obs[0])
    kernel = params["params"]["MinAtarCNN_0"]["Conv_0"]["kernel"]
    assert kernel.shape == (3, 3, 4, 16)
    # (10 - 3 + 1)^2 * 16 = 1024 features into the 128-unit layer.
    dense = params["params"]["MinAtarCNN_0"]["Dense_0"]["kernel"]
    assert dense.shape == (1024, 128)
    out = torso.apply(params, obs)
    assert out.shape == (5, 128) and np.all(np.asarray(out) >= 0)
    # An MLP torso flattens an observation of any rank.
    mlp = Torso("mlp", (8,), obs_ndim=3)
    assert mlp.apply(mlp.init(KEY, obs[0]), obs).shape == (5, 8)
    with pytest.raises(ValueError, match="unknown torso 'resnet'"):
        Torso("resnet").init(KEY, obs[0])


def test_gru_core_resets_its_memory_where_an_episode_starts():
    core = GRUCore(hidden=6)
    x = jnp.asarray(np.random.default_rng(2).standard_normal((3, 4)), jnp.float32)
    carry = core.initial_carry((3,))
    params = core.init(KEY, carry, x, jnp.zeros(3, bool))
    h1, _ = core.apply(params, carry, x, jnp.zeros(3, bool))
    assert h1.shape == (3, 6) and np.any(np.asarray(h1) != 0)
    # Second step: env 1 starts an episode, so it sees a zero carry.
    h2, out = core.apply(params, h1, x, jnp.array([False, True, False]))
    np.testing.assert_array_equal(out, h2)
    np.testing.assert_allclose(h2[1], h1[1], atol=1e-6)  # same as from zero
    assert not np.allclose(h2[0], h1[0])  # env 0 remembers


def test_jit_vmap_over_seeds_matches_loop():
    # One set of parameters per seed, initialised and applied under jit(vmap).
    net = MLP((8, 8))
    keys = jax.random.split(KEY, 3)
    params = jax.jit(jax.vmap(net.init, (0, None)))(keys, OBS[0])
    out = jax.jit(jax.vmap(net.apply, (0, None)))(params, OBS)
    assert out.shape == (3, 4, 8)
    for i in range(3):
        ref = net.apply(net.init(keys[i], OBS[0]), OBS)
        np.testing.assert_allclose(out[i], ref, atol=1e-5)


_QR_PROGRAM = """
import jax
from jaxrl.nets import orthogonal

init = orthogonal(2.0)


def four(key):
    keys = jax.random.split(key, 4)
    return [init(k, (64, 64)) for k in keys]


for n in (2, 64):
    keys = jax.random.split(jax.random.key(0), n)
    jax.block_until_ready(jax.jit(jax.vmap(four))(keys))
print("done")
"""


def test_orthogonal_init_under_vmap_matches_flax_and_does_not_hang():
    import subprocess
    import sys

    from flax import linen as nn

    from jaxrl.nets import orthogonal

    keys = jax.random.split(jax.random.key(3), 3)
    ours = jax.jit(jax.vmap(lambda k: orthogonal(0.5)(k, (6, 4))))(keys)
    nested = jax.vmap(jax.vmap(lambda k: orthogonal(0.5)(k, (6, 4))))(keys[None])
    for i, k in enumerate(keys):
        ref = nn.initializers.orthogonal(0.5)(k, (6, 4))
        np.testing.assert_array_equal(ours[i], ref)
        np.testing.assert_array_equal(nested[0, i], ref)
    # flax's batched QR hangs here on a 2-core CPU (four inits over 2 or 64
    # keys); ours must finish. A subprocess, so a hang fails instead of
    # stalling the suite.
    run = subprocess.run(
        [sys.executable, "-c", _QR_PROGRAM], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0 and "done" in run.stdout, run.stderr[-2000:]
