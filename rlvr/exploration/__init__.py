"""Exploration modules, one file each; `EXPLORERS` is the explicit registry of built-ins.

Entries are 'module:Class' strings so that `rlvr list` needs no torch import; a recipe may also name
user code as 'package.module:Class' or 'path/to/file.py:Class' (a subclass of `Explorer`).
"""

from __future__ import annotations

from rlvr.errors import RLVRError
from rlvr.registry import resolve

EXPLORERS: dict[str, str] = {
    "none": "rlvr.exploration.base:Explorer",
}

DESCRIPTIONS: dict[str, str] = {
    "none": "plain GRPO (TRL's GRPOTrainer, unchanged)",
}


def get_explorer_class(name: str):
    cls = resolve(name, EXPLORERS, "exploration module")
    if isinstance(cls, str):
        cls = resolve(cls, {}, "exploration module")
    from rlvr.exploration.base import Explorer

    if not (isinstance(cls, type) and issubclass(cls, Explorer)):
        raise RLVRError(f"exploration module '{name}' must be a subclass of rlvr.exploration.base.Explorer")
    return cls
