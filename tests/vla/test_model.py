"""The VLA network: sizes, the flow-matching head on a two-mode toy, input checks."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import yaml
from flax import nnx

from sensorimotor.core.config import config_dir
from sensorimotor.learners.optim import make_optimizer
from sensorimotor.learners.state import TrainState
from sensorimotor.vla.configuration import VARIANTS, VLAConfig
from sensorimotor.vla.modeling import (
    VLA,
    abstract_params,
    count_params,
    flow_matching_loss,
    sample_actions,
)
from sensorimotor.vla.processor import VLAInputError, VLAProcessor
from sensorimotor.vla.tokenizer import InstructionError, decode, encode

from .conftest import tiny_config


def test_large_has_1_2_billion_parameters_without_allocating() -> None:
    n = count_params(abstract_params(VLAConfig.from_variant("large")))
    assert 1.0e9 <= n <= 1.4e9, n


def test_base_is_about_25_million() -> None:
    n = count_params(abstract_params(VLAConfig.from_variant("base")))
    assert 20e6 <= n <= 30e6, n


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_yaml_presets_match_the_variant_table(variant: str) -> None:
    data = yaml.safe_load((config_dir("vla") / "model" / f"{variant}.yaml").read_text())
    assert VLAConfig(**data) == VLAConfig.from_variant(variant)


def test_tokenizer_round_trip_and_errors() -> None:
    ids = encode("Pick up  the RED brick", 32)
    assert ids.shape == (32,) and decode(ids) == "pick up the red brick"
    for bad in ("", "   ", None, 3):
        with pytest.raises(InstructionError, match="non-empty string"):
            encode(bad, 32)  # type: ignore[arg-type]
    with pytest.raises(InstructionError, match="at most 8"):
        encode("a much longer instruction", 8)
    # Task words are one token each; any other word falls back to its bytes and round-trips.
    task = encode("pick up the red brick with the left arm", 16)
    assert int((task != 0).sum()) == 11
    assert decode(encode("Stack the teal brick, please", 40)) == "stack the teal brick, please"


def _toy_batch(key: jax.Array, batch: int) -> dict[str, jax.Array]:
    """Constant observation; action chunk (H=1, A=2) is (+1, +1) or (-1, -1) with equal odds."""
    sign = jnp.where(jax.random.bernoulli(key, 0.5, (batch,)), 1.0, -1.0)
    return {
        "images": jnp.zeros((batch, 1, 8, 8, 3)),
        "tokens": jnp.tile(jnp.asarray(encode("go", 4)), (batch, 1)),
        "state": jnp.zeros((batch, 2)),
        "actions": jnp.broadcast_to(sign[:, None, None], (batch, 1, 2)),
    }


def _fit_toy(head: str, steps: int = 300) -> np.ndarray:
    cfg = tiny_config(
        cameras=("c",),
        image_size=8,
        max_text_tokens=4,
        state_dim=2,
        action_dim=2,
        horizon=1,
        head=head,
        flow_steps=10,
    )
    state = TrainState.create(VLA(cfg, rngs=nnx.Rngs(0)), make_optimizer(3e-3))

    @jax.jit
    def step(state: TrainState, key: jax.Array) -> TrainState:
        k_batch, k_loss = jax.random.split(key)
        loss = lambda p: flow_matching_loss(state.module(p), _toy_batch(k_batch, 128), k_loss)[0]  # noqa: E731
        return state.apply_gradients(jax.grad(loss)(state.params))

    for i in range(steps):
        state = step(state, jax.random.key(i))
    obs = _toy_batch(jax.random.key(0), 512)
    out = jax.jit(
        lambda p: sample_actions(
            state.module(p), obs["images"], obs["tokens"], obs["state"], jax.random.key(7)
        )
    )(state.params)
    return np.asarray(out)[:, 0, :]


def test_flow_matching_recovers_both_modes_and_mse_averages_them() -> None:
    flow = _fit_toy("flow")
    near_pos = np.linalg.norm(flow - 1.0, axis=1) < 0.4
    near_neg = np.linalg.norm(flow + 1.0, axis=1) < 0.4
    assert near_pos.mean() > 0.3 and near_neg.mean() > 0.3, (near_pos.mean(), near_neg.mean())
    assert (near_pos | near_neg).mean() > 0.9
    mse = _fit_toy("mse")
    assert np.abs(mse).max() < 0.3, "the MSE head should predict the average of the two modes"


def _processor() -> VLAProcessor:
    cfg = tiny_config()
    rng = np.random.default_rng(0)
    return VLAProcessor.fit(cfg, rng.normal(size=(50, 12)), rng.normal(size=(50, 12)))


def test_bad_inputs_are_clear_errors() -> None:
    p = _processor()
    img = np.zeros((1, 16, 16, 3), np.uint8)
    good = {"workspace": img, "left_wrist_cam": img}
    assert p.observation(good, ["pick up the red brick"], np.zeros((1, 12)))["images"].shape == (
        1,
        2,
        16,
        16,
        3,
    )
    with pytest.raises(VLAInputError, match=r"lacks camera\(s\) \['left_wrist_cam'\]"):
        p.observation({"workspace": img}, ["pick"], np.zeros((1, 12)))
    with pytest.raises(
        VLAInputError,
        match=r"camera 'workspace': expected images of shape \(B, 16, 16, 3\), got \(1, 32, 32, 3\)",
    ):
        p.observation(
            {**good, "workspace": np.zeros((1, 32, 32, 3), np.uint8)}, ["pick"], np.zeros((1, 12))
        )
    with pytest.raises(InstructionError):
        p.observation(good, [""], np.zeros((1, 12)))
    with pytest.raises(VLAInputError, match="action: expected a last dimension of 12, got shape"):
        p.actions(np.zeros((4, 8, 7)))
    with pytest.raises(VLAInputError, match="state: contains NaN"):
        p.state(np.full((1, 12), np.nan))


def test_mse_head_rejects_nothing_and_flow_needs_time() -> None:
    model = VLA(tiny_config(), rngs=nnx.Rngs(0))
    images = jnp.zeros((2, 2, 16, 16, 3))
    tokens = jnp.tile(jnp.asarray(encode("pick", tiny_config().max_text_tokens)), (2, 1))
    with pytest.raises(ValueError, match="needs noisy_actions"):
        model(images, tokens, jnp.zeros((2, 12)))
    out = model(images, tokens, jnp.zeros((2, 12)), jnp.zeros((2, 4, 12)), jnp.ones(2))
    assert out.shape == (2, 4, 12) and out.dtype == jnp.float32
    bf16 = VLA(tiny_config(dtype="bfloat16"), rngs=nnx.Rngs(0))
    assert (
        bf16(images, tokens, jnp.zeros((2, 12)), jnp.zeros((2, 4, 12)), jnp.ones(2)).dtype
        == jnp.float32
    )


def test_public_names_resolve() -> None:
    import sensorimotor.vla as vla

    assert vla.__all__ and sorted(dir(vla)) == sorted(vla.__all__)
    for name in vla.__all__:
        assert getattr(vla, name) is not None, name
