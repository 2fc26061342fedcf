"""Mamba: a selective state-space layer (Gu & Dao, 2023) in Flax NNX.

Input-dependent step size, ``B`` and ``C``; a diagonal real ``A = -exp(A_log)`` with S4D-real
init; a depthwise causal convolution before the SSM and a SiLU gate after it. Training runs the
selective recurrence with ``jax.lax.associative_scan``; rollouts use ``step`` with a cache holding
the last ``conv - 1`` inputs and the SSM state.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx

from sensorimotor.nn.s5 import linear_recurrence


class MambaCache(NamedTuple):
    """Recurrent cache: ``conv (..., K-1, E)`` past conv inputs and ``ssm (..., E, N)``."""

    conv: jax.Array
    ssm: jax.Array


class Mamba(nnx.Module):
    """The Mamba mixer: ``(..., T, D) -> (..., T, D)`` with inner width ``E = expand * D``."""

    def __init__(
        self,
        d_model: int,
        *,
        d_state: int = 16,
        expand: int = 2,
        d_conv: int = 4,
        dt_rank: int | None = None,
        dt_min: float = 1e-3,
        dt_max: float = 1e-1,
        scan: str = "parallel",
        rngs: nnx.Rngs,
    ) -> None:
        self.scan = scan
        e = expand * d_model
        self.d_model, self.d_inner, self.d_state, self.d_conv = d_model, e, d_state, d_conv
        self.dt_rank = dt_rank or math.ceil(d_model / 16)
        self.in_proj = nnx.Linear(d_model, 2 * e, use_bias=False, rngs=rngs)
        self.conv_kernel = nnx.Param(
            jax.random.uniform(rngs.params(), (d_conv, e), minval=-1.0, maxval=1.0)
            / math.sqrt(d_conv)
        )
        self.conv_bias = nnx.Param(jnp.zeros((e,)))
        self.x_proj = nnx.Linear(e, self.dt_rank + 2 * d_state, use_bias=False, rngs=rngs)
        self.dt_proj = nnx.Linear(self.dt_rank, e, rngs=rngs)
        dt = jnp.exp(
            jax.random.uniform(
                rngs.params(), (e,), minval=math.log(dt_min), maxval=math.log(dt_max)
            )
        )
        self.dt_proj.bias[...] = dt + jnp.log(-jnp.expm1(-dt))  # inverse softplus
        self.a_log = nnx.Param(
            jnp.log(jnp.tile(jnp.arange(1, d_state + 1, dtype=jnp.float32), (e, 1)))
        )
        self.d = nnx.Param(jnp.ones((e,)))
        self.out_proj = nnx.Linear(e, d_model, use_bias=False, rngs=rngs)

    def initial_state(self, batch_shape: tuple[int, ...] = ()) -> MambaCache:
        """Zero cache for ``batch_shape``."""
        return MambaCache(
            conv=jnp.zeros((*batch_shape, self.d_conv - 1, self.d_inner)),
            ssm=jnp.zeros((*batch_shape, self.d_inner, self.d_state)),
        )

    def _ssm_params(self, x: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        """Input-dependent ``dt (..., E)``, ``B (..., N)``, ``C (..., N)``."""
        proj = self.x_proj(x)
        r, n = self.dt_rank, self.d_state
        dt = jax.nn.softplus(self.dt_proj(proj[..., :r]))
        return dt, proj[..., r : r + n], proj[..., r + n :]

    def __call__(
        self, u: jax.Array, state: MambaCache | None = None
    ) -> tuple[jax.Array, MambaCache]:
        """``u (..., T, D) -> (y (..., T, D), cache after the last step)`` by parallel scan."""
        if state is None:
            state = self.initial_state(u.shape[:-2])
        t = u.shape[-2]
        xz = self.in_proj(u)
        x, z = jnp.split(xz, 2, axis=-1)
        padded = jnp.concatenate([state.conv.astype(x.dtype), x], axis=-2)  # (..., K-1+T, E)
        k = self.conv_kernel[...]
        conv = sum(padded[..., i : i + t, :] * k[i] for i in range(self.d_conv))
        xc = jax.nn.silu(conv + self.conv_bias[...])
        dt, b, c = self._ssm_params(xc)
        a = -jnp.exp(self.a_log[...])  # (E, N)
        da = jnp.exp(dt[..., None] * a)  # (..., T, E, N)
        dbu = (dt * xc)[..., None] * b[..., None, :]
        # Scan over T: move the (E, N) state into one trailing axis.
        shape = da.shape
        flat = (*shape[:-2], shape[-2] * shape[-1])
        hs = linear_recurrence(
            da.reshape(flat),
            dbu.reshape(flat),
            state.ssm.reshape(*state.ssm.shape[:-2], -1),
            scan=self.scan,
        ).reshape(shape)
        y = jnp.einsum("...en,...n->...e", hs, c) + self.d[...] * xc
        y = y * jax.nn.silu(z)
        new_state = MambaCache(conv=padded[..., -(self.d_conv - 1) :, :], ssm=hs[..., -1, :, :])
        return self.out_proj(y), new_state

    def step(self, state: MambaCache, u: jax.Array) -> tuple[MambaCache, jax.Array]:
        """One step on ``u (..., D)``: ``(new cache, y (..., D))``."""
        xz = self.in_proj(u)
        x, z = jnp.split(xz, 2, axis=-1)
        window = jnp.concatenate([state.conv, x[..., None, :]], axis=-2)  # (..., K, E)
        xc = jax.nn.silu(jnp.sum(window * self.conv_kernel[...], axis=-2) + self.conv_bias[...])
        dt, b, c = self._ssm_params(xc)
        a = -jnp.exp(self.a_log[...])
        h = jnp.exp(dt[..., None] * a) * state.ssm + (dt * xc)[..., None] * b[..., None, :]
        y = jnp.einsum("...en,...n->...e", h, c) + self.d[...] * xc
        y = y * jax.nn.silu(z)
        return MambaCache(conv=window[..., 1:, :], ssm=h), self.out_proj(y)


class MambaBlock(nnx.Module):
    """Pre-norm residual Mamba block: ``x + Dropout(Mamba(LayerNorm(x)))``."""

    def __init__(
        self,
        d_model: int,
        *,
        d_state: int = 16,
        expand: int = 2,
        d_conv: int = 4,
        dropout: float = 0.0,
        scan: str = "parallel",
        rngs: nnx.Rngs,
    ) -> None:
        self.norm = nnx.LayerNorm(d_model, rngs=rngs)
        self.mixer = Mamba(
            d_model, d_state=d_state, expand=expand, d_conv=d_conv, scan=scan, rngs=rngs
        )
        self.dropout = nnx.Dropout(dropout, rngs=rngs)

    def initial_state(self, batch_shape: tuple[int, ...] = ()) -> MambaCache:
        """Zero cache for ``batch_shape``."""
        return self.mixer.initial_state(batch_shape)

    def __call__(
        self, x: jax.Array, state: MambaCache | None = None
    ) -> tuple[jax.Array, MambaCache]:
        """``x (..., T, D) -> (x' (..., T, D), final cache)``."""
        y, last = self.mixer(self.norm(x), state)
        return x + self.dropout(y), last

    def step(self, state: MambaCache, x: jax.Array) -> tuple[MambaCache, jax.Array]:
        """One step on ``x (..., D)``."""
        state, y = self.mixer.step(state, self.norm(x))
        return state, x + self.dropout(y)


class MambaStack(nnx.Module):
    """``n_layers`` Mamba blocks and a final LayerNorm: ``(B, T, D) -> (B, T, D)``."""

    def __init__(
        self,
        d_model: int,
        n_layers: int,
        *,
        d_state: int = 16,
        expand: int = 2,
        d_conv: int = 4,
        dropout: float = 0.0,
        scan: str = "parallel",
        rngs: nnx.Rngs,
    ) -> None:
        self.layers = nnx.List(
            [
                MambaBlock(
                    d_model,
                    d_state=d_state,
                    expand=expand,
                    d_conv=d_conv,
                    dropout=dropout,
                    scan=scan,
                    rngs=rngs,
                )
                for _ in range(n_layers)
            ]
        )
        self.norm = nnx.LayerNorm(d_model, rngs=rngs)

    def initial_state(self, batch_shape: tuple[int, ...] = ()) -> list[MambaCache]:
        """Per-layer zero caches."""
        return [layer.initial_state(batch_shape) for layer in self.layers]

    def __call__(
        self, x: jax.Array, state: list[MambaCache] | None = None
    ) -> tuple[jax.Array, list[MambaCache]]:
        """``x (..., T, D) -> (y (..., T, D), per-layer final caches)``."""
        states = state if state is not None else [None] * len(self.layers)
        out = []
        for layer, s in zip(self.layers, states, strict=True):
            x, last = layer(x, s)
            out.append(last)
        return self.norm(x), out

    def step(self, state: list[MambaCache], x: jax.Array) -> tuple[list[MambaCache], jax.Array]:
        """One step on ``x (..., D)``."""
        new = []
        for layer, s in zip(self.layers, state, strict=True):
            s, x = layer.step(s, x)
            new.append(s)
        return new, self.norm(x)
