"""RIC: diffusion policy + critic term + inverse-dynamics constraint (offline)."""

import jax
import numpy as np
import pytest

from sensorimotor.agents import create_agent, load_learner
from sensorimotor.agents.ric import RIC, constraint_weight, ric_config
from sensorimotor.cli import main
from sensorimotor.core.errors import ConfigError
from sensorimotor.policies import Spec

SPEC = Spec(obs_dim=2, action_dim=2, action_low=(-1.0, -1.0), action_high=(1.0, 1.0))
TINY = {
    "policy": {"hidden": [32, 32], "num_steps": 10, "sample_steps": 3, "lr": 3e-3},
    "critic": {"hidden": [32, 32], "lr": 3e-3},
    "value": {"hidden": [32, 32], "lr": 3e-3},
    "idm_hidden": [32],
    "idm_lr": 3e-3,
    "constraint_schedule": "constant",
}


def _batch(B=64, seed=0):
    """Additive dynamics ``s' = s + a / 2``: the inverse dynamics is ``a = 2 (s' - s)``."""
    rng = np.random.default_rng(seed)
    obs = rng.uniform(-0.5, 0.5, (B, 2)).astype(np.float32)
    act = rng.uniform(-1, 1, (B, 2)).astype(np.float32)
    return {
        "observations": obs,
        "actions": act,
        "rewards": act[:, 0].astype(np.float32),
        "next_observations": obs + act / 2,
        "terminals": np.ones(B, np.float32),
    }


def _train(config, n):
    agent = create_agent("ric", SPEC, config={**TINY, **config}, seed=0)
    step = jax.jit(lambda a, b: a._update(b))  # a fresh trace, so patched code takes effect
    info = {}
    for i in range(n):
        agent, info = step(agent, _batch(seed=i))
    return agent, info


def _policy_leaves(agent):
    return [np.asarray(x) for x in jax.tree.leaves(agent.policy.net.params)]


def test_constraint_weight_changes_the_policy_update():
    """Fails when the weight is ignored: the same data, seed and critic give other policy
    parameters with a positive weight, and the constraint pulls the clean-action estimate
    toward the inverse-dynamics actions (its distance ends lower than without it)."""
    free, info_free = _train({"constraint_weight": 0.0, "constraint_final": 0.0}, n=40)
    tied, info_tied = _train({"constraint_weight": 20.0, "constraint_final": 20.0}, n=40)
    assert float(info_tied["policy/constraint_weight"]) == pytest.approx(20.0)
    pairs = zip(_policy_leaves(free), _policy_leaves(tied), strict=True)
    diffs = [np.abs(x - y).max() for x, y in pairs]
    assert max(diffs) > 1e-4, "the policy ignored the constraint weight"
    # The critic and inverse-dynamics model do not depend on the policy: identical in both.
    for x, y in zip(jax.tree.leaves(free.idm), jax.tree.leaves(tied.idm), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    assert float(info_tied["policy/constraint"]) < 0.8 * float(info_free["policy/constraint"])


def test_inverse_dynamics_inside_ric_learns_the_transitions():
    agent, info0 = _train({}, n=1)
    agent, info = _train({}, n=150)
    assert float(info["idm/loss"]) < 0.2 * float(info0["idm/loss"])
    b = _batch(seed=999)
    pred = np.asarray(agent.idm.predict(b["observations"], b["next_observations"]))
    assert np.mean(np.abs(pred - b["actions"])) < 0.2


def test_schedules():
    lin = ric_config({"constraint_weight": 1.0, "constraint_final": 0.0, "constraint_steps": 10})
    assert float(constraint_weight(lin, 0)) == pytest.approx(1.0)
    assert float(constraint_weight(lin, 5)) == pytest.approx(0.5)
    assert float(constraint_weight(lin, 50)) == pytest.approx(0.0)
    cos = ric_config({**vars(lin), "constraint_schedule": "cosine"})
    assert float(constraint_weight(cos, 5)) == pytest.approx(0.5, abs=1e-6)
    assert float(constraint_weight(cos, 2)) > float(constraint_weight(lin, 2))
    with pytest.raises(ConfigError, match="constraint_schedule"):
        ric_config({"constraint_schedule": "step"})
    with pytest.raises(ConfigError, match="diffusion"):
        ric_config({"policy_type": "gaussian"})


def test_save_load_round_trip(tmp_path):
    agent, _ = _train({}, n=3)
    path = agent.save(tmp_path / "ric")
    back = load_learner(path)
    assert isinstance(back, RIC) and back.config == agent.config
    for x, y in zip(jax.tree.leaves(agent), jax.tree.leaves(back), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    obs = np.zeros((2, 2), np.float32)
    k = jax.random.PRNGKey(0)
    np.testing.assert_array_equal(
        np.asarray(agent.sample_actions(obs, k, 4)), np.asarray(back.sample_actions(obs, k, 4))
    )
    back2, _ = back.update(_batch())
    assert int(back2.step) == 4


def test_cli_train_and_eval_tiny(tmp_path, capsys):
    args = ["rl", "train", "algo=ric", "task=multimodal_reach", "data.demos_episodes=200",
            "algo.agent.policy.hidden=[32,32]", "algo.agent.policy.num_steps=10",
            "algo.agent.critic.hidden=[32]", "algo.agent.value.hidden=[32]",
            "algo.agent.idm_hidden=[32]", "steps=40", "batch_size=32", "eval_every=40",
            "eval_episodes=4", "mode_samples=100", "log_every=20", "checkpoint_every=40",
            "progress=false", f"runs_root={tmp_path}", "name=ric"]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "final evaluation at step 40" in out
    metrics = (tmp_path / "ric" / "metrics.jsonl").read_text()
    assert "training/policy/constraint" in metrics and "training/idm/loss" in metrics
    assert main(["rl", "eval", str(tmp_path / "ric"), "--episodes", "3"]) == 0
    assert main(["rl", "train", "algo=ric", "algo.agent.constraint_schedule=step"]) == 2
