"""Quality checks of the issue (slow): multimodal imitation, PA-RL best-mode selection, SAC.

Run with ``pytest -m slow -s tests/agents/test_rl_quality.py``; the printed tables are the numbers
recorded in docs/rl.md.
"""

import dataclasses

import jax
import numpy as np
import pytest

from sensorimotor.agents import create_agent
from sensorimotor.agents.pa_rl import optimize_actions
from sensorimotor.agents.tasks import make_env, make_expert
from sensorimotor.agents.tasks.demos import collect_demos
from sensorimotor.policies import Spec

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bandit():
    env = make_env("multimodal_reach")
    demos = collect_demos(
        "multimodal_reach", make_expert("multimodal_reach"), episodes=5000, seed=0, progress=False
    )
    return env.unwrapped, demos, Spec.from_spaces(env.observation_space, env.action_space)


def _train(agent, demos, steps, seed=0):
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        agent, _ = agent.update(demos.sample(rng, 256))
    return agent


def _fractions(bandit, sample, n=4000, seed=1):
    rng = np.random.default_rng(seed)
    starts = bandit.sample_starts(n, rng)
    acts = np.asarray(sample(starts, jax.random.PRNGKey(seed)))
    fr = bandit.mode_fractions(starts, acts)
    fr["reward"] = float(bandit.reward(starts, acts).mean())
    return fr


def _row(name, fr):
    cells = " | ".join(
        f"{fr[k]:.3f}" for k in ("mode_0", "mode_1", "mode_2", "mode_3", "mode_none", "reward")
    )
    print(f"| {name} | {cells} |")


def test_multimodal_imitation(bandit):
    env, demos, spec = bandit
    print("\n| policy (BC, 4000 updates) | mode 0 | mode 1 | mode 2 | mode 3 | none | reward |")
    print("|---|---|---|---|---|---|---|")
    _row(
        "demonstrations",
        _fractions(env, lambda o, k: env.expert_actions(o, np.random.default_rng(0))),
    )
    results = {}
    for name, cfg in (
        ("gaussian", {}),
        ("autoregressive", {}),
        ("diffusion", {"lr": 1e-3}),
    ):
        agent = _train(
            create_agent("bc", spec, config={"policy_type": name, "policy": cfg}), demos, 4000
        )
        pol = agent.policy
        samplers = {name: lambda o, k, pol=pol: pol.sample_actions(o, k)[:, 0]}
        if name == "diffusion":
            samplers = {
                "diffusion (DDPM, 100 steps)": jax.jit(
                    lambda o, k, pol=pol: spec.denormalize_action(
                        pol.module().sample(o, k, 1, sampler="ddpm")[:, 0]
                    )
                ),
                "diffusion (DDIM, 10 steps)": lambda o, k, pol=pol: pol.sample_actions(o, k)[:, 0],
            }
        for label, fn in samplers.items():
            results[label] = fr = _fractions(env, fn)
            _row(label, fr)
    for label in ("autoregressive", "diffusion (DDPM, 100 steps)"):
        fr = results[label]
        assert all(fr[f"mode_{k}"] > 0.15 for k in range(4)), (label, fr)
        assert fr["mode_none"] < 0.05, (label, fr)
    assert results["gaussian"]["mode_none"] > 0.5, "a unimodal Gaussian averages the modes"


@pytest.mark.parametrize("policy_type", ["diffusion", "autoregressive"])
def test_pa_rl_picks_the_best_mode(bandit, policy_type):
    env, demos, spec = bandit
    cfg = {
        "policy_type": policy_type,
        "policy": {"lr": 1e-3},
        "critic": {"num_heads": 2, "reduce": "min"},
        "q_reduce": "min",
        "cql_alpha": 0.1,
    }
    agent = _train(create_agent("pa_rl", spec, config=cfg), demos, 2000)
    print(
        f"\n| {policy_type} base policy, 2000 PA-RL updates | mode 0 (best) | mode 1 | mode 2 | mode 3 | none | reward |"
    )
    print("|---|---|---|---|---|---|---|")
    variants = {
        "base policy samples": None,
        "PA-RL (16 samples, top-4, 5 grad steps, argmax)": agent.config,
        "PA-RL, global step only (16 samples, argmax)": dataclasses.replace(
            agent.config, grad_steps=0, top_k=1
        ),
    }
    if policy_type == "diffusion":
        for s, norm in ((0.1, False), (1.0, False), (1.0, True)):
            label = f"critic-guided sampling only (scale {s:g}{', unit gradient' if norm else ''})"
            variants[label] = dataclasses.replace(
                agent.config, num_samples=1, top_k=1, grad_steps=0, guidance_scale=s,
                guidance_normalize=norm,
            )  # fmt: skip
    results = {}
    for label, c in variants.items():
        if c is None:
            fn = lambda o, k: agent.policy.sample_actions(o, k)[:, 0]  # noqa: E731
        else:
            fn = jax.jit(
                lambda o, k, c=c: spec.denormalize_action(
                    optimize_actions(agent.policy, agent.critic, spec.flatten_obs(o), k, c)[0]
                )
            )
        results[label] = fr = _fractions(env, fn)
        _row(label, fr)
    best = results["PA-RL (16 samples, top-4, 5 grad steps, argmax)"]["mode_0"]
    assert best >= 0.9, results


def test_sac_pendulum_reaches_minus_200(tmp_path):
    from sensorimotor.core.tracking import read_metrics
    from sensorimotor.train.rl import load_rl_config, train

    cfg = load_rl_config(
        ["algo=sac", "task=pendulum", "steps=20000", "progress=false", f"run_root={tmp_path}"]
    )
    run = train(cfg)
    evals = [
        r for r in read_metrics(run.run_dir / "metrics.jsonl") if "evaluation/return_mean" in r
    ]
    print("\nSAC Pendulum-v1:", [(r["step"], round(r["evaluation/return_mean"], 1)) for r in evals])
    assert evals[-1]["evaluation/return_mean"] >= -200
