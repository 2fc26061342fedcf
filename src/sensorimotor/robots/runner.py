"""Running an action selector on a robot: step loop, timing, counts, recording, interactive mode."""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from sensorimotor.robots.config import RobotConfig, SelectorConfig
from sensorimotor.robots.interface import (
    Action,
    ActionSpace,
    Box,
    Exhausted,
    Observation,
    Robot,
    RobotConnectionLost,
    action_index,
    jsonable,
)
from sensorimotor.robots.recording import RecordingRobot
from sensorimotor.robots.selectors import ActionSelector


@dataclass
class RecordJobConfig:
    """``sensorimotor record``: drive a robot with a selector and record the session."""

    robot: RobotConfig = field(default_factory=RobotConfig)
    selector: SelectorConfig = field(default_factory=SelectorConfig)
    steps: int | None = 1000
    seed: int = 0
    interactive: bool = False
    record: bool = True
    sessions_root: str = "saved/sessions"
    session_name: str | None = None
    disk_budget_gb: float | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        if self.steps is not None and self.steps < 0:
            raise ValueError(f"steps must be >= 0 (or null to run until Ctrl-C), got {self.steps}")
        if self.disk_budget_gb is not None and not self.disk_budget_gb > 0:
            raise ValueError(
                f"disk_budget_gb must be a positive number of GB (or null for no budget), "
                f"got {self.disk_budget_gb}"
            )


@dataclass
class StepEvent:
    """What a UI callback sees after each step."""

    step: int
    observation: Observation
    action: Action
    proposed: Action
    seconds: float


@dataclass
class RunStats:
    """Summary of a run: step count, per-action counts, step timing, why it stopped, the session."""

    steps: int
    action_counts: dict[str, int]
    step_seconds_mean: float
    step_seconds_p50: float
    step_seconds_p95: float
    step_seconds_max: float
    total_seconds: float
    stopped_by: str
    session: Path | None = None
    overrides: int = 0

    @property
    def steps_per_second(self) -> float:
        return self.steps / self.total_seconds if self.total_seconds > 0 else float("nan")

    def to_dict(self) -> dict[str, Any]:
        data = {k: (str(v) if isinstance(v, Path) else v) for k, v in self.__dict__.items()}
        data["steps_per_second"] = self.steps_per_second
        return data


class RobotRunner:
    """Runs ``selector`` on ``robot`` for ``steps`` steps (None: until Ctrl-C or exhaustion).

    Ctrl-C ends the run cleanly: the robot is cleaned up and a recorded session is kept. With
    ``record_to`` the robot is wrapped in a :class:`RecordingRobot`. ``interactive`` shows each proposed
    action; Enter accepts it, a typed action index (or JSON action) overrides it, ``stop`` ends the run.
    """

    def __init__(
        self,
        robot: Robot,
        selector: ActionSelector,
        *,
        steps: int | None = None,
        record_to: str | Path | None = None,
        session_name: str | None = None,
        disk_budget_gb: float | None = None,
        session_config: dict[str, Any] | None = None,
        interactive: bool = False,
        progress: bool = True,
        on_step: Callable[[StepEvent], None] | None = None,
        input_fn: Callable[[str], str] = input,
        output: TextIO | None = None,
    ) -> None:
        if record_to is not None:
            robot = RecordingRobot(robot, record_to, session_name, disk_budget_gb, session_config)
        self.robot = robot
        self.selector = selector
        self.steps = steps
        self.interactive = interactive
        self.progress = progress
        self.on_step = on_step
        self.input_fn = input_fn
        self.output = output

    @property
    def session_path(self) -> Path | None:
        return self.robot.session_path if isinstance(self.robot, RecordingRobot) else None

    def run(self) -> RunStats:
        """Run the loop and clean up the robot; returns the statistics."""
        from tqdm import tqdm

        space = self.robot.action_space
        counts: Counter[str] = Counter()
        durations: list[float] = []
        overrides = 0
        stopped_by = "steps"
        bar = tqdm(
            total=self.steps,
            unit="step",
            disable=not self.progress,
            dynamic_ncols=True,
            file=self.output,
        )
        start = time.perf_counter()
        try:
            step = 0
            while self.steps is None or step < self.steps:
                t0 = time.perf_counter()
                observation = self.robot.get_observation()
                proposed = self.selector(observation)
                action = proposed
                if self.interactive:
                    chosen = self._ask(step, proposed, space)
                    if chosen is None:
                        stopped_by = "user"
                        break
                    overrides += chosen != proposed
                    action = chosen
                self.robot.execute_action(action)
                seconds = time.perf_counter() - t0
                durations.append(seconds)
                counts[_action_label(action, space)] += 1
                if self.on_step is not None:
                    self.on_step(StepEvent(step, observation, action, proposed, seconds))
                step += 1
                bar.update(1)
                if step % 50 == 0:
                    bar.set_postfix(
                        steps_per_s=f"{step / (time.perf_counter() - start):.0f}", refresh=False
                    )
            if isinstance(self.robot, RecordingRobot) and durations:
                # The outcome of the last action: recorded as a final step without an action.
                self.robot.get_observation()
        except KeyboardInterrupt:
            stopped_by = "interrupt"
        except Exhausted:
            stopped_by = "exhausted"
        except RobotConnectionLost as e:
            stopped_by = "connection_lost"
            print(f"stopped: {e}", file=sys.stderr)
        finally:
            bar.close()
            self.robot.cleanup()
        total = time.perf_counter() - start
        array = np.asarray(durations) if durations else np.zeros(1)
        return RunStats(
            steps=len(durations),
            action_counts=dict(sorted(counts.items())),
            step_seconds_mean=float(array.mean()),
            step_seconds_p50=float(np.percentile(array, 50)),
            step_seconds_p95=float(np.percentile(array, 95)),
            step_seconds_max=float(array.max()),
            total_seconds=total,
            stopped_by=stopped_by,
            session=self.session_path,
            overrides=overrides,
        )

    def _ask(self, step: int, proposed: Action, space: ActionSpace) -> Action | None:
        described = _describe(proposed, space)
        while True:
            answer = self.input_fn(
                f"step {step}: proposed {described} [Enter = accept, index/JSON = override, stop = end] "
            ).strip()
            if not answer:
                return proposed
            if answer.lower() in ("stop", "q", "quit"):
                return None
            try:
                return parse_action(answer, space)
            except ValueError as e:
                print(f"  {e}")


def parse_action(text: str, space: ActionSpace) -> Action:
    """An action typed by a user: an index into a discrete space, JSON, or comma-separated floats."""
    text = text.strip()
    if isinstance(space, Box):
        try:
            values = [float(v) for v in text.replace(",", " ").split()]
        except ValueError:
            raise ValueError(
                f"expected {len(space.low)} numbers separated by commas, got {text!r}"
            ) from None
        if len(values) != len(space.low):
            raise ValueError(f"expected {len(space.low)} numbers, got {len(values)}")
        return space.clip({space.key: np.asarray(values, np.float32)})
    if text.lstrip("-").isdigit():
        index = int(text)
        if not 0 <= index < len(space):
            raise ValueError(f"action index must be in [0, {len(space) - 1}], got {index}")
        return dict(space[index])
    try:
        action = json.loads(text)
    except json.JSONDecodeError:
        raise ValueError(
            f"expected an action index 0..{len(space) - 1} or a JSON action, got {text!r}"
        ) from None
    action_index(space, action)
    return action


def _action_label(action: Action, space: ActionSpace) -> str:
    if isinstance(space, Box):
        return "continuous"
    return str(action_index(space, action))


def _describe(action: Action, space: ActionSpace) -> str:
    if isinstance(space, Box):
        return json.dumps(jsonable(action))
    return f"{action_index(space, action)} {json.dumps(jsonable(action))}"
