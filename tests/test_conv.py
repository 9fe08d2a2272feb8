"""Tests for jaxrl.conv: the convolution with a loop-friendly CPU gradient.

Small shapes (batch 2, a few channels) so each case compiles in well under a
second."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from jaxrl import conv
from jaxrl.nets import MinAtarCNN, NatureCNN

NHWC = ("NHWC", "HWIO", "NHWC")


@pytest.mark.parametrize(
    "size, channels, kernel, stride, padding",
    [
        (84, 2, 8, 4, "VALID"),  # Nature CNN's first layer
        (20, 3, 4, 2, "VALID"),
        (10, 3, 3, 1, "VALID"),  # MinAtar
        (10, 3, 3, 1, "SAME"),
        (11, 2, 4, 3, "VALID"),  # a stride that leaves input rows unused
        (10, 2, 4, 2, ((1, 2), (0, 1))),  # explicit, uneven padding
    ],
)
def test_values_and_gradients_equal_lax(size, channels, kernel, stride, padding):
    kx, kw, kg = jax.random.split(jax.random.key(0), 3)
    x = jax.random.normal(kx, (2, size, size + 1, channels))
    w = jax.random.normal(kw, (kernel, kernel, channels, 5))

    def ref(x, w):
        return lax.conv_general_dilated(
            x, w, (stride, stride), padding, dimension_numbers=NHWC
        )

    def ours(x, w):
        return conv.conv_general_dilated(x, w, (stride, stride), padding)

    y_ref, vjp_ref = jax.vjp(ref, x, w)
    y, vjp = jax.vjp(ours, x, w)
    np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-5)
    g = jax.random.normal(kg, y.shape)
    for ours_grad, ref_grad in zip(vjp(g), vjp_ref(g), strict=True):
        assert ours_grad.shape == ref_grad.shape
        np.testing.assert_allclose(ours_grad, ref_grad, rtol=1e-4, atol=1e-4)


def test_unsupported_convolutions_are_refused():
    x, w = jnp.ones((1, 5, 5, 2)), jnp.ones((3, 3, 2, 4))
    with pytest.raises(ValueError, match="dilation"):
        conv.conv_general_dilated(x, w, (1, 1), "VALID", rhs_dilation=(2, 2))
    with pytest.raises(ValueError, match="feature_group_count"):
        conv.conv_general_dilated(
            x, jnp.ones((3, 3, 1, 4)), (1, 1), "VALID", feature_group_count=2
        )
    with pytest.raises(ValueError, match="dimension numbers"):
        conv.conv_general_dilated(
            x, w, (1, 1), "VALID", dimension_numbers=("NCHW", "OIHW", "NCHW")
        )


@pytest.mark.parametrize(
    "torso, obs",
    [
        (NatureCNN(), jnp.zeros((2, 4, 84, 84), jnp.uint8)),
        (MinAtarCNN(), jnp.zeros((2, 10, 10, 4))),
    ],
)
def test_the_gradient_in_a_scan_compiles_to_canonical_convolutions(torso, obs):
    """The regression this module exists for: inside a scan body every
    convolution of the CNN's gradient is in XLA:CPU's canonical form (the one
    its fast Eigen kernels take), so none falls back to a naive loop."""
    if jax.default_backend() != "cpu":
        pytest.skip("the canonical form matters to XLA:CPU only")
    params = torso.init(jax.random.key(0), obs)

    def step(p, x):
        g = jax.grad(lambda p: torso.apply(p, x).sum())(p)
        return jax.tree.map(lambda a, b: a - 1e-3 * b, p, g), None

    xs = jnp.stack([obs, obs])
    hlo = (
        jax.jit(lambda p, xs: lax.scan(step, p, xs)[0])
        .lower(params, xs)
        .compile()
        .as_text()
    )
    labels = re.findall(r"convolution\(.*?dim_labels=([\w>-]+)", hlo)
    assert len(labels) >= 2  # forward and kernel gradient (and input gradients)
    assert set(labels) == {"b01f_01io->b01f"}, labels
