"""`oversampling`: draw more than is trained on, keep what carries signal (T1 oversampling, DAPO dynamic sampling).

Two independent mechanisms, both keeping exactly G = num_generations completions per prompt (except `all`):

1. Completion oversampling (T1, arXiv 2501.11651): draw K >= G completions per prompt (optionally at
   T1's higher temperature), score them, keep G by `selection`:
   - `max_variance`: for binary or graded rewards, the subset maximising the group's reward variance
     (always the top-a and bottom-(G-a) rewards for some a; we try every a);
   - `max_diversity`: distinct final answers first, then distinct completions, then the rest;
   - `random`: a seeded random subset;
   - `all`: no selection, every one of the K is trained on (groups of K rows): T1's own form, the control that
     separates "more samples" from "better chosen samples" (the keep-G rules above are NOT FOUND in T1 — ours).
2. Dynamic sampling (DAPO, arXiv 2503.14476): after scoring, drop zero-variance groups and refill the
   batch with groups from fresh prompts, for at most `max_rounds` extra generation rounds; if still
   short, the least-bad dropped groups fill the remaining slots so the row count stays fixed.

`temperature` sets TRL's temperature, which also tempers the training log-probs (on-policy at T).
Logged: `explore/frac_zero_std_before` / `_after` (groups), `rounds`, `generated_tokens`, `candidates`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from rlvr.errors import ConfigError, RLVRError
from rlvr.exploration.base import Explorer
from rlvr.exploration.selection import max_diversity_subset, max_variance_subset


@dataclass
class OversamplingConfig:
    candidates_per_prompt: int = 16
    """K completions drawn per prompt (K >= num_generations; K = G disables completion oversampling)."""
    selection: str = "max_variance"
    """How G of K are kept: max_variance, max_diversity, random, or all (train on all K, as T1 does)."""
    temperature: float | None = None
    """Sampling (and training) temperature; T1 uses ~1.2. None keeps train.temperature."""
    dynamic_sampling: bool = True
    """DAPO: replace zero-variance groups with groups of fresh prompts."""
    max_rounds: int = 3
    """Extra generation rounds per step for dynamic sampling (DAPO's max_num_gen_batches is 10)."""

    def validate(self):
        if self.selection not in ("max_variance", "max_diversity", "random", "all"):
            raise ConfigError(
                f"exploration.selection must be max_variance, max_diversity, random or all: {self.selection}"
            )
        if self.candidates_per_prompt < 2 or self.max_rounds < 0:
            raise ConfigError("exploration.candidates_per_prompt must be >= 2 and max_rounds >= 0")


class Oversampling(Explorer):
    """Draw K >= G per prompt and keep G by a selection rule; refill zero-variance groups (DAPO)."""

    config_cls = OversamplingConfig

    def grpo_overrides(self) -> dict:
        return {} if self.config.temperature is None else {"temperature": self.config.temperature}

    def setup(self, run) -> None:
        super().setup(run)
        if self.config.dynamic_sampling and run.num_processes > 1:
            raise RLVRError("oversampling: dynamic_sampling is single-process only; set dynamic_sampling=false")
        if self.config.candidates_per_prompt < run.num_generations:
            raise ConfigError("exploration.candidates_per_prompt must be >= train.num_generations")

    def generate(self, ctx):
        if self.config.candidates_per_prompt == ctx.num_generations:
            return None
        return self._oversample(ctx, ctx.rows)

    def _oversample(self, ctx, rows):
        """K candidates per group of `rows`, scored on TRL's rewards; G kept per group (a scored Rollout)."""
        g, k = ctx.num_generations, self.config.candidates_per_prompt
        heads = list(range(0, len(rows), g))  # first row of each group
        cand = ctx.score(
            ctx.sample([rows[h] for h in heads for _ in range(k)], [p for p in range(len(heads)) for _ in range(k)])
        )
        rewards = cand.rewards.view(len(heads), k)  # (P, K)
        texts = [c if isinstance(c, str) else c[0]["content"] for c in cand.completions]
        keep, zero = [], 0
        for p in range(len(heads)):
            r = rewards[p].tolist()
            zero += int(max(r) == min(r))
            idx = self._select(r, texts[p * k : (p + 1) * k], g, seed=(ctx.step, p))
            keep.extend(p * k + i for i in idx)
        self.log("candidates", k)
        self.log("frac_zero_std_candidates", zero / len(heads))
        self.log("generated_tokens", sum(len(c) for c in cand.completion_ids))
        return cand.select(keep)

    def _select(self, rewards, texts, g, seed):
        if self.config.selection == "all":
            return list(range(len(texts)))
        if self.config.selection == "max_variance":
            return max_variance_subset(rewards, g)
        if self.config.selection == "max_diversity":
            from rlvr.tasks.answer import extract_answer

            return max_diversity_subset([extract_answer(x) for x in texts], texts, g)
        return sorted(random.Random(f"{seed}").sample(range(len(texts)), g))

    def _fresh(self, ctx, num_prompts):
        rows = ctx.draw_rows(num_prompts)
        if self.config.candidates_per_prompt == ctx.num_generations:
            return ctx.score(ctx.sample(rows))
        return self._oversample(ctx, rows)

    def select_groups(self, ctx, rollout):
        groups = rollout.groups()
        zero = [len({float(rollout.rewards[i]) for i in rows}) <= 1 for rows in groups]  # zero reward spread
        self.log("frac_zero_std_before", sum(zero) / len(groups))
        if not self.config.dynamic_sampling or not any(zero):
            self.log("frac_zero_std_after", sum(zero) / len(groups))
            self.log("rounds", 0)
            return rollout
        parts = [rollout.select([i for rows, z in zip(groups, zero) if not z for i in rows])]
        dropped = [rows for rows, z in zip(groups, zero) if z]
        kept, rounds, need = len(groups) - len(dropped), 0, len(groups)
        while kept < need and rounds < self.config.max_rounds:
            rounds += 1
            extra = self._fresh(ctx, need - kept)
            good = [rows for rows in extra.groups() if len({float(extra.rewards[i]) for i in rows}) > 1]
            good = good[: need - kept]
            parts.append(extra.select([i for rows in good for i in rows]))
            kept += len(good)
        if kept < need:  # still short: fill with dropped groups so the row count stays fixed
            parts.append(rollout.select([i for rows in dropped[: need - kept] for i in rows]))
        merged = type(rollout).concat(parts)
        self.log("rounds", rounds)
        after = [len({float(merged.rewards[i]) for i in rows}) <= 1 for rows in merged.groups()]
        self.log("frac_zero_std_after", sum(after) / len(after))
        return merged
