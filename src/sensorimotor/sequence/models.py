"""Sequence models for every clip mode: S5 and Mamba stacks, plus GRU and MLP-window baselines.

All models map normalised inputs ``x (B, T, D_in)`` to a dict of normalised predictions
``name -> (B, T, D_name)`` in parallel (training, teacher-forced evaluation), and run the same
computation one step at a time with ``step(state, x_t)`` (closed-loop rollouts). In hierarchical
modes (targets ``intention`` and ``action``) the action comes from a controller MLP fed with the
predicted intention and the proprioceptive slices of the input: state -> intention -> action.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import jax
import jax.numpy as jnp
from flax import nnx

from sensorimotor.core.errors import ConfigError
from sensorimotor.nn.mamba import MambaStack
from sensorimotor.nn.mlp import MLP
from sensorimotor.nn.s5 import S5Stack

Outputs = dict[str, jax.Array]


@dataclass
class ModelConfig:
    """Backbone type and size; heads follow the dataset's targets."""

    type: Literal["s5", "mamba", "gru", "mlp_window"] = "s5"
    d_model: int = 128
    n_layers: int = 4
    d_state: int = 64
    blocks: int = 1
    expand: int = 2
    d_conv: int = 4
    dropout: float = 0.0
    scan: Literal["parallel", "sequential"] = "parallel"
    window: int = 16
    hidden: list[int] = field(default_factory=lambda: [256, 256])
    controller_hidden: list[int] = field(default_factory=lambda: [256, 256])
    controller_keys: list[str] = field(default_factory=lambda: ["qpos_local", "qvel", "act"])


class GRUStack(nnx.Module):
    """Stacked GRU cells: ``(B, T, H) -> (B, T, H)``, carry per layer."""

    def __init__(self, d_model: int, n_layers: int, *, rngs: nnx.Rngs):
        self.cells = nnx.List([nnx.GRUCell(d_model, d_model, rngs=rngs) for _ in range(n_layers)])
        self.d_model = d_model

    def initial_state(self, batch_shape: tuple[int, ...] = ()) -> list[jax.Array]:
        """Zero carries."""
        return [jnp.zeros((*batch_shape, self.d_model)) for _ in self.cells]

    def __call__(self, x: jax.Array, state: list[jax.Array] | None = None):
        """``x (B, T, H) -> (y, final carries)``."""
        state = state if state is not None else self.initial_state(x.shape[:-2])
        xs = jnp.moveaxis(x, -2, 0)
        new = []
        for cell, h0 in zip(self.cells, state, strict=True):

            def body(h: jax.Array, x_t: jax.Array, cell: nnx.GRUCell = cell):
                h, y = cell(h, x_t)
                return h, y

            h, xs = jax.lax.scan(body, h0, xs)
            new.append(h)
        return jnp.moveaxis(xs, 0, -2), new

    def step(self, state: list[jax.Array], x: jax.Array):
        """One step on ``x (B, H)``."""
        new = []
        for cell, h in zip(self.cells, state, strict=True):
            h, x = cell(h, x)
            new.append(h)
        return new, x


class WindowMLP(nnx.Module):
    """MLP over the last ``window`` inputs (zero-padded at the start): ``(B, T, D) -> (B, T, H)``."""

    def __init__(self, d_in: int, window: int, hidden: list[int], d_out: int, *, rngs: nnx.Rngs):
        self.window, self.d_in = window, d_in
        self.mlp = MLP(window * d_in, hidden, d_out, activation="gelu", layer_norm=True, rngs=rngs)

    def initial_state(self, batch_shape: tuple[int, ...] = ()) -> jax.Array:
        """Zero buffer of the last ``window`` inputs ``(..., W, D)``."""
        return jnp.zeros((*batch_shape, self.window, self.d_in))

    def __call__(self, x: jax.Array, state: jax.Array | None = None):
        """``x (B, T, D) -> (features (B, T, H), last window)``."""
        past = state if state is not None else self.initial_state(x.shape[:-2])
        full = jnp.concatenate([past, x], axis=-2)
        t = x.shape[-2]
        w = self.window
        wins = jnp.concatenate([full[..., i + 1 : i + 1 + t, :] for i in range(w)], axis=-1)
        return self.mlp(wins), full[..., -w:, :]

    def step(self, state: jax.Array, x: jax.Array):
        """One step on ``x (B, D)``."""
        buf = jnp.concatenate([state[..., 1:, :], x[..., None, :]], axis=-2)
        return buf, self.mlp(buf.reshape(*buf.shape[:-2], -1))


class SequenceModel(nnx.Module):
    """Backbone + heads for one dataset mode (see module docstring)."""

    def __init__(
        self,
        cfg: ModelConfig,
        d_in: int,
        target_dims: dict[str, int],
        feature_slices: dict[str, tuple[int, int]],
        *,
        rngs: nnx.Rngs,
    ):
        self.cfg = cfg
        self.target_names = sorted(target_dims)
        self.hierarchical = {"intention", "action"} <= set(target_dims)
        h = cfg.d_model
        if cfg.type == "mlp_window":
            self.encoder = None
            self.backbone = WindowMLP(d_in, cfg.window, list(cfg.hidden), h, rngs=rngs)
        else:
            self.encoder = nnx.Linear(d_in, h, rngs=rngs)
            if cfg.type == "s5":
                self.backbone = S5Stack(
                    h,
                    cfg.d_state,
                    cfg.n_layers,
                    blocks=cfg.blocks,
                    dropout=cfg.dropout,
                    scan=cfg.scan,
                    rngs=rngs,
                )
            elif cfg.type == "mamba":
                self.backbone = MambaStack(
                    h,
                    cfg.n_layers,
                    d_state=cfg.d_state,
                    expand=cfg.expand,
                    d_conv=cfg.d_conv,
                    dropout=cfg.dropout,
                    scan=cfg.scan,
                    rngs=rngs,
                )
            elif cfg.type == "gru":
                self.backbone = GRUStack(h, cfg.n_layers, rngs=rngs)
            else:
                raise ConfigError(
                    f"model.type: unknown {cfg.type!r}; expected s5, mamba, gru or mlp_window"
                )
        direct = [k for k in self.target_names if not (self.hierarchical and k == "action")]
        self.heads = nnx.Dict({k: nnx.Linear(h, target_dims[k], rngs=rngs) for k in direct})
        if self.hierarchical:
            missing = [k for k in cfg.controller_keys if k not in feature_slices]
            if missing:
                raise ConfigError(
                    f"model.controller_keys {missing} are not input features; "
                    f"available: {sorted(feature_slices)}"
                )
            self.ctrl_cols = tuple(feature_slices[k] for k in cfg.controller_keys)
            d_ctrl = sum(b - a for a, b in self.ctrl_cols) + target_dims["intention"]
            self.controller = MLP(
                d_ctrl,
                list(cfg.controller_hidden),
                target_dims["action"],
                activation="gelu",
                rngs=rngs,
            )

    def _heads(self, feats: jax.Array, x: jax.Array) -> Outputs:
        out = {k: head(feats) for k, head in self.heads.items()}
        if self.hierarchical:
            prop = [x[..., a:b] for a, b in self.ctrl_cols]
            out["action"] = self.controller(jnp.concatenate([out["intention"], *prop], axis=-1))
        return out

    def initial_state(self, batch_shape: tuple[int, ...] = ()) -> Any:
        """Recurrent state for ``batch_shape`` (zeros)."""
        return self.backbone.initial_state(batch_shape)

    def __call__(self, x: jax.Array, state: Any = None) -> tuple[Outputs, Any]:
        """``x (B, T, D_in) -> (outputs name -> (B, T, D), final state)``."""
        h = self.encoder(x) if self.encoder is not None else x
        feats, state = self.backbone(h, state)
        return self._heads(feats, x), state

    def step(self, state: Any, x: jax.Array) -> tuple[Any, Outputs]:
        """One step: ``x (B, D_in) -> (new state, outputs name -> (B, D))``."""
        h = self.encoder(x) if self.encoder is not None else x
        state, feats = self.backbone.step(state, h)
        return state, self._heads(feats, x)


def count_params(model: nnx.Module) -> int:
    """Number of trainable parameters."""
    return sum(int(p.size) for p in jax.tree.leaves(nnx.state(model, nnx.Param)))
