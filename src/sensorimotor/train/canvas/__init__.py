"""The canvas world-model jobs: ``sensorimotor run`` (online) and ``sensorimotor canvas train|eval``.

One module per job: :mod:`.config` (the schemas and loading), :mod:`.online` (the online run on a
robot), :mod:`.batch` (training and evaluation on recorded sessions), :mod:`.report` (terminal
summary and ``report.html``). The entry points are re-exported here lazily.
"""

from __future__ import annotations

from sensorimotor.core.lazy import lazy_exports

_EXPORTS = {
    "CanvasRunConfig": "config",
    "CanvasTrainConfig": "config",
    "CanvasValidationConfig": "config",
    "load_run_config": "config",
    "load_train_config": "config",
    "resume_config": "config",
    "RunResult": "online",
    "run_canvas": "online",
    "train_on_sessions": "batch",
    "evaluate_canvas_run": "batch",
    "StagedConfig": "staged_config",
    "load_staged_config": "staged_config",
    "train_staged": "staged",
    "plan_stages": "staged",
    "make_splits": "staged_splits",
    "find_splits": "staged_splits",
    "stage_sizes": "staged_splits",
    "canvas_objective": "staged_objective",
    "print_summary": "report",
    "write_run_report": "report",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
