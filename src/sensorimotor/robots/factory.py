"""Build robots and action selectors by registry name (``make_robot("toroidal_dot", seed=0)``)."""

from __future__ import annotations

from typing import Any

from sensorimotor.core.config import config_from_dict
from sensorimotor.robots.config import RobotConfig, SelectorConfig
from sensorimotor.robots.interface import ActionSpace, Robot
from sensorimotor.robots.selectors import ActionSelector


def make_robot(type: str, **options: Any) -> Robot:
    """The robot registered as ``type`` (see ``robots.registry.ROBOTS``) with config ``options``;
    unknown types or keys are a :class:`~sensorimotor.core.errors.ConfigError` naming them."""
    return config_from_dict(RobotConfig, {"type": type, **options}, "robot").make()


def make_selector(type: str, action_space: ActionSpace, **options: Any) -> ActionSelector:
    """The action selector registered as ``type`` for ``action_space`` with config ``options``."""
    config = config_from_dict(SelectorConfig, {"type": type, **options}, "selector")
    return config.make(action_space)
