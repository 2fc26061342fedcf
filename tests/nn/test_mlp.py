import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from sensorimotor.nn.mlp import MLP


@pytest.mark.parametrize("batch", [(), (1,), (5, 3)])
@pytest.mark.parametrize("layer_norm", [False, True])
def test_mlp_shapes_and_finite(batch, layer_norm):
    mlp = MLP(4, [8, 8], 2, activation="mish", layer_norm=layer_norm, rngs=nnx.Rngs(0))
    y = mlp(jnp.ones((*batch, 4)))
    assert y.shape == (*batch, 2)
    assert np.isfinite(np.asarray(y)).all()


def test_zero_output_scale_gives_zero_output():
    mlp = MLP(3, [5], 2, output_scale=0.0, rngs=nnx.Rngs(0))
    np.testing.assert_array_equal(np.asarray(mlp(jnp.ones((2, 3)))), 0.0)


def test_unknown_activation_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown activation 'sigmoidish'"):
        MLP(3, [5], 2, activation="sigmoidish", rngs=nnx.Rngs(0))
