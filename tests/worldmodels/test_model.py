import numpy as np
import pytest

from sensorimotor.core.checkpoint import CheckpointManager, tree_to_nested
from sensorimotor.core.errors import ConfigError, DataError
from sensorimotor.robots.interface import Box
from sensorimotor.worldmodels.model import CanvasWorldModel, lr_schedule


def named_leaves(tree):
    return tree_to_nested(tree, sep=".", strip_value=True)


ACTIONS = [{"action": 0}, {"action": 1}]


def make_model(tiny, seed: int = 0, total_steps: int | None = 100, **trainer) -> CanvasWorldModel:
    return CanvasWorldModel(
        tiny.model_config(),
        tiny.trainer_config(**trainer),
        ACTIONS,
        (16, 16),
        seed=seed,
        total_steps=total_steps,
    )


def run_steps(model, robot, selector, n):
    return [model.step(robot, selector) for _ in range(n)]


def test_continuous_action_space_is_a_clear_error(tiny):
    with pytest.raises(ConfigError, match="needs a discrete action space"):
        CanvasWorldModel(tiny.model_config(), tiny.trainer_config(), Box((-1.0,), (1.0,)), (16, 16))


def test_misaligned_model_config_names_the_keys(tiny):
    with pytest.raises(ConfigError, match=r"model: .*model\.separator_width=3"):
        CanvasWorldModel(
            tiny.model_config(separator_width=3), tiny.trainer_config(), ACTIONS, (16, 16)
        )


def test_norm_pix_loss_is_refused_for_prediction(tiny):
    with pytest.raises(ConfigError, match="norm_pix_loss"):
        CanvasWorldModel(
            tiny.model_config(norm_pix_loss=True), tiny.trainer_config(), ACTIONS, (16, 16)
        )


def test_observation_without_image_is_a_clear_error(tiny):
    model = make_model(
        tiny,
    )
    with pytest.raises(DataError, match=r"needs observation\['image'\]"):
        model.observe({"dot_x": 3})


def test_online_loop_learns_and_fills_the_visual_state(robot_and_selector, tiny):
    robot, selector = robot_and_selector
    model = make_model(tiny, total_steps=60)
    infos = run_steps(model, robot, selector, 60)
    losses = [i.loss for i in infos if i.loss is not None]
    assert model.normalizer is not None and len(losses) > 40
    assert np.mean(losses[-10:]) < 0.25 * np.mean(losses[:5])
    errors = [i.pred_error for i in infos if i.pred_error is not None]
    assert np.mean(errors[-10:]) < 0.5 * np.mean(errors[:5])
    v = model.visual
    layout = model.layout
    assert (
        v.canvas.shape
        == v.mask_overlay.shape
        == v.inpainted.shape
        == v.composite.shape
        == layout.shape
    )
    assert v.predicted_frame.shape == v.actual_frame.shape == (16, 16, 3)
    np.testing.assert_array_equal(
        v.composite[:, : layout.target_start], v.canvas[:, : layout.target_start]
    )
    assert model.iteration == 60 and len(model.action_log) == 60
    assert model.train_steps + model.skipped == 60 - 3  # every iteration from the first full canvas


def test_skip_threshold_skips_training_when_predictions_are_good(robot_and_selector, tiny):
    robot, selector = robot_and_selector
    model = make_model(tiny, skip_threshold=10.0)  # every prediction counts as good enough
    infos = run_steps(model, robot, selector, 12)
    trained = [i.trained for i in infos]
    # Training starts with the first canvas (no prediction to score yet), then predictions exist.
    assert trained.count(True) == 1 and model.skipped > 0


def test_run_loop_calls_back_and_stops_on_request(robot_and_selector, tiny):
    robot, selector = robot_and_selector
    model = make_model(
        tiny,
    )
    seen = []

    def callback(info, m):
        seen.append(info.iteration)
        return info.iteration == 5  # a UI's stop button

    assert model.run(robot, selector, steps=20, callback=callback) == 5
    assert seen == [1, 2, 3, 4, 5] and model.iteration == 5


def test_non_finite_loss_names_the_step_and_batch(tiny):
    from sensorimotor.core.normalize import Normalizer
    from sensorimotor.core.numerics import NonFiniteError

    model = make_model(
        tiny,
    )
    model.normalizer = Normalizer(np.zeros(3, np.float32), np.zeros(3, np.float32))  # x / 0
    canvases = np.full((4, *model.layout.shape), 255, np.uint8)
    before = named_leaves(model.params)
    with pytest.raises(NonFiniteError, match=r"canvas train step .*batch 7.* at step 0"):
        model.train_batch(canvases, batch_info="batch 7")
    after = named_leaves(model.params)
    assert all(np.array_equal(before[k], after[k]) for k in before)  # nothing was applied
    assert model.train_steps == 0


def test_lr_schedule_warms_up_then_decays(tiny):
    trainer = tiny.trainer_config(warmup_steps=10, lr=1e-3, min_lr=1e-5)
    schedule = lr_schedule(trainer, 100)
    assert float(schedule(0)) == 0.0
    assert float(schedule(10)) == pytest.approx(1e-3)
    assert float(schedule(99)) < 1e-4
    constant = lr_schedule(trainer, None)
    assert float(constant(1000)) == pytest.approx(1e-3)


def test_counterfactual_predicts_under_every_action(robot_and_selector, tiny):
    robot, selector = robot_and_selector
    model = make_model(
        tiny,
    )
    run_steps(model, robot, selector, 6)
    frames, acts = model.history.window(model.history.count - 1, 2)
    out = model.counterfactual(frames[None], acts[None, :1])
    assert out.shape == (1, 2, 16, 16, 3)
    assert not np.allclose(out[0, 0], out[0, 1])  # the separator colour matters


def test_resume_gives_bit_identical_parameters(tmp_path, tiny):
    """Stop after 7 iterations, save, restore into a fresh model, replay the robot, finish: the
    parameters and optimiser state equal those of an uninterrupted 14-iteration run bit for bit."""

    def fresh():
        robot = tiny.robot(seed=3)
        return make_model(tiny, seed=1, total_steps=14), robot, tiny.selector(robot, seed=4)

    model_a, robot_a, selector_a = fresh()
    run_steps(model_a, robot_a, selector_a, 14)

    model_b, robot_b, selector_b = fresh()
    run_steps(model_b, robot_b, selector_b, 7)
    manager = CheckpointManager(tmp_path / "ckpt")
    manager.save(7, model_b.state_dict())

    model_c, robot_c, selector_c = fresh()
    state, _ = manager.restore()
    model_c.load_state_dict(state)
    for index in model_c.action_log:  # replay the robot and selector to the resume point
        observation = robot_c.get_observation()
        assert selector_c(observation) == model_c.actions[index]
        robot_c.execute_action(model_c.actions[index])
    run_steps(model_c, robot_c, selector_c, 7)

    a, c = named_leaves(model_a.params), named_leaves(model_c.params)
    assert a.keys() == c.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], c[name], err_msg=name)
    for x, y in zip(
        named_leaves(model_a.opt_state).values(),
        named_leaves(model_c.opt_state).values(),
        strict=True,
    ):
        np.testing.assert_array_equal(x, y)
    assert model_c.train_steps == model_a.train_steps and model_c.iteration == 14
    # A different seed would not have matched: the comparison can fail.
    other = make_model(tiny, seed=2)
    assert not np.array_equal(
        named_leaves(other.params)["patch_embed.kernel"], a["patch_embed.kernel"]
    )


def test_checkpoint_from_another_config_is_a_clear_error(tmp_path, tiny):
    model = make_model(
        tiny,
    )
    state = model.state_dict()
    bigger = CanvasWorldModel(
        tiny.model_config(width=32, heads=2), tiny.trainer_config(), ACTIONS, (16, 16)
    )
    with pytest.raises(DataError, match="shape"):
        bigger.load_state_dict(state)
