"""Q, ensemble and distributional critics: shapes, reductions, targets, learning, save/load."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sensorimotor.agents.critics import Critic, create_critic
from sensorimotor.core.errors import ConfigError
from sensorimotor.policies import Spec

CONFIGS = {
    "q": {"hidden": [32, 32]},
    "ensemble": {"hidden": [32, 32], "num_heads": 5, "reduce": "subsample_min"},
    "distributional": {"hidden": [32, 32], "num_heads": 2, "num_bins": 21, "v_min": -5, "v_max": 5},
}


@pytest.fixture(scope="module")
def spec():
    return Spec(obs_dim=4, action_dim=2, action_low=(-1.0, -1.0), action_high=(1.0, 1.0))


@pytest.fixture(scope="module")
def critics(spec):
    return {n: create_critic(n, spec, config=c) for n, c in CONFIGS.items()}


def _batch(B, seed=0):
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(B, 4)).astype(np.float32)
    act = rng.uniform(-1, 1, (B, 2)).astype(np.float32)
    return {
        "observations": obs,
        "actions": act,
        "targets": (obs[:, 0] + act[:, 1]).astype(np.float32),
    }


@pytest.mark.parametrize("name", sorted(CONFIGS))
@pytest.mark.parametrize("B", [1, 6])
def test_value_shapes_and_finite(critics, name, B):
    c = critics[name]
    b = _batch(B)
    v = np.asarray(c.predict(b["observations"], b["actions"]))
    E = {"q": 1, "ensemble": 5, "distributional": 2}[name]
    assert v.shape == (E, B)
    assert np.isfinite(v).all()


def test_reductions(critics):
    c = critics["ensemble"]
    v = jnp.arange(10.0).reshape(5, 2)
    np.testing.assert_allclose(c.reduce(v, jax.random.PRNGKey(0), "min"), [0, 1])
    np.testing.assert_allclose(c.reduce(v, jax.random.PRNGKey(0), "mean"), [4, 5])
    sub = np.asarray(c.reduce(v, jax.random.PRNGKey(3), "subsample_min"))
    assert sub.shape == (2,) and sub[0] in (0, 2, 4, 6) and sub[1] == sub[0] + 1


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_update_lowers_loss_and_moves_the_target(critics, name):
    c = critics[name]
    b = _batch(32, seed=1)
    new, info0 = c.update(b)
    for _ in range(50):
        new, info = new.update(b)
    before, after = float(info0["loss"]), float(info["loss"])
    assert after < before, f"{name}: {before:.4f} -> {after:.4f}"
    # Polyak: the target moved towards the online network but lags behind it.
    t0 = jax.tree.leaves(c.target_params)[0]
    t1 = jax.tree.leaves(new.target_params)[0]
    p1 = jax.tree.leaves(new.net.params)[0]
    d_target = float(jnp.abs(t1 - t0).sum())
    assert 0 < d_target < float(jnp.abs(p1 - t0).sum())


def test_action_gradient_points_uphill(spec):
    c = create_critic("q", spec, config={"hidden": [32, 32], "lr": 3e-3})
    b = _batch(32, seed=2)
    for _ in range(150):
        c, _ = c.update(b)
    # Q was fitted to obs[0] + action[1]: dQ/da should favour the second action dimension.
    g = c.action_grad(jnp.asarray(b["observations"]), jnp.asarray(b["actions"]))
    assert float(g[:, 1].mean()) > 0.5
    assert float(g[:, 1].mean()) > 3 * abs(float(g[:, 0].mean()))


def test_state_value_critic(spec):
    v = create_critic("q", spec, config={"hidden": [16], "use_action": False})
    out = v.predict(np.ones((3, 4), np.float32))
    assert out.shape == (1, 3)


def test_config_errors(spec):
    with pytest.raises(ConfigError, match="unknown critic 'dueling'"):
        create_critic("dueling", spec)
    with pytest.raises(ConfigError, match="reduce"):
        create_critic("ensemble", spec, config={"reduce": "median"})
    with pytest.raises(ConfigError, match="exactly one head"):
        create_critic("q", spec, config={"num_heads": 3})


@pytest.mark.parametrize("name", ["ensemble", "distributional"])
def test_save_load_round_trip(tmp_path, critics, name):
    c, _ = critics[name].update(_batch(32))
    c.save(tmp_path / "c")
    back = Critic.load(tmp_path / "c")
    b = _batch(6, seed=9)
    np.testing.assert_allclose(
        back.predict(b["observations"], b["actions"]), c.predict(b["observations"], b["actions"]),
        atol=1e-6,
    )  # fmt: skip
    np.testing.assert_allclose(
        jax.tree.leaves(back.target_params)[0], jax.tree.leaves(c.target_params)[0]
    )
