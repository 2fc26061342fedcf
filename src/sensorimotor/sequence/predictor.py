"""Step-by-step prediction from a trained run: recurrent state, or a sliding context window.

The predictor loads the latest intact checkpoint of a run (params + normalisation stats),
takes raw inputs (the mode's ``x``, e.g. the observation) one step at a time and returns raw
outputs (e.g. the next action); normalisation happens inside. ``reset()`` starts a new episode.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from sensorimotor.core.checkpoint import CheckpointManager, nested_to_tree
from sensorimotor.core.config import config_from_dict
from sensorimotor.core.errors import DataError
from sensorimotor.core.normalize import Normalizer
from sensorimotor.sequence.config import SequenceConfig
from sensorimotor.sequence.models import SequenceModel


def load_run(
    run_dir: str | Path, step: int | None = None
) -> tuple[SequenceModel, dict[str, Normalizer], dict[str, Any]]:
    """Model (eval mode), normalisers and checkpoint metadata of a run's checkpoint."""
    run_dir = Path(run_dir)
    mgr = CheckpointManager((run_dir / "checkpoints").resolve())
    if mgr.latest() is None:
        raise DataError(f"{run_dir}: no intact checkpoint in {run_dir / 'checkpoints'}")
    tree, meta = mgr.restore(step)
    cfg = config_from_dict(SequenceConfig, meta["config"])
    slices = {k: tuple(v) for k, v in meta["feature_slices"].items()}
    model = SequenceModel(cfg.model, meta["d_in"], meta["target_dims"], slices, rngs=nnx.Rngs(0))
    params = nested_to_tree(
        nnx.state(model, nnx.Param),
        tree["params"],
        where=f"{run_dir / 'checkpoints'} params",
        strip_value=True,
    )
    nnx.update(model, params)
    model.eval()
    kinds = meta.get("normalizer_kinds", {})
    norms = {
        k: Normalizer.from_dict({"kind": kinds.get(k, "zscore"), **v})
        for k, v in tree["normalizers"].items()
    }
    return model, norms, meta


class Predictor:
    """One-step-at-a-time predictions with the model's recurrent state (or a context window)."""

    def __init__(
        self,
        model: SequenceModel,
        normalizers: dict[str, Normalizer],
        meta: dict[str, Any] | None = None,
        *,
        window: int = 64,
    ) -> None:
        self.meta = meta or {}
        self.normalizers = normalizers
        self.window = window
        self.graphdef, self.params = nnx.split(model)
        self.d_in = int(np.asarray(normalizers["x"].shift).shape[-1])

        def step(params: Any, state: Any, x: jax.Array) -> tuple[Any, dict[str, jax.Array]]:
            m = nnx.merge(self.graphdef, params)
            xn = normalizers["x"].normalize(x)
            state, out = m.step(state, xn[None])
            return state, {k: normalizers[k].denormalize(v[0]) for k, v in out.items()}

        def window_fn(params: Any, xs: jax.Array) -> dict[str, jax.Array]:
            m = nnx.merge(self.graphdef, params)
            out, _ = m(normalizers["x"].normalize(xs)[None])
            return {k: normalizers[k].denormalize(v[0, -1]) for k, v in out.items()}

        self._step = jax.jit(step)
        self._window = jax.jit(window_fn)
        self._init_state = model.initial_state((1,))
        self.reset()

    @classmethod
    def from_run(cls, run_dir: str | Path, step: int | None = None, **kwargs: Any) -> Predictor:
        """A predictor for the latest (or ``step``) checkpoint of a run directory."""
        model, norms, meta = load_run(run_dir, step)
        return cls(model, norms, meta, **kwargs)

    def reset(self) -> None:
        """Forget the past: zero recurrent state, empty context window."""
        self.state = self._init_state
        self.history: deque[np.ndarray] = deque(maxlen=self.window)

    def _check(self, x: np.ndarray) -> jax.Array:
        x = np.asarray(x, np.float32)
        if x.shape != (self.d_in,):
            raise DataError(f"predictor input must have shape ({self.d_in},), got {x.shape}")
        return jnp.asarray(x)

    def predict(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Raw outputs for raw input ``x (D_in,)``, advancing the recurrent state."""
        self.state, out = self._step(self.params, self.state, self._check(x))
        return {k: np.asarray(v) for k, v in out.items()}

    def predict_window(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Raw outputs from re-running the model on the last ``window`` inputs (no carried state)."""
        self.history.append(np.asarray(self._check(x)))
        xs = np.stack(self.history)
        if len(xs) < self.window:  # pad at the front so every call has one compiled shape
            pad = np.zeros((self.window - len(xs), xs.shape[1]), np.float32)
            xs = np.concatenate([pad + np.asarray(self.normalizers["x"].shift), xs])
        out = self._window(self.params, jnp.asarray(xs))
        return {k: np.asarray(v) for k, v in out.items()}
