"""Exploration modules, one file each; `EXPLORERS` is the explicit registry of built-ins.

Entries are 'module:Class' strings so that `rlvr list` needs no torch import; a recipe may also name
user code as 'package.module:Class' or 'path/to/file.py:Class' (a subclass of `Explorer`).
"""

from __future__ import annotations

from rlvr.errors import RLVRError
from rlvr.registry import resolve

EXPLORERS: dict[str, str] = {
    "none": "rlvr.exploration.base:Explorer",
    "latr": "rlvr.exploration.latr:Latr",
    "oversampling": "rlvr.exploration.oversampling:Oversampling",
    "entropy_bonus": "rlvr.exploration.entropy_bonus:EntropyBonus",
    "lp_reg": "rlvr.exploration.lp_reg:LpReg",
    "clip_higher": "rlvr.exploration.clip_higher:ClipHigher",
}

DESCRIPTIONS: dict[str, str] = {
    "none": "plain GRPO (TRL's GRPOTrainer, unchanged)",
    "latr": "LATR lookahead tree rollouts: greedy forks at uncertain tokens, pruned unless they diverge",
    "oversampling": "T1 oversampling (K > G, keep G) + DAPO dynamic sampling of zero-variance groups",
    "entropy_bonus": "T1 token-entropy bonus + dynamic (EMA) anchor reference",
    "lp_reg": "Low-probability regularisation: KL to a min-p proxy on rare negative tokens",
    "clip_higher": "DAPO clip-higher baseline (TRL epsilon_high = 0.28)",
}


def build_explorer(name: str, config=None):
    """An instance of the module `name` (registry name or 'module:Class'), named as the recipe names it."""
    module = get_explorer_class(name)(config)
    module.registry_name = name
    return module


def get_explorer_class(name: str):
    cls = resolve(name, EXPLORERS, "exploration module")
    if isinstance(cls, str):
        cls = resolve(cls, {}, "exploration module")
    from rlvr.exploration.base import Explorer

    if not (isinstance(cls, type) and issubclass(cls, Explorer)):
        raise RLVRError(f"exploration module '{name}' must be a subclass of rlvr.exploration.base.Explorer")
    return cls
