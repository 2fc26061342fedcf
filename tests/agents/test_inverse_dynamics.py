"""The inverse-dynamics model of RIC learns a known inverse."""

import jax
import numpy as np

from sensorimotor.agents.inverse_dynamics import create_inverse_dynamics


def _toy(n, seed):
    """``s' = s + 0.5 a``: the action is recoverable from the pair, ``a = 2 (s' - s)``."""
    rng = np.random.default_rng(seed)
    s = rng.normal(size=(n, 3)).astype(np.float32)
    a = rng.uniform(-1, 1, (n, 2)).astype(np.float32)
    s2 = s.copy()
    s2[:, :2] += 0.5 * a
    return s, a, s2


def test_idm_recovers_the_action_far_better_than_the_mean_action():
    """Fails when the IDM does not learn (a no-op update, or inputs that drop ``s'``)."""
    idm = create_inverse_dynamics(3, 2, jax.random.PRNGKey(0), hidden=(64, 64), lr=3e-3)
    s, a, s2 = _toy(4096, seed=0)
    rng = np.random.default_rng(1)
    for _ in range(400):
        i = rng.integers(0, len(s), 128)
        idm, _ = idm.update(s[i], a[i], s2[i])
    ts, ta, ts2 = _toy(1024, seed=2)
    err = float(idm.loss(ts, ta, ts2))
    baseline = float(np.mean(np.sum((ta - a.mean(0)) ** 2, axis=-1)))  # predict the mean action
    assert err < 0.1 * baseline, f"IDM error {err:.4f} vs mean-action baseline {baseline:.4f}"
