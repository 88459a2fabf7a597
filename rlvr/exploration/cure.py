"""CURE stage 1: re-generation from high-entropy critical tokens (Li et al., arXiv 2508.11016; code bytedance/CURE).

Per group of G = n1 (1 + n2) rows (authors: n1 = 4 first samples, n2 = 3 branches each, 16 per prompt):

1. n1 first samples of the prompt, with the sampler's per-token entropies;
2. per sample, a cut t*: positions sorted by entropy (descending), walked skipping position 0, special tokens and
   tokens whose decoded, stripped text has fewer than `min_token_chars` characters, until `critical_top_k` valid
   ones are collected; t* is one of them uniformly at random (0 if none). `critical_token_type: random` walks a
   random order instead (`get_critic_key_token_mask` in recipe/CURE_First_Stage/dapo_ray_trainer.py);
3. n2 continuations of prompt + response[:t*] each (the critical token itself is re-sampled);
4. the group is [n1 originals, n2 branches of original 1, ..., of original n1], normalised as one GRPO group.

A branch is trained only on its continuation: its prefix sits in `completion_ids` with loss mask 0 (the Rollout
contract's prefix convention), so the reward sees the whole answer to the group's prompt while the loss, its
normaliser and the old / reference log-probs (computed over prompt + completion, so every continuation token is
conditioned on prompt + prefix exactly as if the prefix were prompt) count only the continuation. The authors put
the prefix into the prompt instead, which trains the same tokens; their reward manager scores the continuation
text. Continuations are cut at max_completion_length - t* so a branch is no longer than any other completion.
From `stage_switch_step` on, rollouts are plain sampling (CURE stage 2, vanilla DAPO).

Not reproduced: DAPO's dynamic sampling, which the authors run in both stages (filter_groups, 10 generation
batches at most); rlvr's is `oversampling`, and two modules cannot both replace `generate`.
Logged: explore/cut_pos (mean t*), cut_frac (t* / length), no_cut_frac (t* = 0), distinct_in_group,
branch_reward / original_reward.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from rlvr.errors import ConfigError, RLVRError
from rlvr.exploration.base import Explorer
from rlvr.exploration.context import Rollout


@dataclass
class CureConfig:
    branches_per_response: int = 3
    """n2: continuations re-generated per first sample (authors: n2 = 3); n1 = G / (1 + n2) first samples."""
    critical_top_k: int = 20
    """The cut is drawn among this many highest-entropy valid positions (authors: critical_top_k 20)."""
    critical_token_type: Literal["entropy", "random"] = "entropy"
    """Rank positions by the sampler's entropy, or in a random order (authors: entropy; random is their ablation)."""
    min_token_chars: int = 2
    """A valid critical token decodes to at least this many characters after strip() (authors: > 1). A character-
    level model has only 1-character tokens: use 1 there (skips whitespace and special tokens only)."""
    stage_switch_step: int | None = 300
    """Plain sampling from this global step on (authors: stage 2 starts from the stage-1 step-300 checkpoint).
    None: stage 1 throughout."""

    def validate(self):
        if self.branches_per_response < 1 or self.critical_top_k < 1 or self.min_token_chars < 0:
            raise ConfigError("exploration.branches_per_response and critical_top_k must be >= 1, min_token_chars >= 0")
        if self.critical_token_type not in ("entropy", "random"):
            raise ConfigError(f"exploration.critical_token_type must be entropy or random: {self.critical_token_type}")


def valid_positions(completion: list[int], tokenizer, min_chars: int) -> list[bool]:
    """Per position: not a special token and its decoded, stripped text has at least `min_chars` characters."""
    special = {int(x) for x in tokenizer.all_special_ids}
    return [t not in special and len(tokenizer.decode([t]).strip()) >= min_chars for t in completion]


def critical_candidates(entropies: list[float], valid: list[bool], top_k: int, order: list[int] | None = None):
    """The first `top_k` valid positions != 0 in `order` (default: descending entropy, ties by position)."""
    if order is None:
        order = sorted(range(len(valid)), key=lambda i: -entropies[i])  # stable sort
    return [i for i in order if i != 0 and valid[i]][:top_k]


def critical_cut(entropies: list[float], valid: list[bool], top_k: int, rng: random.Random, mode: str) -> int:
    """t*: uniform among the candidates of the entropy (or a random) order; 0 if there are none."""
    order = rng.sample(range(len(valid)), len(valid)) if mode == "random" else None
    cands = critical_candidates(entropies, valid, top_k, order)
    return rng.choice(cands) if cands else 0


def cure_sample(cfg: CureConfig, sample_ids, tokenizer, prompts: list[list[int]], g: int, max_len: int, rng):
    """Both passes for one prompt per entry of `prompts` (sample_ids(prompt_ids, **kw) -> SampleOutput).

    Returns (completion_ids, loss_mask, generated_tokens, cuts), G rows per prompt in group order.
    """
    n2 = cfg.branches_per_response
    n1 = g // (1 + n2)
    first = sample_ids([p for p in prompts for _ in range(n1)], return_entropy=True)
    cuts = []
    for ids, ent in zip(first.completion_ids, first.entropies):
        valid = valid_positions(ids, tokenizer, cfg.min_token_chars)
        cuts.append(critical_cut(ent, valid, cfg.critical_top_k, rng, cfg.critical_token_type))
    heads = [first.completion_ids[i][:c] for i, c in enumerate(cuts)]  # prefixes, one per first sample
    second = sample_ids([prompts[i // n1] + h for i, h in enumerate(heads) for _ in range(n2)])
    out, mask = [], []
    for p in range(len(prompts)):
        for i in range(p * n1, (p + 1) * n1):
            out.append(first.completion_ids[i])
            mask.append([1] * len(first.completion_ids[i]))
        for i in range(p * n1, (p + 1) * n1):
            for j in range(n2):
                cont = second.completion_ids[i * n2 + j][: max_len - len(heads[i])]
                out.append(heads[i] + cont)
                mask.append([0] * len(heads[i]) + [1] * len(cont))
    return out, mask, first.num_generated_tokens + second.num_generated_tokens, cuts


class Cure(Explorer):
    """Stage 1: n1 samples, cut each at a random high-entropy valid token, n2 continuations from each prefix."""

    config_cls = CureConfig

    def setup(self, run) -> None:
        super().setup(run)
        if run.num_generations % (1 + self.config.branches_per_response):
            raise ConfigError(
                f"exploration.branches_per_response: train.num_generations ({run.num_generations}) must be a "
                f"multiple of 1 + branches_per_response ({1 + self.config.branches_per_response})"
            )

    def generate(self, ctx):
        cfg, g = self.config, ctx.num_generations
        if cfg.stage_switch_step is not None and ctx.step >= cfg.stage_switch_step:
            return None
        groups = Rollout(ctx.rows, [], [], ctx.group_ids).groups()
        if any(len(rows) != g for rows in groups):
            raise RLVRError(f"cure needs whole groups of num_generations ({g}) rows; got {[len(r) for r in groups]}")
        prompt_ids = ctx.tokenize([ctx.rows[rows[0]] for rows in groups])
        rng = random.Random(f"cure-{ctx.step}-{ctx.group_ids[0]}")
        ids, mask, _, cuts = cure_sample(
            cfg, ctx.sample_ids, ctx.tokenizer, prompt_ids, g, ctx.max_completion_length, rng
        )
        n1 = g // (1 + cfg.branches_per_response)
        self._branch = [i % g >= n1 for i in range(len(ids))]
        self._log_cuts(cuts, ids, n1, g)
        prompts = [prompt_ids[i // g] for i in range(len(ids))]
        return Rollout(ctx.rows, prompts, ids, ctx.group_ids, loss_mask=mask, temperature=ctx.temperature)

    def _log_cuts(self, cuts, ids, n1, g) -> None:
        originals = [ids[(i // n1) * g + i % n1] for i in range(len(cuts))]
        self.log("cut_pos", sum(cuts) / len(cuts))
        self.log("cut_frac", sum(c / len(o) for c, o in zip(cuts, originals)) / len(cuts))
        self.log("no_cut_frac", sum(c == 0 for c in cuts) / len(cuts))
        self.log("distinct_in_group", sum(len({tuple(c) for c in ids[s : s + g]}) / g for s in range(0, len(ids), g))
                 / (len(ids) // g))  # fmt: skip

    def select_groups(self, ctx, rollout):
        flags = getattr(self, "_branch", None)
        if flags is not None and len(flags) == len(rollout) and rollout.rewards is not None:
            r = rollout.rewards.tolist()
            for name, keep in (("branch_reward", True), ("original_reward", False)):
                vals = [x for x, b in zip(r, flags) if b == keep and x == x]  # NaN: unscored
                if vals:
                    self.log(name, sum(vals) / len(vals))
        self._branch = None
        return rollout
