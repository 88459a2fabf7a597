"""`clip_cov`: Clip-Cov (The Entropy Mechanism of RL for Reasoning LMs, arXiv 2505.22617), as in the authors' code.

Entropy falls when confident, advantaged tokens are reinforced; a token's share of that is the centred covariance

    Cov_t = (A_t - mean_m A) * (log pi_theta(y_t) - mean_m log pi_theta)        means over the micro-batch's
                                                                                 valid tokens, log pi detached
    C = {valid t : not clipped by the PPO clip, cov_lower < Cov_t < cov_upper}
    S = min(|C|, max(1, int(clip_ratio * N_valid))) tokens of C, drawn uniformly at random
    l_t <- l_t * 0 on S (no gradient; they stay in the normaliser), unchanged elsewhere

"Clipped by the PPO clip" is the authors' test -A * clip(w) > -A * w (those tokens already carry no gradient).
Applied as a `token_weights` mask inside rlvr's surrogate. The authors draw with an unseeded `torch.randperm`; ours
is seeded by (run seed, step, micro-batch of the step), so runs are reproducible. Defaults (authors'
`compute_policy_loss_clip_cov` and run scripts, PRIME-RL/Entropy-Mechanism-of-RL, reference §11a): clip_ratio 2e-4,
band (1, 5), PPO clip range epsilon = epsilon_high = 1 (ratio clipped to [0, 2]). At toy scale the `max(1, .)` floor
decides: about one detached token per micro-batch. Logged: `explore/detached_tokens`, `detached_frac`,
`cov_candidates` (|C|), `cov_detached` (mean Cov_t on S).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rlvr.errors import ConfigError
from rlvr.exploration.base import Explorer


@dataclass
class ClipCovConfig:
    clip_ratio: float = 2e-4
    """Fraction r of the micro-batch's valid tokens detached, floor 1 (authors' clip_cov_ratio: 2e-4)."""
    cov_lower: float = 1.0
    """Lower bound of the covariance band, exclusive (authors' clip_cov_lb: 1)."""
    cov_upper: float = 5.0
    """Upper bound of the covariance band, exclusive (authors' clip_cov_ub: 5)."""
    ppo_clip: float | None = 1.0
    """Sets train epsilon = epsilon_high (authors' scripts: clip_ratio_low = high = 1); null keeps the trainer's."""

    def validate(self):
        if not (0 < self.clip_ratio <= 1 and self.cov_lower < self.cov_upper):
            raise ConfigError("exploration: need 0 < clip_ratio <= 1 and cov_lower < cov_upper")
        if self.ppo_clip is not None and self.ppo_clip <= 0:
            raise ConfigError(f"exploration.ppo_clip must be > 0 or null: {self.ppo_clip}")


def token_covariance(logps, advantages, mask) -> torch.Tensor:
    """(B, T) Cov_t = (A_t - mean A)(log pi_t - mean log pi), both means over the valid tokens, log pi detached."""
    m = mask.bool()
    adv = advantages.expand_as(logps).float()  # (B, T)
    lp = logps.detach().float()  # (B, T)
    n = m.sum().clamp(min=1)
    return (adv - adv[m].sum() / n) * (lp - lp[m].sum() / n)  # (B, T)


def ppo_clipped(ratio, advantages, eps_low: float, eps_high: float) -> torch.Tensor:
    """(B, T) tokens whose clipped term wins in max(-A w, -A clip(w)): the PPO clip already removed their gradient."""
    return -advantages * torch.clamp(ratio, 1 - eps_low, 1 + eps_high) > -advantages * ratio


def clip_cov_select(cov, clipped, mask, clip_ratio, lower, upper, generator=None):
    """(B, T) bool: min(|C|, max(1, int(clip_ratio * N_valid))) random tokens of the band C; and |C|."""
    valid = mask.bool()
    cand = valid & ~clipped.expand_as(valid) & (cov > lower) & (cov < upper)  # (B, T)
    idx = cand.flatten().nonzero().squeeze(1)  # (|C|,)
    n_clip = max(int(clip_ratio * int(valid.sum())), 1)
    pick = idx[torch.randperm(idx.numel(), generator=generator)[:n_clip]]
    sel = torch.zeros_like(cand)
    sel.view(-1)[pick] = True
    return sel, int(idx.numel())


class StepSeeded:
    """A torch.Generator per micro-batch, seeded by (run seed, step, index of the micro-batch within the step)."""

    def setup_seed(self, run) -> None:
        self._seed, self._step, self._calls = int(getattr(run.args, "seed", 0)), None, 0

    def generator(self, step: int) -> torch.Generator:
        seed = getattr(self, "_seed", 0)
        if getattr(self, "_step", None) != step:
            self._step, self._calls = step, 0
        self._calls += 1
        return torch.Generator().manual_seed(seed * 1_000_003 + step * 1_009 + self._calls)


class ClipCov(StepSeeded, Explorer):
    """Detach the gradient of a random few tokens whose log-prob/advantage covariance lies in a band (Clip-Cov)."""

    config_cls = ClipCovConfig

    def grpo_overrides(self) -> dict:
        eps = self.config.ppo_clip
        return {} if eps is None else {"epsilon": eps, "epsilon_high": eps}

    def setup(self, run) -> None:
        super().setup(run)
        self.setup_seed(run)

    def token_weights(self, lctx):
        c = self.config
        cov = token_covariance(lctx.logps, lctx.advantages, lctx.mask)  # (B, T)
        clipped = ppo_clipped(lctx.ratio.detach(), lctx.advantages, lctx.epsilon_low, lctx.epsilon_high)  # (B, T)
        gen = self.generator(lctx.step)
        sel, n_cand = clip_cov_select(cov, clipped, lctx.mask, c.clip_ratio, c.cov_lower, c.cov_upper, gen)
        n_sel, n_valid = int(sel.sum()), int(lctx.mask.bool().sum())
        self.log("detached_tokens", n_sel)
        self.log("detached_frac", n_sel / max(n_valid, 1))
        self.log("cov_candidates", n_cand)
        if n_sel:
            self.log("cov_detached", cov[sel].mean().item())
        return (~sel).to(lctx.logps.dtype)  # (B, T): 0 on the detached tokens
