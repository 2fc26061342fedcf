"""Seeds: one integer seed per run, deterministic named streams derived from it."""

from __future__ import annotations

import hashlib
import random
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import jax


def derive_seed(seed: int, *names: str | int) -> int:
    """A 32-bit seed derived from ``seed`` and a path of names (stable across runs and machines)."""
    text = "/".join([str(seed), *map(str, names)])
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=4).digest(), "little")


def np_rng(seed: int, *names: str | int) -> np.random.Generator:
    """A NumPy generator for the named stream of ``seed`` (``np_rng(seed)`` is the root stream)."""
    return np.random.default_rng(derive_seed(seed, *names) if names else seed)


def seed_everything(seed: int) -> jax.Array:
    """Seed Python's and NumPy's global generators; return the run's root JAX key."""
    random.seed(seed)
    np.random.seed(derive_seed(seed, "numpy-global"))
    import jax

    return jax.random.key(seed)
