import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from sensorimotor.nn.vit import (
    MAEConfig,
    MaskedAutoencoderViT,
    mae_flops_per_sample,
    mae_loss,
    patch_targets,
    patchify,
    random_mask,
    random_ratio_mask,
    region_mask,
    sincos_pos_embed_2d,
    unpatchify,
)

TINY = MAEConfig(patch_size=4, width=16, depth=1, heads=2, mlp_ratio=2.0)


@pytest.fixture(scope="module")
def model():
    return MaskedAutoencoderViT(TINY, rngs=nnx.Rngs(0))


def jitted(model, mask, keep=None, attention=False):
    """The model's forward pass compiled for one (concrete) mask: eager NNX is slow op by op."""
    graphdef, params = nnx.split(model)
    return jax.jit(
        lambda x: nnx.merge(graphdef, params)(x, mask, keep=keep, return_attention=attention)
    )


CANVAS_MASK = region_mask(2, 6, slice(None), slice(4, 6))  # the last 2 columns = 4 patches


def test_patchify_roundtrip_non_square():
    x = jax.random.uniform(jax.random.key(0), (2, 8, 24, 3))
    p = patchify(x, 4)
    assert p.shape == (2, 2 * 6, 4 * 4 * 3)
    # Patch (row 1, col 2) holds pixels [4:8, 8:12].
    np.testing.assert_array_equal(
        np.asarray(p[0, 1 * 6 + 2]), np.asarray(x[0, 4:8, 8:12]).reshape(-1)
    )
    np.testing.assert_array_equal(np.asarray(unpatchify(p, 4, 8, 24)), np.asarray(x))


def test_patchify_rejects_sizes_the_patch_does_not_divide():
    with pytest.raises(ValueError, match="not divisible by the patch size 4"):
        patchify(jnp.zeros((1, 10, 8, 3)), 4)


def test_sincos_embeddings_any_grid():
    emb = sincos_pos_embed_2d(3, 7, 16)
    assert emb.shape == (21, 16)
    assert np.abs(emb).max() <= 1.0
    assert len({tuple(np.round(r, 5)) for r in emb}) == 21  # every position distinct
    # Half the dims encode y: rows of the same grid row share them.
    np.testing.assert_array_equal(emb[0, :8], emb[6, :8])
    with pytest.raises(ValueError, match="multiple of 4"):
        sincos_pos_embed_2d(2, 2, 6)


def test_explicit_mask_shapes_and_attention(model):
    x = jax.random.uniform(jax.random.key(1), (2, 8, 24, 3))
    out = jitted(model, CANVAS_MASK, attention=True)(x)
    assert out.pred.shape == (2, 12, 48)
    assert out.mask.shape == (2, 12) and int(out.mask.sum()) == 8
    assert [a.shape for a in out.encoder_attention] == [(2, 2, 8, 8)]
    assert [a.shape for a in out.decoder_attention] == [(2, 2, 12, 12)]


def test_encoder_never_sees_masked_patches(model):
    x = jax.random.uniform(jax.random.key(2), (1, 8, 24, 3))
    forward = jitted(model, CANVAS_MASK)
    changed = x.at[:, :, 16:, :].set(0.0)  # only masked pixels differ
    a, b = forward(x).pred, forward(changed).pred
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    visible_change = x.at[:, :, :4, :].set(0.0)
    assert not np.allclose(np.asarray(forward(visible_change).pred), np.asarray(a))


def test_loss_counts_masked_patches_only(model):
    x = jax.random.uniform(jax.random.key(3), (1, 8, 24, 3))
    mask = jnp.asarray(CANVAS_MASK)[None]
    pred = jitted(model, CANVAS_MASK)(x).pred
    base = mae_loss(x, pred, mask, 4)
    # Targets in visible patches do not matter ...
    assert float(mae_loss(x.at[:, :, :16].set(5.0), pred, mask, 4)) == pytest.approx(float(base))
    # ... targets in masked patches do.
    assert float(mae_loss(x.at[:, :, 16:].set(5.0), pred, mask, 4)) > float(base) + 1.0
    # The loss is the mean over masked patches of the per-patch MSE.
    target = patchify(x, 4)
    expected = ((pred - target) ** 2).mean(-1)[mask].mean()
    assert float(base) == pytest.approx(float(expected), rel=1e-5)


def test_norm_pix_targets_are_normalised_per_patch():
    x = jax.random.uniform(jax.random.key(4), (1, 8, 8, 3))
    t = np.asarray(patch_targets(x, 4, norm_pix=True))
    np.testing.assert_allclose(t.mean(-1), 0.0, atol=1e-5)
    np.testing.assert_allclose(t.std(-1), 1.0, atol=1e-3)


def test_random_masks_have_the_requested_ratio():
    mask, keep = random_mask(jax.random.key(0), 3, 20, 0.75)
    assert mask.shape == (3, 20) and keep == 5
    assert (np.asarray(mask).sum(1) == 15).all()
    counts = set()
    for seed in range(20):
        m, keep = random_ratio_mask(jax.random.key(seed), 2, 20, 0.25, 0.75)
        assert keep == 15
        c = np.asarray(m).sum(1)
        assert c[0] == c[1] and 5 <= c[0] <= 15
        counts.add(int(c[0]))
    assert len(counts) > 3  # the ratio is drawn per call


def test_padded_encoder_slots_do_not_change_predictions(model):
    """With a drawn ratio the encoder runs on `keep` slots; unused ones must not leak in."""
    x = jax.random.uniform(jax.random.key(5), (1, 8, 24, 3))
    mask, keep = random_ratio_mask(jax.random.key(6), 1, 12, 0.25, 0.8)
    exact = int((~np.asarray(mask)).sum())
    assert exact < keep  # the drawn ratio left encoder slots unused
    padded = jitted(model, mask, keep=keep)(x).pred
    tight = jitted(model, np.asarray(mask), keep=exact)(x).pred
    np.testing.assert_allclose(np.asarray(padded), np.asarray(tight), rtol=1e-4, atol=1e-5)


def test_jit_with_traced_random_masks_compiles_once(model):
    graphdef, params = nnx.split(model)
    calls = []

    @jax.jit
    def forward(params, x, key):
        calls.append(1)
        mask, keep = random_ratio_mask(key, 2, 12, 0.3, 0.7)
        out = nnx.merge(graphdef, params)(x, mask, keep=keep)
        return out.pred

    x = jnp.zeros((2, 8, 24, 3))
    for seed in range(4):
        forward(params, x, jax.random.key(seed))
    assert len(calls) == 1


def test_traced_mask_without_keep_is_a_clear_error(model):
    with pytest.raises(ValueError, match="pass keep="):
        jax.jit(lambda m: model(jnp.zeros((1, 8, 8, 3)), m).pred)(jnp.zeros((1, 4), bool))


def test_config_validation_and_variants():
    with pytest.raises(ValueError, match="not divisible by its heads"):
        MAEConfig(width=30, heads=4)
    s16 = MAEConfig.from_variant("S/16")
    assert (s16.width, s16.depth, s16.heads, s16.patch_size) == (384, 12, 6, 16)
    assert s16.dec_depth == 12 and s16.dec_width == 384
    with pytest.raises(ValueError, match="unknown ViT variant"):
        MAEConfig.from_variant("XXL/3")
    assert mae_flops_per_sample(TINY, 8, 24, 4) < mae_flops_per_sample(TINY, 8, 24, 8)
