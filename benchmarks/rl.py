"""RL throughput: agent updates/s (RIC and TD-M(PC)² against their parents), env steps/s,
TD-MPC2 planning latency, diffusion sampling latency.

Baselines measured in the same run: the jitted float32 matmul peak (updates are reported as
achieved FLOP/s and model FLOP utilisation, FLOPs from XLA's cost analysis), and the bare
environment step (env steps/s with the agent acting are reported as a fraction of it).

    python benchmarks/rl.py              # everything (a few minutes on 2 CPU cores)
    python benchmarks/rl.py --quick      # fewer repeats
    python benchmarks/rl.py --only env   # one part: updates, latency or env
    python benchmarks/rl.py --only updates --match RIC "BC (256x3, bandit"   # some update cases
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from common import machine_info, matmul_peak_flops, print_rows, summary, timeit


def _flops(fn: Any, *args: Any) -> float:
    import jax

    cost = jax.jit(fn).lower(*args).compile().cost_analysis()
    if isinstance(cost, list):
        cost = cost[0]
    return float((cost or {}).get("flops", float("nan")))


def _count_params(tree: Any) -> int:
    """Trainable parameters: the ``params`` of every ``TrainState`` inside a learner."""
    import jax

    from sensorimotor.learners.state import TrainState

    states = jax.tree.leaves(tree, is_leaf=lambda x: isinstance(x, TrainState))
    return sum(
        x.size for s in states if isinstance(s, TrainState) for x in jax.tree.leaves(s.params)
    )


def _transitions(rng: Any, B: int, obs_dim: int, act_dim: int) -> dict:
    import numpy as np

    return {
        "observations": rng.normal(size=(B, obs_dim)).astype(np.float32),
        "actions": rng.uniform(-1, 1, (B, act_dim)).astype(np.float32),
        "rewards": rng.normal(size=B).astype(np.float32),
        "next_observations": rng.normal(size=(B, obs_dim)).astype(np.float32),
        "terminals": np.zeros(B, np.float32),
    }


def bench_updates(repeat: int, peak: float, match: list[str] | None = None) -> list[dict[str, Any]]:
    import numpy as np

    from sensorimotor.agents import create_agent
    from sensorimotor.policies import Spec

    rng = np.random.default_rng(0)
    rows = []
    pend = Spec(obs_dim=3, action_dim=1, action_low=(-2.0,), action_high=(2.0,))
    cart = Spec(obs_dim=5, action_dim=1, action_low=(-1.0,), action_high=(1.0,))
    chunk = Spec(
        obs_dim=20, action_dim=7, action_low=(-1.0,) * 7, action_high=(1.0,) * 7,
        obs_horizon=2, action_horizon=8,
    )  # fmt: skip
    cases = [
        ("SAC (256x256, B=256)", "sac", pend, {}, _transitions(rng, 256, 3, 1)),
        (
            "diffusion BC (256x3, chunk 8x7, B=256)",
            "bc",
            chunk,
            {"policy_type": "diffusion"},
            {
                "observations": rng.normal(size=(256, 2, 20)).astype(np.float32),
                "actions": rng.uniform(-1, 1, (256, 8, 7)).astype(np.float32),
            },
        ),
    ]
    bandit = Spec(obs_dim=2, action_dim=2, action_low=(-1.0,) * 2, action_high=(1.0,) * 2)
    bandit_batch = {**_transitions(rng, 256, 2, 2), "terminals": np.ones(256, np.float32)}
    cases += [  # RIC against its parent (diffusion BC, same policy network), same batch
        ("diffusion BC (256x3, bandit, B=256)", "bc", bandit, {"policy_type": "diffusion"},
         bandit_batch),
        ("RIC (diffusion 256x3 + IQL critic + IDM, B=256)", "ric", bandit, {}, bandit_batch),
    ]  # fmt: skip
    tdmpc2_cases = (("TD-MPC2", 1, 0.0), ("TD-M(PC)² w=0.1", 1, 0.1), ("TD-MPC2", 5, 0.0))
    for name, size, pc in tdmpc2_cases:
        cases.append(
            (
                f"{name} {size}M (B=256, H=3)",
                "tdmpc2",
                cart,
                {"model_size": size, "policy_constraint": pc},
                {
                    "observations": rng.normal(size=(256, 4, 5)).astype(np.float32),
                    "actions": rng.uniform(-1, 1, (256, 3, 1)).astype(np.float32),
                    "rewards": rng.uniform(size=(256, 3)).astype(np.float32),
                },
            )
        )
    for label, algo, spec, cfg, batch in cases:
        if match and not any(m in label for m in match):
            continue
        agent = create_agent(algo, spec, config=cfg)
        flops = _flops(lambda a, b: a._update(b), agent, batch)
        state = {"agent": agent}

        def step(state: dict = state, batch: dict = batch) -> Any:
            state["agent"], info = state["agent"].update(batch)
            return info

        t = summary(timeit(step, warmup=2, repeat=repeat))["median"]
        n_params = _count_params(agent)
        rows.append(
            {
                "case": label,
                "updates/s": round(1 / t, 1),
                "ms/update": round(1000 * t, 2),
                "GFLOP/update": round(flops / 1e9, 3),
                "GFLOP/s": round(flops / t / 1e9, 1),
                "MFU vs matmul peak": f"{flops / t / peak:.1%}",
                "~params": n_params,
            }
        )
    parents = {  # each derived algorithm against its parent, measured in the same run
        "TD-M(PC)": next((r for r in rows if r["case"].startswith("TD-MPC2 1M")), None),
        "RIC": next((r for r in rows if r["case"].startswith("diffusion BC (256x3, bandit")), None),
    }
    for r in rows:
        parent = next((p for k, p in parents.items() if r["case"].startswith(k) and p), None)
        r["vs parent"] = f"{r['updates/s'] / parent['updates/s']:.2f}x" if parent else ""
    return rows


def bench_latency(repeat: int) -> list[dict[str, Any]]:
    import jax
    import numpy as np

    from sensorimotor.agents import create_agent
    from sensorimotor.policies import Spec, create_policy

    rows = []
    cart = Spec(obs_dim=5, action_dim=1, action_low=(-1.0,), action_high=(1.0,))
    obs = np.zeros((1, 5), np.float32)
    for size in (1, 5):
        agent = create_agent("tdmpc2", cart, config={"model_size": size})
        state = {"s": agent.init_act_state(1), "k": jax.random.PRNGKey(0)}
        first = np.zeros(1, bool)

        def plan(agent: Any = agent, state: dict = state, first: Any = first) -> Any:
            state["k"], k = jax.random.split(state["k"])
            a, state["s"] = agent.act(obs, k, state["s"], first=first)
            return a

        t = summary(timeit(plan, warmup=2, repeat=repeat))
        rows.append(
            {
                "case": f"TD-MPC2 {size}M plan (512 samples x 6 iters, H=3)",
                "ms/action (median)": round(1000 * t["median"], 1),
                "min": round(1000 * t["min"], 1),
            }
        )
    chunk = Spec(
        obs_dim=20, action_dim=7, action_low=(-1.0,) * 7, action_high=(1.0,) * 7,
        obs_horizon=2, action_horizon=8,
    )  # fmt: skip
    pol = create_policy("diffusion", chunk, config={"sampler": "ddim", "sample_steps": 10})
    o = np.zeros((1, 2, 20), np.float32)
    t = summary(timeit(lambda: pol.sample_actions(o, jax.random.PRNGKey(0)), repeat=repeat))
    one_step = create_policy(
        "diffusion", chunk, config={"sampler": "ddim", "sample_steps": 1}
    ).sample_actions
    t1 = summary(timeit(lambda: one_step(o, jax.random.PRNGKey(0)), repeat=repeat))
    rows.append(
        {
            "case": "diffusion chunk 8x7, 10 DDIM steps",
            "ms/action (median)": round(1000 * t["median"], 2),
            "min": round(1000 * t["min"], 2),
            "vs 1 step": f"{t['median'] / t1['median']:.1f}x",
        }
    )
    return rows


def bench_env(repeat: int) -> list[dict[str, Any]]:
    import jax
    import numpy as np

    from sensorimotor.agents import create_agent
    from sensorimotor.agents.tasks import make_env
    from sensorimotor.policies import Spec

    rows = []
    for task, n in (("pendulum", 2000), ("cartpole-swingup", 1000)):
        env = make_env(task, seed=0)
        spec = Spec.from_spaces(env.observation_space, env.action_space)
        agents = {
            "SAC": (create_agent("sac", spec), n),
            "diffusion BC (10 DDIM steps)": (
                create_agent("bc", spec, config={"policy_type": "diffusion"}),
                n,
            ),
        }
        if task == "cartpole-swingup":
            agents["TD-MPC2 1M (planning)"] = (
                create_agent("tdmpc2", spec, config={"model_size": 1}),
                100,
            )
        env.reset(seed=0)

        def bare(env: Any = env, n: int = n) -> None:
            for _ in range(n):
                _, _, term, trunc, _ = env.step(env.action_space.sample())
                if term or trunc:
                    env.reset()

        tb = summary(timeit(bare, warmup=1, repeat=max(repeat // 3, 2)))["median"] / n
        row: dict[str, Any] = {"task": task, "bare env": round(1 / tb)}
        for label, (agent, m) in agents.items():

            def acting(env: Any = env, m: int = m, agent: Any = agent) -> None:
                obs, _ = env.reset()
                key = jax.random.PRNGKey(0)
                state = agent.init_act_state(1)
                first = np.ones(1, bool)
                for _ in range(m):
                    key, k = jax.random.split(key)
                    a, state = agent.act(obs[None], k, state, first=first)
                    first[:] = False
                    obs, _, term, trunc, _ = env.step(np.asarray(a)[0])
                    if term or trunc:
                        obs, _ = env.reset()
                        first[:] = True

            ta = summary(timeit(acting, warmup=1, repeat=max(repeat // 5, 2)))["median"] / m
            row[label] = f"{1 / ta:,.1f} ({tb / ta:.3f})"
        rows.append(row)
        env.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", choices=["updates", "latency", "env"], help="run one part")
    parser.add_argument("--match", nargs="+", help="only update cases whose name contains one")
    args = parser.parse_args()
    repeat = 5 if args.quick else 15
    parts = [args.only] if args.only else ["updates", "latency", "env"]
    start = time.time()
    print("machine:", machine_info())
    if "updates" in parts:
        peak = matmul_peak_flops()
        print(f"baseline: float32 matmul peak {peak / 1e9:.1f} GFLOP/s\n")
        print("## agent updates")
        print_rows(bench_updates(repeat, peak, args.match))
    if "latency" in parts:
        print("\n## latency")
        print_rows(bench_latency(repeat), ["case", "ms/action (median)", "min", "vs 1 step"])
    if "env" in parts:
        print("\n## environment steps/s (fraction of the bare env rate)")
        print_rows(
            bench_env(repeat),
            ["task", "bare env", "SAC", "diffusion BC (10 DDIM steps)", "TD-MPC2 1M (planning)"],
        )
    print(f"\n(total {time.time() - start:.0f} s; load now {machine_info()['load_1min']})")


if __name__ == "__main__":
    main()
