"""ETTRL's ETMR: entropy-fork tree rollouts (Liu et al., arXiv 2508.11356; no code released, details [SEC]).

Per group of G = M (1 + B N) rows (paper: M = 12 trees, N = 2 forks, B = 2 branches -> 60 leaves):

1. M roots: full i.i.d. samples of the prompt, with the sampler's per-token entropies;
2. per root, its N highest-entropy positions (`rlvr.fork_sampler.fork_points`: EOS / pad / special tokens
   excluded, ties to the earlier position, at least `min_fork_gap` apart where possible);
3. at each fork B branches continue to the end from the root's prefix, inside one KV cache (the prefix is
   neither re-sampled nor recomputed); `resample_fork_token` says whether the fork token itself is re-drawn;
4. the group is [root 1, its B N branches, root 2, ...], normalised as one GRPO group.

Cost: shared prefixes are generated once; with forks placed uniformly a tree costs (1 + B N / 2) / (1 + B N) of
independent sampling (paper: ~60% of the tokens). ETTRL is test-time RL: all leaves vote a majority pseudo-label
and the reward is agreement with it. The rollout is independent of that, so here the reward is the run's verifier
(the reference notes the components can be reused with one; the authors did not test it).
Logged: explore/leaves_per_prompt, token_ratio (generated tokens / tokens of the leaves, i.e. vs i.i.d. sampling of
as many completions of the same lengths), generated_tokens, fork_pos (mean fork position), fork_frac (fork
position / root length), no_fork_frac (roots with no valid fork position), distinct_in_group.
"""

from __future__ import annotations

from dataclasses import dataclass

from rlvr.errors import ConfigError, RLVRError
from rlvr.exploration.base import Explorer
from rlvr.exploration.context import Rollout


@dataclass
class EttrlTreeConfig:
    trees: int | None = None
    """M: root samples per group; None: num_generations / (1 + B N) (paper: 12, with 60 leaves per prompt)."""
    forks_per_tree: int = 2
    """N: fork points per root, its highest-entropy positions (paper: 2)."""
    branches_per_fork: int = 2
    """B: branches sampled at each fork point (paper: 2)."""
    resample_fork_token: bool = True
    """NOT FOUND — ours. True: a branch re-draws the token at the fork (prefix root[:f]); False: it keeps the root's
    token and diverges afterwards (prefix root[:f + 1])."""
    min_fork_gap: int = 1
    """NOT FOUND — ours. Fork points of one root are at least this many positions apart while enough candidates
    allow (1: any distinct positions)."""
    mask_shared_prefix: bool = False
    """NOT FOUND — ours. False: every leaf is trained on its whole completion (a shared prefix gets a gradient per
    leaf holding it, as LATR's authors do); True: a branch is trained only on its own continuation (CURE's mask)."""

    def validate(self):
        if self.trees is not None and self.trees < 1:
            raise ConfigError(f"exploration.trees must be >= 1 or null: {self.trees}")
        if min(self.forks_per_tree, self.branches_per_fork, self.min_fork_gap) < 1:
            raise ConfigError("exploration.forks_per_tree, branches_per_fork and min_fork_gap must be >= 1")


class EttrlTree(Explorer):
    """G = M (1 + B N) leaves per group: M roots, each forked at its N highest-entropy tokens into B branches."""

    config_cls = EttrlTreeConfig

    def _trees(self, g: int) -> int:
        cfg = self.config
        per_tree = 1 + cfg.branches_per_fork * cfg.forks_per_tree
        m = cfg.trees if cfg.trees is not None else g // per_tree
        if m < 1 or m * per_tree != g:
            raise ConfigError(
                f"exploration.trees / forks_per_tree / branches_per_fork: trees x (1 + branches_per_fork x "
                f"forks_per_tree) = {m} x {per_tree} = {m * per_tree} leaves must equal train.num_generations ({g}); "
                "choose B and N so that 1 + B N divides it (recipes/ettrl_tree.yaml: N = 3, B = 1 for 8)"
            )
        return m

    def setup(self, run) -> None:
        super().setup(run)
        self._trees(run.num_generations)
        args = run.args
        self._top = dict(top_k=getattr(args, "top_k", 0) or 0, top_p=getattr(args, "top_p", 1.0) or 1.0)
        self._special = list(getattr(run.tokenizer, "all_special_ids", []) or [])

    def generate(self, ctx):
        from rlvr.fork_sampler import fork_sample

        cfg, g = self.config, ctx.num_generations
        groups = Rollout(ctx.rows, [], [], ctx.group_ids).groups()
        if any(len(rows) != g for rows in groups):
            raise RLVRError(
                f"ettrl_tree needs whole groups of num_generations ({g}) rows; got {[len(r) for r in groups]}"
            )
        prompts = ctx.tokenize([ctx.rows[rows[0]] for rows in groups])
        temp = ctx.sampling.get("temperature", ctx.temperature)
        special = getattr(self, "_special", None) or list(getattr(ctx.tokenizer, "all_special_ids", []) or [])
        out = fork_sample(
            ctx.policy, prompts, trees=self._trees(g), forks=cfg.forks_per_tree, branches=cfg.branches_per_fork,
            max_new_tokens=ctx.max_completion_length, eos_token_ids=ctx.eos_token_ids, pad_token_id=ctx.pad_token_id,
            temperature=temp, **getattr(self, "_top", {}),
            resample_fork_token=cfg.resample_fork_token, min_fork_gap=cfg.min_fork_gap, special_token_ids=special,
        )  # fmt: skip
        ctx.add_sampled_tokens(out.generated_tokens)
        flat = lambda x: [leaf for grp in x for leaf in grp]  # noqa: E731
        ids, ks = flat(out.completion_ids), flat(out.prefix_lens)
        mask = [[0] * k + [1] * (len(c) - k) for c, k in zip(ids, ks)] if cfg.mask_shared_prefix else None
        self._log(out, ids, g)
        return Rollout(
            ctx.rows, [prompts[i // g] for i in range(len(ids))], ids, ctx.group_ids, loss_mask=mask,
            logprobs=flat(out.logprobs), entropies=flat(out.entropies), temperature=temp,
        )  # fmt: skip

    def _log(self, out, ids, g) -> None:
        m = len(out.fork_positions) // len(out.completion_ids)  # roots per prompt
        roots = [grp[i] for grp in out.completion_ids for i in range(0, g, g // m)]
        pos = [(f, len(r)) for fp, r in zip(out.fork_positions, roots) for f in fp]
        self.log("leaves_per_prompt", g)
        self.log("generated_tokens", out.generated_tokens)
        self.log("token_ratio", out.generated_tokens / max(sum(len(c) for c in ids), 1))
        self.log("no_fork_frac", sum(not fp for fp in out.fork_positions) / len(out.fork_positions))
        if pos:
            self.log("fork_pos", sum(f for f, _ in pos) / len(pos))
            self.log("fork_frac", sum(f / n for f, n in pos) / len(pos))
        distinct = [len({tuple(c) for c in ids[s : s + g]}) / g for s in range(0, len(ids), g)]
        self.log("distinct_in_group", sum(distinct) / len(distinct))
