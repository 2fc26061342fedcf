"""Tests that fail on learning bugs of the canvas world model: a train step that does not update,
a loss that does not fall on a fixed batch, and predictions that ignore the action."""

from __future__ import annotations

import numpy as np

from sensorimotor.core.checkpoint import tree_to_nested
from sensorimotor.worldmodels.model import CanvasWorldModel
from sensorimotor.worldmodels.sessions import CanvasDataset, read_session_frames

ACTIONS = [{"action": 0}, {"action": 1}]


def _model(tiny, **trainer) -> CanvasWorldModel:
    config = tiny.trainer_config(augment=[], warmup_steps=0, **trainer)
    return CanvasWorldModel(tiny.model_config(), config, ACTIONS, (16, 16), seed=0)


def _session(session_recorder, model: CanvasWorldModel):
    """A recorded 16x16 toroidal-dot session's frames (the model's normaliser fitted on them)."""
    path = session_recorder(steps=24, width=16, height=16, dot_radius=2, move_pixels=5)
    frames, _ = read_session_frames(path, (16, 16), progress=False)
    model.fit_normalizer(frames.frames)
    return frames


def _fixed_batch(session_recorder, model: CanvasWorldModel) -> np.ndarray:
    frames = _session(session_recorder, model)
    return CanvasDataset([frames], model.layout, model.palette).canvases[:8]


def _flat(tree) -> dict[str, np.ndarray]:
    return tree_to_nested(tree, sep=".", strip_value=True)


def test_train_step_updates_every_layer_and_the_loss_falls_on_a_fixed_batch(
    tiny, session_recorder
) -> None:
    model = _model(tiny, lr=3e-3)
    batch = _fixed_batch(session_recorder, model)
    before = _flat(model.params)
    losses = [model.train_batch(batch, schedule_step=10)[0]["loss"] for _ in range(30)]
    after = _flat(model.params)
    unchanged = [k for k in before if np.array_equal(before[k], after[k])]
    assert not unchanged, f"parameters the train step never changed: {unchanged[:5]}"
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:2]), losses


def test_predictions_depend_on_the_action(tiny, session_recorder) -> None:
    model = _model(tiny)
    frames = _session(session_recorder, model)
    batch = CanvasDataset([frames], model.layout, model.palette).canvases[:8]
    for _ in range(10):
        model.train_batch(batch, schedule_step=10)
    k = model.layout.slots
    ends = np.arange(k, k + 4)
    context = np.stack([frames.frames[t - k + 1 : t] for t in ends])  # (M, K-1, h, w, 3)
    previous = np.stack([frames.actions[t - k + 1 : t - 1] for t in ends])  # (M, K-2)
    futures = model.counterfactual(context, previous)  # (M, A, h, w, 3)
    gap = np.abs(futures[:, 0] - futures[:, 1]).max(axis=(1, 2, 3))
    assert (gap > 1e-3).all(), f"predictions under the two actions are the same: {gap}"


def test_online_prediction_follows_the_action_taken(tiny) -> None:
    """Two copies of one model that differ only in the action they take predict different frames."""
    robot = tiny.robot()
    selector = tiny.selector(robot)
    model = _model(tiny, normalizer_frames=2)
    for _ in range(6):
        model.step(robot, selector)
    twin = _model(tiny, normalizer_frames=2)
    twin.load_state_dict(model.state_dict())
    frame = robot.get_observation()
    model.observe(frame)
    twin.observe(frame)
    stay, move = model.act(ACTIONS[0]), twin.act(ACTIONS[1])
    assert stay is not None and move is not None
    assert np.abs(stay - move).max() > 1e-3
