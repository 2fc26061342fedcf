"""Sequence models: parallel == step-by-step for every backbone and head; training lowers loss."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from sensorimotor.core.errors import ConfigError
from sensorimotor.sequence.models import ModelConfig, SequenceModel
from sensorimotor.sequence.training import loss_fn

SLICES = {"qpos_local": (0, 3), "qvel": (3, 5), "act": (5, 6)}


def _model(kind: str, targets: dict[str, int]) -> SequenceModel:
    cfg = ModelConfig(type=kind, d_model=16, n_layers=2, d_state=8 if kind == "s5" else 4, window=4, hidden=[16], controller_hidden=[16])  # fmt: skip
    return SequenceModel(cfg, 10, targets, SLICES, rngs=nnx.Rngs(0))


@pytest.mark.parametrize("kind", ["s5", "mamba", "gru", "mlp_window"])
@pytest.mark.parametrize("targets", [{"action": 4}, {"intention": 3, "action": 4}])
def test_step_matches_parallel(kind: str, targets: dict[str, int]) -> None:
    model = _model(kind, targets)
    x = jax.random.normal(jax.random.key(0), (2, 9, 10))
    out, _ = model(x)
    assert {k: v.shape for k, v in out.items()} == {k: (2, 9, d) for k, d in targets.items()}
    step = nnx.jit(lambda m, s, x_t: m.step(s, x_t))
    state = model.initial_state((2,))
    steps = []
    for t in range(9):
        state, o = step(model, state, x[:, t])
        steps.append(o["action"])
    np.testing.assert_allclose(jnp.stack(steps, 1), out["action"], rtol=1e-4, atol=1e-4)


def test_hierarchical_action_depends_on_intention_and_proprio() -> None:
    model = _model("s5", {"intention": 3, "action": 4})
    assert model.hierarchical and "action" not in model.heads
    x = jax.random.normal(jax.random.key(1), (1, 5, 10))
    fwd = nnx.jit(lambda m, x: m(x)[0]["action"])
    base = fwd(model, x)
    x2 = x.at[..., 0].add(1.0)  # qpos_local column feeds the controller directly
    assert not np.allclose(fwd(model, x2)[:, 0], base[:, 0])


def test_unknown_controller_key_is_a_config_error() -> None:
    cfg = ModelConfig(type="gru", d_model=8, n_layers=1, controller_keys=["nope"])
    with pytest.raises(ConfigError, match="controller_keys.*nope"):
        SequenceModel(cfg, 10, {"intention": 2, "action": 3}, SLICES, rngs=nnx.Rngs(0))


@pytest.mark.parametrize("kind", ["s5", "mamba"])
def test_a_few_train_steps_lower_the_loss(kind: str) -> None:
    model = _model(kind, {"action": 4})
    key = jax.random.key(2)
    x = jax.random.normal(key, (4, 12, 10))
    y = jnp.tanh(jnp.cumsum(x[..., :4], axis=1) * 0.3)  # depends on the history
    batch = {"x": x, "action": y}
    opt = nnx.Optimizer(model, optax.adam(3e-3), wrt=nnx.Param)

    @nnx.jit
    def step(model: SequenceModel, opt: nnx.Optimizer) -> jax.Array:
        (loss, _), grads = nnx.value_and_grad(loss_fn, has_aux=True)(model, batch, {})
        opt.update(model, grads)
        return loss

    first = float(step(model, opt))
    for _ in range(15):
        last = float(step(model, opt))
    assert last < 0.7 * first
