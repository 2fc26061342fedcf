"""Run directories: ``runs/<name>/`` with the config, the environment and everything a job makes."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sensorimotor.core.config import save_config
from sensorimotor.core.errors import UserError
from sensorimotor.core.fs import make_unique_dir, write_json_atomic

_PACKAGES = (
    "sensorimotor", "jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "numpy", "mujoco",
    "dm_control", "h5py", "hydra-core", "gymnasium", "dynamax", "wandb",
)  # fmt: skip


@dataclass(frozen=True)
class RunDir:
    """One job's output folder."""

    path: Path

    @classmethod
    def create(
        cls,
        root: str | Path = "runs",
        name: str | None = None,
        prefix: str = "run",
        config: Any = None,
        seed: int | None = None,
    ) -> RunDir:
        """Make a new, never-colliding ``root/<name>`` and write ``config.yaml`` and ``env.json``."""
        base = name or f"{prefix}-{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}"
        path = make_unique_dir(Path(root), base)
        run = cls(path)
        if config is not None:
            save_config(config, path / "config.yaml")
        write_json_atomic(path / "env.json", environment_info(seed))
        return run

    @classmethod
    def open(cls, path: str | Path) -> RunDir:
        """An existing run directory (for resuming); a clear error when it is not one."""
        path = Path(path)
        if not (path / "config.yaml").is_file():
            raise UserError(f"{path} is not a run directory (no config.yaml)")
        return cls(path)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def config_path(self) -> Path:
        return self.path / "config.yaml"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / "checkpoints"

    @property
    def report_path(self) -> Path:
        return self.path / "report.html"


def environment_info(seed: int | None = None) -> dict[str, Any]:
    """Versions, Python, CPU/GPU, git commit and seed: what is needed to reproduce a run."""
    versions = {}
    for package in _PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    return {
        "time": dt.datetime.now().astimezone().isoformat(),
        "seed": seed,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        # The ISA matters: XLA compiles for the host CPU, so float rounding (and with it a
        # training run's outcome) differs between CPUs even with identical versions and seeds.
        "cpu": {"model": cpu_model(), "count": os.cpu_count(), "isa": cpu_isa()},
        "devices": _jax_devices(),
        "packages": versions,
        "git": _git_info(),
        "argv": sys.argv,
        "env": {
            k: v
            for k, v in os.environ.items()
            if k.startswith(("JAX_", "XLA_", "MUJOCO_GL", "CUDA_VISIBLE"))
        },
    }


_ISA_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_bf16", "avx512_fp16", "amx_bf16")


def cpu_isa() -> list[str]:
    """The vector-instruction extensions of this CPU that XLA's code generation can use."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                return [f for f in _ISA_FLAGS if f in flags]
    except OSError:
        pass
    return []


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _jax_devices() -> list[str]:
    if "jax" not in sys.modules:  # a job that does not use JAX should not pay for importing it
        return ["jax not loaded"]
    try:
        import jax

        return [f"{d.platform}:{getattr(d, 'device_kind', '')}" for d in jax.devices()]
    except Exception as e:  # noqa: BLE001 - the environment record must never fail a run
        return [f"unavailable: {e}"]


def _git_info() -> dict[str, Any] | None:
    def git(*args: str) -> str:
        here = Path(__file__).resolve().parent
        return subprocess.run(
            ["git", *args], cwd=here, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()

    try:
        return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}
    except (OSError, subprocess.SubprocessError):
        return None
