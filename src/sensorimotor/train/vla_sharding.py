"""Sharding for the VLA trainer: a ``(data, fsdp)`` mesh, FSDP partition rules for parameters
and optimiser state, batch placement, and ``jax.distributed`` initialisation under SLURM.

The partition rule is by shape, so one rule serves parameters and every optimiser-state leaf
shaped like them (Adam's moments): a leaf with at least ``min_size`` elements is split over the
``fsdp`` axis along its largest dimension divisible by the axis size; anything else is replicated.
Batches are split over ``data`` x ``fsdp`` on their leading axis.
"""

from __future__ import annotations

import os
import re
from typing import Any

import jax
import numpy as np

from sensorimotor.core.errors import ConfigError

P = jax.sharding.PartitionSpec
BATCH_AXES = ("data", "fsdp")


def make_mesh(data: int = -1, fsdp: int = 1, devices: list[Any] | None = None) -> jax.sharding.Mesh:
    """A ``(data, fsdp)`` mesh over ``devices`` (default: all); ``data=-1`` fills the rest."""
    devices = list(jax.devices() if devices is None else devices)
    n = len(devices)
    if fsdp < 1 or n % fsdp:
        raise ConfigError(f"cluster.fsdp={fsdp} must be >= 1 and divide the {n} devices")
    data = n // fsdp if data == -1 else data
    if data * fsdp != n:
        raise ConfigError(f"cluster.data={data} x cluster.fsdp={fsdp} must equal the {n} devices")
    return jax.sharding.Mesh(np.asarray(devices).reshape(data, fsdp), BATCH_AXES)


def leaf_spec(shape: tuple[int, ...], fsdp: int, min_size: int) -> jax.sharding.PartitionSpec:
    """The FSDP partition of one array: its largest ``fsdp``-divisible dimension over ``fsdp``."""
    if fsdp <= 1 or not shape or int(np.prod(shape)) < min_size:
        return P()
    candidates = [i for i, size in enumerate(shape) if size % fsdp == 0]
    if not candidates:
        return P()
    axis = max(candidates, key=lambda i: shape[i])
    return P(*[("fsdp" if i == axis else None) for i in range(len(shape))])


def tree_shardings(tree: Any, mesh: jax.sharding.Mesh, min_size: int) -> Any:
    """A ``NamedSharding`` for every array leaf of ``tree`` by :func:`leaf_spec`."""
    fsdp = mesh.shape["fsdp"]

    def rule(leaf: Any) -> Any:
        shape = tuple(getattr(leaf, "shape", ()))
        return jax.sharding.NamedSharding(mesh, leaf_spec(shape, fsdp, min_size))

    return jax.tree.map(rule, tree)


def batch_sharding(mesh: jax.sharding.Mesh) -> jax.sharding.NamedSharding:
    """Leading (batch) axis over every device."""
    return jax.sharding.NamedSharding(mesh, P(BATCH_AXES))


def shard_batch(batch: dict[str, np.ndarray], mesh: jax.sharding.Mesh) -> dict[str, jax.Array]:
    """Place a host batch split over ``data`` x ``fsdp`` (its size must divide evenly)."""
    n = mesh.devices.size
    sharding = batch_sharding(mesh)
    out = {}
    for key, value in batch.items():
        if value.shape[0] % n:
            raise ConfigError(
                f"batch of {value.shape[0]} ({key}) is not a multiple of the {n} devices; "
                f"set trainer.batch_size to a multiple of {n} x trainer.grad_accum"
            )
        out[key] = (
            jax.make_array_from_process_local_data(sharding, value)
            if jax.process_count() > 1
            else jax.device_put(value, sharding)
        )
    return out


def first_host(nodelist: str) -> str:
    """The first host of a SLURM node list (``node[03-05,9]`` -> ``node03``, ``a,b`` -> ``a``)."""
    match = re.match(r"^([^,\[]+)(?:\[([^\]]+)\])?", nodelist.strip())
    if not match:
        raise ConfigError(f"cannot read the SLURM node list {nodelist!r}")
    prefix, ranges = match.group(1), match.group(2)
    if not ranges:
        return prefix
    first = ranges.split(",")[0].split("-")[0]
    return prefix + first


def init_distributed(kind: str, port: int, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Initialise ``jax.distributed`` from SLURM variables (``kind="slurm"``); a no-op locally.
    Returns what it used (logged with the run)."""
    if kind != "slurm":
        return {"processes": 1, "process_id": 0}
    env = dict(os.environ if env is None else env)
    needed = ["SLURM_NTASKS", "SLURM_PROCID", "SLURM_JOB_NODELIST"]
    missing = [k for k in needed if k not in env]
    if missing:
        raise ConfigError(
            f"cluster=slurm needs the SLURM variables {missing} (run the job with srun); "
            f"use cluster=local on one machine"
        )
    settings = {
        "coordinator_address": f"{first_host(env['SLURM_JOB_NODELIST'])}:{port}",
        "num_processes": int(env["SLURM_NTASKS"]),
        "process_id": int(env["SLURM_PROCID"]),
    }
    if settings["num_processes"] > 1:
        jax.distributed.initialize(**settings)
    return {"processes": settings["num_processes"], **settings}
