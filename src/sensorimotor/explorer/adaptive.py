"""The adaptive world model in the explorer (plain-Python logic; its tabs are in
:mod:`sensorimotor.explorer.adaptive_ui`): open a run directory's latest checkpoint, predict a
held-out frame's next frame under every action (with the MSE of each), per-layer attention metrics
and weight histograms."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from sensorimotor.core.errors import UserError
from sensorimotor.explorer.roots import Roots


class AdaptiveExplorer:
    """One adaptive run (its model at the newest checkpoint and its validation session)."""

    def __init__(self, roots: Roots, instance: str) -> None:
        self.roots, self.instance = roots, instance
        self.model: Any = None
        self.run_dir: Path | None = None
        self.frames: np.ndarray | None = None  # (T, h, w, 3) validation frames
        self.actions: np.ndarray | None = None  # (T,) action after each (-1: none)

    def open_run(self, path: str | Path) -> str:
        """Rebuild the model of a run directory under the runs root from its newest checkpoint."""
        from sensorimotor.core.config import load_saved_config
        from sensorimotor.core.rundir import RunDir
        from sensorimotor.train.canvas.config import CanvasRunConfig
        from sensorimotor.train.loop import RunCheckpoints
        from sensorimotor.worldmodels.adaptive.config import AdaptiveModelConfig
        from sensorimotor.worldmodels.adaptive.model import AdaptiveWorldModel
        from sensorimotor.worldmodels.sessions import read_session_frames

        run = RunDir.open(self.roots.check(path, "runs"))
        config = load_saved_config(run.config_path, CanvasRunConfig)
        if not isinstance(config.model, AdaptiveModelConfig):
            raise UserError(f"{run.path}: model.type is {config.model.type!r}, not 'adaptive'")
        restored = RunCheckpoints(run).restore_latest()
        if restored is None:
            raise UserError(f"{run.path}: the run has no checkpoint yet")
        sessions = sorted((run.path / "sessions").glob("*/validation*"))
        if not sessions:
            raise UserError(f"{run.path}: no validation session to predict on")
        robot = config.robot.make()
        try:
            space = robot.action_space
            image_size = tuple(np.asarray(robot.get_observation()["image"]).shape[:2])
        finally:
            robot.cleanup()
        model = AdaptiveWorldModel(
            config.model, config.trainer, space, image_size, seed=config.seed
        )
        model.load_state_dict(restored[0])
        data, _ = read_session_frames(sessions[0], model.frame_shape[:2], progress=False)
        self.model, self.run_dir = model, run.path
        self.frames, self.actions = data.frames, data.actions
        return f"{run.path.name}: iteration {model.iteration}, {len(model.levels)} level(s)"

    def require_model(self) -> Any:
        if self.model is None:
            raise UserError("open an adaptive run first")
        return self.model

    def predictions(self, index: int) -> list[tuple[str, np.ndarray, float]]:
        """``(action, predicted next frame, MSE vs the actual next frame)`` for every action, from
        the history ending at validation frame ``index``."""
        model = self.require_model()
        h = model.config.history
        assert self.frames is not None and self.actions is not None
        if not h - 1 <= index < len(self.frames) - 1:
            raise UserError(
                f"frame index must be in [{h - 1}, {len(self.frames) - 2}], got {index}"
            )
        previous = self.actions[index - h + 1 : index]
        if (previous < 0).any():
            raise UserError(f"frame {index}: an action before it is missing")
        context = self.frames[None, index - h + 1 : index + 1]
        predicted = model.counterfactual(context, previous[None])[0]
        actual = self.frames[index + 1].astype(np.float32) / 255.0
        return [
            (str(a), predicted[i], float(((predicted[i] - actual) ** 2).mean()))
            for i, a in enumerate(model.actions)
        ]

    def attention(self, samples: int = 8) -> list[dict[str, float]]:
        """Per-layer attention metrics (APA, ALF, TTAR, RI@16, entropy) on validation samples."""
        from sensorimotor.worldmodels.adaptive.attention import attention_metrics

        model = self.require_model()
        h = model.config.history
        assert self.frames is not None and self.actions is not None
        ends = [
            t
            for t in range(h - 1, len(self.frames) - 1)
            if (self.actions[t - h + 1 : t + 1] >= 0).all()
        ][:samples]
        if not ends:
            raise UserError("the validation session has no complete history window")
        context = np.stack([self.frames[t - h + 1 : t + 1] for t in ends])
        actions = np.stack([self.actions[t - h + 1 : t + 1] for t in ends])
        out = model.predict(context, model.action_vectors(actions), return_attention=True)
        layout = model.levels[0].state.module().predictor.layout()
        return [
            {"layer": i, **attention_metrics(w, layout)} for i, w in enumerate(out["attention"])
        ]

    def weights(self) -> dict[str, np.ndarray]:
        """Every parameter value per part (encoder/decoder, each level's action pathway,
        predictor, classifier), flattened for histograms."""
        import jax

        from sensorimotor.worldmodels.adaptive.steps import level_group, mae_group

        model = self.require_model()
        parts: dict[str, list[np.ndarray]] = {}

        def add(tree: Any, group: Any, prefix: str) -> None:
            for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
                keys = tuple(getattr(k, "key", getattr(k, "idx", k)) for k in path)
                parts.setdefault(prefix + group(keys), []).append(np.asarray(leaf).reshape(-1))

        add(model.mae.params, mae_group, "")
        for lv in model.levels:
            add(lv.state.params, level_group, f"level{lv.k}/")
        return {k: np.concatenate(v) for k, v in parts.items()}
