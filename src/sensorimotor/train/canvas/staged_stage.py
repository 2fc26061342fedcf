"""One stage of one staged-training chain: upfront sweep, training with divergence stopping and
plateau-triggered sweeps, the best weights by hybrid loss, auto-saves and recovery."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sensorimotor.core.checkpoint import CheckpointManager
from sensorimotor.core.numerics import NonFiniteError
from sensorimotor.core.rng import derive_seed
from sensorimotor.train.canvas import staged_objective
from sensorimotor.train.canvas.staged_config import StagedConfig
from sensorimotor.train.canvas.staged_objective import REFERENCE, objective_spec
from sensorimotor.train.canvas.staged_train import (
    Check,
    Segment,
    StageData,
    build_model,
    host_state,
    load_weights,
    mean_loss,
    save_weights,
)
from sensorimotor.train.sweep import (
    DivergenceDetector,
    PlateauDetector,
    run_sweep,
)


class StageInterrupted(Exception):
    """Ctrl-C stopped a stage; its progress is saved for ``--resume``."""


@dataclass(frozen=True)
class StagePlan:
    """What one stage trains on."""

    stage: int
    size: int
    train: str
    val: str
    original: list[str]


def stage_steps(config: StagedConfig, size: int) -> int:
    """The stage's train-step budget: ``multiplier x size`` canvases in batches, within the bounds."""
    steps = math.ceil(config.stage_samples_multiplier * size / config.trainer.batch_size)
    steps = max(steps, config.min_stage_steps)
    return min(steps, config.max_stage_steps) if config.max_stage_steps else steps


class StageRun:
    """Train one stage of chain ``chain`` (``baseline``: fresh weights, the configured learning
    rate, no sweeps) and return its result dict."""

    def __init__(
        self,
        config: StagedConfig,
        plan: StagePlan,
        run_path: Path,
        chain: int,
        data: StageData,
        *,
        baseline: bool = False,
        stop: Any = None,
        callback: Callable[..., None] | None = None,
    ) -> None:
        self.config, self.plan, self.chain, self.data = config, plan, chain, data
        self.baseline, self.stop, self.callback = baseline, stop, callback
        self.run_path = run_path
        kind = "baseline" if baseline else "stage"
        self.dir = run_path / f"run{chain}" / f"{kind}{plan.stage}"
        self.seed = derive_seed(config.seed, "chain", chain, kind, plan.stage)
        self.checkpoints = CheckpointManager(self.dir / "checkpoints", keep=2)
        self.plateau = PlateauDetector(
            dataclasses.replace(config.plateau, enabled=config.plateau.enabled and not baseline)
        )
        self.divergence = DivergenceDetector(config.divergence)
        self.timeline: list[dict[str, float]] = []
        self.sweeps: list[dict[str, Any]] = []
        self.best: dict[str, Any] = {"hybrid": math.inf, "val": math.inf, "step": 0, "state": None}
        self.sweep_steps = 0
        self.seconds = 0.0

    # ------------------------------------------------------------------ the stage

    def run(self, weights: Any, lr: float) -> tuple[dict[str, Any], dict[str, Any]]:
        """Train the stage from ``weights`` at ``lr`` (or continue it from its auto-save); returns
        ``(result, best weights)``."""
        t0 = time.perf_counter()
        segment = self._start(weights, lr)
        budget = stage_steps(self.config, self.plan.size)
        minutes = self.config.stage_time_budget_min
        deadline = time.monotonic() + 60 * minutes if minutes else None
        while True:
            try:
                reason = segment.run(budget, self._on_check(segment), deadline)
            except NonFiniteError:  # the step was not applied; the best weights stand
                reason = "nonfinite"
            except Exception:
                with contextlib.suppress(Exception):  # a crash keeps what was trained
                    self._save(segment)
                raise
            if reason == "plateau":
                segment = self._plateau_sweep(segment)
                continue
            if reason == "interrupt":
                self.seconds += time.perf_counter() - t0
                self._save(segment, interrupted=True)
                raise StageInterrupted(f"stage {self.plan.stage} of chain {self.chain}")
            break
        self.seconds += time.perf_counter() - t0
        return self._finish(segment, reason)

    def _start(self, weights: Any, lr: float) -> Segment:
        info = self.checkpoints.latest()
        if info is not None:
            return self._restore()
        if self.baseline:
            weights, lr = None, self.config.trainer.lr
        model = build_model(self.config, self.data, lr, self.seed, weights)
        segment = self._segment(model)
        if self.config.upfront_sweep and not self.baseline:
            segment = self._sweep(segment, "upfront", accept_any=True)
        return segment

    def _segment(self, model: Any) -> Segment:
        c = self.config
        return Segment(
            model, self.data, self.seed, c.eval_every, c.sampling_temperature, c.max_check_canvases
        )

    def _on_check(self, segment: Segment) -> Callable[[Check], str | None]:
        def on_check(check: Check) -> str | None:
            self.timeline.append(dataclasses.asdict(check))
            self._track_best(segment, check)
            if self.callback is not None:
                self.callback(self.chain, self.plan.stage, check)
            if check.step % self.config.checkpoint_every == 0:
                self._save(segment)
            if self.stop is not None and self.stop.stopped:
                return "interrupt"
            if self.divergence.update(check.train_loss, check.val_loss):
                return "diverged"
            if self.config.plateau_sweeps and self.plateau.update(check.val_loss):
                return "plateau"
            return None

        return on_check

    def _track_best(self, segment: Segment, check: Check) -> None:
        if not math.isfinite(check.val_loss) or check.val_loss >= self.best["val"]:
            return
        self.best["val"] = check.val_loss
        original, _ = mean_loss(segment.model, self.data.original)
        w = self.config.hybrid_weight
        hybrid = w * check.val_loss + (1 - w) * original
        if hybrid < self.best["hybrid"]:
            self.best.update(hybrid=hybrid, original=original, step=check.step)
            self.best["state"] = host_state(segment.model)
            self.best["best_val_at_hybrid"] = check.val_loss

    # ------------------------------------------------------------------ sweeps

    def _plateau_sweep(self, segment: Segment) -> Segment:
        return self._sweep(segment, f"plateau{self.plateau.fired}", accept_any=False)

    def _sweep(self, segment: Segment, kind: str, accept_any: bool) -> Segment:
        """Sweep the learning rate from the current weights; continue from the winner's weights and
        learning rate when it is accepted."""
        c, model = self.config, segment.model
        start = save_weights(self.dir / f"sweep_{kind}_start", host_state(model), {})
        current = segment.checks[-1].val_loss if segment.checks else segment.check().val_loss
        spec = objective_spec(c, self.plan.train, self.plan.val, self.plan.original, start)
        sweep_config = dataclasses.replace(
            c.sweep, seed=derive_seed(c.sweep.seed, self.chain, self.plan.stage, kind)
        )
        name = f"run{self.chain}-stage{self.plan.stage}-{kind}"
        staged_objective.stop_requested = lambda: self.stop is not None and self.stop.stopped
        try:
            result = run_sweep(
                REFERENCE,
                spec,
                sweep_config,
                self.run_path / "sweeps",
                name=name,
                fallback_lr=float(model.lr),
                build=lambda _ref, spec: staged_objective.canvas_objective(spec, self.data),
            )
        except KeyboardInterrupt:
            if self.stop is None or not self.stop.stopped:
                raise
            raise StageInterrupted(f"sweep {name}") from None  # resumes from the stage's auto-save
        finally:
            staged_objective.stop_requested = lambda: False
        self.sweep_steps += result.steps
        accepted = result.checkpoint is not None and (
            (accept_any and math.isfinite(result.best_val_loss))
            or self.plateau.accepts(current, result.best_val_loss)
        )
        self.sweeps.append(
            {
                "kind": kind,
                "at_step": segment.step,
                "loss_before": current,
                "lr_before": float(model.lr),
                "accepted": bool(accepted),
                **_sweep_summary(result),
            }
        )
        if not accepted:
            return segment
        weights, _ = load_weights(result.checkpoint)
        new = self._segment(build_model(c, self.data, result.lr, self.seed, weights))
        new.step, new.checks = segment.step, segment.checks
        return new

    # ------------------------------------------------------------------ saving and finishing

    def _save(self, segment: Segment, interrupted: bool = False) -> None:
        state = host_state(segment.model)
        tree = {"model": state, "best": self.best["state"] or state}
        meta = {
            "lr": float(segment.model.lr),
            "step": segment.step,
            "plateau": self.plateau.state(),
            "divergence": self.divergence.state(),
            "timeline": self.timeline,
            "sweeps": self.sweeps,
            "best": {k: v for k, v in self.best.items() if k != "state"},
            "has_best": self.best["state"] is not None,
            "sweep_steps": self.sweep_steps,
            "seconds": self.seconds,
            "interrupted": interrupted,
        }
        self.checkpoints.save(segment.step, tree, meta)

    def _restore(self) -> Segment:
        tree, meta = self.checkpoints.restore()
        model = build_model(self.config, self.data, meta["lr"], self.seed, tree["model"])
        segment = self._segment(model)
        segment.step = int(meta["step"])
        self.plateau.load(meta["plateau"])
        self.divergence.load(meta["divergence"])
        self.timeline, self.sweeps = list(meta["timeline"]), list(meta["sweeps"])
        self.best.update(meta["best"])
        self.best["state"] = tree["best"] if meta["has_best"] else None
        self.sweep_steps, self.seconds = int(meta["sweep_steps"]), float(meta["seconds"])
        segment.checks = [Check(**c) for c in self.timeline]
        return segment

    def _finish(self, segment: Segment, stopped_by: str) -> tuple[dict[str, Any], dict[str, Any]]:
        from sensorimotor.train.canvas.batch import evaluate_sessions

        model = segment.model
        final_lr = float(model.lr)
        if self.best["state"] is None:  # no finite check: keep the last weights
            self.best["state"] = host_state(model)
        model.load_state_dict(self.best["state"])
        model.seen_pairs = set(self.data.train.pairs)
        evaluation = evaluate_sessions(model, (self.data.val_frames, self.data.val), self.config)
        best_dir = save_weights(self.dir / "best", self.best["state"], {"stage": self.plan.stage})
        result = {
            "chain": self.chain,
            "stage": self.plan.stage,
            "size": self.plan.size,
            "baseline": self.baseline,
            "train_session": self.plan.train,
            "val_session": self.plan.val,
            "steps": segment.step,
            "budget": stage_steps(self.config, self.plan.size),
            "sweep_steps": self.sweep_steps,
            "seconds": self.seconds,
            "stopped_by": stopped_by,
            "lr_final": final_lr,
            "best_step": self.best["step"],
            "best_val": self.best.get("best_val_at_hybrid", math.nan),
            "best_hybrid": self.best["hybrid"],
            "best_original": self.best.get("original", math.nan),
            "timeline": self.timeline,
            "sweeps": self.sweeps,
            "eval": evaluation,
            "checkpoint": best_dir,
        }
        return result, self.best["state"]


def _sweep_summary(result: Any) -> dict[str, Any]:
    """The parts of a sweep result the reports show (no curves of every trial)."""
    keep = ("trial", "lr", "seed", "state", "loss", "steps_used", "seconds_used", "error")
    rows = lambda rs: [{k: r.get(k) for k in keep} for r in rs]  # noqa: E731
    return {
        "lr": result.lr,
        "source": result.source,
        "loss": result.best_val_loss,
        "steps": result.steps,
        "seconds": result.seconds,
        "phase_a": rows(result.phase_a),
        "phase_b": rows(result.phase_b),
        "ranking": result.ranking,
        "storage": result.storage,
        "study": result.study,
    }
