"""The sequence-model jobs: ``sensorimotor sequence train|evaluate|rollout|segment|presets``.

:mod:`.driver` trains (``train(config, *, resume=None) -> RunResult``), :mod:`.report` writes the
run's ``report.html``, :mod:`.jobs` evaluates, rolls out and segments. Re-exported lazily.
"""

from __future__ import annotations

from sensorimotor.core.lazy import lazy_exports

_EXPORTS = {
    "load_sequence_config": "driver",
    "presets": "driver",
    "train": "driver",
    "write_sequence_report": "report",
    "evaluate_run": "jobs",
    "rollout_run": "jobs",
    "run_dataset": "jobs",
    "segment_job": "jobs",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
