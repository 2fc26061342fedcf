"""The toroidal-dot robot: a white dot on a black image that stays or moves right, wrapping around."""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from sensorimotor.core.config import config_to_dict
from sensorimotor.core.rng import np_rng
from sensorimotor.robots.config import RobotConfig
from sensorimotor.robots.interface import Action, ActionSpace, Observation, Robot

STAY, MOVE = 0, 1


@dataclass
class ToroidalDotConfig(RobotConfig):
    """Image size, dot, step size, start position (None = random, seeded) and per-action delay."""

    type: str = "toroidal_dot"
    width: int = 224
    height: int = 224
    dot_radius: int = 5
    move_pixels: int = 27
    initial_x: int | None = None
    initial_y: int | None = None
    action_delay: float = 0.0

    def __post_init__(self) -> None:
        if self.width < 1 or self.height < 1:
            raise ValueError(f"image size must be positive, got {self.width}x{self.height}")
        if not 0 <= self.dot_radius < min(self.width, self.height) // 2:
            raise ValueError(
                f"dot_radius must be in [0, {min(self.width, self.height) // 2}), got {self.dot_radius}"
            )
        if self.initial_x is not None and not 0 <= self.initial_x < self.width:
            raise ValueError(f"initial_x must be in [0, {self.width}), got {self.initial_x}")
        if (
            self.initial_y is not None
            and not self.dot_radius <= self.initial_y < self.height - self.dot_radius
        ):
            raise ValueError(
                f"initial_y must be in [{self.dot_radius}, {self.height - self.dot_radius}) so the dot is visible, "
                f"got {self.initial_y}"
            )
        if self.action_delay < 0:
            raise ValueError(f"action_delay must be >= 0, got {self.action_delay}")

    def make(self) -> ToroidalDotRobot:
        return ToroidalDotRobot(self)


class ToroidalDotRobot(Robot):
    """Observation: ``image`` (H, W, 3) uint8 plus the true ``dot_x``/``dot_y``.

    Actions: ``{"action": 0}`` stays, ``{"action": 1}`` moves the dot right by ``move_pixels``;
    x wraps around (the dot is drawn across the seam), y never changes.
    """

    robot_type = "toroidal_dot"

    def __init__(self, config: ToroidalDotConfig | None = None, **overrides: Any) -> None:
        config = config or ToroidalDotConfig()
        if overrides:
            config = ToroidalDotConfig(**{**config_to_dict(config), **overrides})
        self.config = config
        self.reset()
        self._offsets = dot_offsets(config.dot_radius)
        self._actions: list[Action] = [{"action": STAY}, {"action": MOVE}]

    def reset(self, seed: int | None = None) -> None:
        """Back to the start position: the config's, or one drawn from ``seed`` (default: the
        config's seed), so the same seed always starts in the same place."""
        config = self.config
        rng = np_rng((config.seed or 0) if seed is None else seed, "toroidal_dot")
        r = config.dot_radius
        self.x = (
            config.initial_x if config.initial_x is not None else int(rng.integers(0, config.width))
        )
        self.y = (
            config.initial_y
            if config.initial_y is not None
            else int(rng.integers(r, config.height - r))
        )

    @property
    def action_space(self) -> ActionSpace:
        return [dict(a) for a in self._actions]

    def get_observation(self) -> Observation:
        return {
            "image": render_dot(
                self.config.width, self.config.height, self.x, self.y, self._offsets
            ),
            "dot_x": self.x,
            "dot_y": self.y,
        }

    def execute_action(self, action: Action) -> None:
        value = action.get("action") if isinstance(action, dict) else None
        if value not in (STAY, MOVE) or isinstance(value, bool):
            raise ValueError(
                f"toroidal_dot action must be {{'action': 0}} (stay) or {{'action': 1}} (move), got {action!r}"
            )
        if value == MOVE:
            self.x = (self.x + self.config.move_pixels) % self.config.width
        if self.config.action_delay:
            time.sleep(self.config.action_delay)

    def config_dict(self) -> dict[str, Any]:
        return config_to_dict(self.config)

    def frame_recipes(self) -> dict[str, tuple[str, dict[str, Any]]]:
        """``image`` is drawn from ``dot_x``/``dot_y``: a recorder's writer process draws it
        again instead of having 150 kB a step copied to it (see robots.writer_process)."""
        c = self.config
        size = {"width": c.width, "height": c.height, "dot_radius": c.dot_radius}
        return {"image": (f"{__name__}:redraw_image", size)}


@functools.cache
def dot_offsets(radius: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column offsets of the pixels of a disc of ``radius``."""
    dy, dx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    inside = dx**2 + dy**2 <= radius**2
    rows, cols = dy[inside], dx[inside]
    rows.flags.writeable = cols.flags.writeable = False  # shared by every robot of this radius
    return rows, cols


def redraw_image(values: dict[str, Any], width: int, height: int, dot_radius: int) -> np.ndarray:
    """The ``image`` of an observation, from its ``dot_x``/``dot_y`` (a frame recipe)."""
    return render_dot(width, height, values["dot_x"], values["dot_y"], dot_offsets(dot_radius))


def render_dot(
    width: int, height: int, x: int, y: int, offsets: tuple[np.ndarray, np.ndarray]
) -> np.ndarray:
    """A black ``(height, width, 3)`` uint8 image with a white disc at ``(x, y)``, wrapped in x."""
    image = np.zeros((height, width, 3), np.uint8)
    dy, dx = offsets
    rows = y + dy
    keep = (rows >= 0) & (rows < height)
    image[rows[keep], (x + dx[keep]) % width] = 255
    return image
