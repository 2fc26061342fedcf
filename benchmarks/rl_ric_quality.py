"""Quality of RIC on narrow, multimodal offline data: RIC vs diffusion BC vs diffusion + critic.

The four-mode reach bandit (one step of dynamics: the terminal observation is the end point, so
``(s, a, s')`` determines the action) with 5000 scripted demonstrations, each reaching one of four
goals of value 1, 0.75, 0.5, 0.25 uniformly. Every variant trains the same diffusion policy
(DDPM, 100 steps) for the same updates, batch and seed on the same data:

- diffusion BC (the parent: denoising loss only);
- diffusion + critic: RIC with the constraint weight 0 (denoising loss - alpha Q / mean|Q|);
- RIC: the same plus the inverse-dynamics constraint (``lambda`` from 1 to 0.1, linear).

Reported over 4000 fresh start points, one sampled action each: the mean reward (= return: one
step per episode), the fraction of actions reaching the best goal and the fraction reaching no
goal (out of the data's support: farther than 0.15 from every goal; the demonstrations put
< 1 % there).

    python benchmarks/rl_ric_quality.py                       # seeds 0 1 2, 3000 updates
    python benchmarks/rl_ric_quality.py --seeds 0 --updates 1000 --alpha 1
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

POLICY = {"sampler": "ddpm", "num_steps": 100, "lr": 3e-4}


def variants(alpha: float, weight: float, final: float, steps: int) -> dict[str, tuple[str, dict]]:
    """Name -> (agent, config) of the compared agents."""
    ric = {"policy": POLICY, "alpha": alpha, "constraint_steps": steps}
    return {
        "diffusion BC": ("bc", {"policy_type": "diffusion", "policy": POLICY}),
        "diffusion + critic (constraint 0)": (
            "ric",
            {**ric, "constraint_weight": 0.0, "constraint_final": 0.0},
        ),
        "RIC": ("ric", {**ric, "constraint_weight": weight, "constraint_final": final}),
    }


def run_one(name: str, config: dict, demos: Any, spec: Any, updates: int, seed: int) -> Any:
    """Train agent ``name`` for ``updates`` batches of 256 (fused on the device)."""
    import jax

    from sensorimotor.agents import create_agent
    from sensorimotor.agents.device_loop import DeviceTransitions, fused_updates

    agent = create_agent(name, spec, config=config, seed=seed)
    data = DeviceTransitions.from_buffer(demos)
    key = jax.random.PRNGKey(seed)
    done = 0
    while done < updates:  # chunks keep one compiled scan short enough to interleave
        n = min(500, updates - done)
        key, k = jax.random.split(key)
        agent, _ = fused_updates(agent, data, k, steps=n, batch_size=256)
        done += n
    return agent


def score(agent: Any, bandit: Any, seed: int, n: int = 4000) -> dict[str, float]:
    """Reward, best-mode and out-of-support fractions of one sampled action per start point."""
    import jax

    rng = np.random.default_rng(10_000 + seed)
    starts = bandit.sample_starts(n, rng)
    acts = np.asarray(agent.sample_actions(starts, jax.random.PRNGKey(seed), 1))[:, 0]
    fr = bandit.mode_fractions(starts, acts)
    return {
        "return": float(bandit.reward(starts, acts).mean()),
        "best_mode": fr[f"mode_{bandit.best_mode}"],
        "out_of_support": fr["mode_none"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--updates", type=int, default=3000)
    ap.add_argument("--alpha", type=float, default=1.0)
    ap.add_argument("--weight", type=float, default=1.0)
    ap.add_argument("--final", type=float, default=0.1)
    ap.add_argument("--only", nargs="+", help="variants whose label starts with one of these")
    ap.add_argument("--json", type=Path, help="also write the rows here")
    args = ap.parse_args()

    from sensorimotor.agents.tasks import make_env, make_expert
    from sensorimotor.agents.tasks.demos import collect_demos
    from sensorimotor.policies import Spec

    env = make_env("multimodal_reach")
    bandit = env.unwrapped
    demos = collect_demos(
        "multimodal_reach", make_expert("multimodal_reach"), episodes=5000, seed=0, progress=False
    )
    spec = Spec.from_spaces(env.observation_space, env.action_space)
    data_score = {"return": float(np.mean(demos.arrays()["rewards"]))}
    print(f"demonstrations: mean reward {data_score['return']:.3f}")
    rows = []
    for label, (name, config) in variants(
        args.alpha, args.weight, args.final, args.updates
    ).items():
        if args.only and not any(label.startswith(o) for o in args.only):
            continue
        for seed in args.seeds:
            t0 = time.time()
            agent = run_one(name, config, demos, spec, args.updates, seed)
            row = {"variant": label, "seed": seed, **score(agent, bandit, seed)}
            row["seconds"] = round(time.time() - t0, 1)
            rows.append(row)
            print(json.dumps(row), flush=True)
    print("\n| variant | return | best mode | out of support |\n|---|---|---|---|")
    for label in dict.fromkeys(r["variant"] for r in rows):
        sel = [r for r in rows if r["variant"] == label]
        cells = [
            f"{np.mean([r[k] for r in sel]):.3f} ± {np.std([r[k] for r in sel]):.3f}"
            for k in ("return", "best_mode", "out_of_support")
        ]
        print(f"| {label} | " + " | ".join(cells) + " |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
