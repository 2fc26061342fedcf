"""The `Robot` contract shared by every robot, wrapper and adapter.

A robot is anything that can be observed and acted on:

- ``get_observation() -> dict``: the current observation. Camera images are
  ``uint8`` arrays of shape ``(H, W, 3)``; other entries are scalars or small arrays.
- ``execute_action(action: dict)``: apply one action and return when it is done.
- ``action_space``: either a list of action dicts (a discrete robot; the action's
  index in that list is its id) or a :class:`Box` (a continuous robot).
- ``cleanup()``: release hardware, files and threads; idempotent.

Robots are context managers (``with robot: ...`` calls ``cleanup`` on exit).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Observation = dict[str, Any]
Action = dict[str, Any]


@dataclass(frozen=True)
class Box:
    """A continuous action space: ``action[key]`` is a float array in ``[low, high]``."""

    low: tuple[float, ...]
    high: tuple[float, ...]
    key: str = "action"
    names: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if len(self.low) != len(self.high):
            raise ValueError(f"Box low has {len(self.low)} entries but high has {len(self.high)}")
        if any(lo > hi for lo, hi in zip(self.low, self.high, strict=True)):
            raise ValueError(f"Box low {self.low} exceeds high {self.high}")
        if self.names and len(self.names) != len(self.low):
            raise ValueError(f"Box has {len(self.low)} dimensions but {len(self.names)} names")

    @property
    def shape(self) -> tuple[int]:
        return (len(self.low),)

    def sample(self, rng: np.random.Generator) -> Action:
        """A uniformly random action."""
        value = rng.uniform(np.asarray(self.low), np.asarray(self.high)).astype(np.float32)
        return {self.key: value}

    def clip(self, action: Action) -> Action:
        """The action with its value clipped into the box."""
        value = np.clip(np.asarray(action[self.key], np.float32), self.low, self.high)
        return {**action, self.key: value}

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "box",
            "low": list(self.low),
            "high": list(self.high),
            "key": self.key,
            "names": list(self.names),
        }


ActionSpace = list[Action] | Box


def action_space_to_json(space: ActionSpace) -> dict[str, Any]:
    """A JSON-serialisable description of an action space (stored in session metadata)."""
    if isinstance(space, Box):
        return space.to_dict()
    return {"kind": "discrete", "actions": [jsonable(a) for a in space]}


def action_space_from_json(data: dict[str, Any]) -> ActionSpace:
    """Inverse of :func:`action_space_to_json`."""
    kind = data.get("kind")
    if kind == "box":
        return Box(
            tuple(data["low"]),
            tuple(data["high"]),
            data.get("key", "action"),
            tuple(data.get("names", ())),
        )
    if kind == "discrete":
        return [dict(a) for a in data["actions"]]
    raise ValueError(f"unknown action space kind {kind!r}; expected 'discrete' or 'box'")


def action_index(space: ActionSpace, action: Action) -> int:
    """The index of a discrete action in ``space``; a clear error when it is not there."""
    if isinstance(space, Box):
        raise TypeError("a continuous (Box) action space has no action indices")
    normalised = jsonable(action)
    for i, candidate in enumerate(space):
        if jsonable(candidate) == normalised:
            return i
    raise ValueError(
        f"action {normalised} is not in the action space {[jsonable(a) for a in space]}"
    )


#: Types JSON encodes as they are: ``jsonable`` returns them first, without its walk (it runs on
#: every recorded step's values).
PLAIN_JSON_TYPES = frozenset({int, float, str, bool, type(None)})


def jsonable(value: Any) -> Any:
    """Numpy scalars/arrays and tuples turned into plain JSON types."""
    if type(value) in PLAIN_JSON_TYPES:
        return value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


class Exhausted(Exception):  # noqa: N818 - reads as "the robot/selector is exhausted"
    """Raised by a robot or selector that has nothing more to give (e.g. a replayed session ended)."""


class RobotConnectionLost(Exception):  # noqa: N818 - reads as "the robot's connection was lost"
    """A networked robot is unreachable and reconnecting failed: the run should end cleanly.

    Runners catch it like Ctrl-C: the robot is cleaned up, the recorded session and the checkpoint
    are kept, and the message (which names the robot's address) is printed on one line.
    """


class Robot(abc.ABC):
    """Base class of every robot. Subclasses set ``robot_type`` (the session folder name)."""

    robot_type: str = "robot"

    @abc.abstractmethod
    def get_observation(self) -> Observation:
        """The current observation dict."""

    @abc.abstractmethod
    def execute_action(self, action: Action) -> None:
        """Apply ``action`` (an element of ``action_space`` or a dict valid for the Box)."""

    @property
    @abc.abstractmethod
    def action_space(self) -> ActionSpace:
        """A list of action dicts (discrete) or a :class:`Box` (continuous)."""

    def cleanup(self) -> None:  # noqa: B027 - optional hook
        """Release resources. Safe to call more than once."""

    def config_dict(self) -> dict[str, Any]:
        """The robot's configuration as plain data (stored with recorded sessions)."""
        return {}

    def __enter__(self) -> Robot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()
