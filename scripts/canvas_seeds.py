"""Run the default ``sensorimotor run`` for several seeds, one after another, and print the quality
table of docs/worldmodels.md (one markdown row per seed).

    python scripts/canvas_seeds.py                      # seeds 0 1 2, runs under runs/seeds/
    python scripts/canvas_seeds.py --seeds 1 2 --root /tmp/seeds -- trainer.lr=2e-3
    python scripts/canvas_seeds.py --jobs 3             # the three runs side by side

Each run is a fresh process with the default config (plus the overrides after ``--``); a seed whose
run folder already has a ``summary.json`` is read, not re-run. Seeds run in sequence by default
(each run uses every core; side by side, each run's wall time is that of a shared machine).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def run_seed(seed: int, root: Path, overrides: list[str]) -> dict:
    """Run (or read) seed ``seed``; returns its summary plus the wall time and the load."""
    folder = root / f"seed-{seed}"
    summary_file = folder / "summary.json"
    if not summary_file.is_file():
        load_before = os.getloadavg()[0]
        start = time.perf_counter()
        command = [sys.executable, "-m", "sensorimotor", "run", f"seed={seed}"]
        command += [f"runs_root={root}", f"name=seed-{seed}", "progress=false", *overrides]
        process = subprocess.Popen(command)
        _, status, usage = os.wait4(process.pid, 0)  # the run's own CPU time (user + sys)
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode:
            raise subprocess.CalledProcessError(process.returncode, command)
        extra = {
            "wall_s": time.perf_counter() - start,
            "cpu_s": usage.ru_utime + usage.ru_stime,
            "load": [round(load_before, 1), round(os.getloadavg()[0], 1)],
        }
        (folder / "seed_run.json").write_text(json.dumps(extra))
    summary = json.loads(summary_file.read_text())
    extra_file = folder / "seed_run.json"
    summary.update(json.loads(extra_file.read_text()) if extra_file.is_file() else {})
    return summary


def row(seed: int, s: dict) -> str:
    """One markdown table row."""
    q = s["quality"]
    wall = (
        f"{s['wall_s'] / 60:.1f} min (CPU {s['cpu_s'] / 60:.1f} min), "
        f"load {s['load'][0]}–{s['load'][1]}"
        if "cpu_s" in s
        else ""
    )
    return (
        f"| {seed} | {q['heldout']} | {q['mse']:.2e} vs {q['mse_baseline']:.2e} "
        f"(**{q['mse_ratio']:.3f}**) | **{q['position_error_px']:.2f} px** "
        f"({q['position_error_median_px']:.2f}) vs {q['position_error_baseline_px']:.1f} px | "
        f"**{100 * q['counterfactual_accuracy']:.1f} %** | loop {s['seconds']:.0f} s; {wall} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--root", type=Path, default=Path("runs/seeds"))
    parser.add_argument("--jobs", type=int, default=1, help="runs side by side (default 1)")
    parser.add_argument("overrides", nargs="*", help="config overrides for every run")
    args = parser.parse_args()
    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        summaries = list(pool.map(lambda s: run_seed(s, args.root, args.overrides), args.seeds))
    rows = [row(seed, summary) for seed, summary in zip(args.seeds, summaries, strict=True)]
    print(
        "| seed | held-out canvases | masked-slot MSE (ratio) | position error, mean (median) "
        "| counterfactual accuracy | time |"
    )
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
