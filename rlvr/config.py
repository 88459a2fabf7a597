"""Recipes: YAML files that map 1:1 onto nested dataclasses, with dotted `key=value` overrides.

    cfg = load_recipe("recipes/grpo.yaml", ["train.learning_rate=3e-5", "exploration.name=lp_reg"])

Values on the command line are parsed as YAML (`3e-5` is a float, `[1, 2]` a list, `null` None).
Unknown keys and wrong types raise a one-line `ConfigError` naming the key, the recipe file and the
closest valid key. The dataclasses themselves live beside what they configure (`rlvr/recipe.py` for
the top-level blocks, each task / exploration module for its own block); this file only knows how to
merge, check and build them.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from pathlib import Path
from typing import Any

import yaml

from rlvr.errors import ConfigError
from rlvr.registry import closest


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads `3e-5` / `1e3` as floats (PyYAML's YAML 1.1 float rule needs a dot)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def parse_overrides(overrides: list[str], where: str = "command line") -> dict:
    """['a.b=1', 'c=x'] -> {'a': {'b': 1}, 'c': 'x'} (values parsed as YAML)."""
    tree: dict = {}
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override '{item}' on the {where} is not of the form key.sub=value")
        key, raw = item.split("=", 1)
        try:
            value = yaml.load(raw, Loader=_Loader) if raw != "" else ""
        except yaml.YAMLError as exc:
            raise ConfigError(f"override '{item}': value is not valid YAML ({exc.problem})") from exc
        node = tree
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override '{item}' conflicts with another override of '{part}'")
        node[parts[-1]] = value
    return tree


def deep_merge(base: Any, update: Any) -> Any:
    """Merge `update` into `base`; dicts merge recursively, lists accept {'0': {...}} index updates."""
    if isinstance(base, dict) and isinstance(update, dict):
        out = dict(base)
        for k, v in update.items():
            out[k] = deep_merge(base[k], v) if k in base else v
        return out
    if isinstance(base, list) and isinstance(update, dict) and all(str(k).isdigit() for k in update):
        out = list(base)
        for k, v in update.items():
            i = int(k)
            if i >= len(out):
                raise ConfigError(f"list index {i} out of range (the list has {len(out)} items)")
            out[i] = deep_merge(out[i], v)
        return out
    return update


def read_yaml(path: str | Path) -> dict:
    path = Path(path)
    if path.is_dir():
        raise ConfigError(
            f"recipe '{path}' is a directory; give a recipe .yaml (continue a run: RECIPE resume=true output_dir=DIR)"
        )
    if not path.is_file():
        raise ConfigError(f"recipe '{path}' does not exist; see `rlvr list` for the shipped recipes")
    try:
        data = yaml.load(path.read_text(), Loader=_Loader) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"recipe '{path}' is not valid YAML: {str(exc).splitlines()[0]}") from exc
    if not isinstance(data, dict):
        raise ConfigError(
            f"recipe '{path}' must be a mapping of blocks (model:, task:, ...), got {type(data).__name__}"
        )
    return data


def _type_ok(value: Any, tp: Any) -> bool:
    if tp is Any or tp is object:
        return True
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, a) for a in typing.get_args(tp))
    if tp is type(None):
        return value is None
    if origin is typing.Literal:
        return value in typing.get_args(tp)
    if origin in (list, tuple):
        return isinstance(value, list | tuple)
    if origin is dict:
        return isinstance(value, dict)
    if tp is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(tp, type):
        return isinstance(value, tp)
    return True


def check_value(key: str, value: Any, tp: Any, where: str) -> Any:
    """Raise a one-line ConfigError if `value` does not fit the annotation `tp`; ints become floats."""
    if not _type_ok(value, tp):
        name = getattr(tp, "__name__", None) or str(tp).replace("typing.", "")
        raise ConfigError(f"{where}: '{key}' must be {name}, got {value!r} ({type(value).__name__})")
    return float(value) if tp is float and isinstance(value, int) else value


def build_dataclass(cls: type, data: dict | None, where: str, prefix: str = "") -> Any:
    """Build dataclass `cls` from a dict, recursing into dataclass-typed fields; unknown keys raise."""
    if hasattr(cls, "from_block"):  # component blocks: schema depends on their `name`
        return cls.from_block(data, where, prefix)
    data = data or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: '{prefix.rstrip('.') or 'recipe'}' must be a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    kwargs = {}
    for key, value in data.items():
        if key not in names:
            raise ConfigError(f"{where}: unknown key '{prefix}{key}'{closest(key, names)}")
        tp = hints[key]
        if dataclasses.is_dataclass(tp):
            kwargs[key] = build_dataclass(tp, value, where, f"{prefix}{key}.")
        else:
            kwargs[key] = check_value(f"{prefix}{key}", value, tp, where)
    for key in names:  # absent component blocks still get their component's default settings
        if key not in kwargs and hasattr(hints[key], "from_block"):
            kwargs[key] = hints[key].from_block({}, where, f"{prefix}{key}.")
    try:
        obj = cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: invalid '{prefix.rstrip('.') or cls.__name__}': {exc}") from exc
    if hasattr(obj, "validate"):
        try:
            obj.validate()
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    return obj


def to_dict(obj: Any) -> Any:
    """Dataclass tree -> plain dict (component blocks may define `to_dict` to flatten themselves)."""
    if hasattr(obj, "to_dict") and dataclasses.is_dataclass(obj):
        return obj.to_dict()
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, list | tuple):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def dump_yaml(obj: Any) -> str:
    return yaml.safe_dump(to_dict(obj), sort_keys=False, default_flow_style=False)
