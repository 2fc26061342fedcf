"""TD-M(PC)^2: TD-MPC2 whose policy prior is also pulled toward the planner's buffer actions."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sensorimotor.agents import create_agent
from sensorimotor.agents.tdmpc2 import PolicyPrior
from sensorimotor.policies import Spec

SPEC = Spec(obs_dim=3, action_dim=1, action_low=(-2.0,), action_high=(2.0,))


def _windows(B=32, H=3, seed=1):
    rng = np.random.default_rng(seed)
    return {
        "observations": rng.normal(size=(B, H + 1, 3)).astype(np.float32),
        "actions": rng.uniform(-2, 2, (B, H, 1)).astype(np.float32),
        "rewards": rng.uniform(0, 1, (B, H)).astype(np.float32),
    }


def _train(config, n=3):
    """Params after ``n`` updates, traced afresh (a new jit) so patched methods take effect."""
    agent = create_agent("tdmpc2", SPEC, config=config, seed=0)
    step = jax.jit(lambda a, b: a._update(b))
    for i in range(n):
        agent, info = step(agent, _windows(seed=i))
    return agent, info


def _leaves(tree):
    return [np.asarray(x) for x in jax.tree.leaves(tree)]


def test_weight_zero_is_plain_tdmpc2_bit_for_bit(rl_configs, monkeypatch):
    """With weight 0 the constraint term must not even be computed: poisoning the policy's
    ``log_prob`` with NaN leaves every parameter bit-identical to plain TD-MPC2's."""
    plain, _ = _train(rl_configs["tdmpc2"])
    monkeypatch.setattr(PolicyPrior, "log_prob", lambda self, z, a: jnp.full(a.shape[:-1], jnp.nan))
    zero, info = _train({**rl_configs["tdmpc2"], "policy_constraint": 0.0})
    assert "pi_constraint_nll" not in info
    for name in ("model", "pi", "target_qs"):
        for x, y in zip(_leaves(getattr(plain, name)), _leaves(getattr(zero, name)), strict=True):
            np.testing.assert_array_equal(x, y, err_msg=f"{name} differs from plain TD-MPC2")


def test_weight_changes_the_policy_update_toward_the_planner_actions(rl_configs):
    """Fails when the weight is ignored: a positive weight changes the prior's parameters and
    raises the likelihood of the buffer's (planner) actions above plain TD-MPC2's."""
    plain, _ = _train(rl_configs["tdmpc2"], n=20)
    pc, info = _train({**rl_configs["tdmpc2"], "policy_constraint": 1.0}, n=20)
    assert np.isfinite(float(info["pi_constraint_nll"]))
    diffs = [np.abs(x - y).max() for x, y in zip(_leaves(plain.pi), _leaves(pc.pi), strict=True)]
    assert max(diffs) > 1e-4, "the policy prior ignored the constraint weight"

    def nll(agent):
        b = _windows(seed=0)
        z = agent.model.module().encode(SPEC.normalize_obs(jnp.asarray(b["observations"][:, 0])))
        a = SPEC.normalize_action(jnp.asarray(b["actions"][:, 0]))
        return -float(jnp.mean(agent.pi.module().log_prob(z, a)))

    assert nll(pc) < nll(plain) - 0.1, f"NLL of planner actions {nll(pc)} vs plain {nll(plain)}"


def test_log_prob_matches_the_sampler():
    """``log_prob`` of the prior's own samples equals the log-prob it reports when sampling."""
    from flax import nnx

    from sensorimotor.agents.tdmpc2 import tdmpc2_config

    cfg = tdmpc2_config({"model_size": None, "enc_dim": 8, "mlp_dim": 16, "latent_dim": 16,
                         "num_enc_layers": 2, "num_q": 2, "log_std_min": -1.0})  # fmt: skip
    prior = PolicyPrior(2, cfg, rngs=nnx.Rngs(0))
    z = jax.random.normal(jax.random.PRNGKey(1), (64, 16))
    _, a, logp = prior(z, jax.random.PRNGKey(2))
    keep = np.asarray(jnp.abs(a).max(-1) < 0.99)  # log_prob clips at +-0.999
    np.testing.assert_allclose(np.asarray(prior.log_prob(z, a))[keep], np.asarray(logp)[keep],
                               rtol=1e-3, atol=1e-3)  # fmt: skip


if __name__ == "__main__":
    pytest.main([__file__, "-q"])


def test_predicted_q_is_the_mean_of_the_heads_per_sample(rl_configs):
    """``predicted_q`` (the overestimation benchmark's Q) has one value per sample, in the
    support's range, and changes with the action."""
    agent, _ = _train(rl_configs["tdmpc2"], n=2)
    obs = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    q1 = np.asarray(agent.predicted_q(obs, np.full((5, 1), -2.0, np.float32)))
    q2 = np.asarray(agent.predicted_q(obs, np.full((5, 1), 2.0, np.float32)))
    assert q1.shape == (5,) and np.isfinite(q1).all()
    assert not np.allclose(q1, q2)
