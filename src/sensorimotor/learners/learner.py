"""``Learner``: the base of every policy, critic and agent.

Every learner is an immutable JAX pytree (a ``flax.struct`` dataclass):

- ``update(batch) -> (new, info)`` is a pure function under ``jax.jit``: it returns a new learner
  and a dict of scalar metrics, never mutating ``self``;
- ``save(path)`` / ``load(path)`` go through :mod:`sensorimotor.core.checkpoint` (orbax; never
  pickle), with the kind, factory name, :class:`Spec` and config in the checkpoint metadata so
  that ``load`` rebuilds the right object (and refuses a checkpoint of another kind).

Networks are Flax NNX modules held functionally as ``(graphdef, params)`` in a
:class:`~sensorimotor.learners.state.TrainState`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Self

import jax
import jax.numpy as jnp
from flax import struct

from sensorimotor.core.checkpoint import (
    CheckpointManager,
    nested_to_tree,
    to_jsonable,
    tree_to_nested,
)
from sensorimotor.core.errors import DataError
from sensorimotor.learners.loader import FORMAT_VERSION, load_learner
from sensorimotor.learners.spec import Spec


class Learner(struct.PyTreeNode):
    """Base of every policy, critic and agent: a pytree with a pure ``update``.

    Subclasses set ``kind`` (``"policy" | "critic" | "agent"``, a key of
    :data:`~sensorimotor.learners.loader.LEARNER_KINDS`) and keep the factory ``name``,
    :class:`Spec` and frozen config dataclass as static fields so that ``save``/``load`` can
    rebuild them.
    """

    kind: ClassVar[str] = "learner"

    name: str = struct.field(pytree_node=False)
    spec: Spec = struct.field(pytree_node=False)
    config: Any = struct.field(pytree_node=False)

    def _update(self, batch: Mapping[str, jax.Array]) -> tuple[Self, dict[str, jax.Array]]:
        """One training step (pure, not jitted); subclasses implement it."""
        raise NotImplementedError

    @jax.jit
    def update(self, batch: Mapping[str, jax.Array]) -> tuple[Self, dict[str, jax.Array]]:
        """One pure, jitted training step on ``batch``: ``(new learner, scalar metrics)``."""
        return self._update(batch)

    @jax.jit
    def update_many(self, batches: Mapping[str, jax.Array]) -> tuple[Self, dict[str, jax.Array]]:
        """``K`` consecutive updates on ``batches`` stacked on a leading ``K`` axis, in one
        ``lax.scan``; metrics are averaged over the ``K`` steps."""

        def body(learner: Learner, batch: Mapping[str, jax.Array]) -> tuple[Learner, dict]:
            return learner._update(batch)

        new, infos = jax.lax.scan(body, self, batches)
        return new, jax.tree.map(lambda x: jnp.mean(x, axis=0), infos)

    # -- persistence --------------------------------------------------------------------------

    def metadata(self) -> dict[str, Any]:
        """What ``load`` needs to rebuild this learner before restoring its arrays."""
        return {
            "format_version": FORMAT_VERSION,
            "kind": self.kind,
            "name": self.name,
            "spec": self.spec.to_dict(),
            "config": to_jsonable(dataclasses.asdict(self.config)),
        }

    def state_dict(self) -> dict[str, Any]:
        """Every array of this learner as a nested dict (params, optimiser, targets, rng, step)."""
        return tree_to_nested(self)

    def load_state_dict(self, nested: Mapping[str, Any], *, where: str = "checkpoint") -> Self:
        """A copy of this learner with its arrays replaced by ``nested``."""
        return nested_to_tree(self, nested, where=where)

    def save(
        self, path: str | Path, *, step: int | None = None, extra: Mapping | None = None
    ) -> Path:
        """Write an orbax checkpoint under ``path`` (a checkpoint directory); returns it."""
        path = Path(path).resolve()  # orbax needs absolute paths
        meta = self.metadata()
        if extra:
            meta["extra"] = to_jsonable(dict(extra))
        s = int(jax.device_get(getattr(self, "step", 0))) if step is None else int(step)
        CheckpointManager(path, keep=2).save(s, self.state_dict(), meta)
        return path

    @classmethod
    def load(cls, path: str | Path, *, step: int | None = None) -> Self:
        """Rebuild a saved learner of this class (``Learner.load``: of any kind).

        A checkpoint of another kind (``Policy.load`` on an agent's) or another class
        (``SAC.load`` on a BC agent's) is a :class:`DataError` naming what it holds."""
        expected = None if cls.kind == Learner.kind else cls.kind
        learner = load_learner(path, step=step, expected_kind=expected)
        if not isinstance(learner, cls):
            raise DataError(
                f"{Path(path).resolve()}: holds a {type(learner).__name__} "
                f"({learner.kind} {learner.name!r}); expected a {cls.__name__}"
            )
        return learner
