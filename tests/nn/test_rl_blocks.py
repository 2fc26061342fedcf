"""Diffusion helpers, categorical regression supports, SimNorm and the vectorised ensemble."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from sensorimotor.nn import diffusion as dfn
from sensorimotor.nn.distributional import Support, soft_cross_entropy, symexp, symlog
from sensorimotor.nn.ensemble import Ensemble
from sensorimotor.nn.mlp import MLP
from sensorimotor.nn.simnorm import simnorm


@pytest.mark.parametrize("kind", dfn.SCHEDULES)
def test_schedules_are_valid_noise_schedules(kind):
    sched = dfn.Schedule.create(kind, 50)
    b = np.asarray(sched.betas)
    ab = np.asarray(sched.alpha_bars)
    assert b.shape == (50,) and np.all(b > 0) and np.all(b < 1)
    assert np.all(np.diff(ab) < 0), "alpha_bar must decrease with t"
    assert ab[-1] < 0.1, "the last step should be mostly noise"


def test_unknown_schedule_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown noise schedule 'wiggly'"):
        dfn.make_betas("wiggly", 10)


def test_predict_x0_inverts_q_sample():
    sched = dfn.Schedule.create("cosine", 100)
    k1, k2 = jax.random.split(jax.random.PRNGKey(0))
    x0 = jax.random.uniform(k1, (8, 3), minval=-1, maxval=1)
    noise = jax.random.normal(k2, (8, 3))
    t = jnp.arange(8) * 12
    xt = dfn.q_sample(sched, x0, t, noise)
    np.testing.assert_allclose(dfn.predict_x0(sched, xt, t, noise), x0, atol=1e-3)


@pytest.mark.parametrize("steps", [1, 5, 100])
def test_ddim_with_oracle_noise_recovers_the_sample(steps):
    """With the true noise prediction, deterministic DDIM lands exactly on x0."""
    sched = dfn.Schedule.create("cosine", 100)
    x0 = jnp.array([[0.3, -0.7]])
    x = jax.random.normal(jax.random.PRNGKey(1), x0.shape)
    ts = dfn.sampling_timesteps(100, steps)
    assert ts[0] == 99 and len(ts) == steps and (steps == 1 or ts[-1] == 0)
    for t, tp in zip(ts, [*ts[1:], -1], strict=True):
        tb = jnp.array([t])
        ab = sched.alpha_bars[t]
        eps = (x - jnp.sqrt(ab) * x0) / jnp.sqrt(1 - ab)
        x = dfn.ddim_step(sched, x, tb, jnp.array([tp]), eps, jnp.zeros_like(x), eta=0.0)
    np.testing.assert_allclose(x, x0, atol=1e-4)


def test_ddpm_last_step_is_noise_free_posterior_mean():
    sched = dfn.Schedule.create("linear", 20)
    x0 = jnp.array([[0.5]])
    t = jnp.array([0])
    eps = x0 * 0 + 0.1
    xt = dfn.q_sample(sched, x0, t, eps)
    out = dfn.ddpm_step(sched, xt, t, eps, jnp.ones_like(xt) * 100.0)
    np.testing.assert_allclose(out, x0, atol=1e-5)


def test_timestep_embedding_shape_and_range():
    e = dfn.timestep_embedding(jnp.arange(4), 7)
    assert e.shape == (4, 7)
    assert np.all(np.abs(np.asarray(e)) <= 1.0)


def test_symlog_symexp_are_inverse():
    x = jnp.array([-1000.0, -3.0, 0.0, 0.5, 42.0])
    np.testing.assert_allclose(symexp(symlog(x)), x, rtol=1e-5)


@pytest.mark.parametrize("symlog_space", [False, True])
@pytest.mark.parametrize("kind", ["two_hot", "hl_gauss"])
def test_categorical_targets_decode_to_their_value(kind, symlog_space):
    sup = Support(-10.0, 10.0, 101, symlog=symlog_space)
    x = jnp.array([-7.3, -0.2, 0.0, 1.234, 6.5])
    probs = sup.project(x, kind)
    assert probs.shape == (5, 101)
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-5)
    decoded = sup.decode(jnp.log(probs + 1e-30))
    np.testing.assert_allclose(decoded, x, atol=0.05 if kind == "hl_gauss" else 1e-3, rtol=1e-3)


def test_two_hot_is_clipped_to_the_support():
    sup = Support(-1.0, 1.0, 11)
    probs = sup.two_hot(jnp.array([5.0, -5.0]))
    assert probs[0, -1] == 1.0 and probs[1, 0] == 1.0


def test_soft_cross_entropy_is_minimal_at_target():
    sup = Support(-2.0, 2.0, 21)
    target = sup.hl_gauss(jnp.array([0.3]))
    good = soft_cross_entropy(jnp.log(target + 1e-12), target)
    bad = soft_cross_entropy(jnp.zeros((1, 21)), target)
    assert float(good[0]) < float(bad[0])


def test_support_validation():
    with pytest.raises(ValueError, match="num_bins >= 2"):
        Support(0, 1, 1)
    with pytest.raises(ValueError, match="v_max > v_min"):
        Support(1, 0, 5)


def test_simnorm_makes_simplices():
    x = jax.random.normal(jax.random.PRNGKey(0), (3, 16))
    y = simnorm(x, 8).reshape(3, 2, 8)
    np.testing.assert_allclose(y.sum(-1), 1.0, atol=1e-5)
    assert np.all(np.asarray(y) > 0)
    with pytest.raises(ValueError, match="multiple of group"):
        simnorm(jnp.ones((2, 10)), 8)


def test_ensemble_members_are_independent_and_batched():
    ens = Ensemble(lambda r: MLP(3, [8], 2, rngs=r), 4, rngs=nnx.Rngs(0))
    y = ens(jnp.ones((5, 3)))
    assert y.shape == (4, 5, 2)
    assert float(jnp.std(y, axis=0).mean()) > 1e-3, "members must differ"
    with pytest.raises(ValueError, match="size must be >= 1"):
        Ensemble(lambda r: MLP(3, [8], 2, rngs=r), 0, rngs=nnx.Rngs(0))


def test_ensemble_split_args_are_sliced_per_member():
    ens = Ensemble(lambda r: MLP(2, [4], 1, rngs=r), 3, rngs=nnx.Rngs(1))
    x = jax.random.normal(jax.random.PRNGKey(2), (3, 6, 2))
    per_member = ens(x, split=(0,))
    broadcast = jnp.stack([ens(x[i])[i] for i in range(3)])
    np.testing.assert_allclose(per_member, broadcast, atol=1e-6)
