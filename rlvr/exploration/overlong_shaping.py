"""`overlong_shaping`: DAPO's soft overlong punishment (arXiv 2503.14476, Eq. 13), as a module-provided reward.

    R_len(|y|) = 0                                   |y| <= L_max - L_cache
               = ((L_max - L_cache) - |y|) / L_cache   L_max - L_cache < |y| <= L_max
               = -1                                  |y| > L_max
    R = R_task + penalty_factor * R_len                (TRL reward weights)

|y| counts completion tokens (EOS included, as TRL passes them). The reward function is TRL's own
`trl.rewards.get_soft_overlong_punishment` (logged as `rewards/soft_overlong_punishment_reward/*`). L_max defaults to
train.max_completion_length, where generation is cut off, as DAPO's max response length. Defaults (DAPO's verl
recipe, reference §4.1): L_max 20480 with L_cache 4096, i.e. a buffer of 20% of L_max (`cache_fraction` 0.2, the
fraction form is ours so that it scales to toy lengths), penalty_factor 1. `mask_truncated_completions: true` adds
TRL's overlong *filtering* (the other DAPO variant: truncated completions leave the loss). Logged:
`explore/overlong_frac` (completions with R_len < 0), `overlong_penalty` (mean R_len).
"""

from __future__ import annotations

from dataclasses import dataclass

from rlvr.errors import ConfigError, RLVRError
from rlvr.exploration.base import Explorer


@dataclass
class OverlongShapingConfig:
    max_length: int | None = None
    """L_max in tokens; null: train.max_completion_length (DAPO: the max response length, 20480)."""
    cache_length: int | None = None
    """L_cache, the buffer before L_max; null: round(cache_fraction * L_max), at least 1 (DAPO: 4096)."""
    cache_fraction: float = 0.2
    """L_cache / L_max when cache_length is null (DAPO: 4096 / 20480 = 0.2)."""
    penalty_factor: float = 1.0
    """Weight of R_len in the reward (DAPO's overlong_penalty_factor: 1.0)."""
    mask_truncated_completions: bool = False
    """Also drop truncated completions from the loss (TRL's field; DAPO's overlong filtering). Off in DAPO's recipe."""

    def validate(self):
        if self.max_length is not None and self.max_length < 1:
            raise ConfigError(f"exploration.max_length must be >= 1 or null: {self.max_length}")
        if self.cache_length is not None and self.cache_length < 1:
            raise ConfigError(f"exploration.cache_length must be >= 1 or null: {self.cache_length}")
        if not (0 < self.cache_fraction <= 1 and self.penalty_factor >= 0):
            raise ConfigError("exploration: need 0 < cache_fraction <= 1 and penalty_factor >= 0")


def cache_length(config: OverlongShapingConfig, max_length: int) -> int:
    if config.cache_length is not None:
        return config.cache_length
    return max(1, round(config.cache_fraction * max_length))


class SoftOverlongReward:
    """TRL's soft overlong punishment, built once L_max is known (at `setup`), reporting to the module's metrics."""

    __name__ = "soft_overlong_punishment_reward"

    def __init__(self, module: OverlongShaping):
        self.module, self.fn = module, None

    def build(self, max_length: int) -> None:
        from trl.rewards import get_soft_overlong_punishment

        c = self.module.config
        if c.max_length is None and max_length is None:
            raise RLVRError("overlong_shaping: no L_max; set exploration.max_length or train.max_completion_length")
        lmax = c.max_length or max_length
        lcache = cache_length(c, lmax)
        if lcache > lmax:
            raise ConfigError(f"exploration.cache_length ({lcache}) must be <= L_max ({lmax})")
        self.max_length, self.cache_length = lmax, lcache
        self.fn = get_soft_overlong_punishment(max_completion_len=lmax, soft_punish_cache=lcache)

    def __call__(self, completion_ids, **kwargs) -> list[float]:
        if self.fn is None:
            raise RLVRError("overlong_shaping: the reward was called before the module's setup")
        out = self.fn(completion_ids)
        self.module.log("overlong_frac", sum(r < 0 for r in out) / max(len(out), 1))
        self.module.log("overlong_penalty", sum(out) / max(len(out), 1))
        return out


class OverlongShaping(Explorer):
    """DAPO soft overlong punishment as an extra reward (TRL's function), optionally TRL's overlong filtering."""

    config_cls = OverlongShapingConfig

    def __init__(self, config=None):
        super().__init__(config)
        self.reward = SoftOverlongReward(self)

    def grpo_overrides(self) -> dict:
        return {"mask_truncated_completions": True} if self.config.mask_truncated_completions else {}

    def reward_funcs(self, run) -> list:
        self.reward.build(run.args.max_completion_length)
        return [(self.reward, self.config.penalty_factor)]

    def setup(self, run) -> None:
        super().setup(run)
        self.reward.build(run.args.max_completion_length)  # also here: `rlvr show` checks set-up without rewards
