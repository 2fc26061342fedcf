"""The bottom layer every other package uses: config, registry, run directory, tracking, checkpoints,
normalisation, RNG, numerics and errors. Public names are re-exported lazily."""

from __future__ import annotations

from sensorimotor.core.lazy import lazy_exports

_EXPORTS = {
    "CheckpointManager": "checkpoint",
    "apply_overrides": "config",
    "config_from_dict": "config",
    "config_to_dict": "config",
    "load_config": "config",
    "load_saved_config": "config",
    "save_config": "config",
    "ConfigError": "errors",
    "DataError": "errors",
    "UserError": "errors",
    "enable_compilation_cache": "jaxcache",
    "Normalizer": "normalize",
    "NonFiniteError": "numerics",
    "check_finite": "numerics",
    "Registry": "registry",
    "derive_seed": "rng",
    "np_rng": "rng",
    "seed_everything": "rng",
    "RunDir": "rundir",
    "Tracker": "tracking",
    "read_metrics": "tracking",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
