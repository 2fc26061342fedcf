"""``sensorimotor run``: a robot, an action selector and a canvas world model learning online.

The driver around :class:`~sensorimotor.worldmodels.model.CanvasWorldModel`: it makes the run
directory, records a held-out validation session (another seed), runs the online loop with a
progress bar (live loss, prediction error, steps/s), logs metrics, saves checkpoints periodically,
on Ctrl-C and on errors, evaluates quality against the copy-the-last-frame baseline and writes
``report.html``. ``resume`` continues a stopped run exactly. The batch trainer on recorded sessions
(``sensorimotor canvas train``) and its evaluation live here too.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import sys
import time
import warnings
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from sensorimotor.core.config import (
    apply_overrides,
    config_to_dict,
    load_config,
    load_saved_config,
    save_config,
)
from sensorimotor.core.errors import ConfigError, DataError, UserError
from sensorimotor.core.rng import derive_seed
from sensorimotor.core.rundir import RunDir
from sensorimotor.robots.config import RobotConfig, SelectorConfig, resolve_seeds
from sensorimotor.robots.interface import Exhausted, Robot, RobotConnectionLost
from sensorimotor.worldmodels.config import (
    CanvasModelConfig,
    CanvasTrainerConfig,
    WorldModelConfig,
)

CACHE_ENV = "SENSORIMOTOR_JAX_CACHE"
TOLERANCE_PX = 3.0


@dataclass
class ValidationConfig:
    """The held-out validation session and the quality metrics computed on it."""

    steps: int = 400  # length of the validation session; 0 = no quality evaluation
    seed: int | None = None  # null = derived from the run's seed (never the training seed)
    max_canvases: int = 300  # held-out canvases evaluated (evenly spaced over the session)
    # Dot position / counterfactual metrics; auto = when observations carry dot_x and dot_y.
    position_metrics: Literal["auto", "on", "off"] = "auto"
    tolerance_px: float = TOLERANCE_PX  # counterfactual: displacement error allowed, robot pixels
    wrap_x: bool = True  # centroids and displacements wrap around in x (the toroidal dot)
    grid_frames: int = 6  # held-out frames shown in the report's counterfactual grid

    def __post_init__(self) -> None:
        if self.steps < 0 or self.max_canvases < 1 or self.grid_frames < 0:
            raise ValueError("validation.steps must be >= 0, max_canvases >= 1, grid_frames >= 0")


@dataclass
class CanvasRunConfig:
    """``sensorimotor run``: the online canvas world model on a robot."""

    robot: RobotConfig = field(default_factory=RobotConfig)
    selector: SelectorConfig = field(default_factory=SelectorConfig)
    model: WorldModelConfig = field(default_factory=CanvasModelConfig)
    trainer: CanvasTrainerConfig = field(default_factory=CanvasTrainerConfig)
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    steps: int | None = 6000  # online iterations; null = until Ctrl-C
    seed: int = 0
    runs_root: str = "runs"
    name: str | None = None  # run folder name; null = run-<date>-<time>
    record: bool = True  # record the training session into the run directory
    resume_robot: Literal["replay", "fresh"] = "replay"  # see docs/worldmodels.md
    wandb: Literal["off", "auto", "online", "offline"] = "off"
    progress: bool = True

    def __post_init__(self) -> None:
        if self.steps is not None and self.steps < 0:
            raise ValueError(f"steps must be >= 0 (or null for until Ctrl-C), got {self.steps}")


@dataclass
class CanvasTrainConfig:
    """``sensorimotor canvas train``: batch training on recorded sessions."""

    model: WorldModelConfig = field(default_factory=CanvasModelConfig)
    trainer: CanvasTrainerConfig = field(default_factory=CanvasTrainerConfig)
    sessions: list[str] = field(default_factory=list)  # training sessions (paths or robot/name)
    eval_sessions: list[str] = field(default_factory=list)  # held-out sessions
    sessions_root: str = "saved/sessions"
    steps: int = 2000
    seed: int = 0
    runs_root: str = "runs"
    name: str | None = None
    max_eval_canvases: int = 300
    position_metrics: Literal["auto", "on", "off"] = "auto"
    tolerance_px: float = TOLERANCE_PX
    wrap_x: bool = True
    wandb: Literal["off", "auto", "online", "offline"] = "off"
    progress: bool = True

    def __post_init__(self) -> None:
        if self.steps < 0:
            raise ValueError(f"steps must be >= 0, got {self.steps}")


# ---------------------------------------------------------------------------------------------
# Shared helpers


def enable_compilation_cache() -> Path:
    """Turn on JAX's persistent compilation cache (``$SENSORIMOTOR_JAX_CACHE`` or
    ``~/.cache/sensorimotor/jax``) so a second run skips most compilation."""
    import jax

    path = Path(os.environ.get(CACHE_ENV, Path.home() / ".cache" / "sensorimotor" / "jax"))
    with contextlib.suppress(OSError):
        path.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    return path


class StopFlag:
    """Ctrl-C sets a flag so the loop stops at the end of the current iteration (and saves);
    a second Ctrl-C interrupts at once."""

    def __init__(self) -> None:
        self.stopped = False
        self._previous: Any = None

    def __enter__(self) -> StopFlag:
        import threading

        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.stopped:
            raise KeyboardInterrupt
        self.stopped = True
        print("\nstopping after this step (Ctrl-C again to interrupt at once)", file=sys.stderr)

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def canvas_model_config(config: WorldModelConfig) -> CanvasModelConfig:
    """The model config as a canvas config; a clear error for any other world model."""
    if not isinstance(config, CanvasModelConfig):
        raise ConfigError(
            f"model.type {config.type!r} is not a canvas world model; this job needs model=canvas"
        )
    return config


def _robot_with_seed(config: RobotConfig, seed: int) -> RobotConfig:
    return dataclasses.replace(config, seed=seed)


def _selector_with_seed(config: SelectorConfig, seed: int) -> SelectorConfig:
    return dataclasses.replace(config, seed=seed)


# ---------------------------------------------------------------------------------------------
# The online run


def load_run_config(overrides: Sequence[str]) -> CanvasRunConfig:
    """The ``run`` config (``configs/robots/run.yaml`` + overrides) with seeds resolved."""
    config = load_config("robots", "run", overrides, CanvasRunConfig)
    resolve_seeds(config.seed, config.robot, config.selector)
    if config.validation.seed is None:
        config.validation.seed = derive_seed(config.seed, "validation")
    canvas_model_config(config.model)
    return config


@dataclass
class RunResult:
    """What a run leaves behind."""

    run_dir: Path
    iterations: int
    train_steps: int
    seconds: float
    stopped_by: str
    quality: dict[str, Any]


def run_canvas(
    config: CanvasRunConfig,
    resume: str | Path | None = None,
    *,
    callback: Any = None,
) -> RunResult:
    """Run (or resume) the online canvas world model; returns where and how it ended."""
    import jax  # noqa: F401 - loaded before the run dir records the devices

    from sensorimotor.core.checkpoint import CheckpointManager
    from sensorimotor.core.tracking import Tracker
    from sensorimotor.robots.recording import RecordingRobot
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
        checkpoints = CheckpointManager(
            run.checkpoints_dir.absolute(), keep=config.trainer.keep_checkpoints
        )
        validation = _validation_data(config, run, model, image_size)
        if resume is not None and checkpoints.latest() is not None:
            state, _meta = checkpoints.restore()
            model.load_state_dict(state)
            robot = _catch_up(config, robot, selector, model)
        session_index = (
            sum(1 for _ in (run.path / "sessions").glob("*/train*")) if config.record else 0
        )
        if config.record:
            robot = RecordingRobot(
                robot,
                run.path / "sessions",
                "train" if session_index == 0 else f"train-{session_index + 1}",
                config={**config_to_dict(config), "run_dir": str(run.path)},
            )
    except BaseException:
        robot.cleanup()
        raise

    tracker = Tracker(run, wandb=config.wandb, project="sensorimotor", config=config)
    driver = _OnlineDriver(config, run, model, robot, selector, checkpoints, tracker, validation)
    try:
        result = driver.run(callback)
    finally:
        tracker.close()
    return result


def _validation_data(
    config: CanvasRunConfig, run: RunDir, model: Any, image_size: tuple[int, int]
) -> dict[str, Any] | None:
    """Record (or, on resume, reopen) the validation session and read its frames."""
    from sensorimotor.robots.runner import RobotRunner
    from sensorimotor.worldmodels.sessions import read_session_frames

    if config.validation.steps == 0:
        return None
    folder = run.path / "sessions"
    existing = sorted(folder.glob("*/validation"))
    if existing:
        path = existing[0]
    else:
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
        checkpoints: Any,
        tracker: Any,
        validation: dict[str, Any] | None,
    ) -> None:
        self.config, self.rundir, self.model = config, run, model
        self.robot, self.selector = robot, selector
        self.checkpoints, self.tracker, self.validation = checkpoints, tracker, validation
        self.strip: deque[tuple[np.ndarray, np.ndarray]] = deque(maxlen=8)
        self.quality_history: list[dict[str, Any]] = []
        self.window: list[Any] = []
        self.last_metrics: dict[str, float] = {}

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
            desc="canvas",
        )
        stopped_by = "steps"
        t0 = time.perf_counter()
        error: BaseException | None = None
        try:
            with StopFlag() as stop:
                while cfg.steps is None or model.iteration < cfg.steps:
                    pending = model.prediction
                    info = model.step(self.robot, self.selector)
                    if pending is not None and model.visual.actual_frame is not None:
                        self.strip.append((model.visual.actual_frame, _to_uint8(pending)))
                    self.window.append(info)
                    bar.update(1)
                    it = model.iteration
                    if it % trainer.log_every == 0:
                        self._log(bar, t0, start_iteration)
                    if trainer.eval_every and it % trainer.eval_every == 0 and self.validation:
                        self._evaluate(log=True)
                    if trainer.checkpoint_every and it % trainer.checkpoint_every == 0:
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
            try:
                self.robot.cleanup()
            finally:
                if model.iteration > 0:
                    self._save()
        if error is not None:
            print(
                f"run stopped by an error; the last good state is saved in {self.rundir.checkpoints_dir}",
                file=sys.stderr,
            )
            raise error
        if self.window:
            self._log(None, t0, start_iteration)
        quality = self._evaluate(log=True) if self.validation else {}
        self._write_summary(quality, seconds, stopped_by, start_iteration)
        write_run_report(self, quality, seconds, stopped_by)
        return RunResult(
            self.rundir.path, model.iteration, model.train_steps, seconds, stopped_by, quality
        )

    def _log(self, bar: Any, t0: float, start: int) -> None:
        window, self.window = self.window, []
        losses = [i.loss for i in window if i.loss is not None]
        errors = [i.pred_error for i in window if i.pred_error is not None]
        elapsed = time.perf_counter() - t0
        rate = (self.model.iteration - start) / elapsed if elapsed > 0 else 0.0
        metrics: dict[str, float] = {
            "trained_fraction": sum(i.trained for i in window) / max(len(window), 1),
            "steps_per_s": rate,
            "iteration_ms": 1e3 * float(np.mean([i.seconds for i in window])) if window else 0.0,
        }
        if losses:
            metrics["loss"] = float(np.mean(losses))
        if errors:
            metrics["pred_error"] = float(np.mean(errors))
        extra = [i.extra for i in window if i.extra]
        if extra:
            metrics["lr"] = extra[-1].get("lr", 0.0)
            metrics["grad_norm"] = float(np.mean([e.get("grad_norm", 0.0) for e in extra]))
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

    def _write_summary(
        self, quality: dict[str, Any], seconds: float, stopped_by: str, start: int
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
            "quality": quality,
            "targets": meets_target(quality) if quality else {},
        }
        (self.rundir.path / "summary.json").write_text(json.dumps(summary, indent=2, default=float))
        print_summary(summary, self.rundir.path)


def print_summary(summary: dict[str, Any], run_dir: Path) -> None:
    """A short human summary of a run."""
    print(
        f"{summary['iterations']} iterations ({summary['train_steps']} train steps, "
        f"{summary['skipped_train_steps']} skipped) in {summary['seconds']:.0f} s — {summary['stopped_by']}"
    )
    q = summary.get("quality") or {}
    if "mse" in q:
        print(
            f"held-out ({q['heldout']} canvases, {q['dropped_seen']} dropped as seen): "
            f"MSE {q['mse']:.2e} vs baseline {q['mse_baseline']:.2e} (ratio {q['mse_ratio']:.3f})"
        )
    if "position_error_px" in q:
        print(
            f"position error {q['position_error_px']:.2f} px (baseline {q['position_error_baseline_px']:.2f}); "
            f"counterfactual accuracy {100 * q['counterfactual_accuracy']:.1f} % "
            f"(baseline {100 * q['counterfactual_accuracy_baseline']:.1f} %)"
        )
    for name, ok in (summary.get("targets") or {}).items():
        print(f"  target {name}: {'met' if ok else 'NOT met'}")
    print(f"run directory: {run_dir} (report.html)")


def _to_uint8(frame: np.ndarray) -> np.ndarray:
    return (np.clip(frame, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# Report


def write_run_report(
    driver: _OnlineDriver, quality: dict[str, Any], seconds: float, stopped_by: str
) -> Path:
    """``report.html`` of an online run: curves, frame strip, counterfactual grid, quality."""
    from sensorimotor.core.tracking import read_metrics
    from sensorimotor.train.report import HtmlReport

    model, run, cfg = driver.model, driver.rundir, driver.config
    report = HtmlReport(f"Canvas world model — {run.name}")
    report.text(
        f"{model.iteration} iterations on robot {cfg.robot.type!r} with selector {cfg.selector.type!r}; "
        f"{model.train_steps} train steps ({model.skipped} skipped below the threshold); "
        f"{seconds:.0f} s this session, stopped by: {stopped_by}. Model: {model.num_params:,} parameters, "
        f"canvas {model.layout.shape[0]}x{model.layout.shape[1]}, patch {model.layout.patch_size}."
    )
    _quality_section(report, quality, model.num_actions)
    records = read_metrics(run.metrics_path) if run.metrics_path.is_file() else []
    curves = {
        name: ([r["step"] for r in records if name in r], [r[name] for r in records if name in r])
        for name in ("loss", "pred_error")
    }
    curves = {k: v for k, v in curves.items() if v[0]}
    if curves:
        report.section("Loss and prediction error")
        report.line_plot(
            curves,
            "training loss and next-frame prediction error (MSE)",
            "iteration",
            "MSE",
            logy=True,
        )
    if len(driver.quality_history) > 1:
        series = {}
        for key in ("mse_ratio", "counterfactual_accuracy"):
            xs = [q["iteration"] for q in driver.quality_history if key in q]
            if xs:
                series[key] = (xs, [q[key] for q in driver.quality_history if key in q])
        if series:
            report.line_plot(series, "held-out quality over the run", "iteration", "")
    _visual_section(report, model, driver.strip)
    if driver.validation is not None:
        _counterfactual_grid(report, model, driver.validation, cfg.validation.grid_frames)
    report.section("Config")
    import yaml

    report.code(yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
    return report.write(run.report_path)


def _quality_section(report: Any, quality: dict[str, Any], num_actions: int) -> None:
    from sensorimotor.worldmodels.quality import meets_target

    if not quality or "mse" not in quality:
        return
    report.section("Quality on held-out data")
    report.text(
        f"{quality['heldout']} held-out canvases from a validation session recorded with another seed "
        f"({quality['dropped_seen']} dropped because their (frame, action) pair occurred in training)."
    )
    rows = [
        {
            "metric": "masked-slot MSE",
            "model": quality["mse"],
            "copy-last-frame baseline": quality["mse_baseline"],
        }
    ]
    if "position_error_px" in quality:
        rows.append(
            {
                "metric": "position error (px, mean)",
                "model": quality["position_error_px"],
                "copy-last-frame baseline": quality["position_error_baseline_px"],
            }
        )
        rows.append(
            {
                "metric": "counterfactual accuracy",
                "model": quality["counterfactual_accuracy"],
                "copy-last-frame baseline": quality["counterfactual_accuracy_baseline"],
            }
        )
    report.table(rows)
    report.table(
        {k: ("met" if v else "NOT met") for k, v in meets_target(quality).items()},
        caption="targets",
    )


def _visual_section(
    report: Any, model: Any, strip: Sequence[tuple[np.ndarray, np.ndarray]]
) -> None:
    scale = max(1, 168 // model.layout.frame_height)
    v = model.visual
    if v.canvas is not None:
        report.section("The newest training canvas")
        stack = np.concatenate([v.canvas, v.mask_overlay, v.inpainted, v.composite], axis=0)
        report.image(
            stack,
            "rows: canvas, mask, the decoder's output, composite (visible + inpainted target)",
            scale,
        )
    if strip:
        gap = np.full((strip[0][0].shape[0], 2, 3), 128, np.uint8)
        actual = np.concatenate([x for a, _ in strip for x in (a, gap)], axis=1)
        predicted = np.concatenate([x for _, p in strip for x in (p, gap)], axis=1)
        report.section("Actual vs predicted frames (the last online steps)")
        report.image(
            np.concatenate([actual, predicted], axis=0), "top: actual, bottom: predicted", scale
        )


def _counterfactual_grid(report: Any, model: Any, validation: dict[str, Any], rows: int) -> None:
    from sensorimotor.worldmodels.quality import HeldOutSet

    if rows == 0 or model.normalizer is None:
        return
    data = HeldOutSet.from_frames(
        validation["frames"], validation["actions"], model.layout.slots, model.seen_pairs, rows
    )
    if len(data) == 0:
        return
    cf = model.counterfactual(data.context, data.actions[:, :-1])
    h = model.layout.frame_height
    gap = np.full((h, 3, 3), 128, np.uint8)
    lines = []
    for i in range(len(data)):
        parts = [x for frame in data.context[i] for x in (frame, gap)]
        parts += [x for a in range(model.num_actions) for x in (_to_uint8(cf[i, a]), gap)]
        parts.append(data.targets[i])
        lines.append(np.concatenate(parts, axis=1))
        lines.append(np.full((3, lines[-1].shape[1], 3), 128, np.uint8))
    labels = ", ".join(f"action {a} ({model.actions[a]})" for a in range(model.num_actions))
    report.section("Counterfactual predictions (held-out frames)")
    report.image(
        np.concatenate(lines, axis=0),
        f"each row: context frames | prediction under {labels} | what actually happened "
        f"(under action {', '.join(str(int(a)) for a in data.actions[:, -1])})",
        max(1, 112 // h),
    )


# ---------------------------------------------------------------------------------------------
# Batch training on sessions


def load_train_config(sessions: Sequence[str], overrides: Sequence[str]) -> CanvasTrainConfig:
    """The ``canvas train`` config (``configs/robots/canvas_train.yaml`` + overrides)."""
    config = load_config("robots", "canvas_train", overrides, CanvasTrainConfig)
    if sessions:
        config.sessions = list(sessions)
    if not config.sessions:
        raise UserError("no training sessions: give them as arguments (paths or robot_type/name)")
    canvas_model_config(config.model)
    return config


def _session_data(
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
    train_frames, space = _session_data(
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
        eval_frames, eval_space = _session_data(
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
    _write_train_report(run, model, summary, config)
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


def _write_train_report(
    run: RunDir, model: Any, summary: dict[str, Any], config: CanvasTrainConfig
) -> None:
    import yaml

    from sensorimotor.core.tracking import read_metrics
    from sensorimotor.train.report import HtmlReport

    report = HtmlReport(f"Canvas world model (batch) — {run.name}")
    report.text(
        f"{summary['train_steps']} train steps on {len(config.sessions)} session(s) in {summary['seconds']:.0f} s."
    )
    report.section("Loss statistics (masked slot MSE per canvas)")
    rows = [
        {"data": "train", **summary["train"]["loss"]},
        {"data": "train baseline", **summary["train"]["baseline"]},
    ]
    if "eval" in summary:
        rows += [
            {"data": "eval", **summary["eval"]["loss"]},
            {"data": "eval baseline", **summary["eval"]["baseline"]},
        ]
    report.table(rows)
    if "eval" in summary:
        _quality_section(report, summary["eval"].get("quality", {}), model.num_actions)
    records = read_metrics(run.metrics_path) if run.metrics_path.is_file() else []
    xs = [r["step"] for r in records if "loss" in r]
    if xs:
        report.section("Training loss")
        report.line_plot(
            {"loss": (xs, [r["loss"] for r in records if "loss" in r])},
            "",
            "train step",
            "MSE",
            logy=True,
        )
    report.section("Config")
    report.code(yaml.safe_dump(config_to_dict(config), sort_keys=False))
    report.write(run.report_path)


def evaluate_run(
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
    saved = _load_any_config(run)
    model_config = canvas_model_config(saved.model)
    frames, space = _session_data(
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


def _load_any_config(run: RunDir) -> CanvasRunConfig | CanvasTrainConfig:
    errors = []
    for schema in (CanvasRunConfig, CanvasTrainConfig):
        try:
            return load_saved_config(run.config_path, schema)
        except ConfigError as e:
            errors.append(str(e))
    raise ConfigError(f"{run.config_path}: not a canvas run config ({errors[0]})")


def resume_config(run_dir: str | Path, overrides: Sequence[str], schema: type) -> Any:
    """The saved config of a run with ``overrides`` applied (e.g. more steps)."""
    run = RunDir.open(run_dir)
    config = load_saved_config(run.config_path, schema)
    return apply_overrides(config, list(overrides)) if overrides else config
