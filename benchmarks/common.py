"""Shared benchmark helpers: machine description, timing, matmul peak (for MFU).

Run benchmarks from the repository root, e.g. ``python benchmarks/recording.py``. Every benchmark
measures its baseline in the same run and prints ratios; record the results in docs/benchmarks.md.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))


def machine_info() -> dict[str, Any]:
    """CPU model, core count, load, Python and (when JAX is loaded) the JAX devices."""
    from sensorimotor.core.rundir import cpu_model

    info: dict[str, Any] = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "load_1min": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
    }
    if "jax" in sys.modules:
        import jax

        info["jax"] = jax.__version__
        info["devices"] = [f"{d.platform}:{d.device_kind}" for d in jax.devices()]
    return info


def _block(result: Any) -> Any:
    if "jax" in sys.modules:
        import jax

        return jax.block_until_ready(result)
    return result


def timeit(
    fn: Callable[[], Any], *, warmup: int = 2, repeat: int = 10, number: int = 1
) -> list[float]:
    """Seconds per call of ``fn`` (JAX results are waited for), one entry per repeat."""
    for _ in range(warmup):
        _block(fn())
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            result = fn()
        _block(result)
        times.append((time.perf_counter() - start) / number)
    return times


def summary(times: list[float]) -> dict[str, float]:
    """Median / min / max of a list of timings, in seconds."""
    return {"median": statistics.median(times), "min": min(times), "max": max(times)}


def matmul_peak_flops(dtype: str = "float32", n: int = 2048, repeat: int = 10) -> float:
    """Achieved FLOP/s of a jitted ``n x n`` matmul: the practical peak used as the MFU denominator."""
    import jax
    import jax.numpy as jnp

    a = jax.random.normal(jax.random.key(0), (n, n), dtype=jnp.dtype(dtype))
    b = jax.random.normal(jax.random.key(1), (n, n), dtype=jnp.dtype(dtype))
    matmul = jax.jit(lambda x, y: x @ y)
    best = min(timeit(lambda: matmul(a, b), warmup=2, repeat=repeat))
    return 2 * n**3 / best


def print_rows(rows: list[dict[str, Any]], columns: list[str] | None = None) -> None:
    """A plain-text (Markdown-compatible) table."""
    columns = columns or list(rows[0])

    def fmt(v: Any) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    print("| " + " | ".join(columns) + " |")
    print("|" + "|".join("---" for _ in columns) + "|")
    for row in rows:
        print("| " + " | ".join(fmt(row.get(c, "")) for c in columns) + " |")
