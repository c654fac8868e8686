"""Strict YAML → typed dataclass configs with dotted command-line overrides.

Shared by `pipeline/` and `training/` (which must not import each other). Each stage and the
trainer own a small `@dataclass` config; this module only knows how to fill one from a mapping:
unknown keys are errors (a typo must not silently fall back to a default), values are checked
against the field's type, and `__post_init__` of the dataclass does semantic validation.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from tibcpt.errors import ConfigError

__all__ = ["ConfigError", "apply_overrides", "config_hash", "from_dict", "load_config", "load_yaml", "to_dict"]

T = TypeVar("T")


def _is_optional(tp: Any) -> tuple[bool, Any]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return True, args[0]
    return False, tp


def _coerce(value: Any, tp: Any, key: str) -> Any:
    optional, inner = _is_optional(tp)
    if value is None:
        if optional or tp is Any:
            return None
        raise ConfigError(f"{key}: null is not allowed (expected {tp})")
    tp = inner
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {type(value).__name__}")
        return from_dict(tp, value, prefix=f"{key}.")
    origin = typing.get_origin(tp)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {type(value).__name__}")
        args = typing.get_args(tp)
        item_tp = args[0] if args else Any
        items = [_coerce(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value)]
        return items if origin is list else tuple(items)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {type(value).__name__}")
        _, vt = typing.get_args(tp) or (Any, Any)
        return {str(k): _coerce(v, vt, f"{key}.{k}") for k, v in value.items()}
    if origin is typing.Literal:
        allowed = typing.get_args(tp)
        if value not in allowed:
            raise ConfigError(f"{key}: {value!r} is not one of {list(allowed)}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if tp is float:
        # PyYAML (YAML 1.1) reads `2e-4` (no dot) as a string; accept what float() parses.
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                raise ConfigError(f"{key}: expected a number, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return str(value)
    return value


def from_dict(cls: type[T], data: dict[str, Any], prefix: str = "") -> T:
    """Build dataclass `cls` from `data`; unknown keys raise ConfigError naming them."""
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix or cls.__name__}: expected a mapping")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown key(s) {', '.join(prefix + k for k in unknown)} for {cls.__name__}; "
            f"known: {', '.join(sorted(fields))}"
        )
    kwargs = {k: _coerce(v, hints[k], prefix + k) for k, v in data.items()}
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{prefix.rstrip('.') or cls.__name__}: {e}") from e


def _field_type(cls: Any, parts: list[str]) -> Any:
    """The declared type of dotted field `parts` in dataclass `cls`, or None where unknown."""
    tp: Any = cls
    for p in parts:
        tp = _is_optional(tp)[1]
        if not dataclasses.is_dataclass(tp):
            return None
        hints = typing.get_type_hints(tp)
        if p not in hints:
            return None
        tp = hints[p]
    return tp


def _is_str_type(tp: Any) -> bool:
    tp = _is_optional(tp)[1]
    if tp is str:
        return True
    return typing.get_origin(tp) is typing.Literal and all(isinstance(a, str) for a in typing.get_args(tp))


def parse_override(item: str, cls: Any = None) -> tuple[list[str], Any]:
    """`a.b=value` -> (["a", "b"], value). The value is read as YAML, except for a field declared as
    a string (or a Literal of strings), which takes the text as written: YAML 1.1 would turn
    `mixed_precision=no` into false and `name=1e3` into a number."""
    if "=" not in item:
        raise ConfigError(f"override {item!r} must look like key.sub=value")
    key, raw = item.split("=", 1)
    parts = key.strip().split(".")
    if not all(parts):
        raise ConfigError(f"override {item!r}: empty key")
    tp = _field_type(cls, parts) if cls is not None else None
    if raw == "" or (tp is not None and _is_str_type(tp)):
        if raw.strip() in ("null", "~") and _is_optional(tp)[0]:
            return parts, None
        return parts, raw
    try:
        return parts, yaml.safe_load(raw)
    except yaml.YAMLError as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ConfigError(f"override {key}: value {raw!r} is not valid YAML ({first})") from None


def apply_overrides(data: dict[str, Any], overrides: list[str], cls: Any = None) -> dict[str, Any]:
    """Apply `a.b.c=value` overrides to a nested mapping, in place (values typed as `parse_override`)."""
    for item in overrides:
        parts, value = parse_override(item, cls)
        node = data
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {'.'.join(parts)}: {p} is not a mapping")
        node[parts[-1]] = value
    return data


def load_yaml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}")
    try:
        text = p.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{p}: not UTF-8 text (byte {e.start}: {e.reason}); save it as UTF-8") from None
    except OSError as e:
        raise ConfigError(f"{p}: cannot read: {e.strerror or e}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: invalid YAML: {e}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: top level must be a mapping")
    return data


def load_config(cls: type[T], path: str | Path | None = None, overrides: list[str] | None = None) -> T:
    """Load `cls` from an optional YAML file plus dotted overrides."""
    data = load_yaml(path) if path else {}
    apply_overrides(data, overrides or [], cls)
    try:
        return from_dict(cls, data)
    except ConfigError as e:
        # Name where the bad value came from: the file, the command line, or both.
        where = f"{path}" if path else ""
        if overrides:
            where += (" + " if where else "") + "command-line overrides"
        raise ConfigError(f"{where}: {e}" if where else str(e)) from None


def to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def config_hash(*parts: Any) -> str:
    """Stable short hash of configs (dataclasses or plain data) for resume checks."""

    def norm(x: Any) -> Any:
        if dataclasses.is_dataclass(x):
            return dataclasses.asdict(x)
        return x

    blob = json.dumps([norm(p) for p in parts], sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
