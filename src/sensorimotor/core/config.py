"""Config: dataclass schemas + YAML presets composed with Hydra's compose API.

Presets live in ``sensorimotor/configs/<family>/``: a primary file (``run.yaml``) and group folders
beside it (``robot/toroidal_dot.yaml``). :func:`load_config` composes them with the user's overrides
(``robot=toroidal_dot``, ``robot.dot_radius=7``) and validates the result into a tree of dataclasses.

A polymorphic node (robot, selector, model, ...) is a dataclass whose base class carries
``registry: ClassVar[Registry]`` (type name → config class) and a ``type: str`` field; validation
dispatches on ``type``. Unknown keys, wrong types and unknown options are :class:`ConfigError` s that
name the key and list what is valid.
"""

from __future__ import annotations

import dataclasses
import sys
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar, Union

import yaml

from sensorimotor.core.errors import ConfigError
from sensorimotor.core.registry import Registry

T = TypeVar("T")

CONFIG_ROOT = Path(__file__).resolve().parent.parent / "configs"

#: Old config key -> its new name. The old spelling is still accepted (overrides and saved
#: configs), with a one-line deprecation message on stderr.
RENAMED_KEYS = {"run_root": "runs_root"}


def config_dir(family: str) -> Path:
    """The folder holding the presets of one config family (e.g. ``robots``, ``sequence``, ``rl``)."""
    path = CONFIG_ROOT / family
    if not path.is_dir():
        families = sorted(p.name for p in CONFIG_ROOT.iterdir() if p.is_dir())
        raise ConfigError(f"unknown config family {family!r}; expected one of {families}")
    return path


def config_groups(family: str) -> dict[str, list[str]]:
    """Group name → available option names in a config family."""
    root = config_dir(family)
    return {
        group.name: sorted(p.stem for p in group.glob("*.yaml"))
        for group in sorted(root.iterdir())
        if group.is_dir() and not group.name.startswith(("_", "."))
    }


def load_config(family: str, primary: str, overrides: Sequence[str], schema: type[T]) -> T:
    """Compose ``configs/<family>/<primary>.yaml`` with ``overrides`` and validate it into ``schema``."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    root = config_dir(family)
    groups = config_groups(family)
    if not (root / f"{primary}.yaml").is_file():
        raise ConfigError(f"no preset {primary!r} in {root}")
    hydra_overrides = [_to_hydra_override(o, groups) for o in overrides]
    try:
        with initialize_config_dir(version_base=None, config_dir=str(root), job_name=primary):
            composed = compose(config_name=primary, overrides=hydra_overrides)
        data = OmegaConf.to_container(composed, resolve=True)
    except (HydraException, OmegaConfBaseException) as e:
        raise ConfigError(_one_line(f"bad config override: {e}")) from None
    return config_from_dict(schema, data)


def _to_hydra_override(override: str, groups: Mapping[str, list[str]]) -> str:
    """Let dotted overrides reach keys the YAML leaves at their dataclass default (``++key=v``)."""
    if override.startswith(("+", "~")):
        return override
    key, sep, value = override.partition("=")
    if not sep or not key:
        raise ConfigError(
            f"bad override {override!r}: expected key=value, e.g. robot.dot_radius=7 or robot=toroidal_dot"
        )
    if key in groups:
        if value not in groups[key]:
            raise ConfigError(f"unknown {key} option {value!r}; expected one of {groups[key]}")
        return override
    return f"++{override}"


def _one_line(message: str) -> str:
    return " ".join(part.strip() for part in message.splitlines() if part.strip())


def config_from_dict(schema: type[T], data: Any, path: str = "") -> T:
    """Validate plain data (dicts, lists, scalars) into the dataclass ``schema``."""
    return _convert(schema, data, path)


def _rename_deprecated(data: Mapping[str, Any], fields: Mapping[str, Any], path: str) -> Any:
    """``data`` with deprecated keys (:data:`RENAMED_KEYS`) under their new names; an explicitly
    given old key wins over the new key's preset value."""
    renamed = None
    for old, new in RENAMED_KEYS.items():
        if old in data and old not in fields and new in fields:
            renamed = dict(renamed or data)
            renamed[new] = renamed.pop(old)
            where = f"{path}." if path else ""
            print(
                f"sensorimotor: config key {where}{old} is deprecated; use {where}{new}",
                file=sys.stderr,
            )
    return data if renamed is None else renamed


def _is_polymorphic(tp: Any) -> bool:
    return dataclasses.is_dataclass(tp) and isinstance(getattr(tp, "registry", None), Registry)


def _dataclass_from(schema: type, data: Any, path: str) -> Any:
    where = path or "config"
    if dataclasses.is_dataclass(data) and isinstance(data, schema):
        data = config_to_dict(data)
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping of {schema.__name__} keys, got {data!r}")
    if _is_polymorphic(schema):
        registry: Registry = schema.registry
        type_name = data.get("type") or _field_default(schema, "type")
        if not type_name:
            raise ConfigError(f"{where}.type is missing; expected one of {registry.names()}")
        if type_name not in registry:
            raise ConfigError(
                f"{where}.type: unknown {registry.kind} {type_name!r}; expected one of {registry.names()}"
            )
        concrete = registry.get(type_name)
        if not (isinstance(concrete, type) and issubclass(concrete, schema)):
            raise ConfigError(
                f"{where}: {registry.kind} {type_name!r} cannot be used here (expected a {schema.__name__})"
            )
        schema = concrete
    fields = {f.name: f for f in dataclasses.fields(schema) if f.init}
    data = _rename_deprecated(data, fields, path)
    unknown = sorted(set(data) - set(fields))
    if unknown:
        prefix = f"{path}." if path else ""
        raise ConfigError(
            f"unknown config key {prefix}{unknown[0]}; valid keys{' of ' + path if path else ''}: {sorted(fields)}"
        )
    hints = typing.get_type_hints(schema)
    kwargs = {
        name: _convert(hints[name], value, f"{path}.{name}" if path else name)
        for name, value in data.items()
    }
    missing = [
        name
        for name, f in fields.items()
        if name not in kwargs
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(f"{where}: missing required key(s) {missing}")
    try:
        return schema(**kwargs)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"{where}: {e}") from None


def _field_default(schema: type, name: str) -> Any:
    for f in dataclasses.fields(schema):
        if f.name == name and f.default is not dataclasses.MISSING:
            return f.default
    return None


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(tp: Any, value: Any, path: str) -> Any:
    def fail() -> ConfigError:
        return ConfigError(
            f"{path or 'config'}: expected {_type_name(tp)}, got {value!r} ({type(value).__name__})"
        )

    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in (a for a in args if a is not type(None)):
            try:
                return _convert(arg, value, path)
            except ConfigError:
                continue
        raise fail()
    if origin is Literal:
        if value in args:
            return value
        raise ConfigError(f"{path}: expected one of {list(args)}, got {value!r}")
    if dataclasses.is_dataclass(tp):
        return _dataclass_from(tp, value, path)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise fail()
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise fail()
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise fail()
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise fail()
    if tp is Path:
        if isinstance(value, str | Path):
            return Path(value)
        raise fail()
    if origin in (list, Sequence, tuple):
        if not isinstance(value, list | tuple):
            raise fail()
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(
                    f"{path}: expected {len(args)} items, got {len(value)}: {value!r}"
                )
            return tuple(
                _convert(a, v, f"{path}[{i}]")
                for i, (a, v) in enumerate(zip(args, value, strict=True))
            )
        item = args[0] if args else Any
        items = [_convert(item, v, f"{path}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise fail()
        key_tp, val_tp = args if args else (Any, Any)
        return {
            _convert(key_tp, k, path): _convert(val_tp, v, f"{path}.{k}") for k, v in value.items()
        }
    if isinstance(tp, type):
        if isinstance(value, tp):
            return value
        raise fail()
    raise ConfigError(f"{path}: unsupported schema type {tp!r}")


def config_to_dict(cfg: Any) -> Any:
    """A config dataclass tree as plain YAML-able data (tuples → lists, paths → strings)."""
    if dataclasses.is_dataclass(cfg) and not isinstance(cfg, type):
        return {f.name: config_to_dict(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}
    if isinstance(cfg, Mapping):
        return {str(k): config_to_dict(v) for k, v in cfg.items()}
    if isinstance(cfg, list | tuple):
        return [config_to_dict(v) for v in cfg]
    if isinstance(cfg, Path):
        return str(cfg)
    return cfg


def save_config(cfg: Any, path: str | Path) -> None:
    """Write the fully resolved config (defaults included) as YAML."""
    Path(path).write_text(yaml.safe_dump(config_to_dict(cfg), sort_keys=False))


def load_saved_config(path: str | Path, schema: type[T]) -> T:
    """Read a config written by :func:`save_config` back into ``schema``."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except yaml.YAMLError as e:
        raise ConfigError(_one_line(f"{path}: not valid YAML: {e}")) from None
    return config_from_dict(schema, data or {})


def apply_overrides(cfg: T, overrides: Sequence[str]) -> T:
    """``cfg`` with dotted ``key=value`` overrides applied (values parsed as YAML), validated again."""
    data = config_to_dict(cfg)
    for override in overrides:
        key, sep, raw = override.partition("=")
        if not sep:
            raise ConfigError(f"bad override {override!r}: expected key=value")
        node = data
        *parents, leaf = key.lstrip("+").split(".")
        for part in parents:
            if not isinstance(node.get(part), dict):
                raise ConfigError(f"unknown config key {key}")
            node = node[part]
        node[leaf] = yaml.safe_load(raw)
    return config_from_dict(type(cfg), data)
