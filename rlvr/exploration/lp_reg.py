"""`lp_reg`: Low-probability Regularisation (Lp-Reg, arXiv 2510.03222), as in the authors' code.

Protects rare but plausible tokens of negative-advantage samples from being pushed to zero:

1. Proxy (from the behaviour policy, once per rollout batch, no grad): keep tokens with
   p(v) >= kappa * max_u p(u) (relative min-p), renormalise:
       log pi_proxy(y) = log p(y) - log sum_{u in K} p(u)  if y in K,  else -1e4
2. Per micro-batch, N = valid tokens with A < 0; n_sel = max(1, int(|N| * rho)); only if n_sel > 1:
   S = the n_sel tokens of N with the lowest current log pi_theta(y); S' = {t in S : log pi_theta < log pi_proxy}.
3. On S' the clipped surrogate is replaced by  -A * ratio + beta * k3(log pi_theta, log pi_proxy),
   k3(lp, lq) = exp(lq - lp) - (lq - lp) - 1 clamped to [-10, 10]. Elsewhere the loss is unchanged.

The replacement happens inside rlvr's policy loss (hook `shape_token_loss`), so it holds for every supported
loss_type, the two-sided `delta` clip and sequence-level ratios (the ratio is the one the surrogate used).
Authors: kappa 0.02, rho 0.01 (Qwen3-14B) / 0.005 (32B), beta 1. rho = 1% needs
>= 200 negative tokens per micro-batch; a toy micro-batch has ~300, so the shipped recipe scales rho
to 0.05 (about 15 tokens per micro-batch) — see recipes/lp_reg.yaml. The authors' near-unclipped
ratio range [0, 10] is irrelevant on-policy (ratio = 1) and is not copied. Logged: `explore/reg_tokens`
(|S'|), `neg_tokens` (|N|), `reg_frac`, `proxy_gap` (mean lq - lp on S'), `low_prob_mass`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rlvr.errors import ConfigError
from rlvr.exploration.base import Explorer


@dataclass
class LpRegConfig:
    kappa: float = 0.02
    """Relative min-p threshold of the proxy (authors' scripts: 0.02)."""
    rho: float = 0.01
    """Fraction of negative-advantage tokens considered, lowest probability first (authors: 0.01)."""
    beta: float = 1.0
    """Coefficient of the k3 KL to the proxy (authors: ppo_kl_coef = 1)."""
    chunk_rows: int = 64
    """Rows per proxy forward pass (memory bound for large vocabularies)."""

    def validate(self):
        if not (0 < self.kappa <= 1 and 0 < self.rho <= 1 and self.beta >= 0):
            raise ConfigError("exploration: need 0 < kappa <= 1, 0 < rho <= 1 and beta >= 0")


def proxy_logps(logits: torch.Tensor, tokens: torch.Tensor, kappa: float) -> torch.Tensor:
    """log pi_proxy(tokens) under relative min-p filtering of softmax(logits): (B, T, V), (B, T) -> (B, T)."""
    logp = torch.log_softmax(logits.float(), dim=-1)  # (B, T, V)
    keep = logp >= logp.max(dim=-1, keepdim=True).values + torch.log(torch.tensor(kappa))  # (B, T, V)
    log_kept_mass = torch.logsumexp(logp.masked_fill(~keep, float("-inf")), dim=-1)  # (B, T)
    lp_y = logp.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)  # (B, T)
    kept_y = keep.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)  # (B, T)
    return torch.where(kept_y, lp_y - log_kept_mass, torch.full_like(lp_y, -1e4))


def lp_reg_select(logps, proxy, advantages, mask, rho):
    """S' (B, T): the int(|N| * rho) lowest-probability tokens of N = {A < 0}, kept where log pi < log pi_proxy."""
    adv = advantages if advantages.size(1) == logps.size(1) else advantages.expand_as(logps)  # (B, T)
    neg = (adv < 0) & mask.bool()  # (B, T)
    n_neg = int(neg.sum())
    n_sel = max(1, int(n_neg * rho))
    sel = torch.zeros_like(neg)
    if n_sel > 1:
        scores = logps.detach().masked_fill(~neg, float("inf")).flatten()
        sel.view(-1)[torch.topk(scores, n_sel, largest=False).indices] = True
        sel &= logps.detach() < proxy
    return sel, n_neg


def lp_reg_loss(logps, ratio, proxy, advantages, beta):
    """The per-token loss on S': -A * ratio + beta * k3(log pi, log pi_proxy), k3 clamped to [-10, 10]."""
    d = (proxy - logps).clamp(-20, 20)
    k3 = (torch.exp(d) - d - 1).clamp(-10, 10)
    return -advantages * ratio + beta * k3


class LpReg(Explorer):
    """Regularise the lowest-probability negative-advantage tokens towards a min-p proxy (Lp-Reg)."""

    config_cls = LpRegConfig

    def annotate(self, ctx, batch):
        """`proxy_logps` (B, C) from a no-grad forward of the behaviour policy (before TRL's shuffle)."""
        ids = torch.cat([batch["prompt_ids"], batch["completion_ids"]], dim=1)  # (B, P + C)
        attn = torch.cat([batch["prompt_mask"], batch["completion_mask"]], dim=1)  # (B, P + C)
        c, n = batch["completion_ids"].size(1), self.config.chunk_rows
        out, mass = [], []
        with torch.no_grad():
            for s in range(0, ids.size(0), n):
                logits = ctx.policy(input_ids=ids[s : s + n], attention_mask=attn[s : s + n]).logits
                logits = logits[:, -c - 1 : -1] / ctx.temperature  # (b, C, V): positions predicting completions
                out.append(proxy_logps(logits, batch["completion_ids"][s : s + n], self.config.kappa))
                mass.append(1 - torch.softmax(logits.float(), -1).max(-1).values)  # (b, C): non-argmax mass
        m = batch["completion_mask"].float()
        self.log("low_prob_mass", (torch.cat(mass) * m).sum().item() / max(m.sum().item(), 1.0))
        return {"proxy_logps": torch.cat(out)}  # (B, C)

    def shape_token_loss(self, lctx, per_token_loss):
        proxy = lctx.inputs["proxy_logps"]
        sel, n_neg = lp_reg_select(lctx.logps, proxy, lctx.advantages, lctx.mask, self.config.rho)
        n_reg = int(sel.sum())
        self.log("reg_tokens", n_reg)
        self.log("neg_tokens", n_neg)
        self.log("reg_frac", n_reg / max(n_neg, 1))
        if not n_reg:
            return per_token_loss
        self.log("proxy_gap", (proxy - lctx.logps.detach())[sel].mean().item())
        new = lp_reg_loss(lctx.logps, lctx.ratio, proxy, lctx.advantages, self.config.beta)  # (B, T)
        return torch.where(sel, new, per_token_loss)
