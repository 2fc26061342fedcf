"""Lazy re-exports for package ``__init__`` modules: the public names import their module on first
use, so ``import sensorimotor.x`` stays cheap and optional extras load only when needed."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Module-level ``__getattr__`` and ``__dir__`` for ``package`` that resolve ``name`` from the
    module ``exports[name]`` on first access: a submodule name relative to the package, or a full
    ``sensorimotor.…`` path for a name re-exported from another package.

    Use: ``__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)``.
    """

    def __getattr__(name: str) -> Any:
        if name in exports:
            module = exports[name]
            if not module.startswith("sensorimotor."):
                module = f"{package}.{module}"
            return getattr(importlib.import_module(module), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(exports)

    return __getattr__, __dir__
