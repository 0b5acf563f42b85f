"""Composing typed config dataclasses from YAML files and ``key=value`` overrides.

A section is read from a YAML file in ``configs/<kind>/`` (or any YAML path); a file may start from others
with ``include: other.yaml`` (or a list; paths relative to the file), and its own keys replace theirs.
Command-line overrides address a key by its dotted path (``memory.recent_frames=4``) and are parsed as
YAML scalars. Every unknown key, wrong type or value out of range is a `ConfigError` naming the file or
override.

A small module of our own rather than OmegaConf: the sections are our frozen dataclasses (validated in
their ``__post_init__``), errors must be one line naming the file and key, and includes plus dotted
overrides are all the composition the runs need.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError

CONFIGS_ROOT = Path(__file__).resolve().parents[1] / "configs"
INCLUDE_KEY = "include"
KIND_NAMES = {"models": "model", "memory": "memory config", "stages": "training stage"}


# ----------------------------------------------------------------------------------------- YAML files
def config_names(kind: str) -> list[str]:
    """Names of the YAML files shipped in ``configs/<kind>``."""
    return sorted(p.stem for p in (CONFIGS_ROOT / kind).glob("*.yaml"))


def config_path(kind: str, name_or_path: str | Path) -> Path:
    """``configs/<kind>/<name>.yaml`` for a name, the path itself for a ``.yaml``/``.yml`` path."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found")
        return path
    path = CONFIGS_ROOT / kind / f"{name_or_path}.yaml"
    if not path.is_file():
        raise ConfigError(
            f"unknown {KIND_NAMES.get(kind, kind)} {str(name_or_path)!r}; available: {', '.join(config_names(kind))}"
        )
    return path


def read_yaml(path: Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The mapping of a YAML file with its includes resolved (included files first, this file's keys last)."""
    path = path.resolve()
    if path in _seen:
        raise ConfigError(f"{path}: includes itself (through {' -> '.join(p.name for p in _seen)})")
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found (included from {_seen[-1]})")
    try:
        values = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        where = getattr(err, "problem_mark", None)
        line = f" line {where.line + 1}" if where is not None else ""
        raise ConfigError(f"{path}:{line} not valid YAML ({getattr(err, 'problem', None) or err})") from None
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a mapping of config keys, got {type(values).__name__}")
    includes = values.pop(INCLUDE_KEY, [])
    merged: dict[str, Any] = {}
    for include in [includes] if isinstance(includes, str) else includes:
        merged = merge(merged, read_yaml(path.parent / include, (*_seen, path)))
    return merge(merged, values)


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``override`` on top; nested mappings merge key by key."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def parse_overrides(items: Iterable[str]) -> dict[str, Any]:
    """``["memory.recent_frames=4", "inference.precision=bf16"]`` -> nested mapping of YAML-parsed values."""
    nested: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key or any(not part for part in key.split(".")):
            raise ConfigError(f"override {item!r}: expected KEY=VALUE with a dotted key, e.g. memory.recent_frames=4")
        try:
            value = yaml.safe_load(text) if text else ""
        except yaml.YAMLError:
            value = text
        *parents, leaf = key.split(".")
        node = nested
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {part} is given a value and sub-keys")
        node[leaf] = value
    return nested


# --------------------------------------------------------------------------------- typed dataclasses
def build_section(cls: type, values: Mapping[str, Any], source: str) -> Any:
    """An instance of the frozen dataclass ``cls`` from plain values, checking keys and types."""
    if not isinstance(values, Mapping):
        raise ConfigError(f"{source}: expected a mapping, got {type(values).__name__}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in fields(cls) if f.init}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {', '.join(unknown)}; valid: {', '.join(sorted(known))}")
    checked = {key: _check_type(value, hints[key], f"{source}: {key}") for key, value in values.items()}
    try:
        return cls(**checked)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{source}: {err}") from None


def _check_type(value: Any, hint: Any, where: str) -> Any:
    """``value`` converted to ``hint`` where that is lossless (int to float, list to tuple), else ConfigError."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [arg for arg in args if arg is not type(None)]
        for option in options:
            try:
                return _check_type(value, option, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where} must be {' or '.join(_type_name(o) for o in options)}, got {value!r}")
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where} must be a list, got {value!r}")
        return tuple(_check_type(v, args[0], where) for v in value)
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise ConfigError(f"{where} must be a list of {len(args)} values, got {value!r}")
        return tuple(_check_type(v, a, where) for v, a in zip(value, args))
    if origin in (Mapping, dict) or hint in (Mapping, dict):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where} must be a mapping, got {value!r}")
        return {str(k): v for k, v in value.items()}
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float, str, bool) and (not isinstance(value, hint) or (hint is int and isinstance(value, bool))):
        raise ConfigError(f"{where} must be {_type_name(hint)}, got {value!r}")
    return value


def _type_name(hint: Any) -> str:
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(hint, str(hint))


def plain(section: Any) -> dict[str, Any]:
    """The values of a config dataclass as YAML-ready plain types (tuples become lists)."""

    def convert(value: Any) -> Any:
        if isinstance(value, tuple):
            return [convert(v) for v in value]
        if isinstance(value, Mapping):
            return {k: convert(v) for k, v in value.items()}
        return value

    return {f.name: convert(getattr(section, f.name)) for f in fields(section)}
