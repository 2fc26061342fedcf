"""The driver of ``sensorimotor run model=adaptive`` (same loop kit as the canvas run).

It makes the run directory, records the held-out validation session (discrete robots), runs the
online loop with a progress bar, logs metrics.jsonl (losses, R² vs copy-last, gradient norms and
update ratios, timing, uncertainty, action sensitivity; at each evaluation the held-out quality,
the shuffle/zero action tests and per-layer attention metrics), saves one checkpoint with every
level (the previous one is kept as the rolling backup, used when the newest is damaged), and writes
``summary.json`` and ``report.html``. ``resume`` continues a stopped run exactly.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from sensorimotor.core.config import config_to_dict, save_config
from sensorimotor.core.jaxcache import enable_compilation_cache
from sensorimotor.core.rundir import RunDir
from sensorimotor.robots.interface import Exhausted, Robot, RobotConnectionLost
from sensorimotor.train.canvas.config import CanvasRunConfig
from sensorimotor.train.loop import Interval, MetricsWindow, RunCheckpoints, RunResult, StopFlag
from sensorimotor.worldmodels.adaptive.config import AdaptiveModelConfig
from sensorimotor.worldmodels.adaptive.model import AdaptiveStepInfo, AdaptiveWorldModel


def run_adaptive(
    config: CanvasRunConfig, resume: str | Path | None = None, *, callback: Any = None
) -> RunResult:
    """Run (or resume) the online adaptive world model; see :func:`train`."""
    return train(config, resume=resume, callback=callback)


def train(
    config: CanvasRunConfig, *, resume: str | Path | None = None, callback: Any = None
) -> RunResult:
    """Run (or resume, from the run directory ``resume``) the adaptive world model online.

    ``callback(info, model)`` is called after every iteration. ``steps`` of the result are the
    online iterations, ``metrics`` the held-out quality, ``counters`` robot steps, gated steps and
    per-level train steps."""
    import jax  # noqa: F401 - loaded before the run dir records the devices

    from sensorimotor.core.tracking import Tracker
    from sensorimotor.train.canvas.online import record_training_session, validation_data

    enable_compilation_cache()
    if not isinstance(config.model, AdaptiveModelConfig):
        from sensorimotor.core.errors import ConfigError

        raise ConfigError(f"model.type {config.model.type!r} is not 'adaptive'")
    robot = config.robot.make()
    try:
        selector = config.selector.make(robot.action_space)
        first = robot.get_observation()
        image = first.get("image")
        if image is None:
            from sensorimotor.core.errors import DataError

            raise DataError(
                f"robot {config.robot.type!r} gives no observation['image'] (it has {sorted(first)})"
            )
        image_size = tuple(np.asarray(image).shape[:2])
        model = AdaptiveWorldModel(
            config.model, config.trainer, robot.action_space, image_size, seed=config.seed
        )
        if resume is not None:
            run = RunDir.open(resume)
            save_config(config, run.config_path)
        else:
            run = RunDir.create(config.runs_root, config.name, "run", config, config.seed)
        checkpoints = RunCheckpoints(run, keep=config.trainer.keep_checkpoints)
        validation = (
            validation_data(config, run, model, image_size) if model.actions is not None else None
        )
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
    try:
        return _Driver(config, run, model, robot, selector, checkpoints, tracker, validation).run(
            callback
        )
    finally:
        tracker.close()


def _catch_up(config: CanvasRunConfig, robot: Robot, selector: Any, model: Any) -> Robot:
    """Bring a fresh robot (and an external selector) to where the stopped run left them:
    ``replay`` re-executes the logged actions; ``fresh`` starts a new episode."""
    if config.resume_robot == "fresh":
        model.history.new_episode()
        model.prediction = None
        return robot
    mismatched = 0
    for raw in model.action_log:
        observation = robot.get_observation()
        action = model.replay_action(raw)
        if model.config.selector == "external":
            proposed = selector(observation)
            mismatched += not np.allclose(model.normalizer.raw(proposed), raw)
        robot.execute_action(action)
    if mismatched:
        warnings.warn(
            f"the selector chose differently from the recorded run at {mismatched} replayed steps",
            stacklevel=2,
        )
    return robot


class _Driver:
    """The loop with progress bar, logging, evaluation, checkpoints and the report."""

    def __init__(
        self,
        config: CanvasRunConfig,
        run: RunDir,
        model: AdaptiveWorldModel,
        robot: Robot,
        selector: Any,
        checkpoints: RunCheckpoints,
        tracker: Any,
        validation: dict[str, Any] | None,
    ) -> None:
        self.config, self.rundir, self.model = config, run, model
        self.robot, self.selector = robot, selector
        self.checkpoints, self.tracker, self.validation = checkpoints, tracker, validation
        self.window = MetricsWindow()
        self.quality_history: list[dict[str, Any]] = []
        self.log_history: list[dict[str, float]] = []
        self.last_metrics: dict[str, float] = {}

    def run(self, callback: Any) -> RunResult:
        from sensorimotor.train.loop import progress

        cfg, model = self.config, self.model
        trainer = cfg.trainer
        start = model.iteration
        total = cfg.steps if cfg.steps is not None else 10**9
        bar = progress(total, desc="adaptive", initial=start, enabled=cfg.progress)
        log_at, eval_at, save_at = (
            Interval(trainer.log_every),
            Interval(trainer.eval_every or 0),
            Interval(trainer.checkpoint_every or 0),
        )
        stopped_by, error, t0 = "steps", None, time.perf_counter()
        try:
            with StopFlag() as stop:
                while model.iteration < total:
                    info = model.step(self.robot, self.selector)
                    self._add(info)
                    bar.update(1)
                    it = model.iteration
                    if log_at.due(it):
                        self._log(bar)
                    if eval_at.due(it) and self.validation:
                        self._evaluate()
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
        except BaseException as e:  # noqa: BLE001 - saved, then re-raised below
            error, stopped_by = e, "error"
        finally:
            bar.close()
            seconds = time.perf_counter() - t0
            try:
                self.robot.cleanup()
            finally:
                if model.iteration > start:  # never re-save a state that came straight from disk
                    self._save()
        if error is not None:
            print(
                f"run stopped by an error; the last good state is in {self.rundir.checkpoints_dir}",
                file=sys.stderr,
            )
            raise error
        self._log(None)
        quality = self._evaluate() if self.validation else {}
        summary = self._summary(quality, seconds, stopped_by, start)
        from sensorimotor.train.adaptive.report import print_summary, write_report

        write_report(
            self.rundir.path / "report.html", summary, self.log_history, self.quality_history
        )
        print_summary(summary, self.rundir.path)
        counters = {
            "robot_steps": model.robot_steps,
            "gated_steps": model.gated_steps,
            "mae_steps": model.mae_steps,
            "levels": len(model.levels),
            **{f"level{lv.k}_train_steps": lv.train_steps for lv in model.levels},
        }
        return RunResult(self.rundir.path, model.iteration, seconds, stopped_by, quality, counters)

    def _add(self, info: AdaptiveStepInfo) -> None:
        model = self.model
        kind = "gated" if info.gated else "acting"
        values: dict[str, float] = {
            "gated_fraction": float(info.gated),
            "iteration_ms": 1e3 * info.seconds,
            f"iteration_ms_{kind}": 1e3 * info.seconds,
            **info.extra,
        }
        if info.recon_error is not None:  # None during the normaliser's warm-up
            values["recon_error"] = info.recon_error
        if info.pred_error is not None:
            values["pred_error"] = info.pred_error
        if info.gated:
            values.update({f"mae/{k}": v for k, v in model.last_mae_metrics.items()})
        for lv in model.levels:
            if lv.metrics and lv.train_steps and not info.gated:
                values.update({f"level{lv.k}/{k}": v for k, v in lv.metrics.items()})
            if lv.last_error is not None:
                values[f"level{lv.k}/pred_error"] = lv.last_error
        self.window.add(values)

    def _log(self, bar: Any) -> None:
        model = self.model
        metrics = self.window.flush()
        if not metrics:
            return
        metrics.update(
            robot_steps=model.robot_steps,
            gated_steps=model.gated_steps,
            levels=len(model.levels),
            **{f"level{lv.k}/train_steps": lv.train_steps for lv in model.levels},
        )
        self.tracker.log(metrics, model.iteration)
        self.last_metrics = metrics
        self.log_history.append({"iteration": model.iteration, **metrics})
        if bar is not None:
            bar.set_postfix(
                recon=f"{metrics.get('recon_error', float('nan')):.1e}",
                pred=f"{metrics.get('pred_error', float('nan')):.1e}",
                gated=f"{metrics.get('gated_fraction', 0):.2f}",
                levels=len(model.levels),
                refresh=False,
            )

    def _evaluate(self) -> dict[str, Any]:
        from sensorimotor.worldmodels.adaptive.quality import evaluate_adaptive
        from sensorimotor.worldmodels.quality import HeldOutSet

        v = self.validation
        if v is None:
            return {}
        data = HeldOutSet.from_frames(
            v["frames"],
            v["actions"],
            self.model.config.history + 1,
            self.model.seen_pairs,
            self.config.validation.max_canvases,
        )
        quality = evaluate_adaptive(
            self.model,
            data,
            position_metrics=v["position_metrics"],
            tolerance_px=self.config.validation.tolerance_px,
            wrap_x=self.config.validation.wrap_x,
        )
        quality["iteration"] = self.model.iteration
        self.quality_history.append(quality)
        flat = {k: v for k, v in quality.items() if isinstance(v, int | float) and k != "iteration"}
        flat.update({f"attention/{k}": v for k, v in quality.get("attention", {}).items()})
        self.tracker.log({f"val/{k}": v for k, v in flat.items()}, self.model.iteration)
        return quality

    def _save(self) -> None:
        model = self.model
        last_quality = self.quality_history[-1] if self.quality_history else {}
        self.checkpoints.save(
            model.iteration,
            model.state_dict(),
            {
                "iteration": model.iteration,
                "robot_steps": model.robot_steps,
                "levels": len(model.levels),
                "kind": "adaptive-online",
                "metrics": self.last_metrics,
                "quality": {k: v for k, v in last_quality.items() if isinstance(v, int | float)},
                "config": config_to_dict(self.config),
            },
        )

    def _summary(
        self, quality: dict[str, Any], seconds: float, stopped_by: str, start: int
    ) -> dict[str, Any]:
        from sensorimotor.worldmodels.adaptive.quality import adaptive_targets

        model = self.model
        summary = {
            "iterations": model.iteration,
            "iterations_this_session": model.iteration - start,
            "robot_steps": model.robot_steps,
            "gated_steps": model.gated_steps,
            "mae_steps": model.mae_steps,
            "levels": [
                {
                    "k": lv.k,
                    "train_steps": lv.train_steps,
                    "skipped": lv.skipped,
                    "last_error": lv.last_error,
                }
                for lv in model.levels
            ],
            "seconds": seconds,
            "stopped_by": stopped_by,
            "params": model.num_params,
            "quality": quality,
            "targets": adaptive_targets(quality) if quality else {},
        }
        (self.rundir.path / "summary.json").write_text(json.dumps(summary, indent=2, default=float))
        return summary
