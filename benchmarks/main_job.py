"""The main job: the default ``sensorimotor run`` against the old defaults, in the same session.

    python benchmarks/main_job.py                    # old then new default, seed 0
    python benchmarks/main_job.py --seed 1 --root /tmp/main_job

Each configuration runs as a fresh ``sensorimotor run`` process (imports, validation session,
compilation, the online loop, evaluation, report), so the wall and CPU times are what a user sees.
"old" passes the previous defaults as overrides (6000 iterations, uniform x rolls); the code is the
current one for both, so the difference is the config's. Printed per run: wall and CPU seconds
(user + sys of the process), the 1-minute load before/after, iterations and train steps, the first
train step (it compiles unless JAX's persistent cache already holds the step), the mean train step,
the per-iteration time outside the train step, and the held-out quality. On a shared machine wall
time follows the load; CPU time is the steadier figure (on a quiet 2-core CPU wall ≈ CPU / 1.6–2).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from common import machine_info, print_rows

CONFIGS = {
    "old default (6000 it., uniform rolls)": ["steps=6000", "trainer.seam_fraction=0.0"],
    "new default": [],
}


def run_one(name: str, overrides: list[str], seed: int, root: Path) -> dict:
    """One fresh ``sensorimotor run``; its times, counters and quality."""
    folder = root / name
    command = [sys.executable, "-m", "sensorimotor", "run", f"seed={seed}"]
    command += [f"runs_root={root}", f"name={name}", "progress=false", *overrides]
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    summary = json.loads((folder / "summary.json").read_text())
    timing, quality = summary["timing"], summary["quality"]
    return {
        "wall s": wall,
        "CPU s": cpu,
        "load": f"{load:.1f}–{os.getloadavg()[0]:.1f}",
        "iterations": summary["iterations"],
        "train steps": summary["train_steps"],
        "loop s": timing["loop_s"],
        "first train step s": timing["first_train_step_s"],
        "train step ms": timing["train_step_ms"],
        "other ms/it.": timing["overhead_ms_per_iteration"],
        "eval s": timing["eval_s"],
        "cf. acc. %": 100 * quality["counterfactual_accuracy"],
        "pos. err. px": quality["position_error_px"],
        "MSE ratio": quality["mse_ratio"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--root", type=Path, default=Path("runs/main_job"))
    parser.add_argument("--only", choices=["old", "new"], help="run one configuration only")
    args = parser.parse_args()
    print(machine_info())
    rows = []
    for label, overrides in CONFIGS.items():
        if args.only and not label.startswith(args.only):
            continue
        name = f"{label.split()[0]}-seed{args.seed}-{time.strftime('%H%M%S')}"
        rows.append({"config": label, **run_one(name, overrides, args.seed, args.root)})
        print(json.dumps(rows[-1]), flush=True)
    print_rows(rows)
    if len(rows) == 2:
        old, new = rows
        print(
            f"new / old: wall {new['wall s'] / old['wall s']:.2f}, CPU {new['CPU s'] / old['CPU s']:.2f}"
        )


if __name__ == "__main__":
    main()
