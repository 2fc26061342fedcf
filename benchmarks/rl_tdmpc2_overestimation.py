"""Value overestimation of TD-MPC2 runs: predicted Q vs observed discounted returns over training.

Usage: ``python benchmarks/rl_tdmpc2_overestimation.py RUN_DIR [RUN_DIR ...] [--json OUT]`` on
runs of ``sensorimotor rl train algo=tdmpc2 ... keep_checkpoints=<many> save_buffer=true``.

For every kept checkpoint of a run, the agent's predicted ``Q(s_t, a_t)`` (mean over its Q heads,
``TDMPC2.predicted_q``) is compared with the discounted return actually observed from ``s_t``,
``G_t = sum_i gamma^i r_{t+i}`` to the end of the episode, on the steps the agent itself acted in
(the run's replay buffer after the random seed steps). Only the first ``--head`` steps of each
episode are scored, so that the episode's time limit truncates ``G_t`` by at most
``gamma^(T - head)`` of the value scale. ``gap = mean(Q - G)`` (> 0: overestimation) and the
relative gap ``gap / mean|G|`` are printed per checkpoint, with the run's evaluation returns.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))


def returns_to_go(rewards: np.ndarray, lasts: np.ndarray, gamma: float) -> np.ndarray:
    """``G_t`` per step (discounted sum to the end of its episode)."""
    g = np.zeros_like(rewards, dtype=np.float64)
    acc = 0.0
    for t in range(len(rewards) - 1, -1, -1):
        if lasts[t]:
            acc = 0.0
        acc = rewards[t] + gamma * acc
        g[t] = acc
    return g


def scored_steps(lasts: np.ndarray, start: int, head: int) -> np.ndarray:
    """Indices of the first ``head`` steps of each complete episode starting at or after
    ``start`` (steps before ``start`` were random seed actions)."""
    idx, begin = [], 0
    for end in np.flatnonzero(lasts):
        if begin >= start:
            idx.extend(range(begin, min(begin + head, end + 1)))
        begin = end + 1
    return np.asarray(idx, int)


def analyse(run: Path, head: int) -> list[dict[str, Any]]:
    """One row per checkpoint of ``run``: step, mean Q, mean G, gap, relative gap."""
    from sensorimotor.agents.buffer import ReplayBuffer
    from sensorimotor.agents.factory import load_learner
    from sensorimotor.core.config import load_saved_config
    from sensorimotor.train.rl_config import RLTrainConfig

    cfg = load_saved_config(run / "config.yaml", RLTrainConfig)
    data = ReplayBuffer.load(run / "replay.npz").arrays()
    steps = sorted(
        int(p.name.removeprefix("step_"))
        for p in (run / "checkpoints").iterdir()
        if p.name.removeprefix("step_").isdigit()
    )
    evals = {}
    for line in (run / "metrics.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if "evaluation/return_mean" in rec:
            evals[int(rec["step"])] = rec["evaluation/return_mean"]
    rows = []
    for step in steps:
        agent = load_learner(run / "checkpoints", step=step)
        gamma = agent.config.gamma()
        g_all = returns_to_go(data["rewards"], data["lasts"], gamma)
        idx = scored_steps(data["lasts"], cfg.seed_steps, head)
        q = np.asarray(agent.predicted_q(data["observations"][idx], data["actions"][idx]))
        g = g_all[idx]
        gap = float(np.mean(q - g))
        rows.append({
            "run": run.name, "step": step, "q": float(q.mean()), "g": float(g.mean()),
            "gap": gap, "rel_gap": gap / float(np.mean(np.abs(g))) if np.any(g) else None,
            "abs_err": float(np.mean(np.abs(q - g))), "eval_return": evals.get(step),
            "n": len(idx),
        })  # fmt: skip
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", type=Path, nargs="+")
    ap.add_argument("--head", type=int, default=250, help="scored steps per episode")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    rows = [r for run in args.runs for r in analyse(run, args.head)]
    print(
        "| run | step | mean Q | mean G | gap Q - G | relative gap | mean abs err | eval return |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        ev = "" if r["eval_return"] is None else f"{r['eval_return']:.1f}"
        rel = "n/a (G = 0)" if r["rel_gap"] is None else f"{r['rel_gap']:.2f}"
        print(
            f"| {r['run']} | {r['step']} | {r['q']:.2f} | {r['g']:.2f} | {r['gap']:.2f} | "
            f"{rel} | {r['abs_err']:.2f} | {ev} |"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
