"""`entropy_bonus`: T1's token-entropy bonus plus a "dynamic anchor" reference that follows the policy.

T1 (arXiv 2501.11651) adds the mean token entropy to the objective and regularises towards a reference
that is an exponential moving average of the policy instead of the frozen SFT model:

    L = L_GRPO - coef * mean_t H_t + beta * KL_k3(pi_theta || pi_ref)
    every `anchor_every` steps:  pi_ref <- anchor_alpha * pi_theta + (1 - anchor_alpha) * pi_ref

Both parts are TRL features, so this module only sets GRPOConfig fields: `entropy_coef` (and TRL's
Skywork-OR1 adaptive controller with `adaptive: true`), `beta`, `sync_ref_model`,
`ref_model_mixup_alpha`, `ref_model_sync_steps`. T1 gives beta = 2e-4 (secondary source); its entropy
coefficient, EMA decay and period are NOT FOUND, so `coef`, `anchor_alpha` and `anchor_every` are our
documented settings (sweep them). Logged: `entropy` (TRL), `kl` (TRL, to the anchor), `explore/kl_anchor`.

    exploration: {name: entropy_bonus, coef: 0.01, beta: 2.0e-4, anchor_alpha: 0.1, anchor_every: 10}
"""

from __future__ import annotations

from dataclasses import dataclass

from rlvr.errors import ConfigError, RLVRError
from rlvr.exploration.base import Explorer


@dataclass
class EntropyBonusConfig:
    coef: float = 0.01
    """Entropy coefficient (T1's value NOT FOUND; ours). TRL: entropy_coef."""
    adaptive: bool = False
    """Use TRL's adaptive controller (coef moves by `adaptive_delta` towards `entropy_target`)."""
    entropy_target: float = 0.5
    """Adaptive mode only: the bonus applies while entropy <= target (nats per token)."""
    adaptive_delta: float = 0.005
    beta: float = 2.0e-4
    """KL coefficient to the anchor (T1, secondary source). 0 disables the anchor entirely."""
    anchor: bool = True
    """Dynamic anchor: the reference follows the policy by EMA (TRL sync_ref_model). False: frozen reference."""
    anchor_alpha: float = 0.1
    """EMA mix-up weight of the policy (TRL ref_model_mixup_alpha; NOT FOUND in T1, ours)."""
    anchor_every: int = 10
    """Steps between EMA updates (TRL ref_model_sync_steps; NOT FOUND in T1, ours)."""

    def validate(self):
        if self.coef < 0 or self.beta < 0:
            raise ConfigError("exploration.coef and exploration.beta must be >= 0")
        if self.anchor and self.beta == 0:
            raise ConfigError("exploration.anchor needs beta > 0 (the anchor only acts through the KL term)")
        if not 0 < self.anchor_alpha <= 1 or self.anchor_every < 1:
            raise ConfigError("exploration.anchor_alpha must be in (0, 1] and anchor_every >= 1")


class EntropyBonus(Explorer):
    """L = L_GRPO - coef * H + beta * KL(pi || pi_ref), pi_ref an EMA of pi (T1)."""

    config_cls = EntropyBonusConfig

    def grpo_overrides(self) -> dict:
        c = self.config
        out = {"entropy_coef": c.coef, "beta": c.beta}
        if c.adaptive:
            out.update(use_adaptive_entropy=True, entropy_target=c.entropy_target, entropy_coef_delta=c.adaptive_delta)
        if c.anchor:
            out.update(sync_ref_model=True, ref_model_mixup_alpha=c.anchor_alpha, ref_model_sync_steps=c.anchor_every)
        return out

    def setup(self, run) -> None:
        super().setup(run)
        if self.config.anchor and run.is_peft:
            raise RLVRError(
                "entropy_bonus: the dynamic anchor (sync_ref_model) is not supported with LoRA; set anchor=false"
            )

    def extra_loss(self, lctx):
        ref, mask = lctx.inputs.get("ref_per_token_logps"), lctx.mask
        if ref is not None:  # k3 estimate of KL(pi || anchor) on sampled tokens, for the log only
            d = (ref - lctx.logps).detach()  # (B, T)
            kl = (d.exp() - d - 1) * mask
            self.log("kl_anchor", (kl.sum() / mask.sum().clamp(min=1)).item())
        self.log("entropy_bonus", (lctx.entropies.detach() * mask).sum().item() / max(mask.sum().item(), 1.0))
        return None
