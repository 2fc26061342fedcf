"""Agents: each update lowers its loss on a fixed batch; PA-RL optimisation; MPPI bounds; save/load."""

import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sensorimotor.agents import Agent, create_agent, load_learner
from sensorimotor.agents.pa_rl import optimize_actions
from sensorimotor.core.errors import ConfigError
from sensorimotor.policies import Spec

# The loss that each agent's update must lower on a fixed batch.
LOSS_KEY = {
    "bc": "policy/loss",
    "sac": "critic/loss",
    "iql": "critic/loss",
    "pa_rl": "critic/loss",
    "tdmpc2": "total_loss",
}


@pytest.fixture(scope="module")
def spec():
    return Spec(obs_dim=3, action_dim=2, action_low=(-2.0, -1.0), action_high=(2.0, 1.0))


def _batch(B, seed=0, H=None):
    rng = np.random.default_rng(seed)
    if H is not None:
        return {
            "observations": rng.normal(size=(B, H + 1, 3)).astype(np.float32),
            "actions": rng.uniform(-2, 2, (B, H, 1)).astype(np.float32),
            "rewards": rng.uniform(0, 1, (B, H)).astype(np.float32),
        }
    obs = rng.normal(size=(B, 3)).astype(np.float32)
    act = np.stack([rng.uniform(-2, 2, B), rng.uniform(-1, 1, B)], 1).astype(np.float32)
    return {
        "observations": obs,
        "actions": act,
        "rewards": (obs[:, 0] - act[:, 1] ** 2).astype(np.float32),
        "next_observations": rng.normal(size=(B, 3)).astype(np.float32),
        "terminals": (rng.uniform(size=B) < 0.1).astype(np.float32),
    }


@pytest.fixture(scope="module")
def pendulum_spec():
    """Pendulum-v1's spec, so TD-MPC2's compiled functions are shared with the trainer test."""
    return Spec(obs_dim=3, action_dim=1, action_low=(-2.0,), action_high=(2.0,))


@pytest.fixture(scope="module")
def agents(spec, pendulum_spec, rl_configs):
    out = {
        n: create_agent(n, spec, config=rl_configs[n], seed=0) for n in LOSS_KEY if n != "tdmpc2"
    }
    out["tdmpc2"] = create_agent("tdmpc2", pendulum_spec, config=rl_configs["tdmpc2"], seed=0)
    return out


@pytest.mark.parametrize("name", sorted(LOSS_KEY))
def test_update_lowers_loss_on_fixed_batch(agents, name):
    agent = agents[name]
    batch = _batch(32, seed=1, H=3 if name == "tdmpc2" else None)
    new, info0 = agent.update(batch)
    for _ in range(30):
        new, info1 = new.update(batch)
    before, after = float(info0[LOSS_KEY[name]]), float(info1[LOSS_KEY[name]])
    assert np.isfinite(after)
    assert after < before, f"{name}: {LOSS_KEY[name]} {before:.4f} -> {after:.4f}"
    assert int(new.step) == 31


@pytest.mark.parametrize(
    ("name", "B"), [(n, 4) for n in sorted(LOSS_KEY)] + [("tdmpc2", 1)]
)  # B=1 and B=4 are what the TD-MPC2 trainer test acts and evaluates with (shared compiles)
def test_actions_have_shape_and_stay_in_bounds(agents, name, B):
    agent = agents[name]
    sp = agent.spec
    obs = np.random.default_rng(B).normal(size=(B, 3)).astype(np.float32) * 3
    a, state = agent.act(
        obs, jax.random.PRNGKey(0), agent.init_act_state(B), first=np.ones(B, bool)
    )
    a = np.asarray(a)
    assert a.shape == (B, sp.action_dim) and np.isfinite(a).all()
    assert np.all(a >= np.array(sp.action_low) - 1e-5)
    assert np.all(a <= np.array(sp.action_high) + 1e-5)
    s = np.asarray(agent.sample_actions(obs, jax.random.PRNGKey(1), n=3))
    assert s.shape == (B, 3, sp.action_dim)


def test_tdmpc2_mppi_returns_bounded_actions_and_warm_starts(agents):
    agent = agents["tdmpc2"]
    sp = agent.spec
    obs = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32) * 3
    state = agent.init_act_state(4)
    assert state.shape == (4, 3, 1)
    a1, state = agent.act(obs, jax.random.PRNGKey(0), state, first=np.ones(4, bool))
    a2, state2 = agent.act(obs, jax.random.PRNGKey(1), state, first=np.zeros(4, bool))
    for a in (a1, a2):
        a = np.asarray(a)
        assert np.all(a >= np.array(sp.action_low)) and np.all(a <= np.array(sp.action_high))
    assert np.all(np.abs(np.asarray(state2)) <= 1.0), "planner means live in the normalised box"
    assert not np.allclose(np.asarray(state2), 0.0), "the plan mean is carried to the next step"


def test_tdmpc2_model_size_presets(spec):
    from sensorimotor.agents.tdmpc2 import tdmpc2_config

    cfg = tdmpc2_config({"model_size": 1})
    assert (cfg.latent_dim, cfg.mlp_dim, cfg.num_q) == (128, 384, 2)
    assert tdmpc2_config({"model_size": 5}).num_q == 5
    assert tdmpc2_config({"episode_length": 500}).gamma() == pytest.approx(0.99)
    with pytest.raises(ConfigError, match="model_size 7"):
        tdmpc2_config({"model_size": 7})


def test_pa_rl_optimised_actions_beat_the_samples(agents, spec):
    agent = agents["pa_rl"]
    # Teach the critic a smooth Q with a clear optimum: Q = -(a0 - 0.5)^2 - (a1 + 0.3)^2.
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(256, 3)).astype(np.float32)
    act = rng.uniform(-1, 1, (256, 2)).astype(np.float32)
    q = -((act[:, 0] - 0.5) ** 2) - (act[:, 1] + 0.3) ** 2
    critic = agent.critic
    batch = {"observations": obs, "actions": spec.denormalize_action(act), "targets": q}
    critic, _ = critic.update_many({k: np.stack([np.asarray(v)] * 200) for k, v in batch.items()})
    agent = agent.replace(critic=critic)
    o = jnp.asarray(obs[:64])
    best, info = optimize_actions(
        agent.policy, agent.critic, o, jax.random.PRNGKey(3), agent.config
    )
    assert best.shape == (64, 2)
    assert float(info["q_optimized"]) > float(info["q_topk"]) >= float(info["q_samples"])
    assert float(info["q_selected"]) > float(info["q_samples"])
    assert np.all(np.abs(np.asarray(best)) <= 1.0)


@pytest.mark.slow
def test_pa_rl_with_guidance_and_iql_critic(spec, rl_configs):
    cfg = {**rl_configs["pa_rl"], "guidance_scale": 1.0, "critic_loss": "iql", "critic_type": "distributional", "critic": {"hidden": [16], "num_bins": 11}, "value": {"hidden": [16]}}  # fmt: skip
    agent = create_agent("pa_rl", spec, config=cfg)
    new, info = agent.update(_batch(32))
    assert "critic/v_loss" in info and np.isfinite(float(info["critic/loss"]))


def test_agent_config_errors(spec):
    with pytest.raises(ConfigError, match="unknown agent 'ppo'"):
        create_agent("ppo", spec)
    with pytest.raises(ConfigError, match="SAC needs a policy with log-densities"):
        create_agent("sac", spec, config={"policy_type": "diffusion"})
    with pytest.raises(ConfigError, match="unknown PARLConfig key 'topk'"):
        create_agent("pa_rl", spec, config={"topk": 3})
    with pytest.raises(ConfigError, match="guidance_scale needs policy_type='diffusion'"):
        create_agent("pa_rl", spec, config={"policy_type": "gaussian", "guidance_scale": 1.0})


def test_missing_batch_keys_are_named(agents):
    b = _batch(32)
    del b["next_observations"]
    with pytest.raises(KeyError, match="next_observations"):
        agents["sac"].update(b)


@pytest.mark.parametrize("name", ["sac", "pa_rl", "tdmpc2"])
def test_save_load_round_trip(tmp_path, agents, name):
    agent = agents[name]
    agent, _ = agent.update(_batch(32, H=3 if name == "tdmpc2" else None))
    agent.save(tmp_path / name)
    back = Agent.load(tmp_path / name)
    assert type(back) is type(agent) and back.config == agent.config
    assert int(back.step) == int(agent.step)
    for x, y in zip(jax.tree.leaves(back), jax.tree.leaves(agent), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    assert load_learner(tmp_path / name, expected_kind="agent").name == name


def test_sharded_update_equals_single_device_update(tmp_path):
    """Data-parallel update on 2 fake CPU devices == the single-device update."""
    script = textwrap.dedent(
        """
        import os
        os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
        import jax, numpy as np
        assert len(jax.devices()) == 2, jax.devices()
        from sensorimotor.agents import create_agent
        from sensorimotor.policies import Spec
        from sensorimotor.train.rl import data_mesh, replicate, shard_batch
        spec = Spec(obs_dim=3, action_dim=2, action_low=(-1.0, -1.0), action_high=(1.0, 1.0))
        agent = create_agent("sac", spec, config={"policy": {"hidden": [32]}, "critic": {"hidden": [32]}})
        rng = np.random.default_rng(0)
        B = 16
        batch = {
            "observations": rng.normal(size=(B, 3)).astype(np.float32),
            "actions": rng.uniform(-1, 1, (B, 2)).astype(np.float32),
            "rewards": rng.normal(size=B).astype(np.float32),
            "next_observations": rng.normal(size=(B, 3)).astype(np.float32),
            "terminals": np.zeros(B, np.float32),
        }
        single, info1 = agent.update(batch)
        mesh = data_mesh()
        sb = shard_batch(batch, mesh)
        assert len(sb["observations"].sharding.device_set) == 2
        sharded, info2 = replicate(agent, mesh).update(sb)
        for a, b in zip(jax.tree.leaves(single), jax.tree.leaves(sharded)):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=2e-5, atol=2e-6)
        for k in info1:
            np.testing.assert_allclose(float(info1[k]), float(info2[k]), rtol=2e-5, atol=1e-6)
        print("SHARDED-OK")
        """
    )
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300
    )
    assert "SHARDED-OK" in out.stdout, out.stdout + out.stderr


def test_rl_on_action_chunks_from_the_replay_buffer():
    """Observation windows + action chunks with n-step rewards and per-sample discounts."""
    from sensorimotor.agents.buffer import ReplayBuffer

    spec = Spec(
        obs_dim=2, action_dim=1, action_low=(-1.0,), action_high=(1.0,), obs_horizon=2,
        action_horizon=3,
    )  # fmt: skip
    buf = ReplayBuffer(200, 2, 1)
    rng = np.random.default_rng(0)
    for t in range(200):
        buf.add(
            rng.normal(size=2), rng.uniform(-1, 1, 1), 1.0, rng.normal(size=2), False, t % 20 == 19
        )
    batch = buf.sample_chunks(rng, 32, 2, 3, gamma=0.9)
    batch.pop("action_mask")
    agent = create_agent(
        "iql", spec, config={"policy": {"hidden": [16]}, "critic": {"hidden": [16]}}
    )
    t = agent.transitions(batch, gamma=0.9)
    assert t.obs.shape == (32, 4) and t.actions.shape == (32, 3) and t.next_obs.shape == (32, 4)
    np.testing.assert_allclose(t.discounts, batch["discounts"])
    new, info = agent.update(batch)
    assert np.isfinite(float(info["critic/loss"]))


# --------------------------------------------------------------------------------------------
# Learning checks that fail when an update is a no-op (each was checked by planting the bug)
# --------------------------------------------------------------------------------------------


def _bandit(B=32, seed=0):
    """One-step episodes: ``actions[0] = +1.6`` earns 1, ``-1.6`` earns 0 (half the samples each);
    ``actions[1]`` is random. Same keys and shapes as ``_batch`` (shared compiled updates)."""
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(B, 3)).astype(np.float32)
    good = np.arange(B) % 2 == 0
    act = np.stack([np.where(good, 1.6, -1.6), rng.uniform(-1, 1, B)], 1).astype(np.float32)
    return {
        "observations": obs,
        "actions": act,
        "rewards": good.astype(np.float32),
        "next_observations": obs,
        "terminals": np.ones(B, np.float32),
    }


@pytest.fixture(scope="module")
def bandit_trained(agents):
    """SAC, IQL and PA-RL after 150 updates on the bandit batch (the untrained agent too)."""
    batch = _bandit()
    out = {}
    for name in ("sac", "iql", "pa_rl"):
        new = agents[name]
        for _ in range(150):
            new, _ = new.update(batch)
        out[name] = (agents[name], new)
    return out


def _changed(a, b):
    leaves = zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    return any(not np.allclose(x, y) for x, y in leaves)


def _policy_a0(policy, obs, n=16):
    """Mean first action dimension (normalised units) of ``n`` samples per observation."""
    a = policy.sample_fn(policy.net.params, obs, jax.random.PRNGKey(2), n)
    return float(np.asarray(a)[..., 0].mean())


def test_sac_actor_improves_its_objective_under_the_learned_critic(bandit_trained, spec):
    """Fails when the SAC actor is never updated: with the final critic and temperature, the
    trained actor's ``E[alpha log pi - Q]`` is lower than the initial actor's."""
    old, new = bandit_trained["sac"]
    assert _changed(old.policy.net.params, new.policy.net.params), "the actor did not change"
    obs = spec.flatten_obs(_bandit()["observations"])
    alpha = jnp.exp(new.log_alpha)

    def actor_objective(policy):
        a, logp = policy.module().sample_and_log_prob(obs, jax.random.PRNGKey(5), 8)
        q = jax.vmap(lambda x: new.critic.values(obs, x).mean(0), in_axes=1, out_axes=1)(a)
        return float(jnp.mean(alpha * logp - q))

    before, after = actor_objective(old.policy), actor_objective(new.policy)
    assert after < before - 0.1, f"actor objective {before:.3f} -> {after:.3f}"


def test_iql_policy_moves_toward_the_rewarded_action(bandit_trained, spec):
    """Fails when IQL's policy update is a no-op or ignores its advantage weights (plain BC of
    both actions keeps the mean near 0)."""
    old, new = bandit_trained["iql"]
    obs = spec.flatten_obs(_bandit()["observations"])
    before, after = _policy_a0(old.policy, obs), _policy_a0(new.policy, obs)
    assert after > before + 0.1 and after > 0.1, f"mean action[0] {before:.3f} -> {after:.3f}"


def test_pa_rl_selects_the_rewarded_action_and_distils_its_policy(bandit_trained):
    """Fails when PA-RL's critic or policy update is a no-op: its optimised actions pick the
    rewarded action and the policy's parameters move."""
    old, new = bandit_trained["pa_rl"]
    obs = _bandit()["observations"]
    a = np.asarray(new.sample_actions(obs, jax.random.PRNGKey(3), n=4, deterministic=True))
    assert (a[..., 0] > 0).mean() > 0.8, f"fraction of rewarded actions {(a[..., 0] > 0).mean()}"
    assert _changed(old.policy.net.params, new.policy.net.params), "the policy did not change"


def test_tdmpc2_update_changes_model_policy_and_targets(agents):
    """Fails when any of TD-MPC2's three updates (world model, policy prior, target Qs) is a no-op."""
    old = agents["tdmpc2"]
    new = old
    for _ in range(3):
        new, _ = new.update(_batch(32, seed=1, H=3))
    assert _changed(old.model.params, new.model.params), "the world model did not change"
    assert _changed(old.pi.params, new.pi.params), "the policy prior did not change"
    assert _changed(old.target_qs, new.target_qs), "the target Q-functions did not change"


def test_fused_updates_equal_sequential_updates_on_the_same_batches(agents):
    """Fails when ``fused_updates`` draws one fixed batch (or reuses keys) instead of the
    ``K`` batches that ``K`` sequential updates would see."""
    from sensorimotor.agents.buffer import ReplayBuffer
    from sensorimotor.agents.device_loop import DeviceTransitions, fused_updates

    data = DeviceTransitions.from_buffer(ReplayBuffer.from_arrays(_batch(64, seed=4)))
    key, steps = jax.random.PRNGKey(11), 4
    fused, infos = fused_updates(agents["bc"], data, key, steps=steps, batch_size=32)
    seq = agents["bc"]
    for k in jax.random.split(key, steps):
        seq, _ = seq.update(data.sample(k, 32))
    for x, y in zip(jax.tree.leaves(fused), jax.tree.leaves(seq), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-4, atol=1e-5)
    assert infos["policy/loss"].shape == (steps,)
