"""Name → object registries with lazy imports, so optional extras load only when used."""

from __future__ import annotations

import importlib
from typing import Any

from sensorimotor.core.errors import ConfigError


class Registry:
    """Maps names to objects or to ``"module:attr"`` strings that are imported on first use."""

    def __init__(self, kind: str, entries: dict[str, Any] | None = None) -> None:
        self.kind = kind
        self._entries: dict[str, Any] = dict(entries or {})

    def register(self, name: str, target: Any = None) -> Any:
        """Register ``target`` under ``name``; without a target, returns a decorator."""
        if target is None:
            return lambda obj: self.register(name, obj)
        if name in self._entries and self._entries[name] is not target:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = target
        return target

    def setdefault(self, name: str, target: Any) -> Any:
        """Register ``target`` under ``name`` unless a target is registered there already (so a
        module that registers itself on import may be imported, or reloaded, more than once)."""
        return self._entries.setdefault(name, target)

    def get(self, name: str) -> Any:
        """The object registered as ``name``; an unknown name lists the known ones."""
        if name not in self._entries:
            raise ConfigError(f"unknown {self.kind} {name!r}; expected one of {self.names()}")
        target = self._entries[name]
        if isinstance(target, str):
            module_name, _, attr = target.partition(":")
            try:
                module = importlib.import_module(module_name)
            except ImportError as e:
                raise ConfigError(
                    f"{self.kind} {name!r} needs a package that is not installed ({e.name}); "
                    "install the matching extra, e.g. pip install -e '.[sim]'"
                ) from e
            target = getattr(module, attr)
            self._entries[name] = target
        return target

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self._entries
