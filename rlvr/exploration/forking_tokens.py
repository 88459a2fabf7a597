"""`forking_tokens`: train only on the high-entropy "forking" tokens (Beyond the 80/20 Rule, arXiv 2506.01939).

    tau = (1 - rho)-quantile of {H_t : valid tokens of the micro-batch, gathered over all processes}
    h_t = 1[H_t >= tau]                                      (TRL's `get_high_entropy_mask` rule, torch.quantile)
    l_t <- l_t * h_t

H_t is the current policy's entropy from the training forward pass. Two normalisers (`normaliser`):
- `kept` (default): h is a `loss_mask`, so the loss is normalised over the kept tokens (the 80/20 reimplementation
  in CarlanLark/Lp-Reg-dev's `compute_policy_loss_8020_split` sets response_mask = 0 on the rest; the paper's own
  normalisation is NOT FOUND, reference §11b and Appendix B). With loss_type dapo: sum(l h) / sum(h).
- `all`: TRL's `top_entropy_quantile = rho` (set through `grpo_overrides`); the normaliser stays every completion
  token, so the step shrinks by about rho: sum(l h) / sum(m).
Either way the mask is the same (tests/test_zoo_loss.py checks it against TRL's). Default rho 0.2 (paper, [ABS]).
Logged: `explore/kept_frac`, `entropy_threshold` (tau), `entropy_kept`, `entropy_dropped` (token means).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rlvr.errors import ConfigError
from rlvr.exploration.base import Explorer

NORMALISERS = ("kept", "all")


@dataclass
class ForkingTokensConfig:
    rho: float = 0.2
    """Fraction of tokens trained on, highest entropy first (paper: 0.2)."""
    normaliser: str = "kept"
    """kept: normalise over kept tokens (80/20 reimplementation in Lp-Reg-dev); all: TRL's top_entropy_quantile."""

    def validate(self):
        if not 0 < self.rho <= 1:
            raise ConfigError(f"exploration.rho must be in (0, 1]: {self.rho}")
        if self.normaliser not in NORMALISERS:
            raise ConfigError(f"exploration.normaliser must be one of {', '.join(NORMALISERS)}: {self.normaliser}")


def gather_1d(x: torch.Tensor) -> torch.Tensor:
    """Concatenation of every process's 1-D `x` (sizes may differ); `x` itself when not distributed."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x
    n = torch.tensor([x.numel()], device=x.device)
    sizes = [torch.zeros_like(n) for _ in range(dist.get_world_size())]
    dist.all_gather(sizes, n)
    padded = torch.zeros(int(max(s.item() for s in sizes)), dtype=x.dtype, device=x.device)  # (max_n,)
    padded[: x.numel()] = x
    parts = [torch.empty_like(padded) for _ in sizes]
    dist.all_gather(parts, padded)
    return torch.cat([p[: int(s.item())] for p, s in zip(parts, sizes)])


def high_entropy_mask(entropies, mask, rho: float):
    """(B, T) bool h_t = 1[H_t >= tau] on valid tokens, tau the (1 - rho)-quantile over all processes; and tau."""
    valid = mask.bool()
    everyone = gather_1d(entropies.detach()[valid].float())  # (N_all,)
    if everyone.numel() == 0:
        return torch.zeros_like(valid), float("nan")
    tau = torch.quantile(everyone, 1 - rho)
    return ((entropies.detach() * mask.float()) >= tau) & valid, tau.item()


class ForkingTokens(Explorer):
    """Gradient only on the top-rho entropy tokens; normalised over kept tokens or (TRL) over all tokens."""

    config_cls = ForkingTokensConfig

    def grpo_overrides(self) -> dict:
        return {"top_entropy_quantile": self.config.rho} if self.config.normaliser == "all" else {}

    def loss_mask(self, lctx):
        keep, tau = high_entropy_mask(lctx.entropies, lctx.mask, self.config.rho)  # (B, T)
        valid = lctx.mask.bool()
        n_valid, n_keep = int(valid.sum()), int(keep.sum())
        self.log("kept_frac", n_keep / max(n_valid, 1))
        self.log("entropy_threshold", tau)
        ent = lctx.entropies.detach()
        if n_keep:
            self.log("entropy_kept", ent[keep].mean().item())
        if n_valid > n_keep:
            self.log("entropy_dropped", ent[valid & ~keep].mean().item())
        if self.config.normaliser == "all":
            return None  # TRL's top_entropy_quantile applies the same mask, normaliser unchanged
        return keep.to(lctx.mask.dtype)  # (B, T)
