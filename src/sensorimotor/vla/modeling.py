"""The VLA network: ViT image tokens + instruction tokens + a proprio token + action tokens through
one transformer; a flow-matching action expert (or an MSE regression head) on ``(H, A)`` chunks.

Flow matching (as in pi0): for an action chunk ``a`` (normalised), noise ``e`` and ``t ~ U(0, 1)``
the noisy chunk is ``x_t = t e + (1 - t) a``; the action tokens see ``x_t`` and ``t`` and the head
predicts the velocity ``u = e - a``. Sampling integrates ``dx/dt = v(x_t, t)`` from ``t = 1`` (pure
noise) to ``t = 0`` with ``flow_steps`` Euler steps. The MSE head instead feeds learned query
tokens and regresses ``a`` directly: on a task with two equally good solutions it predicts their
average.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from sensorimotor.nn.transformer import XAVIER, MultiHeadAttention, Transformer
from sensorimotor.nn.vit import patchify, sincos_pos_embed_2d
from sensorimotor.vla.configuration import VLAConfig
from sensorimotor.vla.tokenizer import PAD, VOCAB_SIZE


class SwiGLU(nnx.Module):
    """``W2 (silu(W1 x) * W3 x)``: the gated MLP of the large variant."""

    def __init__(self, width: int, hidden: int, *, dtype: Any, rngs: nnx.Rngs) -> None:
        self.gate = nnx.Linear(
            width, hidden, use_bias=False, dtype=dtype, kernel_init=XAVIER, rngs=rngs
        )
        self.up = nnx.Linear(
            width, hidden, use_bias=False, dtype=dtype, kernel_init=XAVIER, rngs=rngs
        )
        self.down = nnx.Linear(
            hidden, width, use_bias=False, dtype=dtype, kernel_init=XAVIER, rngs=rngs
        )

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.down(jax.nn.silu(self.gate(x)) * self.up(x))


class SwiGLUBlock(nnx.Module):
    """A pre-norm block (the shared attention of ``nn.transformer``) with a SwiGLU MLP."""

    def __init__(self, width: int, heads: int, hidden: int, *, dtype: Any, rngs: nnx.Rngs) -> None:
        self.norm1 = nnx.RMSNorm(width, epsilon=1e-6, dtype=dtype, rngs=rngs)
        self.attn = MultiHeadAttention(width, heads, qkv_bias=False, dtype=dtype, rngs=rngs)
        self.norm2 = nnx.RMSNorm(width, epsilon=1e-6, dtype=dtype, rngs=rngs)
        self.mlp = SwiGLU(width, hidden, dtype=dtype, rngs=rngs)

    def __call__(self, x: jax.Array, key_mask: jax.Array | None) -> jax.Array:
        x = x + self.attn(self.norm1(x), key_mask)[0]
        return x + self.mlp(self.norm2(x))


class SwiGLUTransformer(nnx.Module):
    """A stack of :class:`SwiGLUBlock` + a final RMSNorm: ``(B, T, D) -> (B, T, D)``."""

    def __init__(
        self, depth: int, width: int, heads: int, mlp_ratio: float, *, dtype: Any, rngs: nnx.Rngs
    ) -> None:
        hidden = int(round(width * mlp_ratio / 64)) * 64
        self.blocks = nnx.List(
            [SwiGLUBlock(width, heads, hidden, dtype=dtype, rngs=rngs) for _ in range(depth)]
        )
        self.norm = nnx.RMSNorm(width, epsilon=1e-6, dtype=dtype, rngs=rngs)

    def __call__(self, x: jax.Array, key_mask: jax.Array | None = None) -> tuple[jax.Array, None]:
        for block in self.blocks:
            x = block(x, key_mask)
        return self.norm(x), None


def time_embedding(t: jax.Array, dim: int, max_period: float = 100.0) -> jax.Array:
    """Sin-cos features ``(B, dim)`` of flow times ``t`` ``(B,)`` in ``[0, 1]``."""
    half = dim // 2
    freqs = jnp.exp(-math.log(max_period) * jnp.arange(half) / half) * 2 * math.pi
    angles = t[:, None] * freqs[None, :]
    return jnp.concatenate([jnp.sin(angles), jnp.cos(angles)], axis=-1)


class VLA(nnx.Module):
    """``(images, tokens, state[, noisy actions, t]) -> (B, H, A)`` velocity (flow) or actions (mse).

    ``images``: ``(B, cameras, H, W, 3)`` floats in ``[-1, 1]``; ``tokens``: ``int32 (B, L)``
    (``PAD`` masked out); ``state``: ``(B, S)`` normalised.
    """

    def __init__(self, config: VLAConfig, *, rngs: nnx.Rngs) -> None:
        c = self.config = config
        dtype = jnp.bfloat16 if c.dtype == "bfloat16" else None
        grid = c.image_size // c.patch_size
        self.patch = nnx.Linear(
            c.patch_size**2 * 3, c.vit_width, dtype=dtype, kernel_init=XAVIER, rngs=rngs
        )
        self.patch_pos = nnx.Variable(jnp.asarray(sincos_pos_embed_2d(grid, grid, c.vit_width)))
        self.vit = Transformer(c.vit_depth, c.vit_width, c.vit_heads, dtype=dtype, rngs=rngs)
        self.image_proj = nnx.Linear(
            c.vit_width, c.width, dtype=dtype, kernel_init=XAVIER, rngs=rngs
        )
        init = nnx.initializers.normal(0.02)
        self.camera_embed = nnx.Param(init(rngs.params(), (len(c.cameras), 1, c.width)))
        self.text_embed = nnx.Embed(VOCAB_SIZE, c.width, dtype=dtype, rngs=rngs)
        self.text_pos = nnx.Param(init(rngs.params(), (c.max_text_tokens, c.width)))
        self.state_proj = nnx.Linear(
            c.state_dim, c.width, dtype=dtype, kernel_init=XAVIER, rngs=rngs
        )
        self.action_pos = nnx.Param(init(rngs.params(), (c.horizon, c.width)))
        if c.head == "flow":
            self.action_in = nnx.Linear(
                c.action_dim, c.width, dtype=dtype, kernel_init=XAVIER, rngs=rngs
            )
            self.time_mlp = nnx.Sequential(
                nnx.Linear(c.width, c.width, dtype=dtype, rngs=rngs),
                jax.nn.silu,
                nnx.Linear(c.width, c.width, dtype=dtype, rngs=rngs),
            )
        if c.mlp == "swiglu":
            self.backbone: Any = SwiGLUTransformer(
                c.depth, c.width, c.heads, c.mlp_ratio, dtype=dtype, rngs=rngs
            )
        else:
            self.backbone = Transformer(
                c.depth, c.width, c.heads, c.mlp_ratio, dtype=dtype, rngs=rngs
            )
        self.action_out = nnx.Linear(
            c.width, c.action_dim, kernel_init=nnx.initializers.zeros_init(), rngs=rngs
        )

    def prefix(
        self, images: jax.Array, tokens: jax.Array, state: jax.Array
    ) -> tuple[jax.Array, jax.Array]:
        """Image + instruction + proprio tokens ``(B, P, D)`` and their key mask ``(B, P)``."""
        c = self.config
        b, ncam = images.shape[:2]
        patches = patchify(images.reshape(b * ncam, *images.shape[2:]), c.patch_size)
        x, _ = self.vit(self.patch(patches) + self.patch_pos[...])
        img = self.image_proj(x).reshape(b, ncam, -1, c.width) + self.camera_embed[...]
        img = img.reshape(b, -1, c.width)
        text = self.text_embed(tokens) + self.text_pos[...]
        proprio = self.state_proj(state)[:, None, :]
        x = jnp.concatenate([img, text.astype(img.dtype), proprio.astype(img.dtype)], axis=1)
        mask = jnp.concatenate(
            [jnp.ones(img.shape[:2], bool), tokens != PAD, jnp.ones((b, 1), bool)], axis=1
        )
        return x, mask

    def __call__(
        self,
        images: jax.Array,
        tokens: jax.Array,
        state: jax.Array,
        noisy_actions: jax.Array | None = None,
        t: jax.Array | None = None,
    ) -> jax.Array:
        """The head's output ``(B, H, A)`` (float32): velocity for flow, actions for mse."""
        c = self.config
        x, mask = self.prefix(images, tokens, state)
        b = x.shape[0]
        act = jnp.broadcast_to(self.action_pos[...], (b, c.horizon, c.width))
        if c.head == "flow":
            if noisy_actions is None or t is None:
                raise ValueError("the flow head needs noisy_actions (B, H, A) and t (B,)")
            temb = self.time_mlp(time_embedding(t, c.width))
            act = act + self.action_in(noisy_actions) + temb[:, None, :]
        x = jnp.concatenate([x, act.astype(x.dtype)], axis=1)
        mask = jnp.concatenate([mask, jnp.ones((b, c.horizon), bool)], axis=1)
        y, _ = self.backbone(x, key_mask=mask)
        return self.action_out(y[:, -c.horizon :].astype(jnp.float32))


def flow_matching_loss(
    model: VLA, batch: dict[str, jax.Array], key: jax.Array
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Mean squared velocity error (flow) or action error (mse) on a batch of normalised chunks."""
    actions = batch["actions"]
    if model.config.head == "mse":
        pred = model(batch["images"], batch["tokens"], batch["state"])
        loss = jnp.mean(jnp.square(pred - actions))
        return loss, {"loss": loss}
    k_noise, k_t = jax.random.split(key)
    noise = jax.random.normal(k_noise, actions.shape, actions.dtype)
    t = jax.random.uniform(k_t, (actions.shape[0],), minval=1e-3, maxval=1.0)
    x_t = t[:, None, None] * noise + (1.0 - t[:, None, None]) * actions
    v = model(batch["images"], batch["tokens"], batch["state"], x_t, t)
    loss = jnp.mean(jnp.square(v - (noise - actions)))
    return loss, {"loss": loss}


def sample_actions(
    model: VLA,
    images: jax.Array,
    tokens: jax.Array,
    state: jax.Array,
    key: jax.Array,
    steps: int | None = None,
) -> jax.Array:
    """Normalised action chunks ``(B, H, A)``: Euler integration of the flow from noise (flow
    head, ``steps`` defaults to ``config.flow_steps``) or the regression (mse head)."""
    c = model.config
    if c.head == "mse":
        return model(images, tokens, state)
    steps = steps or c.flow_steps
    b = images.shape[0]
    x = jax.random.normal(key, (b, c.horizon, c.action_dim))
    dt = 1.0 / steps

    for i in range(steps):  # unrolled: a handful of steps, and no module inside a JAX loop
        t = jnp.full((b,), 1.0 - i * dt)
        x = x - dt * model(images, tokens, state, x, t)
    return x


def count_params(tree: Any) -> int:
    """Number of scalars in a pytree of arrays (or shape structs)."""
    return int(sum(np.prod(x.shape) for x in jax.tree.leaves(tree)))


def abstract_params(config: VLAConfig) -> Any:
    """The parameter shapes of ``config`` without allocating them (``jax.eval_shape``)."""

    def make() -> Any:
        return nnx.state(VLA(config, rngs=nnx.Rngs(0)), nnx.Param)

    return jax.eval_shape(make)
