"""Mamba: parallel selective scan == step-by-step recurrence; cache carry; gradients finite."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from sensorimotor.nn.mamba import Mamba, MambaStack

# Every forward pass is jitted: run eagerly, the scans dispatch hundreds of tiny ops one by one
# (over two minutes on a loaded 2-core machine); compiled, the same checks take seconds.
forward = nnx.jit(lambda m, x: m(x))
forward_from = nnx.jit(lambda m, x, state: m(x, state))


def test_parallel_scan_matches_step() -> None:
    layer = Mamba(8, d_state=16, expand=2, d_conv=4, rngs=nnx.Rngs(0))
    u = jax.random.normal(jax.random.key(1), (2, 15, 8))
    y_par, cache = forward(layer, u)
    step = nnx.jit(lambda m, s, x: m.step(s, x))
    state = layer.initial_state((2,))
    ys = []
    for t in range(15):
        state, y = step(layer, state, u[:, t])
        ys.append(y)
    np.testing.assert_allclose(jnp.stack(ys, 1), y_par, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(state.ssm, cache.ssm, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(state.conv, cache.conv, rtol=1e-5, atol=1e-6)


def test_stack_cache_carry_and_grads() -> None:
    stack = MambaStack(8, 2, rngs=nnx.Rngs(0))
    u = jax.random.normal(jax.random.key(2), (2, 12, 8))
    y_full, _ = forward(stack, u)
    y_a, s = forward(stack, u[:, :5])
    y_b, _ = forward_from(stack, u[:, 5:], s)
    np.testing.assert_allclose(jnp.concatenate([y_a, y_b], 1), y_full, rtol=1e-4, atol=1e-4)

    def loss(m: MambaStack) -> jax.Array:
        return jnp.mean(m(u)[0] ** 2)

    grads = nnx.jit(nnx.grad(loss))(stack)
    leaves = jax.tree.leaves(grads)
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in leaves)
    assert any(float(jnp.abs(g).max()) > 0 for g in leaves)


def test_sequential_scan_option_matches_parallel() -> None:
    u = jax.random.normal(jax.random.key(3), (2, 10, 8))
    par = Mamba(8, rngs=nnx.Rngs(0), scan="parallel")
    seq = Mamba(8, rngs=nnx.Rngs(0), scan="sequential")
    y_par, c_par = forward(par, u)
    y_seq, c_seq = forward(seq, u)
    np.testing.assert_allclose(y_seq, y_par, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(c_seq.ssm, c_par.ssm, rtol=1e-4, atol=1e-5)
