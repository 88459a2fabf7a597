"""What the hooks see: a `Rollout` (the rows of one generation batch), the `RolloutContext` of a GRPO step, the
`LossContext` of one micro-batch, and `RunInfo` at set-up. The hooks themselves are listed in `base.py`.

Rows are one (prompt, completion) pair each; the rows of one group are consecutive and share a `group_id`. Groups
may differ in size (DARS), and a row's prompt may be a longer prefix of its group's prompt (CURE): the prefix tokens
then sit in `completion_ids` with `loss_mask` 0, so the reward sees the whole completion and the loss only the
re-generated part. Only the documented fields and methods are the contract; the trainer behind them is not.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import torch


@dataclass
class Rollout:
    """Completions of one generation batch, as Python lists (padding happens once, after `select_groups`)."""

    rows: list[dict]
    """Dataset rows, one per completion: `prompt`, `answer`, `metadata`, ... (what the reward functions get)."""
    prompt_ids: list[list[int]]
    completion_ids: list[list[int]]
    group_ids: list[int]
    """Consecutive equal ids form one group; advantages are normalised within it."""
    loss_mask: list[list[int]] | None = None
    """Per completion token: 1 trained on, 0 not (e.g. a re-used prefix). None: every token."""
    logprobs: list[list[float]] | None = None
    """The sampler's log-probs of the sampled tokens (rlvr's sampler, vLLM), when it gives them."""
    entropies: list[list[float]] | None = None
    """The sampler's per-token entropies (tempered distribution), when it gives them."""
    temperature: float | None = None
    """The sampling temperature (None: the trainer's)."""
    completions: list | None = None
    """Decoded completions (text, or chat messages), filled by scoring."""
    rewards_per_func: torch.Tensor | None = None
    """(N, n_funcs) raw rewards, NaN where a function gave None."""
    rewards: torch.Tensor | None = None
    """(N,) the weighted reward GRPO normalises (after `shape_rewards`); NaN: no function could score the row."""

    PER_ROW = ("rows", "prompt_ids", "completion_ids", "group_ids", "loss_mask", "logprobs", "entropies")
    PER_ROW_TENSORS = ("rewards_per_func", "rewards")

    def __len__(self) -> int:
        return len(self.rows)

    def select(self, index: list[int]) -> Rollout:
        """The rows `index`, in that order."""
        out = {k: None if getattr(self, k) is None else [getattr(self, k)[i] for i in index] for k in self.PER_ROW}
        if self.completions is not None:
            out["completions"] = [self.completions[i] for i in index]
        for k in self.PER_ROW_TENSORS:
            t = getattr(self, k)
            out[k] = None if t is None else t[torch.as_tensor(index, dtype=torch.long, device=t.device)]
        return replace(self, **out)

    def groups(self) -> list[list[int]]:
        """Row indices of each group, in order."""
        out: list[list[int]] = []
        for i, g in enumerate(self.group_ids):
            if out and self.group_ids[out[-1][0]] == g:
                out[-1].append(i)
            else:
                out.append([i])
        return out

    @staticmethod
    def concat(parts: list[Rollout]) -> Rollout:
        """Rows of `parts` in order; group ids are renumbered so groups of different parts stay apart."""
        parts = [p for p in parts if len(p)]
        out: dict[str, Any] = {}
        for k in (*Rollout.PER_ROW, "completions"):
            vals = [getattr(p, k) for p in parts]
            out[k] = None if any(v is None for v in vals) else [x for v in vals for x in v]
        for k in Rollout.PER_ROW_TENSORS:
            vals = [getattr(p, k) for p in parts]
            out[k] = None if any(v is None for v in vals) else torch.cat(vals)
        ids, offset = [], 0
        for p in parts:
            ids += [g + offset for g in _renumber(p.group_ids)]
            offset = ids[-1] + 1
        out["group_ids"] = ids
        return Rollout(temperature=parts[0].temperature if parts else None, **out)


def _renumber(group_ids: list[int]) -> list[int]:
    """0, 0, 1, 1, 1, ...: the group ids as consecutive integers from 0."""
    out: list[int] = []
    for i, g in enumerate(group_ids):
        out.append(0 if i == 0 else out[-1] + int(g != group_ids[i - 1]))
    return out


@dataclass
class RunInfo:
    """What `setup` sees: the effective GRPOConfig (public fields only) and the run's geometry."""

    args: Any
    """The effective trl.GRPOConfig (read-only)."""
    num_generations: int
    num_processes: int
    is_peft: bool
    tokenizer: Any


@dataclass
class RolloutContext:
    """One GRPO step's rollout, handed to every rollout hook. Methods call into the trainer; fields are plain data."""

    step: int
    """Optimizer steps done so far (trainer_state.global_step)."""
    num_generations: int
    temperature: float
    """The trainer's sampling (and training) temperature."""
    rows: list[dict]
    """This process's dataset rows, each prompt repeated num_generations times."""
    group_ids: list[int]
    sampling: dict = field(default_factory=dict)
    """Sampler overrides collected from `sampling_kwargs` (e.g. {'temperature': 1.2}); used by `sample`."""
    max_completion_length: int = 0
    eos_token_ids: list[int] = field(default_factory=list)
    pad_token_id: int = 0
    tokenizer: Any = None
    policy: Any = None
    """The current policy (unwrapped, for no-grad forwards and custom samplers such as trees)."""
    frozen: Any = None
    """The initial policy (`rlvr.frozen.FrozenPolicy`) when a module set `needs_frozen_policy`, else None."""
    _engine: Any = None

    def sample(self, rows: list[dict], group_ids: list[int] | None = None, **overrides) -> Rollout:
        """One completion per row from the current policy (the run's sampler; `overrides` beat `self.sampling`)."""
        return self._engine.sample_rollout(rows, group_ids, {**self.sampling, **overrides})

    def sample_ids(self, prompt_ids: list[list[int]], **overrides):
        """rlvr's fast sampler on token ids (`rlvr.sampling.SampleOutput`), e.g. with return_logprobs=True."""
        return self._engine.sample(prompt_ids, **{**self.sampling, **overrides})

    def tokenize(self, rows: list[dict]) -> list[list[int]]:
        """Prompt token ids of `rows`, as the trainer tokenizes them (chat template applied for chat prompts)."""
        return self._engine._tokenize_prompts([r["prompt"] for r in rows])[0]

    def score(self, rollout: Rollout) -> Rollout:
        """Rewards of `rollout` through TRL's own `_calculate_rewards`, then every module's `shape_rewards`."""
        return self._engine.score_rollout(self, rollout)

    def draw_rows(self, num_prompts: int) -> list[dict]:
        """Fresh training prompts, each repeated num_generations times (seeded by seed, step and call)."""
        return self._engine.draw_rows(num_prompts)

    def add_sampled_tokens(self, n: int) -> None:
        """Count tokens a custom sampler drew (logged as `sampled_tokens`); `sample` counts its own."""
        self._engine.add_sampled_tokens(n)


@dataclass
class LossContext:
    """One micro-batch inside the policy loss. Tensors are (B, T) unless noted; `logps` carries the gradient."""

    inputs: dict
    """The micro-batch: TRL's keys (`completion_ids`, `completion_mask`, `advantages`, `old_per_token_logps`, ...)
    plus what `annotate` added."""
    logps: torch.Tensor
    entropies: torch.Tensor
    mask: torch.Tensor
    """Tokens in the loss (completion mask x loss mask)."""
    advantages: torch.Tensor
    """(B, 1) or (B, T)."""
    old_logps: torch.Tensor
    """Log-probs under the behaviour policy (detached; = logps.detach() on-policy)."""
    ratio: torch.Tensor | None = None
    """Importance ratio pi/pi_old: (B, T), or (B, 1) with importance_sampling_level=sequence."""
    step: int = 0
    epsilon_low: float = 0.2
    epsilon_high: float = 0.2
    aggregate: Any = None
    """aggregate(per_token (B, T), mask=None) -> scalar reduced exactly like the policy loss (GA-scaled)."""
