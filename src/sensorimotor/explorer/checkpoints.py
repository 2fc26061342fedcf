"""The Checkpoints tab's logic: save, list and load canvas checkpoints in ``sensorimotor run``'s format.

An explorer checkpoint is a run directory ``<runs>/explore-<instance>-<name>/`` with the ``run``
config (a replayed robot on the session; see :meth:`CanvasExplorer.run_config`) and
``checkpoints/step_<iteration>/`` holding exactly what ``sensorimotor run`` saves, so
``sensorimotor run --resume`` continues it, and every canvas run's checkpoint opens here.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sensorimotor.core.config import config_to_dict, save_config
from sensorimotor.core.errors import DataError, UserError
from sensorimotor.core.rundir import RunDir
from sensorimotor.explorer.canvas import CanvasExplorer

_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@dataclass(frozen=True)
class CheckpointRow:
    """One checkpoint in the list."""

    run_dir: Path
    step: int
    kind: str
    saved: str
    iteration: int | None
    train_steps: int | None


def save_checkpoint(explorer: CanvasExplorer, name: str) -> Path:
    """Save the current model (params, optimiser, schedule step, history, metadata) under
    ``name``; returns the run directory. Saving the same name again adds a newer step."""
    from sensorimotor.train.loop import RunCheckpoints

    if not _NAME.match(name):
        raise UserError(f"checkpoint name {name!r}: use 1-64 letters, digits, '.', '_' or '-'")
    model = explorer.require_model()
    folder = f"explore-{explorer.instance}-{name}"
    path = explorer.roots.runs / folder
    with explorer.busy():
        if (path / "config.yaml").is_file():
            run = RunDir.open(path)
            save_config(explorer.config, run.config_path)
        else:
            explorer.roots.runs.mkdir(parents=True, exist_ok=True)
            run = RunDir.create(
                explorer.roots.runs, folder, "explore", explorer.config, explorer.config.seed
            )
        RunCheckpoints(run, keep=model.trainer.keep_checkpoints).save(
            model.iteration, model.state_dict(), checkpoint_metadata(explorer)
        )
    return run.path


def checkpoint_metadata(explorer: CanvasExplorer) -> dict[str, Any]:
    """The metadata ``sensorimotor run`` stores, plus where the explorer was."""
    model = explorer.model
    rec = explorer.record
    last = {}
    if rec.iteration:
        last = {"pred_error": rec.pred_error[-1], "loss": rec.loss[-1], "lr": rec.lr[-1]}
    return {
        "iteration": model.iteration,
        "train_steps": model.train_steps,
        "skipped": model.skipped,
        "kind": "canvas-online",
        "metrics": {k: v for k, v in last.items() if v == v},  # drop NaN
        "quality": {},
        "config": config_to_dict(explorer.config),
        "explorer": {
            "instance": explorer.instance,
            "session": explorer._model_session(),
            "position": None if explorer.robot is None else explorer.robot.position,
        },
    }


def list_checkpoints(runs_root: str | Path) -> list[CheckpointRow]:
    """Every intact canvas checkpoint under ``runs_root`` (explorer and ``sensorimotor run``
    ones), newest first."""
    from sensorimotor.core.checkpoint import CheckpointManager

    root = Path(runs_root)
    rows = []
    if not root.is_dir():
        return rows
    for run in sorted(p for p in root.iterdir() if (p / "checkpoints").is_dir()):
        for info in CheckpointManager(run / "checkpoints").checkpoints():
            kind = str(info.metadata.get("kind", "?"))
            if not kind.startswith("canvas"):
                continue
            saved = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info.metadata.get("time", 0)))
            rows.append(
                CheckpointRow(
                    run,
                    info.step,
                    kind,
                    saved,
                    info.metadata.get("iteration"),
                    info.metadata.get("train_steps"),
                )
            )
    return sorted(rows, key=lambda r: r.saved, reverse=True)


def load_checkpoint(explorer: CanvasExplorer, run_dir: str | Path, step: int | None = None) -> dict:
    """Load a canvas run's checkpoint into the explorer (model built from the run's config, on
    the open session); training continues from it. Returns its metadata."""
    from sensorimotor.core.checkpoint import CheckpointManager
    from sensorimotor.train.canvas.config import load_any_config

    path = explorer.roots.check(run_dir, "runs")
    run = RunDir.open(path)
    saved = load_any_config(run)
    manager = CheckpointManager(run.checkpoints_dir)
    if manager.latest() is None:
        raise DataError(f"{run.path}: the run has no intact checkpoint")
    state, meta = manager.restore(step)
    reader = explorer.require_session()
    config = explorer.run_config(reader)
    config.model, config.trainer, config.seed = saved.model, saved.trainer, saved.seed
    with explorer.busy():
        explorer._build(config)
        explorer.model.load_state_dict(state)
        session = (meta.get("explorer") or {}).get("session")
        if session is None and getattr(saved, "robot", None) is not None:
            session = getattr(saved.robot, "session", None)  # a `run robot=replay` checkpoint
        session = str(Path(session).resolve()) if session else None
        explorer.session_of_model = session
        explorer._attach_session()
    return meta
