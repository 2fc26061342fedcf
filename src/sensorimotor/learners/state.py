"""``TrainState``: an NNX module held functionally (graph + params + optimiser state)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx, struct


class TrainState(struct.PyTreeNode):
    """An NNX module held functionally: ``graphdef`` (static) + ``params`` + optimiser state."""

    graphdef: nnx.GraphDef = struct.field(pytree_node=False)
    params: nnx.State
    rest: nnx.State
    opt_state: Any
    tx: optax.GradientTransformation | None = struct.field(pytree_node=False, default=None)

    @classmethod
    def create(cls, module: nnx.Module, tx: optax.GradientTransformation | None) -> TrainState:
        """Split ``module`` into graph + trainable ``nnx.Param`` state (+ any other state)."""
        graphdef, params, rest = nnx.split(module, nnx.Param, ...)
        opt_state = tx.init(params) if tx is not None else None
        return cls(graphdef=graphdef, params=params, rest=rest, opt_state=opt_state, tx=tx)

    def module(self, params: nnx.State | None = None) -> Any:
        """The NNX module with ``params`` (default: the current ones) merged in."""
        return nnx.merge(self.graphdef, self.params if params is None else params, self.rest)

    def apply_gradients(self, grads: nnx.State) -> TrainState:
        """One optimiser step."""
        if self.tx is None:
            raise ValueError("this TrainState has no optimiser")
        updates, opt_state = self.tx.update(grads, self.opt_state, self.params)
        return self.replace(params=optax.apply_updates(self.params, updates), opt_state=opt_state)


def polyak(target: Any, online: Any, tau: float) -> Any:
    """``target <- (1 - tau) * target + tau * online`` leaf-wise."""
    return optax.incremental_update(online, target, tau)


def global_norm(tree: Any) -> jax.Array:
    """L2 norm over all leaves of ``tree`` (0 for an empty tree)."""
    leaves = jax.tree.leaves(tree)
    return jnp.sqrt(sum(jnp.sum(jnp.square(x)) for x in leaves)) if leaves else jnp.zeros(())
