"""``sensorimotor run model=adaptive``: the adaptive world model learning online on a robot.

:mod:`.config` (loading the run config whatever its model), :mod:`.online` (the driver),
:mod:`.report` (summary and ``report.html``), :mod:`.exploration` (the coverage experiment).
"""

from __future__ import annotations

from sensorimotor.core.lazy import lazy_exports

_EXPORTS = {
    "is_adaptive": "config",
    "load_any_run_config": "config",
    "run_adaptive": "online",
    "coverage_steps": "exploration",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
