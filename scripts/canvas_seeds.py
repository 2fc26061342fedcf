"""Run the default ``sensorimotor run`` for several seeds, one after another, and print the quality
table of docs/worldmodels.md (one markdown row per seed).

    python scripts/canvas_seeds.py                      # seeds 0 1 2, runs under runs/seeds/
    python scripts/canvas_seeds.py --seeds 1 2 --root /tmp/seeds -- trainer.lr=2e-3

Each run is a fresh process with the default config (plus the overrides after ``--``); a seed whose
run folder already has a ``summary.json`` is read, not re-run. Seeds run in sequence because the
runs use every core.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
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
        subprocess.run(command, check=True)
        extra = {
            "wall_s": time.perf_counter() - start,
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
        f"{s['wall_s'] / 60:.1f} min, load {s['load'][0]}–{s['load'][1]}" if "wall_s" in s else ""
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
    parser.add_argument("overrides", nargs="*", help="config overrides for every run")
    args = parser.parse_args()
    rows = [row(seed, run_seed(seed, args.root, args.overrides)) for seed in args.seeds]
    print(
        "| seed | held-out canvases | masked-slot MSE (ratio) | position error, mean (median) "
        "| counterfactual accuracy | time |"
    )
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
