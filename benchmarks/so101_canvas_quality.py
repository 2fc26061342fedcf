"""Quality of a canvas world model trained on SO-101 sessions: held-out masked-slot MSE against
the copy-the-last-frame baseline, and counterfactual accuracy over the 3 actions.

python benchmarks/so101_canvas_quality.py RUN_DIR SESSION... [--sessions-root R] [--max-canvases 300]

Counterfactual accuracy: each held-out canvas's next frame is predicted under STAY, MOVE+ and
MOVE−; the prediction counts as correct when the one under the action actually taken is the
closest (MSE) to the actual next frame. The copy-last-frame baseline predicts the same frame under
every action, so it can only guess: 1/3.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
from common import machine_info

from sensorimotor.core.checkpoint import CheckpointManager
from sensorimotor.core.rundir import RunDir
from sensorimotor.train.canvas import (
    _end_episode,
    _load_any_config,
    _session_data,
    canvas_model_config,
    enable_compilation_cache,
    evaluate_run,
)
from sensorimotor.worldmodels.model import CanvasWorldModel
from sensorimotor.worldmodels.quality import HeldOutSet


def counterfactual_accuracy(run_dir: str, sessions: list[str], root: str, limit: int) -> dict:
    """Accuracy of picking the taken action by the closest counterfactual prediction."""
    enable_compilation_cache()
    run = RunDir.open(run_dir)
    saved = _load_any_config(run)
    model_config = canvas_model_config(saved.model)
    size = tuple(model_config.frame_size) if model_config.frame_size else None
    frames, space = _session_data(sessions, root, size, progress=False)
    model = CanvasWorldModel(
        model_config, saved.trainer, space, frames[0].image_size, seed=saved.seed
    )
    state, _ = CheckpointManager(run.checkpoints_dir.absolute()).restore()
    model.load_state_dict(state)
    all_frames = np.concatenate([f.frames for f in frames])
    actions = np.concatenate([_end_episode(f.actions) for f in frames])
    data = HeldOutSet.from_frames(all_frames, actions, model.layout.slots, None, limit)
    cf = model.counterfactual(data.context, data.actions[:, :-1])  # (M, A, h, w, 3)
    actual = data.targets.astype(np.float32)[:, None] / 255.0
    errors = ((cf - actual) ** 2).mean(axis=(2, 3, 4))  # (M, A)
    taken = data.actions[:, -1]
    picked = errors.argmin(axis=1)
    per_action = {
        name: float((picked[taken == a] == a).mean()) if (taken == a).any() else None
        for a, name in enumerate(("STAY", "MOVE+", "MOVE-"))
    }
    return {
        "canvases": len(data),
        "counterfactual_accuracy": float((picked == taken).mean()),
        "per_action": per_action,
        "taken_counts": np.bincount(taken, minlength=3).tolist(),
        "baseline": 1 / 3,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("sessions", nargs="+")
    parser.add_argument("--sessions-root", default="saved/sessions")
    parser.add_argument("--max-canvases", type=int, default=300)
    args = parser.parse_args()
    quality = evaluate_run(args.run_dir, args.sessions, args.sessions_root, args.max_canvases)
    q = quality["quality"]
    result = {
        "machine": machine_info(),
        "heldout_canvases": q["heldout"],
        "mse": q.get("mse"),
        "mse_copy_last": q.get("mse_baseline"),
        "mse_ratio": q.get("mse_ratio"),
        **counterfactual_accuracy(
            args.run_dir, args.sessions, args.sessions_root, args.max_canvases
        ),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
