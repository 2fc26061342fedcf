"""Pre-norm transformer blocks in Flax NNX, with the attention weights available on request.

``Transformer(depth, width, heads)`` maps ``(B, T, D) -> (B, T, D)``. Each block is
``x + Attention(LayerNorm(x))`` then ``x + MLP(LayerNorm(x))``; a final LayerNorm closes the stack.
Pass ``key_mask`` (``B, T`` bool, True = a real token) to keep padding tokens out of every query's
attention, and ``return_attention=True`` to get each layer's softmax weights ``(B, heads, T, T)``.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx

#: Initialiser of every Linear kernel (as in ViT / MAE).
XAVIER = nnx.initializers.xavier_uniform()


class MultiHeadAttention(nnx.Module):
    """Multi-head self-attention ``(B, T, D) -> (B, T, D)`` with a fused QKV projection."""

    def __init__(
        self,
        width: int,
        heads: int,
        *,
        qkv_bias: bool = True,
        dtype: jnp.dtype | None = None,
        rngs: nnx.Rngs,
    ) -> None:
        if width % heads:
            raise ValueError(f"width {width} is not divisible by heads {heads}")
        self.heads = heads
        self.head_dim = width // heads
        self.qkv = nnx.Linear(
            width, 3 * width, use_bias=qkv_bias, dtype=dtype, kernel_init=XAVIER, rngs=rngs
        )
        self.out = nnx.Linear(width, width, dtype=dtype, kernel_init=XAVIER, rngs=rngs)

    def __call__(
        self,
        x: jax.Array,
        key_mask: jax.Array | None = None,
        return_attention: bool = False,
    ) -> tuple[jax.Array, jax.Array | None]:
        """Attend over ``x`` (``B, T, D``); returns the output and, on request, ``(B, heads, T, T)`` weights."""
        b, t, d = x.shape
        # Heads first, (3, B, H, T, D): plain batched matmuls run much faster on CPU than einsums
        # that transpose inside.
        qkv = self.qkv(x).reshape(b, t, 3, self.heads, self.head_dim).transpose(2, 0, 3, 1, 4)
        q, k, v = qkv[0] * (1.0 / math.sqrt(self.head_dim)), qkv[1], qkv[2]
        logits = (q @ jnp.swapaxes(k, -1, -2)).astype(jnp.float32)
        if key_mask is not None:
            logits = jnp.where(key_mask[:, None, None, :], logits, jnp.finfo(jnp.float32).min)
        if return_attention:
            weights = jax.nn.softmax(logits, axis=-1)
            y = weights.astype(v.dtype) @ v
        else:
            # Softmax with the normalisation deferred: divide the (T, head_dim) output by the row
            # sums instead of the (T, T) weights; the same function, ~10 % more of the matmul peak
            # for the MAE reference step on CPU (docs/benchmarks.md).
            weights = None
            e = jnp.exp(logits - jax.lax.stop_gradient(logits.max(axis=-1, keepdims=True)))
            y = (e.astype(v.dtype) @ v) / e.sum(axis=-1, keepdims=True).astype(v.dtype)
        y = y.transpose(0, 2, 1, 3).reshape(b, t, d)
        return self.out(y), weights


class MlpBlock(nnx.Module):
    """``Linear(D, r*D) -> GELU -> Linear(r*D, D)``."""

    def __init__(
        self, width: int, mlp_ratio: float, *, dtype: jnp.dtype | None = None, rngs: nnx.Rngs
    ) -> None:
        hidden = int(round(width * mlp_ratio))
        self.fc1 = nnx.Linear(width, hidden, dtype=dtype, kernel_init=XAVIER, rngs=rngs)
        self.fc2 = nnx.Linear(hidden, width, dtype=dtype, kernel_init=XAVIER, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.fc2(jax.nn.gelu(self.fc1(x)))


class TransformerBlock(nnx.Module):
    """One pre-norm block: ``x + Attn(LN(x))``, then ``x + MLP(LN(x))``."""

    def __init__(
        self,
        width: int,
        heads: int,
        mlp_ratio: float = 4.0,
        *,
        qkv_bias: bool = True,
        dtype: jnp.dtype | None = None,
        rngs: nnx.Rngs,
    ) -> None:
        self.norm1 = nnx.LayerNorm(width, epsilon=1e-6, dtype=dtype, rngs=rngs)
        self.attn = MultiHeadAttention(width, heads, qkv_bias=qkv_bias, dtype=dtype, rngs=rngs)
        self.norm2 = nnx.LayerNorm(width, epsilon=1e-6, dtype=dtype, rngs=rngs)
        self.mlp = MlpBlock(width, mlp_ratio, dtype=dtype, rngs=rngs)

    def __call__(
        self,
        x: jax.Array,
        key_mask: jax.Array | None = None,
        return_attention: bool = False,
    ) -> tuple[jax.Array, jax.Array | None]:
        """``(B, T, D) -> (B, T, D)`` and, on request, the attention weights ``(B, heads, T, T)``."""
        y, weights = self.attn(self.norm1(x), key_mask, return_attention)
        x = x + y
        x = x + self.mlp(self.norm2(x))
        return x, weights


class Transformer(nnx.Module):
    """A stack of ``depth`` pre-norm blocks followed by a LayerNorm: ``(B, T, D) -> (B, T, D)``."""

    def __init__(
        self,
        depth: int,
        width: int,
        heads: int,
        mlp_ratio: float = 4.0,
        *,
        qkv_bias: bool = True,
        final_norm: bool = True,
        dtype: jnp.dtype | None = None,
        rngs: nnx.Rngs,
    ) -> None:
        if depth < 0:
            raise ValueError(f"depth must be >= 0, got {depth}")
        self.blocks = nnx.List(
            [
                TransformerBlock(width, heads, mlp_ratio, qkv_bias=qkv_bias, dtype=dtype, rngs=rngs)
                for _ in range(depth)
            ]
        )
        self.norm = (
            nnx.LayerNorm(width, epsilon=1e-6, dtype=dtype, rngs=rngs) if final_norm else None
        )

    def __call__(
        self,
        x: jax.Array,
        key_mask: jax.Array | None = None,
        return_attention: bool = False,
    ) -> tuple[jax.Array, list[jax.Array] | None]:
        """Run every block; returns the output and, on request, a list of per-layer attention weights."""
        weights = []
        for block in self.blocks:
            x, w = block(x, key_mask, return_attention)
            weights.append(w)
        if self.norm is not None:
            x = self.norm(x)
        return x, (weights if return_attention else None)


def transformer_flops(tokens: int, width: int, depth: int, mlp_ratio: float = 4.0) -> float:
    """Forward FLOPs of ``depth`` blocks on one sequence of ``tokens`` tokens (matmuls only)."""
    hidden = int(round(width * mlp_ratio))
    projections = 2 * tokens * width * (3 * width + width + 2 * hidden)
    attention = 2 * 2 * tokens * tokens * width
    return float(depth * (projections + attention))
