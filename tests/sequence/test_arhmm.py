"""AR-HMM segmentation: helpers, and dynamax recovering planted syllables."""

from __future__ import annotations

import numpy as np
import pytest

from sensorimotor.sequence.arhmm import PCA, normalized_mutual_info, run_lengths


def test_run_lengths_and_nmi() -> None:
    np.testing.assert_array_equal(run_lengths(np.array([0, 0, 1, 1, 1, 0])), [2, 3, 1])
    a = np.array([0, 0, 1, 1, 2, 2])
    assert normalized_mutual_info(a, (a + 1) % 3) == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    assert normalized_mutual_info(rng.integers(0, 3, 5000), rng.integers(0, 3, 5000)) < 0.01


def test_pca_standardises_and_ranks_components() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 3)) @ np.diag([5.0, 1.0, 0.1])
    pca = PCA.fit(x, 2)
    z = pca.transform(x)
    np.testing.assert_allclose(z.std(0, ddof=1), 1.0, rtol=1e-6)
    assert abs(pca.components[0, 0]) > 0.99 and pca.explained > 0.99


def test_arhmm_recovers_planted_dynamics() -> None:
    pytest.importorskip("dynamax")
    from sensorimotor.sequence.arhmm import fit_arhmm, heldout_loglik, most_likely

    rng = np.random.default_rng(0)
    dyn = [np.array([[0.95, 0.2], [-0.2, 0.95]]), np.array([[0.5, 0.0], [0.0, 0.5]])]
    bias = [np.zeros(2), np.array([1.0, -1.0])]

    def sample(n: int) -> tuple[np.ndarray, np.ndarray]:
        z = np.repeat(np.arange(n // 25) % 2, 25)
        x = np.zeros((n, 2))
        for t in range(1, n):
            x[t] = dyn[z[t]] @ x[t - 1] + bias[z[t]] + rng.normal(0, 0.05, 2)
        return x, z

    train = np.stack([sample(200)[0] for _ in range(4)])
    model, params, lps = fit_arhmm(train, 2, 10.0, 1, 10, seed=0)
    assert lps[-1] > lps[0]
    x, z = sample(200)
    states = most_likely(model, params, x[None])[0]
    assert normalized_mutual_info(z[1:], states[1:]) > 0.6
    assert np.isfinite(heldout_loglik(model, params, x[None]))
