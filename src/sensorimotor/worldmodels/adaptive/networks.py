"""The adaptive world model's networks: MAE encode/decode helpers, the action-conditioned causal
predictor (interleaved frame and action tokens, FiLM, ensemble of delta heads) and the small conv
net that tells the action from a predicted change.

Token layout of the predictor (see :func:`token_layout`), for ``history`` frames of ``N`` patches::

    [frame t-H+1 (N)] [action t-H+1] ... [frame t (N)] [action t] [query (N)]

The ``N`` query tokens (the last frame's latent, marked as queries) read out the next latent; the
causal mask lets each token see only itself and what comes before, so the queries see every frame
and action but no token sees a later one. Sequences longer than ``max_tokens`` lose their oldest
tokens.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from sensorimotor.core.normalize import Normalizer
from sensorimotor.nn.film import FiLM
from sensorimotor.nn.transformer import XAVIER, TransformerBlock
from sensorimotor.nn.vit import MaskedAutoencoderViT, grid_shape, patchify, sincos_pos_embed_2d

FRAME, ACTION, QUERY = 0, 1, 2


def to_inputs(frames: jax.Array, norm: Normalizer) -> jax.Array:
    """Pixels in [0, 1] to the network's inputs: z-scored per channel with the statistics of the
    first frames (see :meth:`AdaptiveWorldModel.fit_input_norm`). In [-1, 1] a small bright dot is
    a small change on a large constant and the MAE needed hundreds of steps per new dot position;
    z-scored it is ~30 sigma above a near-zero background."""
    return norm.normalize(frames.astype(jnp.float32))


def encode_frames(mae: MaskedAutoencoderViT, frames: jax.Array, norm: Normalizer) -> jax.Array:
    """Every patch of ``frames (B, h, w, 3)`` in [0, 1] through the encoder: latents ``(B, N, D)``."""
    cfg = mae.config
    gh, gw = grid_shape(frames.shape[1], frames.shape[2], cfg.patch_size)
    x = mae.patch_embed(patchify(to_inputs(frames, norm), cfg.patch_size))
    x = x + sincos_pos_embed_2d(gh, gw, cfg.width)
    return mae.encoder(x)[0]


def decode_latents(
    mae: MaskedAutoencoderViT, latents: jax.Array, grid: tuple[int, int]
) -> jax.Array:
    """Latents ``(B, N, D)`` of a ``grid`` of patches to predicted patches ``(B, N, p*p*3)``."""
    y = mae.decoder_embed(latents) + sincos_pos_embed_2d(*grid, mae.config.dec_width)
    return mae.decoder_pred(mae.decoder(y)[0]).astype(jnp.float32)


class TokenLayout(NamedTuple):
    """Per position of the (clipped) predictor sequence: token type and history slot."""

    types: np.ndarray  # (T,) FRAME / ACTION / QUERY
    slots: np.ndarray  # (T,) history slot 0..H-1 (H for the queries)
    clipped: int  # tokens dropped from the front by the sequence cap

    def latest_action(self) -> np.ndarray:
        """``(T,)`` the history slot of the newest action token at or before each position (-1:
        none): the action a causal FiLM may condition that token on."""
        out, current = np.full(len(self.types), -1), -1
        for i, (kind, slot) in enumerate(zip(self.types, self.slots, strict=True)):
            if kind == ACTION:
                current = slot
            out[i] = current
        return out


def token_layout(history: int, patches: int, max_tokens: int) -> TokenLayout:
    """The interleaved layout of :class:`ActionPredictor`'s sequence (see the module doc)."""
    types, slots = [], []
    for s in range(history):
        types += [FRAME] * patches + [ACTION]
        slots += [s] * (patches + 1)
    types += [QUERY] * patches
    slots += [history] * patches
    total = len(types)
    cut = max(total - max_tokens, 0)
    if patches > max_tokens:
        raise ValueError(f"max_tokens {max_tokens} cannot hold the {patches} query tokens")
    return TokenLayout(np.asarray(types[cut:]), np.asarray(slots[cut:]), cut)


def causal_mask(length: int) -> np.ndarray:
    """``(T, T)`` bool: query ``i`` may attend to key ``j`` iff ``j <= i``."""
    return np.tril(np.ones((length, length), bool))


def causal_attention(
    block: TransformerBlock, x: jax.Array, mask: np.ndarray
) -> tuple[jax.Array, jax.Array]:
    """The block's attention (its own QKV and output projections) under ``mask`` ``(T, T)``;
    returns the output and the weights ``(B, heads, T, T)``."""
    attn = block.attn
    b, t, d = x.shape
    qkv = attn.qkv(x).reshape(b, t, 3, attn.heads, attn.head_dim).transpose(2, 0, 3, 1, 4)
    q, k, v = qkv[0] * (1.0 / math.sqrt(attn.head_dim)), qkv[1], qkv[2]
    logits = (q @ jnp.swapaxes(k, -1, -2)).astype(jnp.float32)
    logits = jnp.where(mask[None, None], logits, jnp.finfo(jnp.float32).min)
    weights = jax.nn.softmax(logits, axis=-1)
    y = (weights.astype(v.dtype) @ v).transpose(0, 2, 1, 3).reshape(b, t, d)
    return attn.out(y), weights


class PredictorOutput(NamedTuple):
    heads: jax.Array  # (B, K, N, D) next latent per ensemble head
    mean: jax.Array  # (B, N, D) their mean: the prediction
    attention: list[jax.Array] | None  # per layer (B, heads, T, T)


class ActionPredictor(nnx.Module):
    """``latents (B, H, N, D)`` of the last ``H`` frames + normalised actions ``(B, H, A)`` after
    each → the next latent ``(B, N, D)`` (and one per ensemble head)."""

    def __init__(
        self,
        *,
        latent_dim: int,
        grid: tuple[int, int],
        action_dim: int,
        history: int,
        width: int,
        depth: int,
        heads: int,
        action_embed_dim: int,
        film_hidden: int,
        film_block_ids: tuple[int, ...],
        ensemble_heads: int,
        delta: bool,
        max_tokens: int,
        rngs: nnx.Rngs,
    ) -> None:
        self.grid, self.history, self.delta = grid, history, delta
        self.patches = grid[0] * grid[1]
        self.latent_dim, self.ensemble = latent_dim, ensemble_heads
        self.max_tokens = max_tokens
        self.clipped = token_layout(history, self.patches, max_tokens).clipped
        self.film_block_ids = tuple(film_block_ids)
        self.action_mlp1 = nnx.Linear(action_dim, action_embed_dim, kernel_init=XAVIER, rngs=rngs)
        self.action_mlp2 = nnx.Linear(
            action_embed_dim, action_embed_dim, kernel_init=XAVIER, rngs=rngs
        )
        self.action_in = nnx.Linear(action_embed_dim, width, kernel_init=XAVIER, rngs=rngs)
        self.frame_in = nnx.Linear(latent_dim, width, kernel_init=XAVIER, rngs=rngs)
        init = nnx.initializers.normal(0.02)
        self.type_embed = nnx.Param(init(rngs.params(), (3, width)))
        self.slot_embed = nnx.Param(init(rngs.params(), (history + 1, width)))
        self.blocks = nnx.List(
            [TransformerBlock(width, heads, 4.0, rngs=rngs) for _ in range(depth)]
        )
        self.films = nnx.List(
            [FiLM(action_embed_dim, width, film_hidden, rngs=rngs) for _ in self.film_block_ids]
        )
        self.norm = nnx.LayerNorm(width, epsilon=1e-6, rngs=rngs)
        self.out = nnx.Linear(width, ensemble_heads * latent_dim, kernel_init=XAVIER, rngs=rngs)

    def layout(self) -> TokenLayout:
        """Token types and slots of this predictor's (clipped) sequence."""
        return token_layout(self.history, self.patches, self.max_tokens)

    def embed_actions(self, actions: jax.Array) -> jax.Array:
        """``(B, H, A) -> (B, H, E)``: the action MLP."""
        return self.action_mlp2(jax.nn.gelu(self.action_mlp1(actions)))

    def tokens(self, latents: jax.Array, emb: jax.Array) -> jax.Array:
        """The interleaved, clipped input sequence ``(B, T, width)``."""
        b, h, n, _ = latents.shape
        pos = sincos_pos_embed_2d(*self.grid, self.type_embed.shape[-1])
        types, slots = self.type_embed[...], self.slot_embed[...]
        frames = self.frame_in(latents) + pos + types[FRAME] + slots[:h, None]
        acts = self.action_in(emb)[:, :, None] + types[ACTION] + slots[:h, None]
        seq = jnp.concatenate([frames, acts], axis=2).reshape(b, h * (n + 1), -1)
        query = self.frame_in(latents[:, -1]) + pos + types[QUERY] + slots[h]
        return jnp.concatenate([seq, query], axis=1)[:, self.clipped :]

    def sequence(self, latents: jax.Array, actions: jax.Array) -> tuple[jax.Array, list[jax.Array]]:
        """Every token's output ``(B, T, width)`` and each layer's attention.

        FiLM modulates each token by the newest action at or before it (the queries: by the
        action whose outcome they predict; the first frame's tokens: by none), so no token sees a
        later one through FiLM either."""
        emb = self.embed_actions(actions)
        latest = self.layout().latest_action()
        padded = jnp.concatenate([jnp.zeros_like(emb[:, :1]), emb], axis=1)  # slot -1 → zeros
        cond = padded[:, latest + 1]  # (B, T, E)
        x = self.tokens(latents, emb)
        mask = causal_mask(x.shape[1])
        weights = []
        for i, block in enumerate(self.blocks):
            y, w = causal_attention(block, block.norm1(x), mask)
            x = x + y
            if i in self.film_block_ids:
                x = self.films[self.film_block_ids.index(i)](x, cond)
            x = x + block.mlp(block.norm2(x))
            weights.append(w)
        return x, weights

    def __call__(
        self, latents: jax.Array, actions: jax.Array, return_attention: bool = False
    ) -> PredictorOutput:
        b, h, n, d = latents.shape
        if h != self.history or n != self.patches:
            raise ValueError(
                f"predictor expects latents (B, {self.history}, {self.patches}, D), got {latents.shape}"
            )
        x, weights = self.sequence(latents, actions)
        out = self.out(self.norm(x[:, -n:])).reshape(b, n, self.ensemble, d).transpose(0, 2, 1, 3)
        if self.delta:
            out = latents[:, -1][:, None] + out
        return PredictorOutput(out, out.mean(axis=1), weights if return_attention else None)


class ActionClassifier(nnx.Module):
    """A small conv net: ``(predicted - previous) frame (B, h, w, 3)`` → logits ``(B, classes)``."""

    def __init__(self, classes: int, *, rngs: nnx.Rngs) -> None:
        self.conv1 = nnx.Conv(3, 16, (3, 3), strides=2, rngs=rngs)
        self.conv2 = nnx.Conv(16, 32, (3, 3), strides=2, rngs=rngs)
        self.head = nnx.Linear(64, classes, kernel_init=XAVIER, rngs=rngs)

    def __call__(self, diff: jax.Array) -> jax.Array:
        x = jax.nn.gelu(self.conv2(jax.nn.gelu(self.conv1(diff * 4.0))))
        # Mean and max pooling: a small moving dot is a few pixels of a large frame.
        pooled = jnp.concatenate([x.mean(axis=(1, 2)), x.max(axis=(1, 2))], axis=-1)
        return self.head(pooled)


class LevelNets(nnx.Module):
    """What one hierarchy level trains: its predictor and its action classifier."""

    def __init__(self, predictor: ActionPredictor, classifier: ActionClassifier) -> None:
        self.predictor = predictor
        self.classifier = classifier
