"""A configurable multi-layer perceptron in Flax NNX."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
from flax import nnx

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "relu": jax.nn.relu,
    "gelu": jax.nn.gelu,
    "silu": jax.nn.silu,
    "mish": jax.nn.mish,
    "tanh": jnp.tanh,
    "elu": jax.nn.elu,
}


def get_activation(name: str) -> Callable[[jax.Array], jax.Array]:
    """The activation function called ``name``; a clear error listing the valid names."""
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(
            f"unknown activation {name!r}; expected one of {sorted(ACTIVATIONS)}"
        ) from None


class MLP(nnx.Module):
    """``(..., in_features) -> (..., out_features)`` through ``hidden`` layers.

    Each hidden layer is Linear -> [LayerNorm] -> activation -> [Dropout]. The output layer is a
    plain Linear whose kernel can be scaled down (``output_scale``), e.g. 0 for a zero-init head.
    """

    def __init__(
        self,
        in_features: int,
        hidden: Sequence[int],
        out_features: int,
        *,
        activation: str = "relu",
        layer_norm: bool = False,
        dropout: float = 0.0,
        output_scale: float = 1.0,
        dtype: jnp.dtype | None = None,
        rngs: nnx.Rngs,
    ) -> None:
        self.activation = get_activation(activation)
        sizes = [in_features, *hidden]
        self.hidden = nnx.List(
            [
                nnx.Linear(a, b, dtype=dtype, rngs=rngs)
                for a, b in zip(sizes[:-1], sizes[1:], strict=True)
            ]
        )
        self.norms = nnx.List(
            [nnx.LayerNorm(b, dtype=dtype, rngs=rngs) for b in hidden] if layer_norm else []
        )
        self.dropout = nnx.Dropout(dropout, rngs=rngs) if dropout > 0 else None
        self.out = nnx.Linear(sizes[-1], out_features, dtype=dtype, rngs=rngs)
        if output_scale != 1.0:
            self.out.kernel[...] = self.out.kernel[...] * output_scale

    def __call__(self, x: jax.Array) -> jax.Array:
        for i, layer in enumerate(self.hidden):
            x = layer(x)
            if self.norms:
                x = self.norms[i](x)
            x = self.activation(x)
            if self.dropout is not None:
                x = self.dropout(x)
        return self.out(x)
