"""The plug-in point: a world-model kind registers its logic object and the tabs that show it.

The app builds the model-independent Sessions tab, then one tab per :class:`View` of the chosen
kind, so a new model (e.g. the adaptive world model) adds its views by registering a kind here,
without the app changing::

    register_kind(ModelKind("adaptive", "my.pkg.explorer:AdaptiveExplorer", "my.pkg.ui:views"))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from sensorimotor.core.errors import ConfigError


@dataclass(frozen=True)
class View:
    """One tab: its title and a function that builds its components inside the open tab."""

    title: str
    build: Callable[[Any], None]  # build(context: AppContext)


@dataclass(frozen=True)
class ModelKind:
    """A world model in the explorer: ``logic`` and ``views`` are ``"module:attribute"`` strings
    (imported when used). ``logic(roots, instance)`` makes the plain-Python object the views call;
    ``views()`` returns the list of :class:`View`."""

    name: str
    logic: str
    views: str

    def make_logic(self, roots: Any, instance: str) -> Any:
        return _load(self.logic)(roots, instance)

    def make_views(self) -> list[View]:
        return list(_load(self.views)())


_KINDS: dict[str, ModelKind] = {}


def register_kind(kind: ModelKind) -> None:
    """Add (or replace) a world-model kind."""
    _KINDS[kind.name] = kind


def model_kind(name: str) -> ModelKind:
    """The registered kind ``name``; a clear error naming the known ones."""
    if name not in _KINDS:
        raise ConfigError(f"unknown explorer model kind {name!r}; known: {sorted(_KINDS)}")
    return _KINDS[name]


def kinds() -> list[str]:
    return sorted(_KINDS)


def _load(target: str) -> Any:
    module, _, attribute = target.partition(":")
    return getattr(import_module(module), attribute)


register_kind(
    ModelKind(
        "canvas",
        "sensorimotor.explorer.canvas:CanvasExplorer",
        "sensorimotor.explorer.canvas_ui:views",
    )
)
register_kind(
    ModelKind(
        "adaptive",
        "sensorimotor.explorer.adaptive:AdaptiveExplorer",
        "sensorimotor.explorer.adaptive_ui:views",
    )
)
