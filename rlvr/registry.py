"""Resolve a component named in a recipe: a built-in key, `package.module:Name` or `path/to/file.py:Name`.

Every registry in rlvr is a plain dict of built-ins (`TASKS`, `REWARDS`, `EXPLORERS`); this one helper
turns a name from YAML into the object, so user code plugs in the same way everywhere:

    resolve("addition", TASKS, "task")                 # built-in
    resolve("my_pkg.rewards:brevity", REWARDS, "reward")
    resolve("./my_reward.py:brevity", REWARDS, "reward")
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

from rlvr.errors import RLVRError


def closest(name: str, options) -> str:
    """' (did you mean X?)' for the closest option, or ''."""
    match = difflib.get_close_matches(str(name), [str(o) for o in options], n=1, cutoff=0.5)
    return f" (did you mean '{match[0]}'?)" if match else ""


def _load_file(path: Path, kind: str):
    if not path.is_file():
        raise RLVRError(f"{kind} file '{path}' does not exist; give an existing .py file as 'path/to/file.py:Name'")
    mod_name = f"rlvr_user_{path.stem}_{abs(hash(str(path.resolve())))}"
    if mod_name in sys.modules:
        return sys.modules[mod_name]
    spec = importlib.util.spec_from_file_location(mod_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # user code failed at import: name it, keep the cause
        del sys.modules[mod_name]
        raise RLVRError(f"importing {kind} file '{path}' failed: {type(exc).__name__}: {exc}") from exc
    return module


def resolve(name: str, builtins: dict[str, Any], kind: str) -> Any:
    """Return the built-in `builtins[name]`, or import `module:Name` / `file.py:Name`."""
    if not isinstance(name, str) or not name:
        raise RLVRError(f"{kind} must be a non-empty string naming a built-in or 'module:Name', got {name!r}")
    if name in builtins:
        return builtins[name]
    if ":" not in name:
        raise RLVRError(
            f"unknown {kind} '{name}'{closest(name, builtins)}; built-ins: {', '.join(sorted(builtins))}, "
            "or give 'package.module:Name' / 'path/to/file.py:Name'"
        )
    target, attr = name.rsplit(":", 1)
    if target.endswith(".py") or "/" in target:
        module = _load_file(Path(target), kind)
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            raise RLVRError(f"cannot import module '{target}' for {kind} '{name}': {exc}") from exc
    if not hasattr(module, attr):
        public = [a for a in dir(module) if not a.startswith("_")]
        raise RLVRError(f"{kind} '{name}': module '{target}' has no attribute '{attr}'{closest(attr, public)}")
    return getattr(module, attr)
