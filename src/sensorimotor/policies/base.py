"""The contract shared by policies, critics and agents.

Every learner is an immutable JAX pytree (a ``flax.struct`` dataclass):

- ``update(batch) -> (new, info)`` is a pure function under ``jax.jit``: it returns a new learner
  and a dict of scalar metrics, never mutating ``self``;
- policies and agents have ``sample_actions(obs, rng, n=1) -> (B, n, A)`` in environment units;
- ``save(path)`` / ``load(path)`` go through :mod:`sensorimotor.core.checkpoint` (orbax; never
  pickle), with the factory name, :class:`Spec` and config in the checkpoint metadata so that
  ``load`` rebuilds the right object.

Networks are Flax NNX modules held functionally as ``(graphdef, params)`` in a :class:`TrainState`.
Inside a learner, actions live in the normalised box ``[-1, 1]^A``; :class:`Spec` converts to and
from environment units at the boundary (``update`` normalises ``batch["actions"]``,
``sample_actions`` returns environment units).
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx, struct

FORMAT_VERSION = 1


# --------------------------------------------------------------------------------------------
# Spec: observation / action sizes, bounds and horizons
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """Sizes and bounds of what a learner sees and emits.

    ``obs_dim``/``action_dim`` are per time step; a learner sees ``obs_horizon`` stacked
    observations (flattened to ``obs_horizon * obs_dim``) and emits chunks of ``action_horizon``
    actions (flattened to ``action_horizon * action_dim``).
    """

    obs_dim: int
    action_dim: int
    action_low: tuple[float, ...]
    action_high: tuple[float, ...]
    obs_horizon: int = 1
    action_horizon: int = 1
    obs_shift: tuple[float, ...] | None = None
    obs_scale: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.obs_dim < 0 or self.action_dim < 1:
            raise ValueError(
                f"Spec needs obs_dim >= 0 and action_dim >= 1, got {self.obs_dim}, {self.action_dim}"
            )
        for name in ("action_low", "action_high"):
            v = getattr(self, name)
            if len(v) != self.action_dim:
                raise ValueError(
                    f"Spec.{name} has {len(v)} entries; expected action_dim={self.action_dim}"
                )
            object.__setattr__(self, name, tuple(float(x) for x in v))
        if not all(h > lo for lo, h in zip(self.action_low, self.action_high, strict=True)):
            raise ValueError(
                f"Spec needs action_high > action_low per dimension, got low={self.action_low}, "
                f"high={self.action_high}"
            )
        for name in ("obs_shift", "obs_scale"):
            v = getattr(self, name)
            if v is not None:
                if len(v) != self.obs_dim:
                    raise ValueError(
                        f"Spec.{name} has {len(v)} entries; expected obs_dim={self.obs_dim}"
                    )
                object.__setattr__(self, name, tuple(float(x) for x in v))
        if (self.obs_shift is None) != (self.obs_scale is None):
            raise ValueError("Spec.obs_shift and Spec.obs_scale must be given together")
        if self.obs_horizon < 1 or self.action_horizon < 1:
            raise ValueError(
                f"horizons must be >= 1, got obs_horizon={self.obs_horizon}, "
                f"action_horizon={self.action_horizon}"
            )

    @classmethod
    def from_spaces(
        cls,
        observation_space: Any,
        action_space: Any,
        *,
        obs_horizon: int = 1,
        action_horizon: int = 1,
    ) -> Spec:
        """A spec from gymnasium ``Box`` spaces (flat observations, bounded actions)."""
        obs_shape = tuple(getattr(observation_space, "shape", ()) or ())
        act_shape = tuple(getattr(action_space, "shape", ()) or ())
        if len(obs_shape) != 1 or len(act_shape) != 1:
            raise ValueError(
                "RL learners need flat Box spaces; got observation shape "
                f"{obs_shape} and action shape {act_shape}"
            )
        low = np.asarray(action_space.low, np.float64)
        high = np.asarray(action_space.high, np.float64)
        if not (np.isfinite(low).all() and np.isfinite(high).all()):
            raise ValueError(f"actions must be bounded; got low={low}, high={high}")
        return cls(
            obs_dim=int(obs_shape[0]),
            action_dim=int(act_shape[0]),
            action_low=tuple(low.tolist()),
            action_high=tuple(high.tolist()),
            obs_horizon=obs_horizon,
            action_horizon=action_horizon,
        )

    @property
    def flat_obs_dim(self) -> int:
        """Size of the flattened observation window ``obs_horizon * obs_dim``."""
        return self.obs_horizon * self.obs_dim

    @property
    def flat_action_dim(self) -> int:
        """Size of the flattened action chunk ``action_horizon * action_dim``."""
        return self.action_horizon * self.action_dim

    def _bounds(self, last: int) -> tuple[jax.Array, jax.Array]:
        low = jnp.asarray(self.action_low, jnp.float32)
        high = jnp.asarray(self.action_high, jnp.float32)
        reps = last // self.action_dim
        if reps * self.action_dim != last:
            raise ValueError(
                f"action size {last} is not a multiple of action_dim={self.action_dim}"
            )
        return jnp.tile(low, reps), jnp.tile(high, reps)

    def normalize_action(self, a: jax.Array) -> jax.Array:
        """Environment units ``(..., k*A)`` -> ``[-1, 1]`` (clipped)."""
        low, high = self._bounds(a.shape[-1])
        return jnp.clip(2.0 * (a - low) / (high - low) - 1.0, -1.0, 1.0)

    def denormalize_action(self, a: jax.Array) -> jax.Array:
        """``[-1, 1]`` ``(..., k*A)`` -> environment units."""
        low, high = self._bounds(a.shape[-1])
        return low + (jnp.clip(a, -1.0, 1.0) + 1.0) * 0.5 * (high - low)

    def with_obs_normalizer(self, shift: Any, scale: Any) -> Spec:
        """A copy that normalises observations ``(obs - shift) / scale`` (per-step stats ``(D,)``)."""
        return dataclasses.replace(
            self,
            obs_shift=tuple(np.asarray(shift, np.float64).reshape(-1).tolist()),
            obs_scale=tuple(np.asarray(scale, np.float64).reshape(-1).tolist()),
        )

    def normalize_obs(self, obs: jax.Array) -> jax.Array:
        """Apply the observation normaliser (if any) to ``(..., k*D)`` observations."""
        if self.obs_shift is None:
            return obs
        reps = obs.shape[-1] // max(self.obs_dim, 1)
        shift = jnp.tile(jnp.asarray(self.obs_shift, jnp.float32), reps)
        scale = jnp.tile(jnp.asarray(self.obs_scale, jnp.float32), reps)
        return (obs - shift) / scale

    def flatten_obs(self, obs: jax.Array) -> jax.Array:
        """``(B, obs_horizon, D)`` or ``(B, obs_horizon*D)`` -> normalised ``(B, obs_horizon*D)``."""
        obs = jnp.asarray(obs, jnp.float32)
        if obs.ndim == 3:
            obs = obs.reshape(obs.shape[0], -1)
        if obs.ndim != 2 or obs.shape[-1] != self.flat_obs_dim:
            raise ValueError(
                f"expected observations of shape (B, {self.flat_obs_dim}) or "
                f"(B, {self.obs_horizon}, {self.obs_dim}); got {tuple(obs.shape)}"
            )
        return self.normalize_obs(obs)

    def flatten_actions(self, actions: jax.Array) -> jax.Array:
        """``(B, action_horizon, A)`` or ``(B, action_horizon*A)`` -> ``(B, action_horizon*A)``."""
        actions = jnp.asarray(actions, jnp.float32)
        if actions.ndim == 3:
            actions = actions.reshape(actions.shape[0], -1)
        if actions.ndim != 2 or actions.shape[-1] != self.flat_action_dim:
            raise ValueError(
                f"expected actions of shape (B, {self.flat_action_dim}) or "
                f"(B, {self.action_horizon}, {self.action_dim}); got {tuple(actions.shape)}"
            )
        return actions

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict."""
        d = dataclasses.asdict(self)
        for k in ("action_low", "action_high", "obs_shift", "obs_scale"):
            d[k] = None if d[k] is None else list(d[k])
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Spec:
        """Inverse of :meth:`to_dict`."""
        return cls(
            **{**d, "action_low": tuple(d["action_low"]), "action_high": tuple(d["action_high"])}
        )


# --------------------------------------------------------------------------------------------
# Functional NNX train state
# --------------------------------------------------------------------------------------------


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


def make_optimizer(
    lr: float, *, grad_clip: float | None = None, weight_decay: float = 0.0, eps: float = 1e-8
) -> optax.GradientTransformation:
    """Adam(W) with optional global-norm clipping."""
    opt = (
        optax.adamw(lr, eps=eps, weight_decay=weight_decay)
        if weight_decay
        else optax.adam(lr, eps=eps)
    )
    return optax.chain(optax.clip_by_global_norm(grad_clip), opt) if grad_clip else opt


def polyak(target: Any, online: Any, tau: float) -> Any:
    """``target <- (1 - tau) * target + tau * online`` leaf-wise."""
    return optax.incremental_update(online, target, tau)


def as_tuple(v: Any) -> Any:
    """Lists (e.g. from YAML) -> tuples, recursively, so configs stay hashable."""
    if isinstance(v, list | tuple):
        return tuple(as_tuple(x) for x in v)
    return v


def make_config(cls: type, overrides: Mapping[str, Any] | None, *, where: str = "") -> Any:
    """``cls(**overrides)``; unknown keys or invalid values are a ``ConfigError`` naming them."""
    from sensorimotor.core.errors import ConfigError

    overrides = dict(overrides or {})
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(overrides) - names)
    prefix = f"{where}." if where else ""
    if unknown:
        raise ConfigError(
            f"unknown {cls.__name__} key {prefix}{unknown[0]}; valid keys: {sorted(names)}"
        )
    try:
        return cls(**{k: as_tuple(v) for k, v in overrides.items()})
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where or cls.__name__}: {e}") from None


# --------------------------------------------------------------------------------------------
# Pytree <-> nested dict (for checkpoints)
# --------------------------------------------------------------------------------------------


def _key_name(k: Any) -> str:
    for attr in ("key", "name", "idx"):
        if hasattr(k, attr):
            return str(getattr(k, attr))
    return str(k)


def tree_to_nested(tree: Any) -> dict[str, Any]:
    """A pytree's array leaves as a nested ``dict[str, ...]`` keyed by their tree paths."""
    out: dict[str, Any] = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        keys = [_key_name(k) for k in path] or ["_"]
        node = out
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        node[keys[-1]] = np.asarray(leaf)
    return out


def nested_to_tree(target: Any, nested: Mapping[str, Any], *, where: str = "checkpoint") -> Any:
    """Fill ``target``'s leaves from ``nested`` (as made by :func:`tree_to_nested`).

    Missing keys or shape mismatches raise a ``ValueError`` naming the leaf.
    """
    flat, treedef = jax.tree_util.tree_flatten_with_path(target)
    leaves = []
    for path, leaf in flat:
        keys = [_key_name(k) for k in path] or ["_"]
        node: Any = nested
        for k in keys:
            if not isinstance(node, Mapping) or k not in node:
                raise ValueError(f"{where}: missing entry {'/'.join(keys)}")
            node = node[k]
        value = np.asarray(node)
        if value.shape != np.shape(leaf):
            raise ValueError(
                f"{where}: {'/'.join(keys)} has shape {value.shape}; expected {np.shape(leaf)}"
            )
        leaves.append(jnp.asarray(value, dtype=jnp.asarray(leaf).dtype))
    return jax.tree_util.tree_unflatten(treedef, [x for x in leaves])


# --------------------------------------------------------------------------------------------
# Learner base
# --------------------------------------------------------------------------------------------

FACTORIES = {
    "policy": "sensorimotor.policies:create_policy",
    "critic": "sensorimotor.agents.critics:create_critic",
    "agent": "sensorimotor.agents:create_agent",
}


def _import(target: str) -> Any:
    module, attr = target.split(":")
    return getattr(importlib.import_module(module), attr)


class Learner(struct.PyTreeNode):
    """Base of every policy, critic and agent: a pytree with a pure ``update``.

    Subclasses set ``kind`` (``"policy" | "critic" | "agent"``) and keep the factory ``name``,
    :class:`Spec` and frozen config dataclass as static fields so that ``save``/``load``
    can rebuild them.
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
            "config": _jsonable(dataclasses.asdict(self.config)),
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
        from sensorimotor.core.checkpoint import CheckpointManager

        path = Path(path).resolve()  # orbax needs absolute paths
        meta = self.metadata()
        if extra:
            meta["extra"] = _jsonable(dict(extra))
        s = int(jax.device_get(getattr(self, "step", 0))) if step is None else int(step)
        CheckpointManager(path, keep=2).save(s, self.state_dict(), meta)
        return path

    @classmethod
    def load(cls, path: str | Path, *, step: int | None = None) -> Any:
        """Rebuild a saved learner (of any kind) from the checkpoint directory ``path``."""
        return load_learner(path, step=step)


def load_learner(
    path: str | Path, *, step: int | None = None, expected_kind: str | None = None
) -> Any:
    """Rebuild the learner saved under ``path`` (latest intact step unless ``step`` is given)."""
    from sensorimotor.core.checkpoint import CheckpointManager
    from sensorimotor.core.errors import DataError

    path = Path(path).resolve()  # orbax needs absolute paths
    mgr = CheckpointManager(path, keep=2)
    info = mgr.latest()
    if info is None:
        raise DataError(f"{path}: no intact checkpoint found")
    meta = dict(info.metadata or {})
    for key in ("kind", "name", "spec", "config"):
        if key not in meta:
            raise DataError(
                f"{path}: checkpoint metadata lacks {key!r}; not a sensorimotor learner"
            )
    if expected_kind and meta["kind"] != expected_kind:
        raise DataError(f"{path}: holds a {meta['kind']!r}; expected a {expected_kind!r}")
    factory = _import(FACTORIES[meta["kind"]])
    fresh = factory(meta["name"], Spec.from_dict(meta["spec"]), config=meta["config"])
    nested, _ = mgr.restore(step=step)
    return fresh.load_state_dict(nested, where=str(path))


def _jsonable(v: Any) -> Any:
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


def ensure_batched(obs: jax.Array, flat_dim: int) -> tuple[jax.Array, bool]:
    """Add a batch axis to a single observation; returns ``(obs (B, ...), was_single)``."""
    obs = jnp.asarray(obs, jnp.float32)
    if obs.ndim == 1 and obs.shape[0] == flat_dim:
        return obs[None], True
    return obs, False
