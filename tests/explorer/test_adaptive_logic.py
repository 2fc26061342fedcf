"""The adaptive model's explorer views, as plain Python: a tiny run opened from the runs root,
predictions under every action with their MSE, attention metrics per layer, weight histograms."""

import numpy as np
import pytest

from sensorimotor.core.errors import UserError
from sensorimotor.explorer.adaptive import AdaptiveExplorer
from sensorimotor.explorer.roots import Roots
from sensorimotor.explorer.views import model_kind
from sensorimotor.train.adaptive import load_any_run_config, run_adaptive


@pytest.fixture(scope="module")
def explorer(tmp_path_factory):
    root = tmp_path_factory.mktemp("adaptive-explorer")
    config = load_any_run_config(
        [
            "model=adaptive_tiny",
            "trainer=debug",
            "robot.width=16",
            "robot.height=16",
            "robot.dot_radius=2",
            "robot.move_pixels=5",
            "model.reconstruction_threshold=1e9",
            "steps=6",
            "validation.steps=12",
            "progress=false",
            "record=false",
            f"runs_root={root / 'runs'}",
            "name=a",
        ]
    )
    run_adaptive(config)
    ex = AdaptiveExplorer(Roots.under(root), "test")
    assert "iteration 6" in ex.open_run(root / "runs" / "a")
    return ex


def test_the_adaptive_kind_is_registered():
    kind = model_kind("adaptive")
    assert [v.title for v in kind.make_views()] == ["Predictions", "Attention", "Weights"]


def test_predictions_under_every_action_with_their_error(explorer):
    rows = explorer.predictions(3)
    assert [a for a, _, _ in rows] == [str(a) for a in explorer.model.actions]
    actual = explorer.frames[4].astype(np.float32) / 255
    for _, frame, mse in rows:
        assert frame.shape == (16, 16, 3)
        assert mse == pytest.approx(float(((frame - actual) ** 2).mean()), rel=1e-5)
    with pytest.raises(UserError, match="frame index"):
        explorer.predictions(0)


def test_attention_metrics_and_weights(explorer):
    rows = explorer.attention()
    assert [r["layer"] for r in rows] == [0]
    assert 0 <= rows[0]["apa"] <= 1 and 0 <= rows[0]["ri16"] <= 1 + 1e-6
    weights = explorer.weights()
    assert {"encoder", "decoder", "level1/action", "level1/predictor", "level1/classifier"} <= set(
        weights
    )


def test_a_run_outside_the_roots_is_refused(tmp_path):
    with pytest.raises(UserError, match="outside"):
        AdaptiveExplorer(Roots.under(tmp_path / "x"), "t").open_run(tmp_path)
