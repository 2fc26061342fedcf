"""Action selectors: callables ``observation -> action``; stateful ones are small classes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from sensorimotor.core.errors import ConfigError
from sensorimotor.core.rng import np_rng
from sensorimotor.robots.config import SelectorConfig
from sensorimotor.robots.interface import (
    Action,
    ActionSpace,
    Box,
    Exhausted,
    Observation,
    action_index,
    jsonable,
)

if TYPE_CHECKING:
    from sensorimotor.robots.session import SessionReader

#: Named sequences of discrete action indices (for the toroidal dot: 0 = stay, 1 = move), repeated.
NAMED_SEQUENCES: dict[str, tuple[int, ...]] = {
    "ALWAYS_MOVE": (1,),
    "ALWAYS_STAY": (0,),
    "ALTERNATE": (0, 1),
    "DOUBLE_MOVE": (1, 1, 0),
    "TRIPLE_MOVE": (1, 1, 1, 0),
}


class ActionSelector(Protocol):
    def __call__(self, observation: Observation) -> Action: ...


def _discrete(space: ActionSpace, who: str) -> list[Action]:
    if isinstance(space, Box):
        raise ConfigError(
            f"the {who} selector needs a discrete action space, but the robot's is continuous ({space})"
        )
    return space


def _checked_index(space: list[Action], index: int, who: str) -> int:
    if not 0 <= index < len(space):
        raise ConfigError(
            f"{who}: action index {index} is out of range; the robot has {len(space)} actions: {space}"
        )
    return index


class ConstantSelector:
    """Always the same action."""

    def __init__(self, action: Action) -> None:
        self.action = dict(action)

    def __call__(self, observation: Observation) -> Action:
        return dict(self.action)


class SequenceSelector:
    """Cycles through a fixed list of actions (or stops after one pass with ``loop=False``)."""

    def __init__(self, actions: Sequence[Action], loop: bool = True) -> None:
        if not actions:
            raise ConfigError("a sequence selector needs at least one action")
        self.actions = [dict(a) for a in actions]
        self.loop = loop
        self.position = 0

    def __call__(self, observation: Observation) -> Action:
        if self.position >= len(self.actions):
            if not self.loop:
                raise Exhausted("the action sequence has ended")
            self.position = 0
        action = self.actions[self.position]
        self.position += 1
        return dict(action)


class RandomDurationSelector:
    """A random action held for a random number of steps drawn uniformly from ``[min, max]``."""

    def __init__(
        self,
        action_space: ActionSpace,
        min_duration: int = 1,
        max_duration: int = 10,
        seed: int = 0,
    ) -> None:
        if not 1 <= min_duration <= max_duration:
            raise ConfigError(
                f"need 1 <= min_duration <= max_duration, got {min_duration} and {max_duration}"
            )
        self.action_space = action_space
        self.min_duration, self.max_duration = min_duration, max_duration
        self.rng = np_rng(seed, "random_duration")
        self.current: Action | None = None
        self.remaining = 0

    def __call__(self, observation: Observation) -> Action:
        if self.remaining == 0:
            if isinstance(self.action_space, Box):
                self.current = self.action_space.sample(self.rng)
            else:
                self.current = self.action_space[int(self.rng.integers(len(self.action_space)))]
            self.remaining = int(self.rng.integers(self.min_duration, self.max_duration + 1))
        self.remaining -= 1
        return dict(self.current)


class RecordedSelector:
    """Replays the actions of a recorded session in order; ``action_filter`` keeps only some of them."""

    def __init__(
        self,
        session: SessionReader | str | Path,
        start: int = 0,
        stop: int | None = None,
        action_filter: Callable[[Action], bool] | None = None,
    ) -> None:
        from sensorimotor.robots.session import SessionReader

        reader = session if isinstance(session, SessionReader) else SessionReader(session)
        actions = [a for a in reader.actions()[start:stop] if a is not None]
        if action_filter is not None:
            actions = [a for a in actions if action_filter(a)]
        self.actions = actions
        self.position = 0

    def __call__(self, observation: Observation) -> Action:
        if self.position >= len(self.actions):
            raise Exhausted(f"all {len(self.actions)} recorded actions have been replayed")
        action = self.actions[self.position]
        self.position += 1
        return dict(action)


@dataclass
class ConstantSelectorConfig(SelectorConfig):
    """Always the action with index ``action``."""

    type: str = "constant"
    action: int = 0

    def make(self, action_space: ActionSpace) -> ConstantSelector:
        space = _discrete(action_space, "constant")
        return ConstantSelector(space[_checked_index(space, self.action, "selector.action")])


@dataclass
class SequenceSelectorConfig(SelectorConfig):
    """A named sequence (see :data:`NAMED_SEQUENCES`) or a list of action indices, repeated."""

    type: str = "sequence"
    sequence: str | list[int] = "ALTERNATE"
    loop: bool = True

    def make(self, action_space: ActionSpace) -> SequenceSelector:
        space = _discrete(action_space, "sequence")
        if isinstance(self.sequence, str):
            if self.sequence.upper() not in NAMED_SEQUENCES:
                raise ConfigError(
                    f"unknown named sequence {self.sequence!r}; expected one of {sorted(NAMED_SEQUENCES)}"
                )
            indices = NAMED_SEQUENCES[self.sequence.upper()]
        else:
            indices = self.sequence
        return SequenceSelector(
            [space[_checked_index(space, i, "selector.sequence")] for i in indices], self.loop
        )


@dataclass
class RandomDurationSelectorConfig(SelectorConfig):
    """A random action held for ``min_duration``..``max_duration`` steps (seeded)."""

    type: str = "random_duration"
    min_duration: int = 1
    max_duration: int = 10

    def make(self, action_space: ActionSpace) -> RandomDurationSelector:
        return RandomDurationSelector(
            action_space, self.min_duration, self.max_duration, self.seed or 0
        )


@dataclass
class RecordedSelectorConfig(SelectorConfig):
    """The actions of the recorded ``session`` (path or ``robot/name``), optionally a step range and
    only the action indices in ``actions``."""

    type: str = "recorded"
    session: str = ""
    start: int = 0
    stop: int | None = None
    actions: list[int] | None = None

    def make(self, action_space: ActionSpace) -> RecordedSelector:
        from sensorimotor.robots.session import find_session

        if not self.session:
            raise ConfigError(
                "selector.session is required for the recorded selector (a session path or robot/name)"
            )
        keep = None
        if self.actions is not None:
            space = _discrete(action_space, "recorded (with selector.actions)")
            wanted = [
                jsonable(space[_checked_index(space, i, "selector.actions")]) for i in self.actions
            ]

            def keep(action: Action) -> bool:
                return jsonable(action) in wanted

        return RecordedSelector(find_session(self.session), self.start, self.stop, keep)


def action_counts(actions: Sequence[Action | None], space: ActionSpace) -> dict[str, int]:
    """How often each discrete action occurs (keys are action indices as strings)."""
    if isinstance(space, Box):
        return {}
    counts = np.zeros(len(space), int)
    for action in actions:
        if action is not None:
            counts[action_index(space, action)] += 1
    return {str(i): int(c) for i, c in enumerate(counts)}
