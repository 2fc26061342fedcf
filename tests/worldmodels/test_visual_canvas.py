"""The visual state shows the canvas the model was trained on (augmented), not the raw one."""

import jax
import numpy as np

from sensorimotor.core.rng import derive_seed
from sensorimotor.worldmodels.model import CanvasWorldModel

ACTIONS = [{"action": 0}, {"action": 1}]


def test_the_shown_canvas_is_the_augmented_one_the_step_trained_on(robot_and_selector, tiny):
    robot, selector = robot_and_selector
    model = CanvasWorldModel(
        tiny.model_config(),
        tiny.trainer_config(augment=["roll_x", "roll_y"], skip_threshold=0.0),
        ACTIONS,
        (16, 16),
        seed=0,
        total_steps=40,
    )
    seen = []
    train_batch = model.train_batch

    def spy(canvases, *args, **kwargs):  # record what each train step was given
        seen.append((model.train_steps, np.asarray(canvases)))
        return train_batch(canvases, *args, **kwargs)

    model.train_batch = spy
    differs = 0
    for _ in range(30):
        info = model.step(robot, selector)
        if not info.trained:
            continue
        step, batch = seen[-1]
        key = jax.random.fold_in(jax.random.key(derive_seed(0, "augment")), step)
        trained_on = np.asarray(model._augment(batch, key))[0]
        np.testing.assert_array_equal(model.visual.canvas, trained_on)
        differs += not np.array_equal(model.visual.canvas, batch[0])
    assert differs > 5  # the rolls really moved the canvas
