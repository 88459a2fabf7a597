"""`entropy_advantage`: ETTRL's entropy-based advantage reshaping (EAR, arXiv 2508.11356, Kuaishou). No authors'
code was found; the formula comes from two agreeing third-party notes (paper, secondary source).

Adv-Res (the paper's main variant): with H_i the mean token entropy of response i and H_g the mean of H_i over
its group,

    Y_i = 1 + (H_g - H_i) / H_g,      A_i <- Y_i * A_i   (per token too, if the advantages are per token)

so confident (low-entropy) responses are amplified and uncertain ones damped; Y averages to 1 in every group.
Adv-Clip (the alternative): A <- clip(A, -beta, beta), beta = 2 (secondary source). The sources apply it to
TTRL's majority-vote reward; here it reshapes whatever advantages GRPO (or an earlier module) produced.

Entropy source (ours): `forward` (default) runs one no-grad forward of the current policy over the rollout at the
training temperature, so H is the entropy the loss sees (TRL's `entropy` metric); `rollout` reads
`Rollout.entropies`, which only a module's own `generate` fills today. Tokens with loss mask 0 are not averaged.
H_g <= 0 gives Y = 1. Y < 0 (H_i > 2 H_g) flips the sign; whether the paper clips Y is NOT FOUND, so `scale_min`
(default None: no clip, NOT FOUND — ours) can bound it. Logged: `explore/scale_std`, `scale_min`, `scale_max`,
`neg_scale_frac`, `response_entropy` (Adv-Res); `clipped_frac` (Adv-Clip).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rlvr.errors import ConfigError, RLVRError
from rlvr.exploration.base import Explorer


@dataclass
class EntropyAdvantageConfig:
    variant: str = "res"
    """`res`: Adv-Res, scale by Y_i (the paper's main variant); `clip`: Adv-Clip (secondary source)."""
    clip_beta: float = 2.0
    """Adv-Clip bound beta (secondary source: 2)."""
    entropy_source: str = "forward"
    """`forward`: a no-grad forward of the current policy (ours); `rollout`: Rollout.entropies, from the sampler."""
    scale_min: float | None = None
    """Lower bound on Y_i, e.g. 0 to never flip an advantage's sign (NOT FOUND — ours; None: the formula as is)."""
    chunk_rows: int = 64
    """Rows per entropy forward pass (memory bound)."""

    def validate(self):
        if self.variant not in ("res", "clip") or self.entropy_source not in ("forward", "rollout"):
            raise ConfigError("exploration: variant must be res or clip, entropy_source forward or rollout")
        if self.clip_beta <= 0 or self.chunk_rows < 1:
            raise ConfigError("exploration: need clip_beta > 0 and chunk_rows >= 1")


def forward_entropies(policy, rollout, temperature: float, pad_id: int, chunk_rows: int) -> list[list[float]]:
    """Per-token entropies of every completion under `policy` at `temperature` (a no-grad forward)."""
    out, dev = [], next(policy.parameters()).device
    for s in range(0, len(rollout), chunk_rows):
        prompts, comps = rollout.prompt_ids[s : s + chunk_rows], rollout.completion_ids[s : s + chunk_rows]
        p, c = max(map(len, prompts)), max(1, max(map(len, comps)))
        ids = torch.full((len(prompts), p + c), pad_id, dtype=torch.long)  # (b, P + C): prompts left-padded
        attn = torch.zeros_like(ids)  # (b, P + C)
        for j, (x, y) in enumerate(zip(prompts, comps)):
            ids[j, p - len(x) : p + len(y)] = torch.tensor(x + y, dtype=torch.long)
            attn[j, p - len(x) : p + len(y)] = 1
        with torch.no_grad():
            logits = policy(input_ids=ids.to(dev), attention_mask=attn.to(dev)).logits[:, p - 1 : -1]  # (b, C, V)
            logp = torch.log_softmax(logits.float() / temperature, dim=-1)  # (b, C, V)
            ent = -(logp.exp() * logp).sum(-1)  # (b, C)
        out += [e[: len(y)] for e, y in zip(ent.tolist(), comps)]
    return out


def response_entropy(token_entropies: list[list[float]], loss_mask: list[list[int]] | None) -> torch.Tensor:
    """(N,) mean entropy over each completion's trained tokens (loss mask 1); 0 for a completion without any."""
    masks = loss_mask or [[1] * len(e) for e in token_entropies]
    sums = [sum(h for h, m in zip(e, ms) if m) for e, ms in zip(token_entropies, masks)]
    return torch.tensor([s / max(sum(ms), 1) for s, ms in zip(sums, masks)], dtype=torch.float32)


def ear_scale(h: torch.Tensor, groups: list[list[int]]) -> torch.Tensor:
    """(N,) response entropies -> (N,) Y_i = 1 + (H_g - H_i) / H_g per group (1 where H_g <= 0)."""
    y = torch.ones_like(h)  # (N,)
    for rows in groups:
        hg = h[rows].mean()
        if hg > 0:
            y[rows] = 1 + (hg - h[rows]) / hg
    return y


class EntropyAdvantage(Explorer):
    """Rescale each response's advantage by its entropy relative to its group (ETTRL EAR)."""

    config_cls = EntropyAdvantageConfig

    def shape_advantages(self, ctx, rollout, advantages):
        c = self.config
        if c.variant == "clip":
            self.log("clipped_frac", (advantages.abs() > c.clip_beta).float().mean().item())
            return advantages.clamp(-c.clip_beta, c.clip_beta)
        if c.entropy_source == "rollout":
            if rollout.entropies is None:
                raise RLVRError("entropy_advantage: the rollout has no entropies; use entropy_source=forward")
            tokens = rollout.entropies
        else:
            tokens = forward_entropies(ctx.policy, rollout, ctx.temperature, ctx.pad_token_id, c.chunk_rows)
        h = response_entropy(tokens, rollout.loss_mask)  # (N,)
        y = ear_scale(h, rollout.groups())  # (N,)
        if c.scale_min is not None:
            y = y.clamp(min=c.scale_min)
        self.log("response_entropy", h.mean().item())
        self.log("scale_std", y.std().item() if len(y) > 1 else 0.0)
        self.log("scale_min", y.min().item())
        self.log("scale_max", y.max().item())
        self.log("neg_scale_frac", (y < 0).float().mean().item())
        y = y.to(device=advantages.device, dtype=advantages.dtype)
        return advantages * (y if advantages.dim() == 1 else y.unsqueeze(1))  # (N,) or (N, T)
