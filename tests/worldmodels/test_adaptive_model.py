"""The adaptive world model on a tiny toroidal dot: gating, levels, persistence and the
counterfactual action tests (with a negative control that ignores its actions)."""

from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
import yaml

import sensorimotor
from sensorimotor.robots.toroidal_dot import ToroidalDotRobot
from sensorimotor.worldmodels.adaptive.config import AdaptiveModelConfig
from sensorimotor.worldmodels.adaptive.model import AdaptiveWorldModel
from sensorimotor.worldmodels.adaptive.quality import action_tests, adaptive_targets
from sensorimotor.worldmodels.config import CanvasTrainerConfig
from sensorimotor.worldmodels.quality import HeldOutSet

TINY_ROBOT = {"width": 16, "height": 16, "dot_radius": 2, "move_pixels": 5}


def tiny_config(**overrides) -> AdaptiveModelConfig:
    """``configs/robots/model/adaptive_tiny.yaml`` with ``overrides``."""
    path = (
        Path(sensorimotor.__file__).parent / "configs" / "robots" / "model" / "adaptive_tiny.yaml"
    )
    return AdaptiveModelConfig(**{**yaml.safe_load(path.read_text()), **overrides})


def tiny_model(seed=0, **overrides):
    robot = ToroidalDotRobot(seed=seed, **TINY_ROBOT)
    trainer = CanvasTrainerConfig(
        lr=3e-3, warmup_steps=2, batch_size=4, history=64, normalizer_frames=1
    )
    return robot, AdaptiveWorldModel(
        tiny_config(**overrides), trainer, robot.action_space, (16, 16), seed=seed
    )


def test_the_robot_waits_while_it_cannot_see_and_acts_once_it_can():
    robot, model = tiny_model(reconstruction_threshold=0.0)  # never good enough
    for _ in range(4):
        info = model.step(robot)
        assert info.gated and info.action is None
    assert model.robot_steps == 0 and model.mae_steps == 4
    assert model.history.count == 1  # the robot waited: one moment, looked at four times
    robot, model = tiny_model(reconstruction_threshold=1e9)  # always good enough
    x0 = robot.x
    infos = [model.step(robot) for _ in range(6)]
    assert not any(i.gated for i in infos) and model.robot_steps == 6 and model.mae_steps == 0
    assert model.history.count == 6
    moved = sum(i.action_index == 1 for i in infos)
    assert robot.x == (x0 + 5 * moved) % 16
    assert model.levels[0].train_steps > 0  # predictions above the threshold were trained on


def test_inputs_are_z_scored_after_a_warm_up_and_the_gate_is_relative_to_the_frame_variance():
    robot = ToroidalDotRobot(seed=0, **TINY_ROBOT)
    trainer = CanvasTrainerConfig(lr=3e-3, warmup_steps=2, batch_size=4, history=64)
    trainer.normalizer_frames = 3
    model = AdaptiveWorldModel(
        tiny_config(reconstruction_threshold=0.0), trainer, robot.action_space, (16, 16)
    )
    warm = [model.step(robot) for _ in range(2)]  # the robot acts, nothing trains
    assert [i.gated for i in warm] == [False, False] and model.input_norm is None
    assert all(i.recon_error is None for i in warm) and model.mae_steps == 0
    assert model.levels[0].train_steps == 0
    info = model.step(robot)  # the third frame: fit the z-score, then gate (threshold 0)
    assert info.gated and model.mae_steps == 1
    frames = model.history.frames[:3].reshape(-1, 3) / 255.0
    np.testing.assert_allclose(model.input_norm.shift, frames.mean(0), rtol=1e-5)
    np.testing.assert_allclose(model.input_norm.scale, frames.std(0), rtol=1e-4)
    # The gate's number: reconstruction MSE over the frame's own variance.
    frame = model.history.frames[2]
    mse, relative = model.reconstruction_error(frame[None])
    variance = ((frame / 255.0 - (frame / 255.0).mean(axis=(0, 1))) ** 2).mean()
    assert relative[0] == pytest.approx(mse[0] / variance, rel=1e-4)
    assert info.recon_error == pytest.approx(mse[0], rel=1e-4)
    # The z-score travels with the checkpoint.
    _, fresh = tiny_model()
    fresh.load_state_dict(model.state_dict())
    np.testing.assert_array_equal(fresh.input_norm.shift, model.input_norm.shift)
    np.testing.assert_array_equal(fresh.input_norm.scale, model.input_norm.scale)


def test_uncertainty_picks_the_action_the_heads_disagree_on():
    robot, model = tiny_model(reconstruction_threshold=1e9)
    for _ in range(4):
        model.step(robot)
    scores = {"variance": np.asarray([0.1, 0.3]), "frames": np.zeros((2, 16, 16, 3))}
    assert model.choose(model.candidate_actions(), scores) == 1
    scores["variance"] = np.asarray([0.5, 0.3])
    assert model.choose(model.candidate_actions(), scores) == 0


def test_the_state_dict_round_trips_every_level():
    robot, model = tiny_model(reconstruction_threshold=1e9)
    for _ in range(5):
        model.step(robot)
    model.add_level()
    state = model.state_dict()
    _, fresh = tiny_model(reconstruction_threshold=1e9)
    fresh.load_state_dict(state)
    assert len(fresh.levels) == 2 and fresh.iteration == 5 and fresh.history.count == 5
    assert fresh.levels[1].state.params["predictor"]["action_mlp1"]["kernel"].shape[0] == 2
    for a, b in zip(
        model.state_dict()["levels"]["1"]["params"].values(),
        state["levels"]["1"]["params"].values(),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)
    assert [a.tolist() for a in fresh.action_log] == [a.tolist() for a in model.action_log]


def heldout(robot, steps=40, seed=1):
    rng = np.random.default_rng(seed)
    frames, actions = [], []
    for _ in range(steps):
        frames.append(np.asarray(robot.get_observation()["image"]))
        a = int(rng.integers(2))
        actions.append(a)
        robot.execute_action({"action": a})
    return HeldOutSet.from_frames(np.stack(frames), np.asarray(actions), slots=3)


def test_the_shuffle_test_fails_for_a_model_that_ignores_its_actions():
    robot, model = tiny_model(reconstruction_threshold=1e9)
    nets = model.levels[0].state.module()
    p = nets.predictor
    # Cut every route of the action into the prediction: the embedding's output and FiLM.
    p.action_mlp2.kernel[...] = jnp.zeros_like(p.action_mlp2.kernel[...])
    p.action_mlp2.bias[...] = jnp.zeros_like(p.action_mlp2.bias[...])
    from flax import nnx

    _, params, _ = nnx.split(nets, nnx.Param, ...)
    model.levels[0].state = model.levels[0].state.replace(params=params)
    data = heldout(ToroidalDotRobot(seed=3, **TINY_ROBOT))
    model.fit_input_norm(data.targets)
    tests = action_tests(model, data)
    assert tests["shuffle_ratio"] == pytest.approx(1.0, abs=1e-6)
    assert tests["zero_ratio"] == pytest.approx(1.0, abs=1e-6)
    assert not adaptive_targets(tests)["shuffled-action error >= 5 x true-action error"]


class _Oracle:
    """A 'model' that predicts the dot exactly from its frames and actions (the positive control)."""

    def __init__(self, move):
        self.move = move

    def action_vectors(self, indices):
        return np.asarray(indices, np.float32)[..., None] * 2 - 1

    def predict(self, context, actions, **_):
        moved = actions[:, -1, 0] > 0
        frames = context[:, -1].astype(np.float32) / 255
        frames[moved] = np.roll(frames[moved], self.move, axis=2)
        return {"frames": frames}


def test_the_shuffle_test_passes_for_a_model_that_uses_its_actions():
    data = heldout(ToroidalDotRobot(seed=3, **TINY_ROBOT), steps=60)
    tests = action_tests(_Oracle(5), data)
    assert tests["mse_true_actions"] == pytest.approx(0.0, abs=1e-9)
    assert tests["shuffle_ratio"] > 5 and tests["zero_ratio"] > 5
