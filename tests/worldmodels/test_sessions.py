import numpy as np
import pytest

from sensorimotor.core.errors import DataError
from sensorimotor.robots.runner import RobotRunner
from sensorimotor.worldmodels.model import CanvasWorldModel
from sensorimotor.worldmodels.sessions import (
    BatchPrefetcher,
    CanvasDataset,
    evaluate_dataset,
    loss_statistics,
    read_session_frames,
)


@pytest.fixture(scope="module")
def session(tmp_path_factory, tiny):
    robot = tiny.robot(5)
    stats = RobotRunner(
        robot,
        tiny.selector(robot, 5),
        steps=30,
        record_to=tmp_path_factory.mktemp("s"),
        progress=False,
    ).run()
    return stats.session


def test_dataset_builds_every_canvas_once(session, tiny):
    frames, space = read_session_frames(session, None, progress=False)
    assert (
        frames.frames.shape == (31, 16, 16, 3) and frames.has_dot and frames.image_size == (16, 16)
    )
    model = CanvasWorldModel(tiny.model_config(), tiny.trainer_config(), space, (16, 16))
    data = CanvasDataset([frames], model.layout, model.palette)
    assert data.canvases.shape == (29, *model.layout.shape)  # 30 actions, 31 observations
    np.testing.assert_array_equal(model.layout.target(data.canvases[0]), frames.frames[2])
    assert 0 < len(data.pairs) <= 29
    a, b = data.batch_indices(0, 7, 4), data.batch_indices(0, 7, 4)
    np.testing.assert_array_equal(a, b)  # a pure function of (seed, step): resumable


def test_prefetcher_yields_each_step_in_order(session, tiny):
    frames, space = read_session_frames(session, None, progress=False)
    model = CanvasWorldModel(tiny.model_config(), tiny.trainer_config(), space, (16, 16))
    data = CanvasDataset([frames], model.layout, model.palette)
    prefetch = BatchPrefetcher(data, 0, 4, 3, 9)
    steps = []
    for step, batch in prefetch:
        steps.append(step)
        np.testing.assert_array_equal(
            np.asarray(batch), data.canvases[data.batch_indices(0, step, 4)]
        )
    prefetch.close()
    assert steps == list(range(3, 9))
    early = BatchPrefetcher(data, 0, 4, 0, 1000, depth=2)
    next(iter(early))
    early.close()  # stopping early does not hang


def test_batch_training_lowers_the_session_loss(session, tiny):
    frames, space = read_session_frames(session, None, progress=False)
    model = CanvasWorldModel(
        tiny.model_config(), tiny.trainer_config(), space, (16, 16), total_steps=40
    )
    data = CanvasDataset([frames], model.layout, model.palette)
    model.fit_normalizer(frames.frames)
    before = evaluate_dataset(model, data)
    for step in range(40):
        model.train_batch(data.canvases[data.batch_indices(0, step, 4)])
    after = evaluate_dataset(model, data)
    assert after["loss"]["mean"] < 0.2 * before["loss"]["mean"]
    assert set(after["loss"]) >= {"mean", "median", "std", "p5", "p95"}
    assert after["baseline"] == before["baseline"]


def test_balanced_batches_favour_action_switches(session, tiny):
    frames, space = read_session_frames(session, None, progress=False)
    model = CanvasWorldModel(tiny.model_config(), tiny.trainer_config(), space, (16, 16))
    data = CanvasDataset([frames], model.layout, model.palette)
    assert data.switch is not None and 0 < data.switch.mean() < 0.5
    uniform = np.concatenate([data.batch_indices(0, s, 16) for s in range(50)])
    balanced = np.concatenate([data.batch_indices(0, s, 16, 0.5) for s in range(50)])
    assert data.switch[balanced].mean() > 0.5 > data.switch[uniform].mean()


def test_loss_statistics():
    s = loss_statistics(np.arange(101, dtype=float))
    assert (
        s["mean"] == 50
        and s["median"] == 50
        and s["p5"] == 5
        and s["p95"] == 95
        and s["count"] == 101
    )
    assert loss_statistics(np.array([]))["count"] == 0


def test_missing_session_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="session folder not found"):
        read_session_frames(tmp_path / "nope", None)
