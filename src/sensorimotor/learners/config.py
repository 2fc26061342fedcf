"""Learner configs: frozen dataclasses built from dicts (YAML) with errors that name the key."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from sensorimotor.core.errors import ConfigError


def as_tuple(v: Any) -> Any:
    """Lists (e.g. from YAML) -> tuples, recursively, so configs stay hashable."""
    if isinstance(v, list | tuple):
        return tuple(as_tuple(x) for x in v)
    return v


def _check_keys(cls: type, overrides: Mapping[str, Any], where: str) -> None:
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        key = f"{where}.{unknown[0]}" if where else repr(unknown[0])
        raise ConfigError(f"unknown {cls.__name__} key {key}; valid keys: {sorted(names)}")


def make_config(cls: type, overrides: Mapping[str, Any] | Any | None, *, where: str = "") -> Any:
    """``cls(**overrides)`` (an instance of ``cls`` is returned as is); unknown keys or invalid
    values are a ``ConfigError`` naming them."""
    if isinstance(overrides, cls):
        return overrides
    overrides = dict(overrides or {})
    _check_keys(cls, overrides, where)
    try:
        return cls(**{k: as_tuple(v) for k, v in overrides.items()})
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where or cls.__name__}: {e}") from None


def build_config(
    cls: type,
    overrides: Mapping[str, Any] | Any | None,
    nested: Mapping[str, tuple[str, Callable[[str, Any], Any]]],
    *,
    where: str = "",
) -> Any:
    """``cls`` from a dict (or an instance, returned as is), building nested sub-configs.

    ``nested`` maps a field (e.g. ``"policy"``) to ``(type_field, factory)`` where
    ``factory(type_name, dict_or_None)`` returns the sub-config dataclass of that type.
    """
    if isinstance(overrides, cls):
        return overrides
    overrides = dict(overrides or {})
    _check_keys(cls, overrides, where)
    defaults = {f.name: f.default for f in dataclasses.fields(cls)}
    values = {k: as_tuple(v) for k, v in overrides.items() if k not in nested}
    for field, (type_field, factory) in nested.items():
        type_name = values.get(type_field, defaults[type_field])
        sub = overrides.get(field)
        if sub is not None and dataclasses.is_dataclass(sub):
            sub = dataclasses.asdict(sub)
        values[field] = factory(type_name, sub)
    try:
        return cls(**values)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where or cls.__name__}: {e}") from None
