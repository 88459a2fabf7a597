"""`kl_cov`: KL-Cov (The Entropy Mechanism of RL for Reasoning LMs, arXiv 2505.22617), as in the authors' code.

Same diagnosis as Clip-Cov (`clip_cov.py`), a different cure: no PPO clip at all, and an absolute log-ratio penalty
on the tokens of largest covariance:

    Cov_t = (A_t - mean A)(log pi_theta(y_t) - mean log pi_theta)       plain means over the micro-batch's valid tokens
    K = the top max(1, int(N_valid * k_percent / 100)) valid tokens by Cov_t
    l_t = -A_t w_t                      every token (the clip is switched off: epsilon = 1, epsilon_high = 1e9)
    l_t <- l_t + kl_coef * |log pi_theta(y_t) - log pi_old(y_t)|       on K (hook `shape_token_loss`)

On-policy (the first micro-step of a rollout) log pi = log pi_old, so the penalty and its gradient are 0 there: it
acts on off-policy micro-steps (steps_per_generation > 1 or num_iterations > 1), as the authors' mini-batch updates
do. Defaults (authors' `compute_policy_loss_kl_cov` and run scripts, PRIME-RL/Entropy-Mechanism-of-RL, reference
§11a): k_percent 0.2 (a percentage: 0.2% of tokens, 7B; 0.02 at 32B), kl_coef 1 (ppo_kl_coef), no PPO clip.
`ppo_clip: true` keeps the trainer's clip instead (ours, to stack with clip_higher). At toy scale the `max(1, .)`
floor decides: one to two penalised tokens per micro-batch. Logged: `explore/penalized_tokens`, `penalized_frac`,
`cov_penalized` (mean Cov_t on K), `abs_log_ratio` (mean |log pi - log pi_old| on K).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rlvr.errors import ConfigError
from rlvr.exploration.base import Explorer
from rlvr.exploration.clip_cov import token_covariance

NO_CLIP = {"epsilon": 1.0, "epsilon_high": 1e9}
"""clip(w, 0, 1e9) = w for every positive ratio: TRL's clipped surrogate becomes exactly -A w."""


@dataclass
class KLCovConfig:
    k_percent: float = 0.2
    """Percentage of valid tokens penalised, top covariance first, floor 1 (authors: 0.2 for 7B, 0.02 for 32B)."""
    kl_coef: float = 1.0
    """Coefficient of |log pi - log pi_old| on the selected tokens (authors' ppo_kl_coef: 1)."""
    ppo_clip: bool = False
    """false: no PPO clip, as the authors (sets epsilon = 1, epsilon_high = 1e9); true: keep the trainer's (ours)."""

    def validate(self):
        if not (0 < self.k_percent <= 100 and self.kl_coef >= 0):
            raise ConfigError("exploration: need 0 < k_percent <= 100 and kl_coef >= 0")


def kl_cov_select(cov, mask, k_percent: float) -> torch.Tensor:
    """(B, T) bool: the max(1, int(N_valid * k_percent / 100)) valid tokens of largest covariance."""
    valid = mask.bool()
    n_valid = int(valid.sum())
    sel = torch.zeros_like(valid)
    if n_valid == 0:
        return sel
    k = max(1, int(n_valid * min(k_percent, n_valid) / 100))
    scores = cov.masked_fill(~valid, float("-inf")).flatten()  # (B * T,)
    sel.view(-1)[torch.topk(scores, k).indices] = True
    return sel


class KLCov(Explorer):
    """Penalise |log-ratio| on the top-covariance tokens, with the PPO clip switched off (KL-Cov)."""

    config_cls = KLCovConfig

    def grpo_overrides(self) -> dict:
        return {} if self.config.ppo_clip else dict(NO_CLIP)

    def shape_token_loss(self, lctx, per_token_loss):
        cov = token_covariance(lctx.logps, lctx.advantages, lctx.mask)  # (B, T)
        sel = kl_cov_select(cov, lctx.mask, self.config.k_percent)  # (B, T)
        n_sel, n_valid = int(sel.sum()), int(lctx.mask.bool().sum())
        self.log("penalized_tokens", n_sel)
        self.log("penalized_frac", n_sel / max(n_valid, 1))
        if not n_sel:
            return per_token_loss
        abs_kl = (lctx.logps - lctx.old_logps).abs()  # (B, T)
        self.log("cov_penalized", cov[sel].mean().item())
        self.log("abs_log_ratio", abs_kl.detach()[sel].mean().item())
        return per_token_loss + self.config.kl_coef * abs_kl * sel  # (B, T)
