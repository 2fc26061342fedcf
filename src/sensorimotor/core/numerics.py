"""Detecting NaN/Inf in metrics, gradients and parameters."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np


class NonFiniteError(FloatingPointError):
    """A NaN or Inf appeared; the message names the step and the offending leaves."""

    def __init__(self, message: str, step: int | None, paths: list[str]) -> None:
        super().__init__(message)
        self.step = step
        self.paths = paths


def non_finite_paths(tree: Any) -> list[str]:
    """Key paths of the leaves of ``tree`` that contain a NaN or Inf."""
    bad = []
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        array = np.asarray(leaf)
        if array.dtype.kind in "fc" and not np.isfinite(array).all():
            bad.append(jax.tree_util.keystr(path) or "<root>")
    return bad


def check_finite(tree: Any, *, step: int | None, context: str = "") -> None:
    """Raise :class:`NonFiniteError` when any leaf of ``tree`` holds a NaN or Inf."""
    bad = non_finite_paths(tree)
    if bad:
        where = f" in {context}" if context else ""
        at = f" at step {step}" if step is not None else ""
        shown = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        raise NonFiniteError(f"non-finite values{where}{at}: {shown}", step, bad)
