"""Gaussian, diffusion and autoregressive policies: shapes, bounds, learning, guidance, save/load."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sensorimotor.core.errors import ConfigError
from sensorimotor.policies import Policy, Spec, create_policy, load_learner

TINY = {
    "gaussian": {"hidden": [32, 32], "lr": 3e-3},
    "diffusion": {"hidden": [32, 32], "num_steps": 20, "sample_steps": 4, "lr": 3e-3},
    "autoregressive": {"hidden": [32, 32], "num_bins": 16, "lr": 3e-3},
}
# Observations whose first entry is +1 / -1 (the sign decides the demonstrated action), and the
# same scaled by 10 (far outside the training data, to probe the raw output's bounds).
PROBE = jnp.asarray([[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0], [10.0, 10.0, -10.0], [-10.0, 10.0, 10.0]])
NAMES = sorted(TINY)


@pytest.fixture(scope="module")
def spec():
    return Spec(obs_dim=3, action_dim=2, action_low=(-2.0, 0.0), action_high=(2.0, 1.0))


@pytest.fixture(scope="module")
def chunk_spec():
    return Spec(
        obs_dim=3, action_dim=2, action_low=(-1.0, -1.0), action_high=(1.0, 1.0),
        obs_horizon=2, action_horizon=4,
    )  # fmt: skip


@pytest.fixture(scope="module")
def policies(spec):
    return {n: create_policy(n, spec, config=TINY[n], seed=0) for n in NAMES}


def _batch(spec, B, seed=0):
    rng = np.random.default_rng(seed)
    low, high = np.array(spec.action_low), np.array(spec.action_high)
    a = rng.uniform(low, high, (B, spec.action_horizon, spec.action_dim)).astype(np.float32)
    return {
        "observations": rng.normal(size=(B, spec.obs_horizon, spec.obs_dim)).astype(np.float32),
        "actions": a,
    }


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("B", [1, 5])
def test_sample_shapes_bounds_and_finite(policies, spec, name, B):
    pol = policies[name]
    obs = jnp.asarray(_batch(spec, B)["observations"][:, 0])
    a = np.asarray(pol.sample_actions(obs, jax.random.PRNGKey(1), n=3))
    assert a.shape == (B, 3, 2)
    assert np.isfinite(a).all()
    assert np.all(a >= np.array(spec.action_low) - 1e-6)
    assert np.all(a <= np.array(spec.action_high) + 1e-6)
    single = pol.sample_actions(obs[0], jax.random.PRNGKey(1), n=2, deterministic=True)
    assert single.shape == (2, 2)


def test_chunked_policy_emits_action_chunks(chunk_spec):
    pol = create_policy("diffusion", chunk_spec, config=TINY["diffusion"])
    batch = _batch(chunk_spec, 16)
    a = pol.sample_actions(batch["observations"], jax.random.PRNGKey(0), n=3)
    assert a.shape == (16, 3, chunk_spec.flat_action_dim)
    new, info = pol.update(batch)
    assert np.isfinite(float(info["loss"]))


def _conditioned_batch(spec, B, seed=0):
    """Demonstrations whose action depends on the observation: ``(0.7, -0.5) * sign(obs[0])`` in
    normalised units, so a policy that ignores its observation cannot fit them."""
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(B, 1, spec.obs_dim)).astype(np.float32)
    sign = np.sign(obs[:, 0, :1])
    act = spec.denormalize_action(jnp.asarray(np.concatenate([0.7 * sign, -0.5 * sign], 1)))
    return {"observations": obs, "actions": np.asarray(act, np.float32)[:, None]}


@functools.partial(jax.jit, static_argnames=("n",))
def _raw_samples(pol, obs, key, n):
    """The network's own samples in normalised units, before ``Spec`` clips and rescales them."""
    return pol.sample_fn(pol.net.params, obs, key, n)


@pytest.fixture(scope="module")
def trained(policies, spec):
    """Each policy after 40 behaviour-cloning steps on one fixed batch, with its loss before/after."""
    batch = _conditioned_batch(spec, 16, seed=3)
    obs = spec.flatten_obs(batch["observations"])
    act = spec.normalize_action(spec.flatten_actions(batch["actions"]))
    key = jax.random.PRNGKey(7)  # a fixed key: diffusion's loss is stochastic
    out = {}
    for name, pol in policies.items():
        loss = jax.jit(lambda p, pol=pol: pol.loss_fn(p, obs, act, key)[0])
        before = float(loss(pol.net.params))
        for _ in range(40):
            pol, info = pol.update(batch)
        out[name] = (pol, before, float(loss(pol.net.params)), info)
    return out


@pytest.mark.parametrize("name", NAMES)
def test_update_lowers_loss_on_a_fixed_batch(trained, name):
    pol, before, after, info = trained[name]
    assert int(pol.step) == 40
    assert np.isfinite(float(info["loss"])) and np.isfinite(float(info["grad_norm"]))
    assert after < before, f"{name}: loss {before:.4f} -> {after:.4f}"


@pytest.mark.parametrize("name", NAMES)
def test_trained_sampler_follows_its_observation(trained, name):
    """Fails when the update is a no-op or the sampler ignores the observation: the demonstrated
    action flips sign with ``obs[0]``, so must the samples."""
    pol = trained[name][0]
    a = np.asarray(_raw_samples(pol, PROBE, jax.random.PRNGKey(1), 64)).mean(1)  # (4, 2)
    pos, neg = a[0], a[1]
    assert pos[0] - neg[0] > 0.4 and neg[1] - pos[1] > 0.3, f"{name}: +obs {pos}, -obs {neg}"


@pytest.mark.parametrize("name", NAMES)
def test_raw_samples_lie_in_the_normalised_box(trained, name):
    """Bounds on the network's own output (``Spec.denormalize_action`` clips, so a bounds check on
    environment actions cannot see an out-of-range sampler), also far outside the data."""
    a = np.asarray(_raw_samples(trained[name][0], PROBE, jax.random.PRNGKey(1), 64))
    assert np.isfinite(a).all() and np.abs(a).max() <= 1.0 + 1e-6, f"{name}: max {np.abs(a).max()}"


def test_update_many_equals_repeated_updates(policies, spec):
    pol = policies["gaussian"]
    batch = _batch(spec, 16, seed=3)
    a = pol
    for _ in range(3):
        a, _ = a.update(batch)
    b, _ = pol.update_many({k: np.stack([v] * 3) for k, v in batch.items()})
    for x, y in zip(jax.tree.leaves(a.net.params), jax.tree.leaves(b.net.params), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)


def test_gaussian_deterministic_is_the_squashed_mean(policies, spec):
    pol = policies["gaussian"]
    obs = jnp.ones((2, 3))
    a1 = pol.sample_actions(obs, jax.random.PRNGKey(0), deterministic=True)
    a2 = pol.sample_actions(obs, jax.random.PRNGKey(9), deterministic=True)
    np.testing.assert_allclose(a1, a2)
    mu, _ = pol.module().dist(spec.flatten_obs(obs))
    np.testing.assert_allclose(a1[:, 0], spec.denormalize_action(jnp.tanh(mu)), atol=1e-5)


def test_gaussian_log_prob_matches_samples(policies):
    pol = policies["gaussian"]

    @jax.jit
    def check(params):
        net = pol.module(params)
        obs = jnp.ones((4, 3))
        a, logp = net.sample_and_log_prob(obs, jax.random.PRNGKey(0), 3)
        return logp, jax.vmap(lambda x: net.log_prob(obs, x), in_axes=1, out_axes=1)(a)

    logp, lp = check(pol.net.params)
    np.testing.assert_allclose(lp, logp, rtol=1e-3, atol=1e-3)


def test_autoregressive_log_prob_is_a_density(trained):
    pol = trained["autoregressive"][0]
    # Integrate p(a | obs) over a fine grid on [-1, 1]^2: a density integrates to one.
    g = jnp.linspace(-1 + 1 / 64, 1 - 1 / 64, 64)
    grid = jnp.stack(jnp.meshgrid(g, g), -1).reshape(-1, 2)
    obs = jnp.ones((grid.shape[0], 3))
    logp = jax.jit(lambda p: pol.module(p).log_prob(obs, grid))(pol.net.params)
    total = float(jnp.exp(logp).sum() * (2 / 64) ** 2)
    assert abs(total - 1.0) < 1e-2


def test_diffusion_samplers_and_classifier_free_guidance(spec):
    cfg = {**TINY["diffusion"], "cond_drop_prob": 0.3, "cfg_scale": 1.5}
    pol = create_policy("diffusion", spec, config=cfg)
    batch = _conditioned_batch(spec, 16, seed=3)
    for _ in range(150):
        pol, info = pol.update(batch)
    obs = jnp.asarray(batch["observations"][:, 0])

    @jax.jit
    def samples(params):
        net = pol.module(params)
        both = [net.sample(obs, jax.random.PRNGKey(0), 3, sampler=s) for s in ("ddpm", "ddim")]
        plain, guided = (net.sample(PROBE[:2], jax.random.PRNGKey(0), 256, cfg_scale=w) for w in (0.0, 3.0))  # fmt: skip
        return both, plain, guided

    both, plain, guided = samples(pol.net.params)
    for a in both:
        assert a.shape == (16, 3, 2) and np.isfinite(np.asarray(a)).all()
        assert np.all(np.abs(np.asarray(a)) <= 1.0)

    # Guidance moves samples toward the conditioned mode (sign of obs[0]): fails when it is off.
    def in_mode(a):
        a = np.asarray(a)
        return ((a[0, :, 0] > 0).mean() + (a[1, :, 0] < 0).mean()) / 2

    assert in_mode(guided) > max(in_mode(plain) + 0.05, 0.9), (in_mode(plain), in_mode(guided))


def test_critic_guidance_moves_diffusion_samples_uphill(trained):
    pol = trained["diffusion"][0]
    obs = jnp.zeros((64, 3))

    def uphill(o, a):  # gradient of Q(a) = a[0]
        return jnp.zeros_like(a).at[:, 0].set(1.0)

    @jax.jit
    def both(params):
        net = pol.module(params)
        plain = net.sample(obs, jax.random.PRNGKey(0), 4)
        guided = net.sample(obs, jax.random.PRNGKey(0), 4, guidance_fn=uphill, guidance_scale=3.0)
        return plain, guided

    plain, guided = both(pol.net.params)
    assert float(guided[..., 0].mean()) > float(plain[..., 0].mean()) + 0.2


def test_bad_inputs_are_clear_errors(policies, spec):
    with pytest.raises(ValueError, match=r"expected observations of shape \(B, 3\)"):
        policies["gaussian"].sample_actions(jnp.ones((2, 4)), jax.random.PRNGKey(0))
    with pytest.raises(
        ConfigError, match="unknown GaussianPolicyConfig key policy \\(gaussian\\).hiden"
    ):
        create_policy("gaussian", spec, config={"hiden": [3]})
    with pytest.raises(ConfigError, match="unknown policy 'transformer'"):
        create_policy("transformer", spec)
    with pytest.raises(ConfigError, match="sample_steps"):
        create_policy("diffusion", spec, config={"num_steps": 10, "sample_steps": 20})
    with pytest.raises(ValueError, match="action_high > action_low"):
        Spec(obs_dim=1, action_dim=1, action_low=(1.0,), action_high=(1.0,))


@pytest.mark.parametrize("name", NAMES)
def test_save_load_round_trip(tmp_path, trained, spec, name):
    pol = trained[name][0]
    pol.save(tmp_path / name)
    back = Policy.load(tmp_path / name)
    assert isinstance(back, Policy) and back.name == name and back.spec == spec
    assert int(back.step) == int(pol.step)
    obs = jnp.ones((5, 3))
    np.testing.assert_allclose(
        back.sample_actions(obs, jax.random.PRNGKey(4), n=3),
        pol.sample_actions(obs, jax.random.PRNGKey(4), n=3),
        atol=1e-6,
    )
    # The optimiser state travels too: the next update is identical.
    b = _batch(spec, 16, seed=5)
    np.testing.assert_allclose(
        float(back.update(b)[1]["loss"]), float(pol.update(b)[1]["loss"]), rtol=1e-5
    )
    assert load_learner(tmp_path / name, expected_kind="policy").name == name
