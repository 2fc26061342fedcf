"""JAX's persistent compilation cache, shared by every job and the tests."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

CACHE_ENV = "SENSORIMOTOR_JAX_CACHE"


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
