"""Actions as vectors in [-1, 1] per channel, from the robot's action space.

A discrete robot's actions are dicts (``{"action": 1}``, ``{"left": 0.5, "right": -0.5}``): each
numeric key is a channel whose range is the min..max over the listed actions. A Box robot's
dimensions are the channels, with its ``low``/``high`` as ranges. ``action_channels`` and
``action_ranges`` in the config override either.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sensorimotor.core.errors import ConfigError
from sensorimotor.robots.interface import Action, ActionSpace, Box


@dataclass(frozen=True)
class ActionNormalizer:
    """Maps actions to ``(C,)`` float32 vectors in [-1, 1] and back."""

    channels: tuple[str, ...]
    low: np.ndarray  # (C,)
    high: np.ndarray  # (C,)
    box_key: str | None = None  # set for a Box space: the action dict's key holding the vector

    @classmethod
    def from_space(
        cls,
        space: ActionSpace,
        channels: Sequence[str] | None = None,
        ranges: Sequence[Sequence[float]] | None = None,
    ) -> ActionNormalizer:
        """Channels and ranges of ``space`` (``channels``/``ranges`` override them)."""
        if isinstance(space, Box):
            names = tuple(space.names) or tuple(f"{space.key}[{i}]" for i in range(len(space.low)))
            low, high = np.asarray(space.low, np.float32), np.asarray(space.high, np.float32)
            if channels is not None and list(channels) != list(names):
                raise ConfigError(
                    f"model.action_channels {list(channels)} must be the Box's dimensions {list(names)}"
                )
            box_key = space.key
        else:
            if not space:
                raise ConfigError("the robot's action space is empty")
            numeric = [k for k in space[0] if all(_is_number(a.get(k)) for a in space)]
            names = tuple(channels) if channels is not None else tuple(numeric)
            missing = [c for c in names if c not in numeric]
            if missing or not names:
                raise ConfigError(
                    f"model.action_channels: {missing or names!r} are not numeric keys of every action; "
                    f"the actions have numeric keys {numeric}"
                )
            values = np.asarray([[float(a[c]) for c in names] for a in space], np.float32)
            low, high = values.min(axis=0), values.max(axis=0)
            box_key = None
        if ranges is not None:
            if len(ranges) != len(names):
                raise ConfigError(
                    f"model.action_ranges has {len(ranges)} entries, expected one per channel {list(names)}"
                )
            low = np.asarray([r[0] for r in ranges], np.float32)
            high = np.asarray([r[1] for r in ranges], np.float32)
        return cls(names, low, high, box_key)

    @property
    def dim(self) -> int:
        return len(self.channels)

    def raw(self, action: Action) -> np.ndarray:
        """The action's channel values ``(C,)`` as given."""
        if self.box_key is not None:
            return np.asarray(action[self.box_key], np.float32).reshape(-1)
        try:
            return np.asarray([float(action[c]) for c in self.channels], np.float32)
        except KeyError as e:
            raise ValueError(f"action {action} lacks channel {e.args[0]!r}") from None

    def normalize(self, action: Action) -> np.ndarray:
        """``(C,)`` in [-1, 1]; a channel whose range is a single value maps to 0."""
        return self.normalize_values(self.raw(action))

    def normalize_values(self, values: np.ndarray) -> np.ndarray:
        """Raw channel values ``(..., C)`` to [-1, 1] (clipped)."""
        span = self.high - self.low
        safe = np.where(span > 0, span, 1.0)
        out = np.where(
            span > 0, 2.0 * (np.asarray(values, np.float32) - self.low) / safe - 1.0, 0.0
        )
        return np.clip(out, -1.0, 1.0).astype(np.float32)

    def denormalize(self, values: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`normalize_values` (for channels with a non-empty range)."""
        return (
            self.low + (np.asarray(values, np.float32) + 1.0) * 0.5 * (self.high - self.low)
        ).astype(np.float32)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)
