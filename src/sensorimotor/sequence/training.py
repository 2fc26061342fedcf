"""The sequence models' learning pieces: the model for a dataset, the optimiser (the learners'
builder), the loss, the pure train step on a :class:`~sensorimotor.learners.state.TrainState`, the
checkpoint tree and teacher-forced evaluation. The driver around them is
:mod:`sensorimotor.train.sequence`."""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from sensorimotor.core.checkpoint import nested_to_tree, tree_to_nested
from sensorimotor.data.clips.datasets import ClipDataset
from sensorimotor.learners.optim import make_optimizer, warmup_cosine_schedule
from sensorimotor.learners.state import TrainState
from sensorimotor.sequence.config import SequenceConfig
from sensorimotor.sequence.metrics import evaluate_clips
from sensorimotor.sequence.models import SequenceModel


def build_model(cfg: SequenceConfig, dataset: ClipDataset, seed: int) -> SequenceModel:
    """A fresh model sized for ``dataset``."""
    return SequenceModel(
        cfg.model, dataset.d_in, dataset.target_dims, dataset.slices, rngs=nnx.Rngs(seed)
    )


def make_sequence_optimizer(cfg: SequenceConfig) -> optax.GradientTransformation:
    """AdamW with linear warm-up, cosine decay to 5 % of the peak and global-norm clipping (the
    learners' one optimiser builder)."""
    t = cfg.trainer
    schedule = warmup_cosine_schedule(
        t.lr, warmup_steps=max(1, t.warmup_steps), decay_steps=t.steps, end_value=t.lr * 0.05
    )
    return make_optimizer(schedule, weight_decay=t.weight_decay, grad_clip=t.grad_clip)


def loss_fn(
    model: SequenceModel, batch: dict[str, jax.Array], weights: dict[str, float]
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Weighted sum of per-target MSEs (normalised units) and the per-target terms."""
    out, _ = model(batch["x"])
    terms = {k: jnp.mean((out[k] - batch[k]) ** 2) for k in out}
    total = sum(weights.get(k, 1.0) * v for k, v in terms.items())
    return total, terms


@partial(jax.jit, static_argnums=(2,))
def train_step(
    state: TrainState,
    batch: dict[str, jax.Array],
    weights: tuple[tuple[str, float], ...],
) -> tuple[TrainState, dict[str, jax.Array]]:
    """One pure optimisation step: ``(state, batch) -> (new state, loss terms and gradient
    statistics)``. The non-parameter state (dropout RNG counts) is carried forward too."""

    def objective(params: nnx.State) -> tuple[jax.Array, tuple[dict, nnx.State]]:
        model = state.module(params)
        loss, terms = loss_fn(model, batch, dict(weights))
        return loss, (terms, nnx.split(model, nnx.Param, ...)[2])

    (loss, (terms, rest)), grads = jax.value_and_grad(objective, has_aux=True)(state.params)
    state = state.apply_gradients(grads).replace(rest=rest)
    leaves = jax.tree.leaves(grads)
    return state, {
        "loss": loss,
        **{f"loss/{k}": v for k, v in terms.items()},
        "grad_norm": optax.tree.norm(grads),
        "grad_max": jnp.max(jnp.stack([jnp.max(jnp.abs(g)) for g in leaves])),
        "param_norm": optax.tree.norm(jax.tree.leaves(state.params)),
    }


@nnx.jit
def forward(model: SequenceModel, x: jax.Array) -> dict[str, jax.Array]:
    return model(x)[0]


def teacher_forced(model: SequenceModel, dataset: ClipDataset, split: str) -> dict[str, float]:
    """R² per target over whole clips of ``split`` (inputs are the recorded ones)."""
    model.eval()

    def predict(x: np.ndarray) -> dict[str, np.ndarray]:
        xn = dataset.normalizers["x"].normalize(x)[None]
        out = forward(model, jnp.asarray(xn, jnp.float32))
        return {k: np.asarray(dataset.normalizers[k].denormalize(v[0])) for k, v in out.items()}

    metrics = evaluate_clips(dataset.clips(split), predict)
    model.train()
    return metrics


def checkpoint_tree(state: TrainState, step: int, dataset: ClipDataset) -> dict[str, Any]:
    """Params + optimiser state (and its step) + normalisation stats as one pytree (the layout of
    an ``nnx.Optimizer`` state, so older runs still resume)."""
    return {
        "params": tree_to_nested(state.params, strip_value=True),
        "opt_state": {
            "opt_state": tree_to_nested(state.opt_state, strip_value=True),
            "step": np.asarray(step, np.uint32),
        },
        "normalizers": {
            k: {"shift": np.asarray(n.shift), "scale": np.asarray(n.scale)}
            for k, n in dataset.normalizers.items()
        },
    }


def restore_state(state: TrainState, tree: dict[str, Any], where: str) -> TrainState:
    """``state`` with params and optimiser state from a checkpoint tree (:func:`checkpoint_tree`)."""
    return state.replace(
        params=nested_to_tree(
            state.params, tree["params"], where=f"{where} params", strip_value=True
        ),
        opt_state=nested_to_tree(
            state.opt_state,
            tree["opt_state"]["opt_state"],
            where=f"{where} optimiser state",
            strip_value=True,
        ),
    )
