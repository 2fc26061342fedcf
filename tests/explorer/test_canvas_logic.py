"""The canvas explorer's logic: the Run tab is `sensorimotor run`'s loop, checkpoints round-trip in
its format, one-frame inference, the action sweep, attention maps, batch training, the roots."""

from __future__ import annotations

import numpy as np
import pytest

from sensorimotor.core.errors import UserError
from sensorimotor.explorer.canvas import CanvasExplorer
from sensorimotor.explorer.checkpoints import list_checkpoints, load_checkpoint, save_checkpoint
from sensorimotor.explorer.training import evaluate_session, train_batches

STEPS = 8


def _explorer(roots, instance: str = "t1") -> CanvasExplorer:
    ex = CanvasExplorer(roots, instance, "canvas_tiny", "debug", [f"steps={STEPS}"])
    ex.open_session(roots.sessions / "toroidal_dot" / "a")
    return ex


@pytest.fixture(scope="module")
def ran(roots) -> CanvasExplorer:
    """An explorer whose fresh model ran STEPS iterations on session `a`."""
    ex = _explorer(roots)
    ex.new_model()
    progress = list(ex.run(STEPS))
    assert progress[-1].finished and progress[-1].iteration == STEPS
    return ex


def _params(state) -> dict:
    return {k: np.asarray(v) for k, v in state["params"].items()}


def test_run_tab_is_the_run_loop(ran, roots) -> None:
    """Same config, same session: the explorer's iterations leave exactly the parameters that
    `sensorimotor run` (robot=replay selector=recorded) leaves."""
    from sensorimotor.core.checkpoint import CheckpointManager
    from sensorimotor.train.canvas.online import run_canvas

    config = ran.run_config(ran.reader)
    config.name = "reference"
    result = run_canvas(config)
    state, meta = CheckpointManager(result.run_dir / "checkpoints").restore()
    assert meta["iteration"] == STEPS == ran.model.iteration
    ours = _params(ran.model.state_dict())
    theirs = _params(state)
    assert ours.keys() == theirs.keys()
    for key in ours:
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-5, atol=1e-6, err_msg=key)
    losses = [x for x in ran.record.loss if x == x]
    assert len(losses) >= STEPS - 3 and len(ran.record.iteration) == STEPS


def test_checkpoint_round_trip_and_resume(ran, roots) -> None:
    from sensorimotor.train.canvas.config import CanvasRunConfig, resume_config
    from sensorimotor.train.canvas.online import run_canvas

    run_dir = save_checkpoint(ran, "rt")
    assert run_dir.name == "explore-t1-rt"
    assert any(r.run_dir == run_dir and r.step == STEPS for r in list_checkpoints(roots.runs))
    other = _explorer(roots, "t2")
    meta = load_checkpoint(other, run_dir)
    assert meta["kind"] == "canvas-online" and other.model.iteration == STEPS
    assert other.robot.position == STEPS  # continues where it stopped on the same session
    for key, value in _params(ran.model.state_dict()).items():
        np.testing.assert_array_equal(value, _params(other.model.state_dict())[key])
    # `sensorimotor run --resume` continues the explorer's checkpoint.
    config = resume_config(run_dir, [f"steps={STEPS + 3}"], CanvasRunConfig)
    result = run_canvas(config, resume=run_dir)
    assert result.steps == STEPS + 3


def test_two_instances_never_collide(roots) -> None:
    a, b = _explorer(roots, "ia"), _explorer(roots, "ib")
    for ex in (a, b):
        ex.new_model()
    paths = {save_checkpoint(a, "same"), save_checkpoint(b, "same")}
    assert len(paths) == 2 and all((p / "checkpoints").is_dir() for p in paths)
    with pytest.raises(UserError, match="name"):
        save_checkpoint(a, "../escape")


def test_inference_sweep_attention(ran) -> None:
    model = ran.model
    one = ran.infer(5)
    assert one["predicted"].shape == model.frame_shape and one["mse"] >= 0
    sweep = ran.sweep(5)
    assert len(sweep["frames"]) == model.num_actions == len(sweep["mse"])
    assert sweep["recorded"] == int(ran.session_frames().actions[5])
    maps = ran.attention_maps(5)
    n = model.layout.num_patches
    assert maps["decoder"].shape == (
        1,
        model.config.decoder_heads or model.config.heads,
        n,
        n,
    ) or maps["decoder"].shape[2:] == (n, n)
    np.testing.assert_allclose(maps["decoder"].sum(-1), 1.0, atol=1e-4)
    visible = ~np.asarray(model.layout.target_mask)
    np.testing.assert_allclose(maps["encoder"][:, :, visible].sum(-1), 1.0, atol=1e-4)
    assert not maps["encoder"][:, :, ~visible].any()
    assert ran.patch_place(0).startswith("slot 0")
    with pytest.raises(UserError, match="pick a frame"):
        ran.infer(0)


def test_batch_training_learns_and_stops(roots) -> None:
    ex = _explorer(roots, "tb")
    ex.new_model()
    before = evaluate_session(ex)["loss"]["mean"]
    progress = list(train_batches(ex, 30))
    assert progress[-1].finished and progress[-1].done == 30
    after = evaluate_session(ex)["loss"]["mean"]
    assert after < 0.75 * before, (before, after)
    ex.stop()  # a stop before the next job does not leak into it
    gen = ex.run(50)
    next(gen)
    ex.stop()
    rest = list(gen)
    assert rest[-1].note == "stopped" and rest[-1].done < 50


def test_outside_roots_refused(roots, tmp_path) -> None:
    ex = CanvasExplorer(roots, "tr")
    with pytest.raises(UserError, match="outside"):
        ex.open_session(tmp_path)
    with pytest.raises(UserError, match="outside"):
        load_checkpoint(ex, "/etc")
