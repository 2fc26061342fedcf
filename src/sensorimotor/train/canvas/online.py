"""``sensorimotor run``: a robot, an action selector and a canvas world model learning online.

The driver around :class:`~sensorimotor.worldmodels.model.CanvasWorldModel`: it makes the run
directory, records a held-out validation session (another seed), runs the online loop with a
progress bar (live loss, prediction error, steps/s), logs metrics, saves checkpoints periodically,
on Ctrl-C and on errors, evaluates quality against the copy-the-last-frame baseline and writes
``report.html``. ``resume`` continues a stopped run exactly.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
import warnings
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np

from sensorimotor.core.config import (
    config_to_dict,
    save_config,
)
from sensorimotor.core.errors import DataError
from sensorimotor.core.jaxcache import enable_compilation_cache
from sensorimotor.core.rng import derive_seed
from sensorimotor.core.rundir import RunDir
from sensorimotor.robots.config import RobotConfig, SelectorConfig
from sensorimotor.robots.interface import Exhausted, Robot, RobotConnectionLost
from sensorimotor.train.canvas.config import CanvasRunConfig, canvas_model_config
from sensorimotor.train.canvas.report import print_summary, write_run_report
from sensorimotor.train.loop import Interval, MetricsWindow, RunCheckpoints, RunResult, StopFlag
from sensorimotor.worldmodels.online import StepInfo, to_uint8


def _robot_with_seed(config: RobotConfig, seed: int) -> RobotConfig:
    return dataclasses.replace(config, seed=seed)


def _selector_with_seed(config: SelectorConfig, seed: int) -> SelectorConfig:
    return dataclasses.replace(config, seed=seed)


def run_canvas(
    config: CanvasRunConfig, resume: str | Path | None = None, *, callback: Any = None
) -> RunResult:
    """Run (or resume) the online canvas world model; see :func:`train`."""
    return train(config, resume=resume, callback=callback)


def train(
    config: CanvasRunConfig, *, resume: str | Path | None = None, callback: Any = None
) -> RunResult:
    """Run (or resume, from the run directory ``resume``) the online canvas world model.

    ``callback(info, model)`` is called after every iteration. The result's ``steps`` are the
    online iterations, ``metrics`` the held-out quality, ``counters`` the train steps (and those
    skipped below the threshold); ``stopped_by`` is ``steps``, ``interrupt``, ``exhausted``."""
    import jax  # noqa: F401 - loaded before the run dir records the devices

    from sensorimotor.core.tracking import Tracker
    from sensorimotor.worldmodels.model import CanvasWorldModel

    enable_compilation_cache()
    model_config = canvas_model_config(config.model)
    robot = config.robot.make()
    try:
        selector = config.selector.make(robot.action_space)
        first = robot.get_observation()
        if "image" not in first:
            raise DataError(
                f"robot {config.robot.type!r} gives no observation['image'] (it has {sorted(first)}); "
                "the canvas world model learns from the primary camera image"
            )
        image_size = tuple(np.asarray(first["image"]).shape[:2])
        model = CanvasWorldModel(
            model_config,
            config.trainer,
            robot.action_space,
            image_size,
            seed=config.seed,
            total_steps=config.steps,
        )
        # The config is valid: only now make (or reopen) the run directory.
        if resume is not None:
            run = RunDir.open(resume)
            save_config(config, run.config_path)
        else:
            run = RunDir.create(config.runs_root, config.name, "run", config, config.seed)
        checkpoints = RunCheckpoints(run, keep=config.trainer.keep_checkpoints)
        validation = validation_data(config, run, model, image_size)
        restored = checkpoints.restore_latest() if resume is not None else None
        if restored is not None:
            model.load_state_dict(restored[0])
            robot = _catch_up(config, robot, selector, model)
        if config.record:
            robot = record_training_session(config, robot, run)
    except BaseException:
        robot.cleanup()
        raise

    tracker = Tracker(
        run,
        wandb=config.wandb,
        project="sensorimotor",
        config=config,
        resume_step=model.iteration if resume is not None else None,
    )
    driver = _OnlineDriver(config, run, model, robot, selector, checkpoints, tracker, validation)
    try:
        result = driver.run(callback)
    finally:
        tracker.close()
    return result


def record_training_session(config: CanvasRunConfig, robot: Robot, run: RunDir) -> Robot:
    """Wrap ``robot`` so its steps are recorded into ``<run>/sessions/``: ``train`` for the first
    run, ``train-2``, ``train-3`` ... for each resume (a resume never appends to an old session)."""
    from sensorimotor.robots.recording import RecordingRobot

    index = sum(1 for _ in (run.path / "sessions").glob("*/train*"))
    return RecordingRobot(
        robot,
        run.path / "sessions",
        "train" if index == 0 else f"train-{index + 1}",
        config={**config_to_dict(config), "run_dir": str(run.path)},
    )


def _usable_validation_session(folder: Path, steps: int) -> Path | None:
    """A complete validation session of ``steps`` actions recorded earlier in this run (on resume).

    One cut short (the run was killed while recording it) is kept but not used: a new one is
    recorded, and the user is told.
    """
    from sensorimotor.robots.session import SessionReader

    for path in sorted(folder.glob("*/validation*")):
        try:
            reader = SessionReader(path)
            actions = sum(a is not None for a in reader.actions())
        except DataError as e:
            print(f"warning: {path} is unreadable ({e}); recording a new one", file=sys.stderr)
            continue
        if reader.complete and actions >= steps:
            return path
        print(
            f"warning: the validation session {path} is incomplete ({actions} of {steps} steps); "
            "it is kept, and a new one is recorded",
            file=sys.stderr,
        )
    return None


def validation_data(
    config: CanvasRunConfig, run: RunDir, model: Any, image_size: tuple[int, int]
) -> dict[str, Any] | None:
    """Record (or, on resume, reopen) the validation session and read its frames."""
    from sensorimotor.robots.runner import RobotRunner
    from sensorimotor.worldmodels.sessions import read_session_frames

    if config.validation.steps == 0:
        return None
    folder = run.path / "sessions"
    path = _usable_validation_session(folder, config.validation.steps)
    if path is None:
        seed = config.validation.seed
        assert seed is not None
        robot_cfg = _robot_with_seed(config.robot, derive_seed(seed, "robot"))
        selector_cfg = _selector_with_seed(config.selector, derive_seed(seed, "selector"))
        vrobot = robot_cfg.make()
        try:
            vselector = selector_cfg.make(vrobot.action_space)
        except BaseException:
            vrobot.cleanup()
            raise
        stats = RobotRunner(
            vrobot,
            vselector,
            steps=config.validation.steps,
            record_to=folder,
            session_name="validation",
            session_config={"validation_of": str(run.path), "robot": config_to_dict(robot_cfg)},
            progress=False,
        ).run()
        path = stats.session
    frames, space = read_session_frames(path, model.frame_shape[:2], progress=config.progress)
    if len(space) != model.num_actions:
        raise DataError(
            f"{path}: validation session has {len(space)} actions, the robot {model.num_actions}"
        )
    mode = config.validation.position_metrics
    return {
        "path": path,
        "frames": frames.frames,
        "actions": frames.actions,
        "position_metrics": frames.has_dot if mode == "auto" else mode == "on",
    }


def _catch_up(config: CanvasRunConfig, robot: Robot, selector: Any, model: Any) -> Robot:
    """Bring a fresh robot and selector to where the stopped run left them.

    ``replay``: re-run the recorded actions (the selector is asked too, so its state advances);
    a deterministic simulated robot ends up exactly where it was. ``fresh``: start a new episode
    (for real robots); canvases never span the gap.
    """
    from tqdm import tqdm

    if config.resume_robot == "fresh" or not model.action_log:
        model.history.new_episode()
        model.prediction = None
        return robot
    mismatched = 0
    for index in tqdm(
        model.action_log,
        desc="replaying to the resume point",
        unit="step",
        disable=not config.progress,
        leave=False,
    ):
        observation = robot.get_observation()
        proposed = selector(observation)
        action = model.actions[index]
        if proposed != action:
            mismatched += 1
        robot.execute_action(action)
    if mismatched:
        warnings.warn(
            f"the selector chose differently from the recorded run at {mismatched} of {len(model.action_log)} "
            "replayed steps; the robot followed the recorded actions, but the run will not continue exactly",
            stacklevel=2,
        )
    return robot


class _OnlineDriver:
    """The loop with progress bar, logging, evaluation, checkpoints and the report."""

    def __init__(
        self,
        config: CanvasRunConfig,
        run: RunDir,
        model: Any,
        robot: Robot,
        selector: Any,
        checkpoints: RunCheckpoints,
        tracker: Any,
        validation: dict[str, Any] | None,
    ) -> None:
        self.config, self.rundir, self.model = config, run, model
        self.robot, self.selector = robot, selector
        self.checkpoints, self.tracker, self.validation = checkpoints, tracker, validation
        self.strip: deque[tuple[np.ndarray, np.ndarray]] = deque(maxlen=8)
        self.quality_history: list[dict[str, Any]] = []
        self.window = MetricsWindow()
        self.pending = 0  # iterations in the window
        self.last_lr: float | None = None
        self.last_metrics: dict[str, float] = {}
        # Where this session's loop time went (seconds), for summary.json and benchmarks/main_job.py.
        self.timing = dict.fromkeys(
            ("first_train_step", "train", "iterations", "eval", "save"), 0.0
        )
        self.timed_train_steps = 0

    def run(self, callback: Any) -> RunResult:
        from tqdm import tqdm

        cfg, model = self.config, self.model
        trainer = cfg.trainer
        start_iteration = model.iteration
        bar = tqdm(
            total=cfg.steps,
            initial=start_iteration,
            unit="step",
            disable=not cfg.progress,
            dynamic_ncols=True,
            # The first train step compiles (tens of seconds on a CPU): say so, not a frozen bar.
            desc="canvas (compiling the train step…)",
        )
        compiling, first_train_step = True, model.train_steps + 1
        log_at, eval_at, save_at = (
            Interval(trainer.log_every),
            Interval(trainer.eval_every or 0),
            Interval(trainer.checkpoint_every or 0),
        )
        stopped_by = "steps"
        t0 = time.perf_counter()
        error: BaseException | None = None
        try:
            with StopFlag() as stop:
                while cfg.steps is None or model.iteration < cfg.steps:
                    pending = model.prediction
                    info = model.step(self.robot, self.selector)
                    if pending is not None and model.newest_frame is not None:
                        self.strip.append((model.newest_frame, to_uint8(pending)))
                    self._add(info)
                    if compiling and model.train_steps >= first_train_step:
                        compiling = False
                        bar.set_description("canvas", refresh=False)
                    bar.update(1)
                    it = model.iteration
                    if log_at.due(it):
                        self._log(bar, t0, start_iteration)
                    if eval_at.due(it) and self.validation:
                        self._evaluate(log=True)
                    if save_at.due(it):
                        self._save()
                    if callback is not None:
                        callback(info, model)
                    if stop.stopped:
                        stopped_by = "interrupt"
                        break
        except Exhausted:
            stopped_by = "exhausted"
        except RobotConnectionLost as e:
            stopped_by = "connection_lost"
            print(f"stopped: {e}", file=sys.stderr)
        except KeyboardInterrupt:
            stopped_by = "interrupt"
        except BaseException as e:
            error = e
            stopped_by = "error"
        finally:
            bar.close()
            seconds = time.perf_counter() - t0
            in_loop = dict(self.timing)
            try:
                self.robot.cleanup()
            finally:
                # Save only a state this process advanced: one that came straight from a restore
                # is already on disk, and re-saving it could replace a good checkpoint.
                advanced = model.iteration > start_iteration
                if advanced:
                    self._save()
        if error is not None:
            kept = "the last good state is saved" if advanced else "the newest checkpoint is kept"
            print(
                f"run stopped by an error; {kept} in {self.rundir.checkpoints_dir}",
                file=sys.stderr,
            )
            raise error
        if self.pending:
            self._log(None, t0, start_iteration)
        quality = self._evaluate(log=True) if self.validation else {}
        self._write_summary(quality, seconds, stopped_by, start_iteration, in_loop)
        write_run_report(self, quality, seconds, stopped_by)
        return RunResult(
            self.rundir.path,
            model.iteration,
            seconds,
            stopped_by,
            metrics=quality,
            counters={"train_steps": model.train_steps, "skipped": model.skipped},
        )

    def _add(self, info: StepInfo) -> None:
        """One iteration's numbers into the metrics window."""
        values = {"trained_fraction": float(info.trained), "iteration_ms": 1e3 * info.seconds}
        timing = self.timing
        timing["iterations"] += info.seconds
        if info.trained and not timing["first_train_step"]:
            timing["first_train_step"] = info.train_seconds  # includes compiling the step
        elif info.trained:
            timing["train"] += info.train_seconds
            self.timed_train_steps += 1
        if info.loss is not None:
            values["loss"] = info.loss
        if info.pred_error is not None:
            values["pred_error"] = info.pred_error
        if info.extra:
            values["grad_norm"] = info.extra.get("grad_norm", 0.0)
            self.last_lr = info.extra.get("lr", 0.0)
        self.window.add(values)
        self.pending += 1

    def _log(self, bar: Any, t0: float, start: int) -> None:
        elapsed = time.perf_counter() - t0
        rate = (self.model.iteration - start) / elapsed if elapsed > 0 else 0.0
        means = self.window.flush()
        metrics: dict[str, float] = {
            "trained_fraction": means.get("trained_fraction", 0.0),
            "steps_per_s": rate,
            "iteration_ms": means.get("iteration_ms", 0.0),
        }
        for key in ("loss", "pred_error"):
            if key in means:
                metrics[key] = means[key]
        if self.last_lr is not None and "grad_norm" in means:
            metrics["lr"] = self.last_lr
            metrics["grad_norm"] = means["grad_norm"]
        self.pending = 0
        self.tracker.log(metrics, self.model.iteration)
        self.last_metrics = metrics
        if bar is not None:
            # A window where every train step was skipped (prediction already good) has no loss:
            # say so rather than print "nan", which reads like a diverged run.
            bar.set_postfix(
                loss=f"{metrics['loss']:.2e}" if "loss" in metrics else "skipped",
                pred_err=f"{metrics.get('pred_error', float('nan')):.2e}",
                steps_s=f"{rate:.1f}",
                refresh=False,
            )

    def _evaluate(self, log: bool) -> dict[str, Any]:
        start = time.perf_counter()
        try:
            return self._evaluate_now(log)
        finally:
            self.timing["eval"] += time.perf_counter() - start

    def _evaluate_now(self, log: bool) -> dict[str, Any]:
        from sensorimotor.worldmodels.quality import HeldOutSet, evaluate_quality

        v = self.validation
        if v is None or self.model.normalizer is None:
            return {}
        data = HeldOutSet.from_frames(
            v["frames"],
            v["actions"],
            self.model.layout.slots,
            self.model.seen_pairs,
            self.config.validation.max_canvases,
        )
        quality = evaluate_quality(
            self.model,
            data,
            position_metrics=v["position_metrics"],
            tolerance_px=self.config.validation.tolerance_px,
            wrap_x=self.config.validation.wrap_x,
        )
        quality["iteration"] = self.model.iteration
        self.quality_history.append(quality)
        if log:
            self.tracker.log(
                {
                    f"val/{k}": v
                    for k, v in quality.items()
                    if isinstance(v, int | float) and k != "iteration"
                },
                self.model.iteration,
            )
        return quality

    def _save(self) -> None:
        start = time.perf_counter()
        try:
            self._save_now()
        finally:
            self.timing["save"] += time.perf_counter() - start

    def _save_now(self) -> None:
        model = self.model
        self.checkpoints.save(
            model.iteration,
            model.state_dict(),
            {
                "iteration": model.iteration,
                "train_steps": model.train_steps,
                "skipped": model.skipped,
                "kind": "canvas-online",
                "metrics": self.last_metrics,
                "quality": {
                    k: v
                    for k, v in (self.quality_history[-1] if self.quality_history else {}).items()
                    if isinstance(v, int | float)
                },
                "config": config_to_dict(self.config),
            },
        )

    def _timing_summary(
        self, seconds: float, iterations: int, in_loop: dict[str, float]
    ) -> dict[str, float]:
        """Loop seconds split into the first train step (compiles it unless the persistent cache
        has it), the other train steps, evaluations, checkpoints (all, also after the loop) and
        the rest of the loop per iteration (observe, replay, predict, act, record, log)."""
        t = self.timing
        rest = seconds - sum(in_loop[k] for k in ("first_train_step", "train", "eval", "save"))
        return {
            "loop_s": seconds,
            "first_train_step_s": t["first_train_step"],
            "train_step_ms": 1e3 * t["train"] / max(self.timed_train_steps, 1),
            "overhead_ms_per_iteration": 1e3 * rest / max(iterations, 1),
            "eval_s": t["eval"],
            "checkpoint_s": t["save"],
        }

    def _write_summary(
        self,
        quality: dict[str, Any],
        seconds: float,
        stopped_by: str,
        start: int,
        in_loop: dict[str, float],
    ) -> None:
        from sensorimotor.worldmodels.quality import meets_target

        model = self.model
        summary = {
            "iterations": model.iteration,
            "iterations_this_session": model.iteration - start,
            "train_steps": model.train_steps,
            "skipped_train_steps": model.skipped,
            "seconds": seconds,
            "stopped_by": stopped_by,
            "params": model.num_params,
            "canvas": list(model.layout.shape),
            "load_1min": os.getloadavg()[0],
            "timing": self._timing_summary(seconds, model.iteration - start, in_loop),
            "quality": quality,
            "targets": meets_target(quality) if quality else {},
        }
        (self.rundir.path / "summary.json").write_text(json.dumps(summary, indent=2, default=float))
        print_summary(summary, self.rundir.path)
