"""``sensorimotor canvas train|eval``: batch training of the canvas world model on recorded sessions and
evaluation of a run on them."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sensorimotor.core.config import (
    config_to_dict,
)
from sensorimotor.core.errors import DataError
from sensorimotor.core.jaxcache import enable_compilation_cache
from sensorimotor.core.rundir import RunDir
from sensorimotor.train.canvas.config import (
    CanvasRunConfig,
    CanvasTrainConfig,
    canvas_model_config,
    load_any_config,
)
from sensorimotor.train.canvas.online import StopFlag
from sensorimotor.train.canvas.report import write_batch_report


def session_data(
    paths: Sequence[str], root: str, frame_size: tuple[int, int] | None, progress: bool = True
) -> tuple[list, Any]:
    from sensorimotor.robots.session import find_session
    from sensorimotor.worldmodels.sessions import check_same_space, read_session_frames

    found = [find_session(p, root) for p in paths]
    read = [read_session_frames(p, frame_size, progress=progress) for p in found]
    frames = [r[0] for r in read]
    space = check_same_space([r[1] for r in read], found)
    sizes = {f.image_size for f in frames}
    if len(sizes) > 1:
        raise DataError(
            f"the sessions have different image sizes {sorted(sizes)}; train on one robot's sessions"
        )
    return frames, space


def train_on_sessions(
    config: CanvasTrainConfig, resume: str | Path | None = None
) -> dict[str, Any]:
    """Batch-train the canvas world model on recorded sessions (resumable); returns the summary."""
    import jax  # noqa: F401
    from tqdm import tqdm

    from sensorimotor.core.checkpoint import CheckpointManager
    from sensorimotor.core.tracking import Tracker
    from sensorimotor.worldmodels.model import CanvasWorldModel
    from sensorimotor.worldmodels.sessions import BatchPrefetcher, CanvasDataset, check_same_space

    enable_compilation_cache()
    model_config = canvas_model_config(config.model)
    frame_size = tuple(model_config.frame_size) if model_config.frame_size else None
    train_frames, space = session_data(
        config.sessions, config.sessions_root, frame_size, config.progress
    )
    image_size = train_frames[0].image_size
    model = CanvasWorldModel(
        model_config, config.trainer, space, image_size, seed=config.seed, total_steps=config.steps
    )
    dataset = CanvasDataset(train_frames, model.layout, model.palette)
    model.seen_pairs = set(dataset.pairs)
    eval_data = None
    if config.eval_sessions:
        eval_frames, eval_space = session_data(
            config.eval_sessions, config.sessions_root, model.frame_shape[:2], config.progress
        )
        check_same_space(
            [space, eval_space], [Path(config.sessions[0]), Path(config.eval_sessions[0])]
        )
        eval_data = (eval_frames, CanvasDataset(eval_frames, model.layout, model.palette))

    run = (
        RunDir.open(resume)
        if resume is not None
        else RunDir.create(config.runs_root, config.name, "canvas", config, config.seed)
    )
    checkpoints = CheckpointManager(
        run.checkpoints_dir.absolute(), keep=config.trainer.keep_checkpoints
    )
    if resume is not None and checkpoints.latest() is not None:
        state, _ = checkpoints.restore()
        model.load_state_dict(state)
        model.seen_pairs = set(dataset.pairs)
    else:
        sample = dataset.frames()
        model.fit_normalizer(sample[:: max(1, len(sample) // 2000)])

    def save() -> None:
        checkpoints.save(
            model.train_steps,
            model.state_dict(),
            {
                "train_steps": model.train_steps,
                "kind": "canvas-batch",
                "config": config_to_dict(config),
            },
        )

    trainer = config.trainer
    start = model.train_steps
    t0 = time.perf_counter()
    stopped_by = "steps"
    with Tracker(run, wandb=config.wandb, config=config) as tracker:
        prefetch = BatchPrefetcher(
            dataset,
            config.seed,
            trainer.batch_size,
            start,
            config.steps,
            switch_fraction=trainer.switch_fraction,
        )
        bar = tqdm(
            total=config.steps,
            initial=start,
            unit="step",
            disable=not config.progress,
            dynamic_ncols=True,
            desc="canvas train",
        )
        losses: list[float] = []
        try:
            with StopFlag() as stop:
                for step, batch in prefetch:
                    assert step == model.train_steps
                    metrics, _ = model.train_batch(
                        batch, batch_info=f"batch step {step} of the sessions"
                    )
                    losses.append(metrics["loss"])
                    bar.update(1)
                    if model.train_steps % trainer.log_every == 0:
                        rate = (model.train_steps - start) / (time.perf_counter() - t0)
                        tracker.log(
                            {
                                "loss": float(np.mean(losses)),
                                "lr": metrics["lr"],
                                "steps_per_s": rate,
                            },
                            model.train_steps,
                        )
                        bar.set_postfix(
                            loss=f"{np.mean(losses):.2e}", steps_s=f"{rate:.1f}", refresh=False
                        )
                        losses = []
                    if (
                        trainer.eval_every
                        and model.train_steps % trainer.eval_every == 0
                        and eval_data
                    ):
                        stats = _evaluate_sessions(model, eval_data, config)
                        tracker.log(_flat_eval(stats), model.train_steps)
                    if (
                        trainer.checkpoint_every
                        and model.train_steps % trainer.checkpoint_every == 0
                    ):
                        save()
                    if stop.stopped:
                        stopped_by = "interrupt"
                        break
        except KeyboardInterrupt:
            stopped_by = "interrupt"
        finally:
            prefetch.close()
            bar.close()
            if model.train_steps > start:
                save()
        seconds = time.perf_counter() - t0
        summary: dict[str, Any] = {
            "train_steps": model.train_steps,
            "seconds": seconds,
            "stopped_by": stopped_by,
            "train": _evaluate_dataset_summary(model, dataset),
        }
        if eval_data:
            summary["eval"] = _evaluate_sessions(model, eval_data, config)
            tracker.log(_flat_eval(summary["eval"]), model.train_steps)
    (run.path / "summary.json").write_text(json.dumps(summary, indent=2, default=float))
    write_batch_report(run, model, summary, config)
    summary["run_dir"] = str(run.path)
    return summary


def _evaluate_dataset_summary(model: Any, dataset: Any) -> dict[str, Any]:
    from sensorimotor.worldmodels.sessions import evaluate_dataset

    return evaluate_dataset(model, dataset)


def _evaluate_sessions(model: Any, eval_data: tuple[list, Any], config: Any) -> dict[str, Any]:
    """Full-session loss statistics and (when applicable) the held-out quality metrics."""
    from sensorimotor.worldmodels.quality import HeldOutSet, evaluate_quality
    from sensorimotor.worldmodels.sessions import evaluate_dataset

    frames_list, dataset = eval_data
    out = evaluate_dataset(model, dataset)
    mode = config.position_metrics
    position = all(f.has_dot for f in frames_list) if mode == "auto" else mode == "on"
    frames = np.concatenate([f.frames for f in frames_list])
    actions = np.concatenate([_end_episode(f.actions) for f in frames_list])
    data = HeldOutSet.from_frames(
        frames, actions, model.layout.slots, model.seen_pairs, config.max_eval_canvases
    )
    out["quality"] = evaluate_quality(
        model,
        data,
        position_metrics=position,
        tolerance_px=config.tolerance_px,
        wrap_x=config.wrap_x,
    )
    return out


def _end_episode(actions: np.ndarray) -> np.ndarray:
    """Actions of one session with the last one cleared, so no canvas spans two sessions."""
    actions = np.array(actions, copy=True)
    if len(actions):
        actions[-1] = -1
    return actions


def _flat_eval(stats: dict[str, Any]) -> dict[str, float]:
    flat = {f"eval/loss_{k}": v for k, v in stats["loss"].items()}
    flat.update(
        {f"eval/{k}": v for k, v in stats.get("quality", {}).items() if isinstance(v, int | float)}
    )
    return flat


def evaluate_canvas_run(
    run_dir: str | Path,
    sessions: Sequence[str],
    sessions_root: str = "saved/sessions",
    max_canvases: int = 300,
) -> dict[str, Any]:
    """Evaluate the latest checkpoint of a canvas run (online or batch) on recorded sessions."""
    from sensorimotor.core.checkpoint import CheckpointManager
    from sensorimotor.worldmodels.model import CanvasWorldModel

    enable_compilation_cache()
    run = RunDir.open(run_dir)
    saved = load_any_config(run)
    model_config = canvas_model_config(saved.model)
    frames, space = session_data(
        sessions, sessions_root, tuple(model_config.frame_size) if model_config.frame_size else None
    )
    model = CanvasWorldModel(
        model_config, saved.trainer, space, frames[0].image_size, seed=saved.seed
    )
    checkpoints = CheckpointManager(run.checkpoints_dir.absolute())
    if checkpoints.latest() is None:
        raise DataError(f"{run.checkpoints_dir}: no checkpoint to evaluate")
    state, _ = checkpoints.restore()
    model.load_state_dict(state)
    if model.normalizer is None:
        raise DataError(
            f"{run.path}: the checkpoint holds an untrained model (no input statistics yet)"
        )
    from sensorimotor.worldmodels.sessions import CanvasDataset

    config = dataclasses.replace(CanvasTrainConfig(), max_eval_canvases=max_canvases)
    if isinstance(saved, CanvasRunConfig):
        config.position_metrics = saved.validation.position_metrics
        config.wrap_x = saved.validation.wrap_x
        config.tolerance_px = saved.validation.tolerance_px
    return _evaluate_sessions(
        model, (frames, CanvasDataset(frames, model.layout, model.palette)), config
    )
