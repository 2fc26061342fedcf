"""A vectorised ensemble: ``E`` independently initialised copies of a module, run with one vmap."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
from flax import nnx


class Ensemble(nnx.Module):
    """``E`` members built by ``make(rngs)`` with their parameters stacked on a leading axis.

    Calling the ensemble broadcasts the same inputs to every member and returns outputs with a
    leading ``E`` axis: ``(...) -> (E, ...)``.
    """

    def __init__(self, make: Callable[[nnx.Rngs], nnx.Module], size: int, *, rngs: nnx.Rngs):
        if size < 1:
            raise ValueError(f"ensemble size must be >= 1, got {size}")
        self.size = size

        @nnx.split_rngs(splits=size)
        @nnx.vmap(in_axes=(0,), out_axes=0)
        def create(r: nnx.Rngs) -> nnx.Module:
            return make(r)

        self.members = create(rngs)

    def __call__(
        self, *args: Any, method: str = "__call__", split: tuple[int, ...] = (), **kwargs: Any
    ) -> jax.Array:
        """Every member's ``method(*args, **kwargs)``, stacked ``(E, ...)``.

        Positional arguments whose index is in ``split`` carry a leading ``E`` axis and are
        sliced per member (e.g. per-member dropout keys); the others are broadcast.
        """
        # Plain jax.vmap over the split state (not nnx.vmap), so the ensemble can be called from
        # inside other JAX transforms (grad w.r.t. another module's parameters, scan, ...).
        graphdef, state = nnx.split(self.members)

        def run(s: nnx.State, *a: Any) -> jax.Array:
            return getattr(nnx.merge(graphdef, s), method)(*a, **kwargs)

        axes = tuple(0 if i in split else None for i in range(len(args)))
        return jax.vmap(run, in_axes=(0, *axes))(state, *args)
