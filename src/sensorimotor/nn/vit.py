"""A masked-autoencoder ViT (MAE) in Flax NNX for any ``H x W`` image the patch size divides.

Images ``(B, H, W, C)`` are cut into ``N = (H/p) * (W/p)`` patches of ``p*p*C`` values. Fixed 2-D
sin-cos position embeddings are computed for the actual ``H/p x W/p`` grid, so one model takes
square and non-square inputs (e.g. a 224 x 688 canvas). The encoder sees only the visible patches;
the decoder gets the encoded patches back in place plus a learned mask token at every masked patch
and predicts the pixels of every patch. The loss is taken on masked patches only, optionally against
per-patch normalised targets.

Masks are ``(B, N)`` bool arrays, True = masked (hidden from the encoder, predicted by the decoder).
Two ways to make one:

- explicit: any mask, e.g. the target slot of a canvas (:func:`region_mask`);
- random: :func:`random_mask` hides a fixed ratio, :func:`random_ratio_mask` draws the ratio per call
  from ``[min, max]``. Both return the encoder's (static) token count ``keep`` with the mask, so a
  jitted step never recompiles: with a drawn ratio the encoder runs on ``keep`` slots and ignores
  the ones it does not need (they are kept out of attention and replaced by mask tokens).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from sensorimotor.nn.transformer import XAVIER, Transformer, transformer_flops

#: ViT size variants (width, depth, heads), as in big_vision: ``MAEConfig.from_variant("S/16")``.
VARIANTS: dict[str, tuple[int, int, int]] = {
    "Ti": (192, 12, 3),
    "S": (384, 12, 6),
    "M": (512, 12, 8),
    "B": (768, 12, 12),
}


@dataclass(frozen=True)
class MAEConfig:
    """Architecture of a :class:`MaskedAutoencoderViT`. Decoder sizes default to the encoder's."""

    patch_size: int = 16
    channels: int = 3
    width: int = 256
    depth: int = 6
    heads: int = 8
    mlp_ratio: float = 4.0
    decoder_width: int | None = None
    decoder_depth: int | None = None
    decoder_heads: int | None = None
    norm_pix_loss: bool = False
    dtype: str = "float32"

    def __post_init__(self) -> None:
        for name in ("patch_size", "channels", "width", "heads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.depth < 0:
            raise ValueError(f"depth must be >= 0, got {self.depth}")
        for width, heads, who in (
            (self.width, self.heads, "encoder"),
            (self.dec_width, self.dec_heads, "decoder"),
        ):
            if width % heads:
                raise ValueError(f"{who} width {width} is not divisible by its heads {heads}")
            if width % 4:
                raise ValueError(
                    f"{who} width {width} must be a multiple of 4 for 2-D sin-cos position embeddings"
                )

    @property
    def dec_width(self) -> int:
        return self.decoder_width or self.width

    @property
    def dec_depth(self) -> int:
        return self.depth if self.decoder_depth is None else self.decoder_depth

    @property
    def dec_heads(self) -> int:
        return self.decoder_heads or self.heads

    @property
    def patch_dim(self) -> int:
        return self.patch_size * self.patch_size * self.channels

    @classmethod
    def from_variant(cls, variant: str, **overrides: object) -> MAEConfig:
        """``"S/16"`` → width 384, depth 12, 6 heads, patch 16 (see :data:`VARIANTS`)."""
        name, _, patch = variant.partition("/")
        if name not in VARIANTS or not patch.isdigit():
            raise ValueError(
                f"unknown ViT variant {variant!r}; expected e.g. 'S/16' with one of {sorted(VARIANTS)}"
            )
        width, depth, heads = VARIANTS[name]
        return replace(
            cls(patch_size=int(patch), width=width, depth=depth, heads=heads), **overrides
        )


class MAEOutput(NamedTuple):
    """What :class:`MaskedAutoencoderViT` returns."""

    pred: jax.Array  # (B, N, p*p*C) predicted patches (normalised per patch with norm_pix_loss)
    mask: jax.Array  # (B, N) bool, True = masked
    encoder_attention: list[jax.Array] | None  # per layer (B, heads, keep, keep)
    decoder_attention: list[jax.Array] | None  # per layer (B, heads, N, N)


def grid_shape(height: int, width: int, patch_size: int) -> tuple[int, int]:
    """The ``(H/p, W/p)`` patch grid; a clear error when ``p`` does not divide the image."""
    if height % patch_size or width % patch_size:
        raise ValueError(
            f"image size {height}x{width} is not divisible by the patch size {patch_size}"
        )
    return height // patch_size, width // patch_size


def patchify(images: jax.Array, patch_size: int) -> jax.Array:
    """``(B, H, W, C) -> (B, N, p*p*C)`` with patches in row-major grid order."""
    b, h, w, c = images.shape
    gh, gw = grid_shape(h, w, patch_size)
    p = patch_size
    x = images.reshape(b, gh, p, gw, p, c).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(b, gh * gw, p * p * c)


def unpatchify(patches: jax.Array, patch_size: int, height: int, width: int) -> jax.Array:
    """Inverse of :func:`patchify`: ``(B, N, p*p*C) -> (B, H, W, C)``."""
    b, n, d = patches.shape
    gh, gw = grid_shape(height, width, patch_size)
    p = patch_size
    if n != gh * gw or d % (p * p):
        raise ValueError(
            f"patches of shape {patches.shape} do not tile a {height}x{width} image with patch size {p}"
        )
    c = d // (p * p)
    x = patches.reshape(b, gh, gw, p, p, c).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(b, height, width, c)


@lru_cache(maxsize=64)
def sincos_pos_embed_2d(grid_h: int, grid_w: int, dim: int) -> np.ndarray:
    """Fixed 2-D sin-cos embeddings ``(grid_h * grid_w, dim)``: half the dims encode y, half x."""
    if dim % 4:
        raise ValueError(f"embedding dim must be a multiple of 4, got {dim}")
    omega = 1.0 / 10000 ** (np.arange(dim // 4, dtype=np.float64) / (dim / 4))

    def embed(pos: np.ndarray) -> np.ndarray:
        angles = pos.reshape(-1)[:, None] * omega[None]
        return np.concatenate([np.sin(angles), np.cos(angles)], axis=1)

    ys, xs = np.meshgrid(np.arange(grid_h), np.arange(grid_w), indexing="ij")
    out = np.concatenate([embed(ys), embed(xs)], axis=1).astype(np.float32)
    out.setflags(write=False)
    return out


def region_mask(grid_h: int, grid_w: int, rows: slice, cols: slice) -> np.ndarray:
    """``(N,)`` bool mask that hides the patch rectangle ``rows x cols`` of a ``grid_h x grid_w`` grid."""
    grid = np.zeros((grid_h, grid_w), bool)
    grid[rows, cols] = True
    return grid.reshape(-1)


def random_mask(
    key: jax.Array, batch: int, num_patches: int, ratio: float
) -> tuple[jax.Array, int]:
    """``(B, N)`` masks that each hide ``round(ratio * N)`` random patches, and the visible count
    ``keep`` to pass to the model."""
    masked = int(round(ratio * num_patches))
    if not 0 <= masked < num_patches:
        raise ValueError(f"mask ratio {ratio} leaves no visible patch out of {num_patches}")
    ranks = jnp.argsort(jnp.argsort(jax.random.uniform(key, (batch, num_patches)), axis=1), axis=1)
    return ranks < masked, num_patches - masked


def random_ratio_mask(
    key: jax.Array, batch: int, num_patches: int, min_ratio: float, max_ratio: float
) -> tuple[jax.Array, int]:
    """Masks whose ratio is drawn once per call from ``[min_ratio, max_ratio]``, and the static
    encoder capacity ``keep`` (the visible count at ``min_ratio``) to pass to the model."""
    if not 0 <= min_ratio <= max_ratio < 1:
        raise ValueError(f"need 0 <= min_ratio <= max_ratio < 1, got {min_ratio}, {max_ratio}")
    keep = num_patches - int(round(min_ratio * num_patches))
    ratio_key, order_key = jax.random.split(key)
    ratio = jax.random.uniform(ratio_key, (), minval=min_ratio, maxval=max_ratio)
    masked = jnp.clip(jnp.round(ratio * num_patches), num_patches - keep, num_patches - 1)
    ranks = jnp.argsort(
        jnp.argsort(jax.random.uniform(order_key, (batch, num_patches)), axis=1), axis=1
    )
    return ranks < masked, keep


class MaskedAutoencoderViT(nnx.Module):
    """MAE: ``images (B, H, W, C)`` + ``mask (B, N)`` → predicted patches ``(B, N, p*p*C)``."""

    def __init__(self, config: MAEConfig, *, rngs: nnx.Rngs) -> None:
        self.config = config
        dtype = jnp.dtype(config.dtype)
        self.patch_embed = nnx.Linear(
            config.patch_dim, config.width, dtype=dtype, kernel_init=XAVIER, rngs=rngs
        )
        self.encoder = Transformer(
            config.depth, config.width, config.heads, config.mlp_ratio, dtype=dtype, rngs=rngs
        )
        self.decoder_embed = nnx.Linear(
            config.width, config.dec_width, dtype=dtype, kernel_init=XAVIER, rngs=rngs
        )
        self.mask_token = nnx.Param(
            nnx.initializers.normal(0.02)(rngs.params(), (1, 1, config.dec_width), jnp.float32)
        )
        self.decoder = Transformer(
            config.dec_depth,
            config.dec_width,
            config.dec_heads,
            config.mlp_ratio,
            dtype=dtype,
            rngs=rngs,
        )
        self.decoder_pred = nnx.Linear(
            config.dec_width, config.patch_dim, dtype=dtype, kernel_init=XAVIER, rngs=rngs
        )

    def __call__(
        self,
        images: jax.Array,
        mask: jax.Array | np.ndarray,
        *,
        keep: int | None = None,
        return_attention: bool = False,
    ) -> MAEOutput:
        """Encode the visible patches of ``images``, decode every patch.

        ``mask`` is ``(B, N)`` or ``(N,)`` bool (True = masked). ``keep`` is the encoder's token count
        (at least the most visible patches of any row); it is worked out from a concrete (NumPy)
        mask and must be given for a traced one.
        """
        b, h, w, _ = images.shape
        gh, gw = grid_shape(h, w, self.config.patch_size)
        n = gh * gw
        mask = _batch_mask(mask, b, n)
        if keep is None:
            keep = _static_keep(mask)
        if not 0 < keep <= n:
            raise ValueError(f"keep must be in [1, {n}], got {keep}")
        patches = patchify(images.astype(self.patch_embed.kernel.dtype), self.config.patch_size)
        x = self.patch_embed(patches) + sincos_pos_embed_2d(gh, gw, self.config.width)

        # Visible patches first (in grid order), then the masked ones; the encoder takes `keep`.
        order, restore = _visible_first(mask)
        valid = ~jnp.take_along_axis(jnp.asarray(mask), jnp.asarray(order[:, :keep]), axis=1)
        x = permute_tokens(x, order, restore)[:, :keep]
        x, enc_attn = self.encoder(x, None if _all_valid(mask, keep) else valid, return_attention)

        y = self.decoder_embed(x)
        token = self.mask_token[...].astype(y.dtype)
        y = jnp.where(valid[..., None], y, token)
        y = jnp.concatenate([y, jnp.broadcast_to(token, (b, n - keep, y.shape[-1]))], axis=1)
        y = permute_tokens(y, restore, order)
        y = y + sincos_pos_embed_2d(gh, gw, self.config.dec_width)
        y, dec_attn = self.decoder(y, None, return_attention)
        pred = self.decoder_pred(y).astype(jnp.float32)
        return MAEOutput(pred, jnp.asarray(mask), enc_attn, dec_attn)

    def loss(self, images: jax.Array, pred: jax.Array, mask: jax.Array) -> jax.Array:
        """Mean squared error over the masked patches only (see :func:`mae_loss`)."""
        return mae_loss(images, pred, mask, self.config.patch_size, self.config.norm_pix_loss)


def patch_targets(images: jax.Array, patch_size: int, norm_pix: bool) -> jax.Array:
    """The regression targets ``(B, N, p*p*C)``: raw patches, or each patch normalised to zero mean
    and unit variance when ``norm_pix``."""
    target = patchify(images.astype(jnp.float32), patch_size)
    if norm_pix:
        mean = target.mean(axis=-1, keepdims=True)
        var = target.var(axis=-1, keepdims=True)
        target = (target - mean) / jnp.sqrt(var + 1e-6)
    return target


def mae_loss(
    images: jax.Array,
    pred: jax.Array,
    mask: jax.Array,
    patch_size: int,
    norm_pix: bool = False,
) -> jax.Array:
    """Per-patch MSE averaged over masked patches (``mask`` True); visible patches do not count."""
    per_patch = per_patch_mse(images, pred, patch_size, norm_pix)
    weights = jnp.broadcast_to(mask, per_patch.shape).astype(jnp.float32)
    return (per_patch * weights).sum() / jnp.maximum(weights.sum(), 1.0)


def per_patch_mse(
    images: jax.Array, pred: jax.Array, patch_size: int, norm_pix: bool = False
) -> jax.Array:
    """``(B, N)`` mean squared error of each predicted patch against its target."""
    target = patch_targets(images, patch_size, norm_pix)
    return ((pred.astype(jnp.float32) - target) ** 2).mean(axis=-1)


def mae_flops_per_sample(config: MAEConfig, height: int, width: int, keep: int) -> float:
    """Forward FLOPs (matmuls) of one sample: patch embedding, encoder on ``keep`` tokens, decoder on all."""
    gh, gw = grid_shape(height, width, config.patch_size)
    n = gh * gw
    flops = 2 * n * config.patch_dim * config.width
    flops += transformer_flops(keep, config.width, config.depth, config.mlp_ratio)
    flops += 2 * keep * config.width * config.dec_width
    flops += transformer_flops(n, config.dec_width, config.dec_depth, config.mlp_ratio)
    flops += 2 * n * config.dec_width * config.patch_dim
    return float(flops)


@jax.custom_vjp
def permute_tokens(x: jax.Array, order: jax.Array, inverse: jax.Array) -> jax.Array:
    """``x[b, order[b, i]]`` for tokens ``x (B, N, D)`` and per-row permutations ``order (B, N)``
    whose inverse is ``inverse``; the gradient is the inverse gather (no scatter-add)."""
    return jnp.take_along_axis(x, jnp.asarray(order)[..., None], axis=1)


def _permute_fwd(x: jax.Array, order: jax.Array, inverse: jax.Array) -> tuple[jax.Array, tuple]:
    return permute_tokens(x, order, inverse), (order, inverse)


def _permute_bwd(res: tuple, g: jax.Array) -> tuple[jax.Array, None, None]:
    order, inverse = res
    return jnp.take_along_axis(g, jnp.asarray(inverse)[..., None], axis=1), None, None


permute_tokens.defvjp(_permute_fwd, _permute_bwd)


def _visible_first(mask: jax.Array | np.ndarray) -> tuple[Any, Any]:
    """Per-row permutation putting visible patches first (grid order kept) and its inverse; NumPy
    (constants) for a concrete mask, JAX arrays for a traced one."""
    xp = np if isinstance(mask, np.ndarray) else jnp
    order = xp.argsort(mask.astype(xp.int8), axis=1, stable=True)
    return order, xp.argsort(order, axis=1)


def _all_valid(mask: jax.Array | np.ndarray, keep: int) -> bool:
    """Whether every row of a concrete mask has exactly ``keep`` visible patches (no padding)."""
    if not isinstance(mask, np.ndarray):
        return False
    return bool(((~mask.astype(bool)).sum(axis=1) == keep).all())


def _batch_mask(
    mask: jax.Array | np.ndarray, batch: int, num_patches: int
) -> jax.Array | np.ndarray:
    if mask.ndim == 1:
        mask = mask[None]
    if mask.shape[-1] != num_patches or mask.ndim != 2 or mask.shape[0] not in (1, batch):
        raise ValueError(
            f"mask of shape {tuple(mask.shape)} does not fit {batch} images of {num_patches} patches"
        )
    if mask.shape[0] != batch:
        mask = (np if isinstance(mask, np.ndarray) else jnp).broadcast_to(
            mask, (batch, num_patches)
        )
    return mask


def _static_keep(mask: jax.Array | np.ndarray) -> int:
    try:
        concrete = np.asarray(mask)
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        raise ValueError(
            "the mask is traced, so the encoder's token count is unknown: pass keep= "
            "(e.g. from random_ratio_mask)"
        ) from None
    keep = int((~concrete.astype(bool)).sum(axis=1).max())
    if keep == 0:
        raise ValueError("the mask hides every patch; at least one must be visible")
    return keep
