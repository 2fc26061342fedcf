import json
import os
import signal
from dataclasses import dataclass

import numpy as np
import pytest

from sensorimotor.cli import main
from sensorimotor.core.checkpoint import CheckpointManager
from sensorimotor.core.config import load_saved_config
from sensorimotor.core.errors import ConfigError
from sensorimotor.core.tracking import read_metrics
from sensorimotor.robots.config import RobotConfig
from sensorimotor.robots.interface import Box, Robot
from sensorimotor.robots.runner import RobotRunner
from sensorimotor.robots.selectors import RandomDurationSelector
from sensorimotor.robots.toroidal_dot import ToroidalDotConfig, ToroidalDotRobot
from sensorimotor.train.canvas import CanvasRunConfig, load_run_config, run_canvas

TINY = [
    "model=canvas_tiny",
    "trainer=debug",
    "robot.width=16",
    "robot.height=16",
    "robot.dot_radius=2",
    "robot.move_pixels=5",
    "validation.steps=24",
    "validation.max_canvases=16",
    "validation.grid_frames=2",
    "progress=false",
]


def tiny_config(tmp_path, *extra: str) -> CanvasRunConfig:
    return load_run_config([*TINY, f"runs_root={tmp_path / 'runs'}", *extra])


def final_params(run_dir):
    state, meta = CheckpointManager(run_dir / "checkpoints").restore()
    return state["params"], state["opt_state"], meta


def test_run_writes_the_run_directory_and_report(tmp_path):
    result = run_canvas(tiny_config(tmp_path, "steps=12", "name=r"))
    run = result.run_dir
    assert result.steps == 12 and result.stopped_by == "steps"
    for name in ("config.yaml", "env.json", "metrics.jsonl", "report.html", "summary.json"):
        assert (run / name).is_file(), name
    assert (run / "sessions" / "toroidal_dot" / "validation" / "metadata.json").is_file()
    assert (run / "sessions" / "toroidal_dot" / "train" / "steps.jsonl").is_file()
    records = read_metrics(run)
    assert any("loss" in r for r in records) and any("val/mse" in r for r in records)
    summary = json.loads((run / "summary.json").read_text())
    q = summary["quality"]
    assert q["heldout"] > 0 and q["mse_baseline"] > 0 and 0 <= q["counterfactual_accuracy"] <= 1
    html = (run / "report.html").read_text()
    for section in (
        "Quality on held-out data",
        "Counterfactual predictions",
        "Actual vs predicted",
        "Loss and prediction error",
    ):
        assert section in html
    saved = load_saved_config(run / "config.yaml", CanvasRunConfig)
    assert saved.trainer.augment == ["roll_x", "roll_y"]  # the toroidal dot's symmetries
    assert saved.validation.seed is not None and saved.robot.seed is not None


def interrupt_at(iteration):
    def callback(info, model):
        if info.iteration == iteration:
            os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C does

    return callback


def test_resume_is_bit_identical_to_an_uninterrupted_run(tmp_path):
    straight = run_canvas(tiny_config(tmp_path, "steps=10", "name=straight")).run_dir
    stopped = run_canvas(
        tiny_config(tmp_path, "steps=10", "name=stopped"), callback=interrupt_at(5)
    )
    assert stopped.stopped_by == "interrupt" and stopped.steps == 5
    first = stopped.run_dir
    config = load_saved_config(first / "config.yaml", CanvasRunConfig)
    resumed = run_canvas(config, resume=first)
    assert resumed.steps == 10
    (pa, oa, ma), (pb, ob, mb) = final_params(straight), final_params(first)
    assert ma["train_steps"] == mb["train_steps"]
    for name in pa:
        np.testing.assert_array_equal(pa[name], pb[name], err_msg=name)
    for name in oa:
        np.testing.assert_array_equal(oa[name], ob[name], err_msg=name)
    assert (first / "sessions" / "toroidal_dot" / "train-2").is_dir()


def test_ctrl_c_stops_cleanly_with_a_checkpoint(tmp_path):
    result = run_canvas(tiny_config(tmp_path, "steps=50", "name=c"), callback=interrupt_at(4))
    assert result.stopped_by == "interrupt" and result.steps == 4
    assert CheckpointManager(result.run_dir / "checkpoints").latest().step == 4
    assert (result.run_dir / "report.html").is_file()


def test_bad_config_is_a_one_line_error(tmp_path, capsys):
    assert main(["run", *TINY, f"runs_root={tmp_path}", "model.separator_width=3"]) == 2
    err = capsys.readouterr().err
    assert "model.separator_width=3" in err and "Traceback" not in err
    assert main(["run", "model.widht=3"]) == 2
    assert "unknown config key model.widht" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # nothing was started


@dataclass
class BoxRobotConfig(RobotConfig):
    type: str = "box_test"

    def make(self) -> Robot:
        return BoxRobot()


class BoxRobot(Robot):
    robot_type = "box_test"
    action_space = Box((-1.0,), (1.0,))

    def get_observation(self):
        return {"image": np.zeros((16, 16, 3), np.uint8)}

    def execute_action(self, action):
        pass


def test_continuous_robot_is_a_clear_error(tmp_path):
    config = tiny_config(tmp_path, "steps=3")
    config.robot = BoxRobotConfig(seed=0)
    with pytest.raises(ConfigError, match="needs a discrete action space"):
        run_canvas(config)


@dataclass
class SquareRobotConfig(RobotConfig):
    """A coloured square on a 24x40 grey image; 3 actions: stay, left, down (wrapping)."""

    type: str = "square_test"

    def make(self) -> Robot:
        return SquareRobot(self.seed or 0)


class SquareRobot(Robot):
    robot_type = "square_test"

    def __init__(self, seed):
        rng = np.random.default_rng(seed)
        self.x, self.y = int(rng.integers(0, 40)), int(rng.integers(0, 24))

    @property
    def action_space(self):
        return [{"move": "stay"}, {"move": "left"}, {"move": "down"}]

    def get_observation(self):
        image = np.full((24, 40, 3), 60, np.uint8)
        image[self.y : self.y + 4, self.x : self.x + 4] = (250, 200, 20)
        return {"image": image}

    def execute_action(self, action):
        if action["move"] == "left":
            self.x = (self.x - 4) % 36
        elif action["move"] == "down":
            self.y = (self.y + 4) % 20


def test_any_discrete_robot_works(tmp_path):
    """Frame size, palette and metrics follow the robot: 3 actions, 24x40 images, no dot."""
    config = tiny_config(tmp_path, "steps=10", "model.frame_size=[8,16]")
    config.robot = SquareRobotConfig(seed=1)
    config.trainer.augment = []
    result = run_canvas(config)
    q = result.metrics
    assert q["heldout"] > 0 and "mse" in q and "counterfactual_accuracy" not in q
    assert "action 2" in (result.run_dir / "report.html").read_text()


def test_canvas_train_and_eval_on_sessions(tmp_path, capsys):
    robot = ToroidalDotRobot(
        ToroidalDotConfig(seed=2, width=16, height=16, dot_radius=2, move_pixels=5)
    )
    stats = RobotRunner(
        robot,
        RandomDurationSelector(robot.action_space, 1, 3, seed=2),
        steps=25,
        record_to=tmp_path / "s",
        progress=False,
    ).run()
    session = str(stats.session)
    args = [
        "model=canvas_tiny",
        "trainer=debug",
        f"runs_root={tmp_path / 'runs'}",
        "name=b",
        "progress=false",
    ]
    assert main(["canvas", "train", session, *args, "steps=6", f"eval_sessions=[{session}]"]) == 0
    out = capsys.readouterr().out
    # 25 actions, 26 observations: 24 canvases of 3 slots
    assert "train: 24 canvases" in out and "eval: 24 canvases" in out
    run = tmp_path / "runs" / "b"
    assert main(["canvas", "train", "--resume", str(run), "steps=8"]) == 0
    assert CheckpointManager(run / "checkpoints").latest().step == 8
    capsys.readouterr()
    assert main(["canvas", "eval", str(run), session, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["loss"]["count"] == 24 and result["baseline"]["mean"] > 0
    assert result["quality"]["heldout"] == 0  # every pair of the session was seen in training
    assert main(["canvas", "eval", str(tmp_path / "nope"), session]) == 2


@pytest.mark.mujoco
def test_mujoco_robot_runs(tmp_path):
    """`sensorimotor run robot=mujoco robot.scene=test_scene`: 5 discrete actions, camera images."""
    args = [
        "robot=mujoco",
        "robot.scene=test_scene",
        "robot.width=32",
        "robot.height=32",
        "model=canvas_tiny",
        "trainer=debug",
        "steps=6",
        "validation.steps=10",
        "progress=false",
        f"runs_root={tmp_path}",
        "name=m",
    ]
    assert main(["run", *args]) == 0
    summary = json.loads((tmp_path / "m" / "summary.json").read_text())
    assert summary["iterations"] == 6 and "mse" in summary["quality"]
    assert "counterfactual_accuracy" not in summary["quality"]  # no dot to locate
    assert main(["run", *args[:2], "robot.action_mode=continuous", f"runs_root={tmp_path}"]) == 2
