"""Sweep throughput: trials per hour with 1 vs 2 worker processes sharing one Optuna study.

python benchmarks/sweep.py [--trials 16] [--steps 40] [--work 20]

Each trial runs the quadratic objective (``train/sweep/toy.py``) with ``work`` 64x64 matrix
products per step, so a trial is a few seconds of real CPU work; the SQLite storage, the trial
claims, heartbeats and worker start-up are all included. 1 worker runs the trials in this process
(the default), 2 workers are two processes. Prints both rates and their ratio (measured in the same
run); record the result in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

from common import machine_info

from sensorimotor.train.sweep import SweepConfig, run_sweep

TOY = "sensorimotor.train.sweep.toy:quadratic_objective"


def trials_per_hour(workers: int, trials: int, steps: int, work: int) -> tuple[float, float]:
    config = SweepConfig(
        lr_min=1e-2,
        lr_max=1.0,
        phase_a_trials=trials,
        phase_a_steps=steps,
        phase_b_top=0,
        workers=workers,
    )
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        result = run_sweep(TOY, {"work": work}, config, tmp, name="bench", fallback_lr=0.1)
        seconds = time.perf_counter() - t0
    done = sum(r["state"] == "COMPLETE" for r in result.phase_a)
    return 3600 * done / seconds, seconds


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--trials", type=int, default=16)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--work", type=int, default=20)
    args = p.parse_args()
    one, t1 = trials_per_hour(1, args.trials, args.steps, args.work)
    two, t2 = trials_per_hour(2, args.trials, args.steps, args.work)
    print(
        json.dumps(
            {
                "machine": machine_info(),
                "args": vars(args),
                "1 worker": {"trials_per_hour": round(one), "seconds": round(t1, 1)},
                "2 workers": {"trials_per_hour": round(two), "seconds": round(t2, 1)},
                "ratio 2 vs 1": round(two / one, 2),
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
