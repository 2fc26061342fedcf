"""When the hierarchy grows: level ``k+1`` (``k+1``-step action chunks) is created once level ``k``
has predicted under its error threshold for ``patience`` consecutive checks, up to ``max_levels``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class LevelTracker:
    """Consecutive checks under the threshold of one level."""

    threshold: float
    patience: int
    under: int = 0

    def update(self, error: float) -> bool:
        """Count one check; True once the level has stayed under its threshold ``patience`` times."""
        self.under = self.under + 1 if error < self.threshold else 0
        return self.under >= self.patience


def should_add_level(trackers: list[LevelTracker], max_levels: int) -> bool:
    """A new level is due when the top level is settled and there is room for one more."""
    return 0 < len(trackers) < max_levels and trackers[-1].under >= trackers[-1].patience
