"""S5: a simplified structured state-space layer (Smith, Warrington & Linderman, 2023) in Flax NNX.

One MIMO diagonal linear SSM per layer, initialised from the diagonalised normal part of the
HiPPO-LegS matrix ("HiPPO-N"), discretised with a zero-order hold and learnable log-timescales.
Only one of each conjugate pair of states is kept (``conj_sym``): the output is ``2 Re(C x)``.
Training runs the recurrence as a ``jax.lax.associative_scan`` over time; rollouts run the
same recurrence one step at a time with ``step`` and a carried state.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from sensorimotor.nn.mlp import get_activation


def make_hippo(n: int) -> np.ndarray:
    """The ``(n, n)`` HiPPO-LegS state matrix (negative definite, lower triangular)."""
    p = np.sqrt(1 + 2 * np.arange(n))
    a = p[:, None] * p[None, :]
    a = np.tril(a) - np.diag(np.arange(n))
    return -a


def make_dplr_hippo(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues ``(n,)`` and eigenvectors ``(n, n)`` of the normal part of HiPPO-LegS."""
    a = make_hippo(n)
    p = np.sqrt(np.arange(n) + 0.5)
    s = a + p[:, None] * p[None, :]
    lam_re = np.mean(np.diagonal(s)) * np.ones(n)
    lam_im, v = np.linalg.eigh(s * -1j)
    return lam_re + 1j * lam_im, v


def binary_operator(
    e_i: tuple[jax.Array, jax.Array], e_j: tuple[jax.Array, jax.Array]
) -> tuple[jax.Array, jax.Array]:
    """Composition of two affine maps ``x -> a x + b`` (the associative-scan operator)."""
    a_i, b_i = e_i
    a_j, b_j = e_j
    return a_j * a_i, a_j * b_i + b_j


def linear_recurrence(
    a: jax.Array, bu: jax.Array, x0: jax.Array | None = None, *, scan: str = "parallel"
) -> jax.Array:
    """All states of ``x_t = a_t * x_{t-1} + bu_t`` over axis -2 (``(..., T, P)``).

    ``a`` broadcasts against ``bu``; ``x0`` (``(..., P)``) is the state before the first step.
    ``scan="parallel"`` uses ``associative_scan`` (O(log T) depth); ``"sequential"`` a ``lax.scan``.
    """
    a = jnp.broadcast_to(a, bu.shape)
    if scan == "sequential":
        x = (
            jnp.zeros(bu.shape[:-2] + bu.shape[-1:], bu.dtype)
            if x0 is None
            else x0.astype(bu.dtype)
        )

        def body(x: jax.Array, ab: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
            x = ab[0] * x + ab[1]
            return x, x

        _, xs = jax.lax.scan(body, x, (jnp.moveaxis(a, -2, 0), jnp.moveaxis(bu, -2, 0)))
        return jnp.moveaxis(xs, 0, -2)
    if scan != "parallel":
        raise ValueError(f"scan must be 'parallel' or 'sequential', got {scan!r}")
    if x0 is not None:
        bu = bu.at[..., 0, :].add(a[..., 0, :] * x0)
    _, xs = jax.lax.associative_scan(binary_operator, (a, bu), axis=bu.ndim - 2)
    return xs


class S5SSM(nnx.Module):
    """The S5 linear SSM: ``(B, T, H) -> (B, T, H)`` with ``P`` complex states (``P/2`` kept).

    ``blocks`` splits the state into that many HiPPO-N blocks (block-diagonal eigenbasis).
    """

    def __init__(
        self,
        d_model: int,
        d_state: int,
        *,
        blocks: int = 1,
        dt_min: float = 1e-3,
        dt_max: float = 1e-1,
        conj_sym: bool = True,
        scan: str = "parallel",
        rngs: nnx.Rngs,
    ) -> None:
        self.scan = scan
        if d_state % blocks:
            raise ValueError(f"S5 d_state={d_state} must be divisible by blocks={blocks}")
        block = d_state // blocks
        if conj_sym and block % 2:
            raise ValueError(f"S5 with conj_sym needs an even block size, got {block}")
        lam, v = make_dplr_hippo(block)
        keep = block // 2 if conj_sym else block
        lam, v = lam[:keep], v[:, :keep]
        lam = np.tile(lam, blocks)
        v_full = np.zeros((d_state, keep * blocks), dtype=np.complex128)
        for j in range(blocks):
            v_full[j * block : (j + 1) * block, j * keep : (j + 1) * keep] = v
        p = keep * blocks
        self.d_model, self.d_state, self.n_states, self.conj_sym = d_model, d_state, p, conj_sym

        self.lambda_re = nnx.Param(jnp.asarray(lam.real, jnp.float32))
        self.lambda_im = nnx.Param(jnp.asarray(lam.imag, jnp.float32))
        # B: lecun-normal (d_state, H) projected into the eigenbasis -> (P, H).
        b = jax.random.normal(rngs.params(), (d_state, d_model)) / math.sqrt(d_model)
        b_tilde = v_full.conj().T @ np.asarray(b, dtype=np.float64)
        self.b_re = nnx.Param(jnp.asarray(b_tilde.real, jnp.float32))
        self.b_im = nnx.Param(jnp.asarray(b_tilde.imag, jnp.float32))
        # C: (H, d_state) lecun-normal complex, times the eigenbasis -> (H, P).
        kr, ki = jax.random.split(rngs.params())
        c = (
            np.asarray(jax.random.normal(kr, (d_model, d_state)))
            + 1j * np.asarray(jax.random.normal(ki, (d_model, d_state)))
        ) / math.sqrt(2 * d_state)
        c_tilde = c @ v_full
        self.c_re = nnx.Param(jnp.asarray(c_tilde.real, jnp.float32))
        self.c_im = nnx.Param(jnp.asarray(c_tilde.imag, jnp.float32))
        self.d = nnx.Param(jax.random.normal(rngs.params(), (d_model,)))
        self.log_step = nnx.Param(
            jax.random.uniform(
                rngs.params(), (p,), minval=math.log(dt_min), maxval=math.log(dt_max)
            )
        )

    def discretize(self) -> tuple[jax.Array, jax.Array]:
        """Zero-order-hold ``(lambda_bar (P,), b_bar (P, H))``, both complex."""
        lam = jnp.minimum(self.lambda_re[...], -1e-4) + 1j * self.lambda_im[...]
        step = jnp.exp(self.log_step[...])
        lam_bar = jnp.exp(lam * step)
        b = self.b_re[...] + 1j * self.b_im[...]
        b_bar = ((lam_bar - 1.0) / lam)[:, None] * b
        return lam_bar, b_bar

    def _output(self, x: jax.Array, u: jax.Array) -> jax.Array:
        c = self.c_re[...] + 1j * self.c_im[...]
        y = x @ c.T
        y = 2.0 * y.real if self.conj_sym else y.real
        return y + self.d[...] * u

    def initial_state(self, batch_shape: tuple[int, ...] = ()) -> jax.Array:
        """Zero complex state ``(*batch_shape, P)``."""
        return jnp.zeros((*batch_shape, self.n_states), jnp.complex64)

    def __call__(self, u: jax.Array, state: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
        """``u (..., T, H) -> (y (..., T, H), final state (..., P))`` by parallel scan."""
        lam_bar, b_bar = self.discretize()
        bu = u.astype(jnp.complex64) @ b_bar.T
        xs = linear_recurrence(lam_bar, bu, state, scan=self.scan)
        return self._output(xs, u), xs[..., -1, :]

    def step(self, state: jax.Array, u: jax.Array) -> tuple[jax.Array, jax.Array]:
        """One step: ``state (..., P), u (..., H) -> (new state, y (..., H))``."""
        lam_bar, b_bar = self.discretize()
        x = lam_bar * state + u.astype(jnp.complex64) @ b_bar.T
        return x, self._output(x, u)

    def sequential(
        self, u: jax.Array, state: jax.Array | None = None
    ) -> tuple[jax.Array, jax.Array]:
        """Same as ``__call__`` but with a sequential ``lax.scan`` (reference and benchmark)."""
        if state is None:
            state = self.initial_state(u.shape[:-2])
        lam_bar, b_bar = self.discretize()
        bu = jnp.moveaxis(u.astype(jnp.complex64) @ b_bar.T, -2, 0)

        def body(x: jax.Array, bu_t: jax.Array) -> tuple[jax.Array, jax.Array]:
            x = lam_bar * x + bu_t
            return x, x

        last, xs = jax.lax.scan(body, state, bu)
        return self._output(jnp.moveaxis(xs, 0, -2), u), last


class S5Block(nnx.Module):
    """Pre-norm residual S5 block: ``x + Dropout(GLU(act(S5(LayerNorm(x)))))`` on ``(B, T, H)``."""

    def __init__(
        self,
        d_model: int,
        d_state: int,
        *,
        blocks: int = 1,
        dropout: float = 0.0,
        activation: str = "gelu",
        dt_min: float = 1e-3,
        dt_max: float = 1e-1,
        scan: str = "parallel",
        rngs: nnx.Rngs,
    ) -> None:
        self.norm = nnx.LayerNorm(d_model, rngs=rngs)
        self.ssm = S5SSM(
            d_model, d_state, blocks=blocks, dt_min=dt_min, dt_max=dt_max, scan=scan, rngs=rngs
        )
        self.gate = nnx.Linear(d_model, d_model, rngs=rngs)
        self.activation = get_activation(activation)
        self.dropout = nnx.Dropout(dropout, rngs=rngs)

    def _mix(self, y: jax.Array) -> jax.Array:
        y = self.activation(y)
        y = y * jax.nn.sigmoid(self.gate(y))
        return self.dropout(y)

    def initial_state(self, batch_shape: tuple[int, ...] = ()) -> jax.Array:
        """Zero recurrent state for ``batch_shape``."""
        return self.ssm.initial_state(batch_shape)

    def __call__(self, x: jax.Array, state: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
        """``x (..., T, H) -> (x' (..., T, H), final state)``."""
        y, last = self.ssm(self.norm(x), state)
        return x + self._mix(y), last

    def step(self, state: jax.Array, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        """One step on ``x (..., H)``: ``(new state, x' (..., H))``."""
        state, y = self.ssm.step(state, self.norm(x))
        return state, x + self._mix(y)


class S5Stack(nnx.Module):
    """``n_layers`` S5 blocks and a final LayerNorm: ``(B, T, H) -> (B, T, H)``."""

    def __init__(
        self,
        d_model: int,
        d_state: int,
        n_layers: int,
        *,
        blocks: int = 1,
        dropout: float = 0.0,
        scan: str = "parallel",
        rngs: nnx.Rngs,
    ) -> None:
        self.layers = nnx.List(
            [
                S5Block(d_model, d_state, blocks=blocks, dropout=dropout, scan=scan, rngs=rngs)
                for _ in range(n_layers)
            ]
        )
        self.norm = nnx.LayerNorm(d_model, rngs=rngs)

    def initial_state(self, batch_shape: tuple[int, ...] = ()) -> list[jax.Array]:
        """Per-layer zero states."""
        return [layer.initial_state(batch_shape) for layer in self.layers]

    def __call__(
        self, x: jax.Array, state: list[jax.Array] | None = None
    ) -> tuple[jax.Array, list[jax.Array]]:
        """``x (..., T, H) -> (y (..., T, H), per-layer final states)``."""
        states = state if state is not None else [None] * len(self.layers)
        out = []
        for layer, s in zip(self.layers, states, strict=True):
            x, last = layer(x, s)
            out.append(last)
        return self.norm(x), out

    def step(self, state: list[jax.Array], x: jax.Array) -> tuple[list[jax.Array], jax.Array]:
        """One step on ``x (..., H)``: ``(new per-layer states, y (..., H))``."""
        new = []
        for layer, s in zip(self.layers, state, strict=True):
            s, x = layer.step(s, x)
            new.append(s)
        return new, self.norm(x)
