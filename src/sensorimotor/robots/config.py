"""Base config classes of the polymorphic ``robot`` and ``selector`` config groups."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from sensorimotor.core.registry import Registry
from sensorimotor.robots.registry import ROBOTS, SELECTORS

if TYPE_CHECKING:
    from sensorimotor.robots.interface import ActionSpace, Robot
    from sensorimotor.robots.selectors import ActionSelector


@dataclass
class RobotConfig:
    """A robot config; ``type`` picks the concrete class from :data:`ROBOTS`.

    ``seed`` None means "derive it from the job's seed" (see :func:`resolve_seeds`).
    """

    registry: ClassVar[Registry] = ROBOTS
    type: str = ""
    seed: int | None = None

    def make(self) -> Robot:
        """Build the robot."""
        raise NotImplementedError(f"{type(self).__name__} does not build a robot")


@dataclass
class SelectorConfig:
    """An action-selector config; ``type`` picks the concrete class from :data:`SELECTORS`."""

    registry: ClassVar[Registry] = SELECTORS
    type: str = ""
    seed: int | None = None

    def make(self, action_space: ActionSpace) -> ActionSelector:
        """Build the selector for a robot's action space."""
        raise NotImplementedError(f"{type(self).__name__} does not build a selector")


def resolve_seeds(seed: int, *configs: RobotConfig | SelectorConfig) -> None:
    """Give every config whose ``seed`` is None a seed derived from the job's ``seed`` and its group."""
    from sensorimotor.core.rng import derive_seed

    for config in configs:
        if config.seed is None:
            group = "robot" if isinstance(config, RobotConfig) else "selector"
            config.seed = derive_seed(seed, group)
