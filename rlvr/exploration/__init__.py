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
    "clip_cov": "rlvr.exploration.clip_cov:ClipCov",
    "kl_cov": "rlvr.exploration.kl_cov:KLCov",
    "forking_tokens": "rlvr.exploration.forking_tokens:ForkingTokens",
    "overlong_shaping": "rlvr.exploration.overlong_shaping:OverlongShaping",
    "psr": "rlvr.exploration.negative_reinforcement:Psr",
    "nsr": "rlvr.exploration.negative_reinforcement:Nsr",
    "w_reinforce": "rlvr.exploration.negative_reinforcement:WReinforce",
    "negative_only": "rlvr.exploration.negative_only:NegativeOnly",
    "passk_advantage": "rlvr.exploration.passk_advantage:PasskAdvantage",
    "entropy_advantage": "rlvr.exploration.entropy_advantage:EntropyAdvantage",
    "ead": "rlvr.exploration.ead:Ead",
    "cure": "rlvr.exploration.cure:Cure",
    "dars": "rlvr.exploration.dars:Dars",
    "ettrl_tree": "rlvr.exploration.ettrl_tree:EttrlTree",
    "rep_exp": "rlvr.exploration.rep_exp:RepExp",
}

DESCRIPTIONS: dict[str, str] = {
    "none": "plain GRPO (TRL's GRPOTrainer, unchanged)",
    "latr": "LATR lookahead tree rollouts: greedy forks at uncertain tokens, pruned unless they diverge",
    "oversampling": "T1 oversampling (K > G, keep G) + DAPO dynamic sampling of zero-variance groups",
    "entropy_bonus": "T1 token-entropy bonus + dynamic (EMA) anchor reference",
    "lp_reg": "Low-probability regularisation: KL to a min-p proxy on rare negative tokens",
    "clip_higher": "DAPO clip-higher baseline (TRL epsilon_high = 0.28)",
    "clip_cov": "Clip-Cov: detach a random few tokens with log-prob/advantage covariance in (1, 5) (2505.22617)",
    "kl_cov": "KL-Cov: |log-ratio| penalty on the top-covariance tokens, no PPO clip (2505.22617)",
    "forking_tokens": "80/20: gradient only on the top-20% entropy tokens, kept- or all-token normaliser (2506.01939)",
    "overlong_shaping": "DAPO soft overlong punishment as an extra reward (TRL's function), optional overlong filter",
    "psr": "positive-sample reinforcement: A = +1 on correct samples only, no baseline (2506.01347)",
    "nsr": "negative-sample reinforcement: A = -1 on wrong samples only, no baseline (2506.01347)",
    "w_reinforce": "W-REINFORCE: A = 0.1 on correct, -1 on wrong samples, no baseline (2506.01347)",
    "negative_only": "GRPO's group-relative advantage with the positive terms dropped (our reading of 2510.04028)",
    "passk_advantage": "Pass@k Training: closed-form group advantages of the pass@k objective (2508.10751)",
    "entropy_advantage": "ETTRL EAR: scale each response's advantage by its entropy relative to its group",
    "ead": "EAD annealed decoding: temperature hot early, cold late along the completion, optional TIS (2510.05251)",
    "cure": "CURE stage 1: re-generate branches from high-entropy critical tokens, prefix masked (2508.11016)",
    "dars": "DARS: a second rollout stage gives low-accuracy prompts extra samples (larger groups) (2508.13755)",
    "ettrl_tree": "ETTRL ETMR: entropy-fork tree rollouts sharing prefixes in one KV cache (2508.11356)",
    "rep_exp": "RepExp: elliptical bonus on the frozen start model's hidden states, gated on correctness (2510.11686)",
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
