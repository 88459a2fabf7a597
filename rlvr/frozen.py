"""`FrozenPolicy`: the starting policy, kept unchanged for modules that compare against it (RepExp, ...).

Built once before the first update when a module sets `needs_frozen_policy`, independent of `beta` (TRL builds a
reference model only for beta > 0, and with `sync_ref_model` that reference drifts). A full model is deep-copied
(eval mode, no grad); a LoRA model is read with its adapters disabled, which is the starting policy by definition.

    out = ctx.frozen.forward(rollout)       # or .forward_ids(prompt_ids, completion_ids)
    out.logps   (N, C)  log pi_0(token) at the trainer's temperature, 0 on padding
    out.hidden  (N, C, H)  last-layer hidden states at each completion token
    out.mask    (N, C)  completion tokens (1) vs padding (0)

    h = ctx.frozen.mean_hidden(prompt_ids, completion_ids, token_mask)   # (N, H) pooled features (RepExp)
"""

from __future__ import annotations

import copy
from contextlib import nullcontext
from dataclasses import dataclass

import torch
from trl.trainer.utils import pad


@dataclass
class FrozenOutput:
    logps: torch.Tensor
    hidden: torch.Tensor
    mask: torch.Tensor


def frozen_copy(model):
    """A deep copy in eval mode without gradients, with its own forward.

    TRL patches the policy's `forward` on the instance (its fused LM head); a deep copy would keep that closure,
    which calls the *original* model's forward, so the copy would silently follow training. Instance-level
    forwards are dropped so every module of the copy runs its class's forward on its own weights.
    """
    clone = copy.deepcopy(model)
    for module in clone.modules():
        module.__dict__.pop("forward", None)
    return clone.eval().requires_grad_(False)


class FrozenPolicy:
    def __init__(self, model, temperature: float, pad_token_id: int, is_peft: bool, chunk_rows: int = 64):
        self.is_peft = is_peft
        self.model = model if is_peft else frozen_copy(model)
        self.temperature = temperature
        self.pad_token_id = pad_token_id
        self.chunk_rows = chunk_rows

    def forward(self, rollout) -> FrozenOutput:
        return self.forward_ids(rollout.prompt_ids, rollout.completion_ids)

    @torch.no_grad()
    def forward_ids(self, prompt_ids: list[list[int]], completion_ids: list[list[int]]) -> FrozenOutput:
        dev = next(self.model.parameters()).device
        p = pad([torch.tensor(x) for x in prompt_ids], self.pad_token_id, "left").to(dev)  # (N, P)
        pm = pad([torch.ones(len(x), dtype=torch.long) for x in prompt_ids], 0, "left").to(dev)  # (N, P)
        c = pad([torch.tensor(x) for x in completion_ids], self.pad_token_id, "right").to(dev)  # (N, C)
        cm = pad([torch.ones(len(x), dtype=torch.long) for x in completion_ids], 0, "right").to(dev)  # (N, C)
        logps, hidden = [], []
        disabled = self.model.disable_adapter() if self.is_peft else nullcontext()
        with disabled:
            for s in range(0, p.size(0), self.chunk_rows):
                sl = slice(s, s + self.chunk_rows)
                out = self.model(
                    input_ids=torch.cat([p[sl], c[sl]], 1),
                    attention_mask=torch.cat([pm[sl], cm[sl]], 1),
                    output_hidden_states=True,
                )
                width = c.size(1)
                logits = out.logits[:, -width - 1 : -1].float() / self.temperature  # (n, C, V)
                lp = torch.log_softmax(logits, -1).gather(-1, c[sl].unsqueeze(-1)).squeeze(-1)  # (n, C)
                logps.append(lp * cm[sl])
                hidden.append(out.hidden_states[-1][:, -width:])  # (n, C, H): the completion tokens' own positions
        return FrozenOutput(torch.cat(logps), torch.cat(hidden), cm)

    @torch.no_grad()
    def mean_hidden(self, prompt_ids, completion_ids, token_mask=None, chunk_rows: int | None = None) -> torch.Tensor:
        """(N, H) float32: the mean last-layer hidden state (after the final norm, as `AutoModel`'s
        `last_hidden_state`) over each completion's tokens where `token_mask` (per completion token, 0/1; None:
        every token) is 1; zeros for a row without any. Prompt + completion are fed; only the last position's logits
        are computed (`logits_to_keep=1`), so the cost is the trunk's forward alone."""
        dev = next(self.model.parameters()).device
        token_mask = token_mask if token_mask is not None else [[1] * len(x) for x in completion_ids]
        if not any(len(x) for x in completion_ids):
            return torch.zeros(len(completion_ids), self.model.config.hidden_size, device=dev)
        p = pad([torch.tensor(x, dtype=torch.long) for x in prompt_ids], self.pad_token_id, "left").to(dev)  # (N, P)
        pm = pad([torch.ones(len(x), dtype=torch.long) for x in prompt_ids], 0, "left").to(dev)  # (N, P)
        c = pad([torch.tensor(x, dtype=torch.long) for x in completion_ids], self.pad_token_id, "right").to(dev)
        cm = pad([torch.ones(len(x), dtype=torch.long) for x in completion_ids], 0, "right").to(dev)  # (N, C)
        w = pad([torch.tensor(m, dtype=torch.float32) for m in token_mask], 0.0, "right").to(dev) * cm  # (N, C)
        out, step = [], chunk_rows or self.chunk_rows
        disabled = self.model.disable_adapter() if self.is_peft else nullcontext()
        with disabled:
            for s in range(0, p.size(0), step):
                sl = slice(s, s + step)
                res = self.model(
                    input_ids=torch.cat([p[sl], c[sl]], 1),
                    attention_mask=torch.cat([pm[sl], cm[sl]], 1),
                    output_hidden_states=True,
                    logits_to_keep=1,
                )
                h = res.hidden_states[-1][:, -c.size(1) :].float()  # (n, C, H): the completion tokens' positions
                out.append((h * w[sl].unsqueeze(-1)).sum(1) / w[sl].sum(1, keepdim=True).clamp(min=1))  # (n, H)
        return torch.cat(out)
