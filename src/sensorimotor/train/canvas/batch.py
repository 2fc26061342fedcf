"""``sensorimotor canvas train|eval``: batch training of the canvas world model on recorded sessions and
evaluation of a run on them."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
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
from sensorimotor.train.canvas.report import write_batch_report
from sensorimotor.train.loop import (
    Interval,
    MetricsWindow,
    RunCheckpoints,
    RunResult,
    StopFlag,
    progress,
)


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


@dataclass
class _BatchJob:
    """What one batch run trains on and writes to."""

    config: CanvasTrainConfig
    model: Any
    dataset: Any
    eval_data: tuple[list, Any] | None
    run: RunDir
    checkpoints: RunCheckpoints

    def save(self) -> None:
        self.checkpoints.save(
            self.model.train_steps,
            self.model.state_dict(),
            {
                "train_steps": self.model.train_steps,
                "kind": "canvas-batch",
                "config": config_to_dict(self.config),
            },
        )


def train(config: CanvasTrainConfig, *, resume: str | Path | None = None) -> RunResult:
    """Batch-train the canvas world model on recorded sessions (or continue the run in the run
    directory ``resume``). The result's ``metrics`` are the summary (loss statistics on the
    training sessions, and held-out ones under ``eval``); ``stopped_by``: ``steps`` or ``interrupt``."""
    import jax  # noqa: F401 - loaded before the run dir records the devices

    from sensorimotor.core.tracking import Tracker

    enable_compilation_cache()
    job = _prepare(config, resume)
    model = job.model
    start = model.train_steps
    t0 = time.perf_counter()
    with Tracker(job.run, wandb=config.wandb, config=config) as tracker:
        stopped_by = _train_loop(job, tracker, start, t0)
        summary: dict[str, Any] = {
            "train_steps": model.train_steps,
            "seconds": time.perf_counter() - t0,
            "stopped_by": stopped_by,
            "train": _evaluate_dataset_summary(model, job.dataset),
        }
        if job.eval_data:
            summary["eval"] = _evaluate_sessions(model, job.eval_data, config)
            tracker.log(_flat_eval(summary["eval"]), model.train_steps)
    (job.run.path / "summary.json").write_text(json.dumps(summary, indent=2, default=float))
    write_batch_report(job.run, model, summary, config)
    return RunResult(
        job.run.path,
        model.train_steps,
        summary["seconds"],
        stopped_by,
        metrics=summary,
        counters={"train_steps": model.train_steps},
    )


#: ``sensorimotor canvas train`` in Python (the batch driver's :func:`train`).
train_on_sessions = train


def _prepare(config: CanvasTrainConfig, resume: str | Path | None) -> _BatchJob:
    """Read the sessions, build the model and (only then) make or reopen the run directory."""
    from sensorimotor.worldmodels.model import CanvasWorldModel
    from sensorimotor.worldmodels.sessions import CanvasDataset, check_same_space

    model_config = canvas_model_config(config.model)
    frame_size = tuple(model_config.frame_size) if model_config.frame_size else None
    train_frames, space = session_data(
        config.sessions, config.sessions_root, frame_size, config.progress
    )
    model = CanvasWorldModel(
        model_config,
        config.trainer,
        space,
        train_frames[0].image_size,
        seed=config.seed,
        total_steps=config.steps,
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
    checkpoints = RunCheckpoints(run, keep=config.trainer.keep_checkpoints)
    restored = checkpoints.restore_latest() if resume is not None else None
    if restored is not None:
        model.load_state_dict(restored[0])
        model.seen_pairs = set(dataset.pairs)
    else:
        sample = dataset.frames()
        model.fit_normalizer(sample[:: max(1, len(sample) // 2000)])
    return _BatchJob(config, model, dataset, eval_data, run, checkpoints)


def _train_loop(job: _BatchJob, tracker: Any, start: int, t0: float) -> str:
    """Train until ``config.steps`` (or Ctrl-C); logs, evaluates, checkpoints. Returns why it stopped."""
    from sensorimotor.worldmodels.sessions import BatchPrefetcher

    config, model, trainer = job.config, job.model, job.config.trainer
    log_at, eval_at, save_at = (
        Interval(trainer.log_every),
        Interval(trainer.eval_every or 0),
        Interval(trainer.checkpoint_every or 0),
    )
    prefetch = BatchPrefetcher(
        job.dataset,
        config.seed,
        trainer.batch_size,
        start,
        config.steps,
        switch_fraction=trainer.switch_fraction,
    )
    bar = progress(config.steps, desc="canvas train", initial=start, enabled=config.progress)
    window = MetricsWindow()
    stopped_by = "steps"
    try:
        with StopFlag() as stop:
            for step, batch in prefetch:
                assert step == model.train_steps
                metrics, _ = model.train_batch(
                    batch, batch_info=f"batch step {step} of the sessions"
                )
                window.add({"loss": metrics["loss"]})
                bar.update(1)
                done = model.train_steps
                if log_at.due(done):
                    rate = (done - start) / (time.perf_counter() - t0)
                    loss = window.flush()["loss"]
                    tracker.log({"loss": loss, "lr": metrics["lr"], "steps_per_s": rate}, done)
                    bar.set_postfix(loss=f"{loss:.2e}", steps_s=f"{rate:.1f}", refresh=False)
                if eval_at.due(done) and job.eval_data:
                    tracker.log(_flat_eval(_evaluate_sessions(model, job.eval_data, config)), done)
                if save_at.due(done):
                    job.save()
                if stop.stopped:
                    stopped_by = "interrupt"
                    break
    except KeyboardInterrupt:
        stopped_by = "interrupt"
    finally:
        prefetch.close()
        bar.close()
        if model.train_steps > start:
            job.save()
    return stopped_by


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
    restored = RunCheckpoints(run).restore_latest()
    if restored is None:
        raise DataError(f"{run.checkpoints_dir}: no checkpoint to evaluate")
    state, _ = restored
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


#: Full-session loss statistics and held-out quality of ``(frames, dataset)`` (used by staged training).
evaluate_sessions = _evaluate_sessions
