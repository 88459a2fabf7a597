"""`clip_higher`: DAPO's decoupled clip range (arXiv 2503.14476) as a built-in baseline.

    loss_t = max(-A * ratio, -A * clip(ratio, 1 - eps_low, 1 + eps_high)),  eps_high > eps_low

Widening only the upper side lets low-probability tokens with A > 0 grow, which counters entropy
collapse. TRL implements it (`epsilon`, `epsilon_high`); this module only sets those fields so a
recipe can select it like any other module. DAPO: eps_low 0.2, eps_high 0.28. Note: the clip only
acts on off-policy micro-steps (steps_per_generation > 1 or num_iterations > 1); with one update per
rollout the ratio is exactly 1 and clip-higher is a no-op.
"""

from __future__ import annotations

from dataclasses import dataclass

from rlvr.errors import ConfigError
from rlvr.exploration.base import Explorer


@dataclass
class ClipHigherConfig:
    eps_low: float = 0.2
    """Lower clip (DAPO: 0.2)."""
    eps_high: float = 0.28
    """Upper clip (DAPO: 0.28)."""

    def validate(self):
        if not 0 < self.eps_low <= self.eps_high:
            raise ConfigError("exploration: need 0 < eps_low <= eps_high")


class ClipHigher(Explorer):
    """Asymmetric PPO clip [1 - eps_low, 1 + eps_high] (DAPO)."""

    config_cls = ClipHigherConfig

    def grpo_overrides(self) -> dict:
        return {"epsilon": self.config.eps_low, "epsilon_high": self.config.eps_high}
