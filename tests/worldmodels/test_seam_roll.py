"""Seam rolls (``trainer.seam_fraction``, ``trainer.seam_frame_share``): x rolls that bring a move
onto a patch-column edge (the frame edge or an inner one), so moves that cross each edge, the one
that wraps around included, are common in training."""

import jax
import numpy as np
import pytest

from sensorimotor.robots.toroidal_dot import ToroidalDotRobot
from sensorimotor.worldmodels.model import CanvasWorldModel
from sensorimotor.worldmodels.quality import bright_centroid

ACTIONS = [{"action": 0}, {"action": 1}]


def _model(tiny, seam_fraction: float, frame_share: float = 1.0) -> CanvasWorldModel:
    trainer = tiny.trainer_config(
        augment=["roll_x"], seam_fraction=seam_fraction, seam_frame_share=frame_share
    )
    return CanvasWorldModel(tiny.model_config(frame_size=[32, 32]), trainer, ACTIONS, (32, 32))


def _moves(model: CanvasWorldModel, n: int, x0: int) -> np.ndarray:
    """``n`` copies of one canvas: the dot moves right twice, from ``x0`` (away from the edge)."""
    robot = ToroidalDotRobot(width=32, height=32, dot_radius=2, move_pixels=5, initial_x=x0)
    frames = []
    for _ in range(3):
        frames.append(model.prepare(robot.get_observation()))
        robot.execute_action({"action": 1})
    return model.build_canvases(np.stack(frames)[None].repeat(n, 0), np.ones((n, 2), np.int32))


def _wrap_fraction(model: CanvasWorldModel, canvases: np.ndarray, seed: int) -> float:
    """Fraction of augmented canvases whose move into the target crosses the frame edge."""
    out = np.asarray(model._augment(canvases, jax.random.key(seed)))
    before = bright_centroid(model.layout.slot(out, 1).astype(np.float32) / 255)[:, 1]
    after = bright_centroid(model.layout.target(out).astype(np.float32) / 255)[:, 1]
    return float((after < before).mean())


@pytest.mark.parametrize("seed", [0, 1])
def test_seam_rolls_make_the_wrap_around_move_common(tiny, seed):
    uniform, seam = _model(tiny, 0.0), _model(tiny, 1.0)
    canvases = _moves(uniform, 512, x0=8)
    # Uniform rolls: the 5 px move crosses the 32 px frame's edge for ~5 of 32 positions.
    assert _wrap_fraction(uniform, canvases, seed) < 0.25
    # Seam rolls put a changed column within half a patch of the edge: about half cross it.
    assert _wrap_fraction(seam, canvases, seed) > 0.35


def _crossed_edges(model: CanvasWorldModel, canvases: np.ndarray, seed: int) -> np.ndarray:
    """Per augmented canvas, the patch column the move enters, or -1 when it stays in its column."""
    out = np.asarray(model._augment(canvases, jax.random.key(seed)))
    patch = model.layout.patch_size
    before = bright_centroid(model.layout.slot(out, 1).astype(np.float32) / 255)[:, 1]
    after = bright_centroid(model.layout.target(out).astype(np.float32) / 255)[:, 1]
    a, b = np.floor(after / patch).astype(int), np.floor(before / patch).astype(int)
    return np.where(a != b, a, -1)


@pytest.mark.parametrize("seed", [0, 1])
def test_seam_rolls_share_the_moves_between_the_frame_edge_and_the_inner_patch_edges(tiny, seed):
    # Patch 8 on the 32 px frame: 4 patch columns, as the default's patch 14 on 56 px.
    def model(fraction: float, share: float = 1.0) -> CanvasWorldModel:
        trainer = tiny.trainer_config(
            augment=["roll_x"], seam_fraction=fraction, seam_frame_share=share
        )
        config = tiny.model_config(frame_size=[32, 32], patch_size=8, separator_width=8)
        return CanvasWorldModel(config, trainer, ACTIONS, (32, 32))

    canvases = _moves(model(0.0), 1024, x0=8)
    # Uniform rolls: the 5 px move crosses one of the 4 edges 5 times in 8, each edge ~1 in 6.
    uniform = _crossed_edges(model(0.0), canvases, seed)
    assert 0.5 < (uniform >= 0).mean() < 0.75
    # Every aimed roll centres the move on an edge, so (nearly) every move crosses one: half of
    # them the frame edge (into column 0), the rest spread evenly over the 3 inner edges.
    entered = _crossed_edges(model(1.0, share=0.5), canvases, seed)
    assert (entered >= 0).mean() > 0.95
    assert 0.4 < (entered == 0).mean() < 0.6
    for column in (1, 2, 3):
        assert 0.12 < (entered == column).mean() < 0.22
    # Frame share 1: the frame edge only, as the first seam rolls did.
    assert (_crossed_edges(model(1.0, share=1.0), canvases, seed) == 0).mean() > 0.9


def test_seam_rolls_keep_the_slots_consistent_and_leave_still_canvases_uniform(tiny):
    model = _model(tiny, 1.0)
    canvases = _moves(model, 64, x0=8)
    out = np.asarray(model._augment(canvases, jax.random.key(3)))
    layout = model.layout
    # Every slot is rolled by the same amount: the moves are still 5 px to the right.
    before = bright_centroid(layout.slot(out, 1).astype(np.float32) / 255, wrap_x=True)[:, 1]
    after = bright_centroid(layout.target(out).astype(np.float32) / 255, wrap_x=True)[:, 1]
    np.testing.assert_allclose((after - before) % 32, 5.0, atol=0.3)
    # The separators (actions) are untouched.
    x = layout.separator_start(0)
    np.testing.assert_array_equal(
        out[:, :, x : x + layout.separator_width], canvases[:, :, x : x + layout.separator_width]
    )
    # A canvas where nothing changes has no seam to aim for: its roll is the uniform one.
    still = model.build_canvases(
        np.repeat(canvases[:1, None, :, :32], 3, axis=1).repeat(64, 0), np.zeros((64, 2), np.int32)
    )
    shifts = np.asarray(model._roll_x_shifts(still, jax.random.key(5)))
    uniform = np.asarray(_model(tiny, 0.0)._roll_x_shifts(still, jax.random.key(5)))
    assert len(set(shifts.tolist())) > 10  # spread over the frame, not pinned to the edge
    assert shifts.shape == uniform.shape == (64,)


def test_seam_frame_share_out_of_range_is_a_clear_error(tiny):
    with pytest.raises(ValueError, match=r"seam_frame_share must be in \[0, 1\], got 1.5"):
        tiny.trainer_config(seam_frame_share=1.5)
