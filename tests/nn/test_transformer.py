import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from sensorimotor.nn.transformer import MultiHeadAttention, Transformer, transformer_flops


def test_transformer_shapes_and_attention_capture():
    model = Transformer(3, 16, 4, rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(0), (2, 5, 16))
    graphdef, params = nnx.split(model)
    y, weights = jax.jit(lambda x: nnx.merge(graphdef, params)(x, return_attention=True))(x)
    assert y.shape == (2, 5, 16)
    assert len(weights) == 3
    for w in weights:
        assert w.shape == (2, 4, 5, 5)
        np.testing.assert_allclose(np.asarray(w).sum(-1), 1.0, rtol=1e-5)
    y2, none = jax.jit(lambda x: nnx.merge(graphdef, params)(x))(x)
    assert none is None
    np.testing.assert_allclose(np.asarray(y), np.asarray(y2), rtol=1e-6, atol=1e-6)


def test_key_mask_keeps_padding_out_of_attention():
    attn = MultiHeadAttention(8, 2, rngs=nnx.Rngs(1))
    x = jax.random.normal(jax.random.key(1), (1, 4, 8))
    mask = jnp.array([[True, True, False, False]])
    graphdef, params = nnx.split(attn)
    forward = jax.jit(lambda x: nnx.merge(graphdef, params)(x, mask, return_attention=True))
    y, w = forward(x)
    assert np.all(np.asarray(w)[..., 2:] == 0)
    # Changing a padded token changes nothing for the real ones.
    x2 = x.at[0, 3].set(100.0)
    y2, _ = forward(x2)
    np.testing.assert_allclose(np.asarray(y)[0, :2], np.asarray(y2)[0, :2], rtol=1e-5, atol=1e-6)
    # The same without the weights (the deferred-normalisation path).
    plain = jax.jit(lambda x: nnx.merge(graphdef, params)(x, mask)[0])
    np.testing.assert_allclose(np.asarray(plain(x)), np.asarray(y), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(np.asarray(plain(x2))[0, :2], np.asarray(y)[0, :2], atol=1e-6)


def test_pre_norm_residual_block_is_identity_plus_updates_at_depth_zero():
    model = Transformer(0, 8, 2, final_norm=False, rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(2), (1, 3, 8))
    y, _ = model(x)
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_bad_sizes_are_clear_errors():
    with pytest.raises(ValueError, match="divisible by heads"):
        MultiHeadAttention(10, 3, rngs=nnx.Rngs(0))


def test_flops_grow_with_tokens_and_depth():
    assert transformer_flops(10, 16, 2) > transformer_flops(5, 16, 2) > 0
    assert transformer_flops(10, 16, 2) == 2 * transformer_flops(10, 16, 1)
