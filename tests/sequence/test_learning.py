"""Tests that fail on learning bugs of the sequence models and their trainer: a train step that does
not update, a loss that does not fall on a fixed batch, and outputs that ignore their inputs (or
look into the future)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from sensorimotor.core.checkpoint import tree_to_nested
from sensorimotor.core.config import config_from_dict
from sensorimotor.learners.state import TrainState
from sensorimotor.sequence.config import SequenceConfig
from sensorimotor.sequence.models import ModelConfig, SequenceModel

B, T, D = 8, 12, 2


def _model(kind: str) -> SequenceModel:
    cfg = ModelConfig(type=kind, d_model=16, n_layers=1, d_state=8, window=4, hidden=[16])
    return SequenceModel(cfg, D, {"state": D}, {}, rngs=nnx.Rngs(0))


def _delay_batch() -> dict[str, jnp.ndarray]:
    """Inputs ``x (B, T, D)`` and the target ``state``: the input of the step before (needs memory)."""
    x = np.random.default_rng(0).normal(size=(B, T, D)).astype(np.float32)
    target = np.concatenate([np.zeros((B, 1, D), np.float32), x[:, :-1]], axis=1)
    return {"x": jnp.asarray(x), "state": jnp.asarray(target)}


@pytest.mark.parametrize(
    "kind", ["gru"]
)  # the step is shared by every backbone; gru compiles fastest
def test_train_step_updates_all_parameters_and_learns_a_delay(kind: str) -> None:
    from sensorimotor.sequence.training import make_sequence_optimizer, train_step

    cfg = config_from_dict(
        SequenceConfig, {"trainer": {"lr": 1e-2, "steps": 200, "warmup_steps": 1}}
    )
    state = TrainState.create(_model(kind), make_sequence_optimizer(cfg))
    batch = _delay_batch()
    before = tree_to_nested(state.params, sep=".", strip_value=True)
    losses = []
    for _ in range(60):
        state, stats = train_step(state, batch, (("state", 1.0),))
        losses.append(float(stats["loss"]))
    after = tree_to_nested(state.params, sep=".", strip_value=True)
    unchanged = [k for k in before if np.array_equal(before[k], after[k])]
    assert not unchanged, f"parameters the train step never changed: {unchanged[:5]}"
    assert np.mean(losses[-5:]) < 0.5 * losses[0], losses[::10]


@pytest.mark.parametrize("kind", ["s5", "gru", "mamba", "mlp_window"])
def test_outputs_depend_on_past_inputs_and_not_on_future_ones(kind: str) -> None:
    model = _model(kind)
    x = _delay_batch()["x"]
    changed = x.at[:, 5].add(1.0)  # perturb step 5 only
    forward = nnx.jit(lambda m, x: m(x))  # eagerly, the scans dispatch op by op (tens of seconds)
    out, _ = forward(model, x)
    out2, _ = forward(model, changed)
    diff = np.abs(np.asarray(out["state"] - out2["state"])).max(axis=(0, 2))  # per step
    assert np.all(diff[:5] < 1e-6), f"outputs before step 5 changed: {diff[:5]}"
    assert np.all(diff[5:7] > 1e-4), f"outputs ignore the input at step 5: {diff[5:7]}"
