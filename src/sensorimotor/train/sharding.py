"""Data parallelism for training drivers: a 1-D ``data`` mesh, sharded batches, replicated
learners (through ``jax.sharding``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import numpy as np

from sensorimotor.core.errors import ConfigError


def data_mesh() -> jax.sharding.Mesh | None:
    """A 1-D ``data`` mesh over all devices, or ``None`` with a single device."""
    devices = jax.devices()
    if len(devices) < 2:
        return None
    return jax.make_mesh((len(devices),), ("data",))


def shard_batch(batch: Mapping[str, np.ndarray], mesh: jax.sharding.Mesh | None) -> Any:
    """Place a batch with its leading axis split over the mesh (as-is without a mesh)."""
    if mesh is None:
        return dict(batch)
    n = mesh.devices.size
    P = jax.sharding.PartitionSpec
    out = {}
    for k, v in batch.items():
        v = np.asarray(v)
        if v.shape[0] % n:
            raise ConfigError(
                f"batch size {v.shape[0]} must be a multiple of the {n} devices for data parallelism"
            )
        out[k] = jax.device_put(v, jax.sharding.NamedSharding(mesh, P("data")))
    return out


def replicate(tree: Any, mesh: jax.sharding.Mesh | None) -> Any:
    """Replicate a pytree (e.g. an agent) on every device of the mesh."""
    if mesh is None:
        return tree
    sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    return jax.device_put(tree, sharding)
