"""``sensorimotor sequence sweep``: the LR sweep on the sequence trainer.

The objective trains a sequence model (the driver's ``train``) at the trial's learning rate, seed
and step budget into a run directory in the trial's folder, and scores it by the validation loss
``1 - R²`` (mean over targets; the normalised MSE) at its best evaluation."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sensorimotor.core.config import apply_overrides, config_from_dict, config_to_dict
from sensorimotor.train.sweep.config import SweepConfig
from sensorimotor.train.sweep.objective import Objective, TrialOutcome, TrialSpec

REFERENCE = "sensorimotor.train.sweep.sequence:sequence_objective"


def split_overrides(overrides: Sequence[str]) -> tuple[list[str], list[str]]:
    """``sweep.*`` overrides (without the prefix) and the sequence config's."""
    sweep = [o.removeprefix("sweep.") for o in overrides if o.startswith("sweep.")]
    return sweep, [o for o in overrides if not o.startswith("sweep.")]


def sweep_config(overrides: Sequence[str]) -> SweepConfig:
    """The sweep settings: sequence-sized defaults with ``sweep.*`` overrides."""
    base = SweepConfig(lr_min=1e-4, lr_max=3e-3, phase_a_steps=200, phase_b_steps=600)
    return apply_overrides(base, list(overrides))


def val_loss(metrics: dict[str, Any]) -> float:
    """``1 - R²`` averaged over targets (keys ``<target>/r2`` or ``val/<target>/r2``)."""
    r2 = [v for k, v in metrics.items() if k.endswith("/r2") and not k.endswith("pooled/r2")]
    if not r2 or not all(isinstance(v, int | float) and math.isfinite(v) for v in r2):
        return math.nan
    return 1.0 - sum(r2) / len(r2)


def sequence_objective(spec: dict[str, Any]) -> Objective:
    """The objective for the sequence config ``spec["config"]`` (a saved ``SequenceConfig``)."""
    from sensorimotor.core.tracking import read_metrics
    from sensorimotor.sequence.config import SequenceConfig
    from sensorimotor.train.sequence import train

    base = config_from_dict(SequenceConfig, spec["config"])

    def objective(trial: TrialSpec) -> TrialOutcome:
        trainer = dataclasses.replace(
            base.trainer,
            lr=trial.lr,
            seed=trial.seed,
            steps=trial.steps,
            eval_every=max(1, min(base.trainer.eval_every, trial.steps // 4 or 1)),
            progress=False,
        )
        cfg = dataclasses.replace(
            base, trainer=trainer, runs_root=str(trial.workdir), run_name="run"
        )
        try:
            result = train(cfg)
        except FloatingPointError:  # NonFiniteError: this learning rate diverged
            return TrialOutcome(math.nan, None, 0, [])
        records = read_metrics(Path(result.run_dir) / "metrics.jsonl")
        curve = [val_loss({k: v for k, v in r.items() if k.startswith("val/")}) for r in records]
        curve = [c for c in curve if not math.isnan(c)] + [val_loss(result.metrics["val"])]
        return TrialOutcome(min(curve), str(result.run_dir), trial.steps, curve)

    return objective


def run_sequence_sweep(overrides: Sequence[str]) -> tuple[Path, Any]:
    """Run (or resume: ``run_name`` of an existing sweep) the sweep; returns its folder and result."""
    from sensorimotor.core.rundir import RunDir
    from sensorimotor.train.report import HtmlReport
    from sensorimotor.train.sequence import load_sequence_config
    from sensorimotor.train.sweep.sweep import run_sweep

    sweep_overrides, rest = split_overrides(overrides)
    config = sweep_config(sweep_overrides)
    cfg = load_sequence_config(rest)
    existing = Path(cfg.runs_root) / cfg.run_name if cfg.run_name else None
    if existing is not None and (existing / "config.yaml").is_file():
        run = RunDir.open(existing)
    else:
        run = RunDir.create(cfg.runs_root, cfg.run_name, f"sweep-{cfg.name}", cfg, cfg.trainer.seed)
    (run.path / "sweep.yaml").write_text(json.dumps(config_to_dict(config), indent=1))
    spec = {"config": config_to_dict(cfg)}
    result = run_sweep(REFERENCE, spec, config, run.path, name="sweep", fallback_lr=cfg.trainer.lr)
    (run.path / "sweep.json").write_text(json.dumps(result.to_dict(), indent=1, default=float))
    report = HtmlReport(f"Sequence LR sweep — {run.name}")
    report.text(
        f"winner lr {result.lr:.3g} (from {result.source}), validation 1 - R² "
        f"{result.best_val_loss:.4g}; {result.steps} train steps in {result.seconds:.0f} s"
    )
    keep = ("trial", "lr", "seed", "state", "loss", "steps_used", "seconds_used", "error")
    for phase in ("phase_a", "phase_b"):
        report.section(f"Phase {phase[-1].upper()}")
        report.table([{k: r[k] for k in keep} for r in getattr(result, phase)] or [{"trials": 0}])
    report.section("Phase B ranking")
    report.table(result.ranking or [{"ranking": "no phase B trial finished"}])
    report.write(run.report_path)
    return run.path, result
