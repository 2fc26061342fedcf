"""Quality of a canvas world model trained online on the (simulated) JetBot.

Usage: ``python benchmarks/jetbot_quality.py RUN_DIR [--json]`` after
``sensorimotor jetbot serve --backend sim & sensorimotor run robot=jetbot name=jetbot-sim``.

Scores the run's latest checkpoint on its held-out validation session (recorded with another seed
before training; canvases whose (last frame, action) pair occurred in training are dropped),
against the copy-the-last-frame baseline:

- masked-slot MSE of the prediction under the action taken (pixels in [0, 1]);
- motion counterfactuals: every held-out frame is predicted under every action, and each
  prediction's horizontal image shift from the last context frame is measured (pixels at the
  model's resolution, the shift in -S..S that best matches the two frames; a turn shifts the whole
  view). A prediction "moves" when that shift is at least half the median true shift of a motor
  action; it is correct when it moves exactly for the actions that run a motor. The copy-last
  baseline never moves (50 % with two actions). (A threshold on the mean pixel change would not do:
  a slightly blurred "stay" prediction changes the pixels as much as a small turn.)
- turn size: the predicted shift under the action taken vs the true shift, for motor actions.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))


def horizontal_shift(reference: np.ndarray, frames: np.ndarray, max_shift: int) -> np.ndarray:
    """``(M,)`` the shift s in [-max_shift, max_shift] (pixels) that best maps ``reference`` onto
    ``frames`` (``frame[:, x] ≈ reference[:, x - s]``), both ``(M, h, w, 3)`` floats."""
    w = reference.shape[2]
    errors = []
    for s in range(-max_shift, max_shift + 1):
        lo, hi = max(0, s), min(w, w + s)
        diff = frames[:, :, lo:hi] - reference[:, :, lo - s : hi - s]
        errors.append((diff**2).mean(axis=(1, 2, 3)))
    return np.argmin(np.stack(errors, axis=1), axis=1) - max_shift


def motion_metrics(
    last: np.ndarray,
    actual: np.ndarray,
    taken: np.ndarray,
    counterfactual: np.ndarray,
    moving: np.ndarray,
    max_shift: int,
) -> dict[str, Any]:
    """Counterfactual motion accuracy and turn-size error (see the module docstring)."""
    true_shift = horizontal_shift(last, actual, max_shift)
    moved = moving[taken]
    if not moved.any() or moved.all():
        raise ValueError("the held-out canvases need both motor and stay actions")
    move_shift = float(np.median(np.abs(true_shift[moved])))
    threshold = max(1.0, 0.5 * move_shift)
    shifts = np.stack(
        [horizontal_shift(last, counterfactual[:, a], max_shift) for a in range(len(moving))],
        axis=1,
    )  # (M, A)
    correct = (np.abs(shifts) >= threshold) == moving[None, :]
    out: dict[str, Any] = {
        "true_shift_px_move_median": move_shift,
        "true_shift_px_stay_mean": float(np.abs(true_shift[~moved]).mean()),
        "moves_when_shift_px_at_least": threshold,
        "counterfactual_motion_accuracy": float(correct.mean()),
        "counterfactual_motion_all_actions": float(correct.all(axis=1).mean()),
        "counterfactual_motion_accuracy_baseline": float((~moving).mean()),
    }
    for a in range(len(moving)):
        out[f"counterfactual_motion_accuracy_action_{a}"] = float(correct[:, a].mean())
    for a in np.flatnonzero(moving):
        rows = taken == a
        error = np.abs(shifts[rows, a] - true_shift[rows])
        out[f"shift_error_px_action_{a}"] = float(error.mean())
        out[f"shift_error_px_action_{a}_baseline"] = float(np.abs(true_shift[rows]).mean())
    return out


def evaluate(run_dir: Path, max_canvases: int = 300, max_shift: int = 12) -> dict[str, Any]:
    """All metrics of the run's latest checkpoint on its validation session."""
    from sensorimotor.core.checkpoint import CheckpointManager
    from sensorimotor.core.config import load_saved_config
    from sensorimotor.core.rundir import RunDir
    from sensorimotor.train.canvas import (
        CanvasRunConfig,
        canvas_model_config,
        enable_compilation_cache,
    )
    from sensorimotor.worldmodels.model import CanvasWorldModel
    from sensorimotor.worldmodels.quality import HeldOutSet, evaluate_quality
    from sensorimotor.worldmodels.sessions import read_session_frames

    enable_compilation_cache()
    run = RunDir.open(run_dir)
    config = load_saved_config(run.config_path, CanvasRunConfig)
    session = next((run.path / "sessions").glob("*/validation"))
    model_config = canvas_model_config(config.model)
    size = tuple(model_config.frame_size) if model_config.frame_size else None
    frames, space = read_session_frames(session, size, progress=False)
    model = CanvasWorldModel(
        model_config, config.trainer, space, frames.image_size, seed=config.seed
    )
    state, _ = CheckpointManager(run.checkpoints_dir.absolute()).restore()
    model.load_state_dict(state)
    data = HeldOutSet.from_frames(
        frames.frames, frames.actions, model.layout.slots, model.seen_pairs, max_canvases
    )
    out = evaluate_quality(model, data, position_metrics=False)
    out["iteration"] = model.iteration
    last = data.context[:, -1].astype(np.float32) / 255.0
    actual = data.targets.astype(np.float32) / 255.0
    moving = np.array([abs(a["motor_left"]) + abs(a["motor_right"]) > 0 for a in space])
    counterfactual = model.counterfactual(data.context, data.actions[:, :-1])
    out.update(motion_metrics(last, actual, data.actions[:, -1], counterfactual, moving, max_shift))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--max-canvases", type=int, default=300)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    metrics = evaluate(args.run_dir, args.max_canvases)
    if args.json:
        print(json.dumps(metrics, indent=2))
        return
    for key, value in metrics.items():
        print(f"{key:>42}: {value:.4g}" if isinstance(value, float) else f"{key:>42}: {value}")


if __name__ == "__main__":
    main()
