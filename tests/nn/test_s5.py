"""S5: HiPPO-N init, parallel scan == sequential recurrence == step-by-step, state carry."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from sensorimotor.nn.s5 import S5SSM, S5Stack, make_dplr_hippo, make_hippo


def test_hippo_n_eigenvalues_are_stable_and_conjugate() -> None:
    lam, v = make_dplr_hippo(8)
    np.testing.assert_allclose(lam.real, -0.5, atol=1e-9)
    np.testing.assert_allclose(np.sort(lam.imag), np.sort(-lam.imag), atol=1e-9)
    np.testing.assert_allclose(v.conj().T @ v, np.eye(8), atol=1e-9)
    assert make_hippo(4)[0, 1] == 0 and make_hippo(4)[1, 0] < 0


def test_parallel_scan_matches_sequential_and_step() -> None:
    ssm = S5SSM(6, 8, blocks=2, rngs=nnx.Rngs(0))
    u = jax.random.normal(jax.random.key(1), (3, 17, 6))
    y_par, last_par = ssm(u)
    y_seq, last_seq = ssm.sequential(u)
    np.testing.assert_allclose(y_par, y_seq, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(last_par, last_seq, rtol=1e-4, atol=1e-5)
    step = nnx.jit(lambda m, s, x: m.step(s, x))
    state = ssm.initial_state((3,))
    ys = []
    for t in range(17):
        state, y = step(ssm, state, u[:, t])
        ys.append(y)
    np.testing.assert_allclose(jnp.stack(ys, 1), y_par, rtol=1e-4, atol=1e-5)


def test_stack_state_carry_equals_full_sequence() -> None:
    stack = S5Stack(8, 8, 2, rngs=nnx.Rngs(0))
    u = jax.random.normal(jax.random.key(2), (2, 20, 8))
    y_full, _ = stack(u)
    y_a, s = stack(u[:, :12])
    y_b, _ = stack(u[:, 12:], s)
    np.testing.assert_allclose(jnp.concatenate([y_a, y_b], 1), y_full, rtol=1e-4, atol=1e-4)
    step = nnx.jit(lambda m, s, x: m.step(s, x))
    state = stack.initial_state((2,))
    for t in range(20):
        state, y = step(stack, state, u[:, t])
    np.testing.assert_allclose(y, y_full[:, -1], rtol=1e-4, atol=1e-4)


def test_linear_recurrence_scan_options_agree() -> None:
    from sensorimotor.nn.s5 import linear_recurrence

    a = jax.random.uniform(jax.random.key(4), (3, 11, 5), minval=0.5, maxval=1.0)
    bu = jax.random.normal(jax.random.key(5), (3, 11, 5))
    x0 = jax.random.normal(jax.random.key(6), (3, 5))
    np.testing.assert_allclose(
        linear_recurrence(a, bu, x0, scan="sequential"),
        linear_recurrence(a, bu, x0),
        rtol=1e-5,
        atol=1e-5,
    )
