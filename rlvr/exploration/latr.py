"""LATR: Lookahead Tree-Based Rollouts (Xing et al., arXiv 2510.24302; code starreeze/latr).

Part of each group is decoded as a greedy tree that forks at uncertain tokens and prunes forks whose continuation
stays close to their parent's, so the group holds trajectory-diverse completions instead of near-duplicates.
Only the rollout changes (hook `generate`); rewards, advantages and the loss are plain GRPO. The tree itself is
`rlvr.tree_sampler.tree_sample`.

    exploration:
      name: latr
      mix_ratio_schedule: {0: 1.0, 10: 0.75, 20: 0.5, 80: 0.25, 200: 0.0}
      lookahead: [4, 8]
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

from rlvr.errors import ConfigError
from rlvr.exploration.base import Explorer
from rlvr.exploration.context import Rollout


@dataclass
class LatrConfig:
    mix_ratio_schedule: dict[int, float] = field(
        default_factory=lambda: {0: 1.0, 10: 0.75, 20: 0.5, 80: 0.25, 200: 0.0}
    )
    """{step: eta}: share of each group decoded as a tree from that step on (authors' Countdown schedule)."""
    max_branch_per_token: int = 2
    """m: top-m candidates considered per step; the argmax continues, ranks 2..m may fork (authors: 2)."""
    tau_abs: float = 0.25
    """A candidate forks only if its raw probability exceeds this (authors' Countdown value; Math: 0.15)."""
    tau_rel: float = 0.15
    """... and if p(argmax) - p(candidate) is below this (authors' Countdown value; Math: 0.25)."""
    lookahead: list[int] = field(default_factory=lambda: [4, 8])
    """r: a fork is compared with its parent r tokens after it. Authors: [20, 30, 50] on ~1k-token responses; ours
    is scaled to ~10-30% of the 10-40 token toy completions (longer windows would never fire: EOS windows skip)."""
    prune: Literal["edit", "suffix", "rouge_l"] = "edit"
    """Pruning test: normalized edit distance < threshold (authors' Countdown), suffix match or ROUGE-L F1 > it."""
    prune_threshold: float | None = None
    """None: the authors' value for the criterion (edit 0.4, suffix 0.2, rouge_l 0.5)."""
    force_return_step: int | None = None
    """Leave the tree phase after this many tokens at the latest; None: max_completion_length (authors: 512)."""
    fill: Literal["root", "iid"] = "root"
    """A tree with < n_tree surviving branches is filled with copies of its root (authors) or i.i.d. samples."""

    def validate(self):
        self.mix_ratio_schedule = {int(k): float(v) for k, v in self.mix_ratio_schedule.items()}
        if 0 not in self.mix_ratio_schedule or not all(0 <= v <= 1 for v in self.mix_ratio_schedule.values()):
            raise ConfigError("exploration.mix_ratio_schedule needs a step-0 entry and values in [0, 1]")
        if self.max_branch_per_token < 1 or not self.lookahead or min(self.lookahead) < 1:
            raise ConfigError("exploration.max_branch_per_token and every lookahead window must be >= 1")


def mix_ratio(schedule: dict[int, float], step: int) -> float:
    """Piecewise-constant schedule: the value of the largest key <= step."""
    return schedule[max(k for k in schedule if k <= step)]


def _chunks(prompt_ids: list[list[int]], size: int) -> list[tuple[int, int]]:
    """(start, length) runs of identical consecutive rows, cut at `size`: whole groups, or a group's share on this
    process when TRL splits a group across processes (then each share gets its own smaller tree)."""
    out = []
    for i, p in enumerate(prompt_ids):
        if out and p == prompt_ids[out[-1][0]] and out[-1][1] < size:
            out[-1] = (out[-1][0], out[-1][1] + 1)
        else:
            out.append((i, 1))
    return out


class Latr(Explorer):
    """Per group of G rows at step s, n_tree = round(G * eta_s) tree completions then G - n_tree i.i.d. ones.

    Tree, batched over prompts on one KV cache: every branch continues with its argmax c1 of the raw p = softmax(z).
    Candidate c_j (rank j = 2..m) forks a new branch (parent prefix + c_j) iff

        p(c_j) > tau_abs  and  p(c1) - p(c_j) < tau_rel,

    within n_tree branches per prompt (extras suppressed by (rank, branch age): older branches win). A fork born at
    step t is compared r tokens later (r in `lookahead`) with its parent over those r tokens a, b and pruned with its
    descendants if Levenshtein(a, b) / r < tau_ed (or suffix_match > 0.2, or ROUGE-L F1 > 0.5); windows with EOS
    are skipped. When every prompt is full or finished and no check is pending (or at force_return_step), the
    surviving branches finish by ordinary sampling at the trainer's temperature; missing branches are root copies.

    Off-policy: tree tokens before the exit are greedy, not samples of pi_T, and like the authors we apply no
    behaviour-policy correction. The gap is logged: explore/tree_token_logp vs explore/iid_token_logp (mean log pi_T
    of the tokens). The tree's sampled tail ignores top_k / top_p; the i.i.d. part uses the trainer's settings.
    """

    config_cls = LatrConfig
    supports_multiprocess = True  # generation is per process and nothing is gathered

    def generate(self, ctx):
        from rlvr.tree_sampler import tree_sample

        cfg = self.config
        eta = mix_ratio(cfg.mix_ratio_schedule, ctx.step)
        prompt_ids = ctx.tokenize(ctx.rows)
        chunks = _chunks(prompt_ids, ctx.num_generations)
        out: list[list[int] | None] = [None] * len(prompt_ids)
        st, lp_tree, lp_iid = Counter(), [], []
        kw = dict(
            max_new_tokens=ctx.max_completion_length, eos_token_ids=ctx.eos_token_ids, temperature=ctx.temperature
        )
        tree_kw = {k: getattr(cfg, k) for k in ("max_branch_per_token", "tau_abs", "tau_rel", "prune", "fill")}
        tree_kw.update(lookahead=tuple(cfg.lookahead), prune_threshold=cfg.prune_threshold, **kw)
        tree_kw.update(force_return_step=cfg.force_return_step, pad_token_id=ctx.pad_token_id)
        for k in sorted({n for _, n in chunks}):  # one tree call per group size (a single one unless groups split)
            starts = [s for s, n in chunks if n == k]
            prompts = [prompt_ids[s] for s in starts]
            n_tree = round(k * eta)
            tree = tree_sample(ctx.policy, prompts, n_tree=n_tree, **tree_kw) if n_tree else None
            if tree is not None:
                ctx.add_sampled_tokens(tree.stats["generated_tokens"])
                st.update(tree.stats)
                st["slots"] += len(prompts) * n_tree
                lp_tree += [x for group in tree.logprobs for c in group for x in c]
            n_iid = k - n_tree
            iid = ctx.sample_ids([p for p in prompts for _ in range(n_iid)], return_logprobs=True) if n_iid else None
            if iid is not None:
                st["generated_tokens"] += iid.num_generated_tokens
                lp_iid += [x for c in iid.logprobs for x in c]
            for g, s in enumerate(starts):  # per group: [tree..., iid...]
                rows = tree.completion_ids[g] if tree else []
                out[s : s + k] = rows + (iid.completion_ids[g * n_iid : (g + 1) * n_iid] if iid else [])
        self._log_metrics(eta, round(ctx.num_generations * eta), st, lp_tree, lp_iid, out, chunks)
        return Rollout(ctx.rows, prompt_ids, out, ctx.group_ids, temperature=ctx.temperature)

    def _log_metrics(self, eta, n_tree, st, lp_tree, lp_iid, out, chunks) -> None:
        self.log("eta", eta)
        self.log("n_tree", n_tree)
        self.log("generated_tokens", st["generated_tokens"])
        self.log("distinct_in_group", sum(len({tuple(c) for c in out[s : s + n]}) / n for s, n in chunks) / len(chunks))
        if st["prompts"]:  # a tree phase ran
            self.log("branching_ratio", st["candidates"] / max(st["tree_tokens"], 1))
            self.log("pruning_ratio", st["pruned"] / max(st["compared"], 1))
            self.log("suppress_ratio", st["suppressed"] / max(st["candidates"], 1))
            self.log("empty_branch_ratio", 1 - st["branches"] / st["slots"])
            self.log("tree_phase_len", st["tree_phase_len"])
            self.log("tree_token_logp", sum(lp_tree) / max(len(lp_tree), 1))
        if lp_iid:
            self.log("iid_token_logp", sum(lp_iid) / len(lp_iid))
