import numpy as np
import pytest

from sensorimotor.worldmodels.model import CanvasWorldModel
from sensorimotor.worldmodels.quality import (
    HeldOutSet,
    bright_centroid,
    evaluate_quality,
    meets_target,
    wrapped,
)


def dot_frame(x, y, w=32, h=16, r=2):
    frame = np.zeros((h, w, 3), np.float32)
    yy, xx = np.mgrid[0:h, 0:w]
    dx = wrapped(xx - x, w)
    frame[(dx**2 + (yy - y) ** 2) <= r * r] = 1.0
    return frame


def test_bright_centroid_is_wrap_aware():
    frames = np.stack([dot_frame(10, 8), dot_frame(0, 5), dot_frame(31, 5)])
    c = bright_centroid(frames)
    np.testing.assert_allclose(c[0], [8, 10], atol=1e-4)
    np.testing.assert_allclose(c[1], [5, 0], atol=1e-4)  # the dot straddles the seam
    np.testing.assert_allclose(c[2], [5, 31], atol=1e-4)
    naive = bright_centroid(frames[1:2], wrap_x=False)
    assert abs(naive[0, 1] - 0) > 5  # without wrapping the straddling dot lands mid-image
    assert wrapped(np.array([30.0, -30.0]), 32).tolist() == [-2.0, 2.0]


def test_faint_noise_does_not_move_the_centroid():
    frame = dot_frame(20, 6)
    noisy = frame + 0.05 * np.random.default_rng(0).random(frame.shape).astype(np.float32)
    np.testing.assert_allclose(bright_centroid(noisy[None])[0], [6, 20], atol=0.2)


def record(tiny, n, seed):
    robot = tiny.robot(seed)
    selector = tiny.selector(robot, seed)
    frames, actions = [], []
    for _ in range(n):
        obs = robot.get_observation()
        action = selector(obs)
        frames.append(obs["image"])
        actions.append(action["action"])
        robot.execute_action(action)
    return np.stack(frames), np.asarray(actions)


def test_held_out_set_drops_pairs_seen_in_training(tiny):
    frames, actions = record(tiny, 40, 0)
    full = HeldOutSet.from_frames(frames, actions, 3)
    assert len(full) + full.duplicates == 38 and full.dropped == 0
    assert full.duplicates > 0  # the dot keeps still for a few steps: identical canvases count once
    n = len(full)
    assert full.context.shape == (n, 2, 16, 16, 3) and full.actions.shape == (n, 2)
    np.testing.assert_array_equal(full.targets[0], frames[2])
    from sensorimotor.worldmodels.replay import pair_key

    seen = {pair_key(frames[t - 1], actions[t - 1]) for t in range(2, 20)}
    held = HeldOutSet.from_frames(frames, actions, 3, seen)
    assert held.dropped >= 18 and len(held) + held.dropped + held.duplicates == 38
    limited = HeldOutSet.from_frames(frames, actions, 3, limit=5)
    assert len(limited) == 5


class Oracle(CanvasWorldModel):
    """Predicts the toroidal dot's next frame exactly (or copies the last frame)."""

    copy = False

    def predict_canvases(self, canvases, batch_size=None):
        layout = self.layout
        last = layout.slot(canvases, -2).astype(np.float32) / 255.0
        sep = layout.separator_start(layout.slots - 2)
        moved = (canvases[:, 0, sep, 1] == 255) & ~self.copy  # green separator = move
        out = np.stack([np.roll(f, 5 * m, axis=1) for f, m in zip(last, moved, strict=True)])
        return out, np.zeros(len(out), np.float32)


@pytest.mark.parametrize("copy", [False, True])
def test_quality_metrics_of_an_oracle_and_of_the_baseline(copy, tiny):
    model = Oracle(
        tiny.model_config(), tiny.trainer_config(), [{"action": 0}, {"action": 1}], (16, 16)
    )
    model.copy = copy
    frames, actions = record(tiny, 80, 1)
    data = HeldOutSet.from_frames(frames, actions, 3)
    q = evaluate_quality(model, data)
    assert q["true_displacement_px"]["1"][1] == pytest.approx(5.0, abs=0.2)
    assert q["counterfactual_accuracy_baseline"] == 0.5
    if copy:  # the copy model is the baseline
        assert q["mse"] == pytest.approx(q["mse_baseline"])
        assert q["position_error_px"] == pytest.approx(q["position_error_baseline_px"])
        assert q["counterfactual_accuracy"] == 0.5
        assert not all(meets_target(q).values())
    else:
        assert q["mse"] == pytest.approx(0.0, abs=1e-6) and q["mse_baseline"] > 0
        assert q["position_error_px"] < 0.01 < q["position_error_baseline_px"]
        assert q["counterfactual_accuracy"] == 1.0
        assert all(meets_target(q).values())


def test_degenerate_metrics_are_named():
    from sensorimotor.worldmodels.quality import degenerate_metrics

    all_stay = {
        "heldout": 12,
        "mse": 2e-3,
        "mse_baseline": 2.5e-11,
        "mse_ratio": 8.08e7,
        "true_displacement_px": {"0": [0.0, 0.0]},
        "counterfactual_accuracy": 1.0,
        "counterfactual_accuracy_baseline": 1.0,
    }
    notes = degenerate_metrics(all_stay, num_actions=2)
    assert len(notes) == 3
    assert "MSE ratio is meaningless" in notes[0] and "only action(s) ['0'] of 2" in notes[1]
    healthy = {**all_stay, "mse_baseline": 2e-3, "counterfactual_accuracy_baseline": 0.5}
    healthy["true_displacement_px"] = {"0": [0.0, 0.0], "1": [0.0, 27.0]}
    assert degenerate_metrics(healthy, num_actions=2) == []
    assert degenerate_metrics({"heldout": 0}) == ["no held-out canvases: every metric is empty"]
