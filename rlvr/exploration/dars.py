"""DARS: Difficulty-Adaptive Rollout Sampling ("Depth-Breadth Synergy in RLVR", Yang et al., arXiv 2508.13755;
authors' code yangzhch6/DARS@9b21b71: verl/verl/trainer/ppo/ray_dars_trainer.py `schedule_ET`, `schedule_HW`, `fit`,
and core_algos.py `compute_grpo_outcome_advantage`).

With mean-only advantages A_i = r_i - mean_g(r), a group of N rows at accuracy a carries N * S(a) of |advantage|,
S(a) = 2a(1 - a), which peaks at a = 0.5: hard prompts are under-weighted. DARS gives them Δn extra rows:

    stage 1   N = num_generations rows per prompt (the run's sampler); a = fraction of rows with reward > threshold
    Δn        0 if a >= 0.5; else a := 0.5 / N when a = 0 and
              et: Δn = min(ceil((0.5 N - N S(a)) / S(a)),      N_max - N)    (N_max 32: mass of a 50% group)
              hw: Δn = min(ceil(((1 - a) N - N S(a)) / S(a)), N_max - N)    (N_max 64: hardness-weighted)
              use_std: S = 2 sqrt(a(1 - a)) and the peak term 0.5 N becomes N (hw: 2(1 - a) N, our reading)
    stage 2   Δn more completions of the prompt (one per repeated row, same sampler settings), scored, appended to
              its group: groups of N + Δn rows under the same group id
    filter    drop groups whose accuracy (after stage 2) is 0 or >= upper_threshold (authors: 1.0)
    advantage A_i = r_i - mean_g(r), no std: TRL's `scale_rewards="none"` (rlvr/advantages.py), set here

Accuracy uses `correct_threshold` on the weighted reward: for the 0/1 correctness reward it is the group mean the
authors use; graded or +-1 rewards still count a row as correct or not. The authors skip a step whose groups were
all filtered; rlvr's trainer cannot skip one, so the step then trains on the unfiltered groups (with 0/1 rewards
their advantages are all 0: no policy gradient, though Adam's momentum still moves the weights), logged as
`explore/nothing_left`. Groups change size, so rows differ across processes: single process only.
DARS-B ("breadth": 3072-prompt full-batch updates, 2 PPO epochs, lr 5e-6) is a batch/optimizer setting, left to
recipes. Logged: explore/second_rollout (extra rows), second_saved (share of all-wrong prompts with >= 1 correct
row after stage 2; only when there are some), solve_none / solve_partial / solve_all (stage-1 shares), group_size
and max_group_size (rows per trained group), trained_all_wrong (share of trained groups that are all wrong),
kept_groups, nothing_left.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from rlvr.errors import ConfigError
from rlvr.exploration.base import Explorer
from rlvr.exploration.context import Rollout

N_MAX = {"et": 32, "hw": 64}  # authors' total rollouts per prompt, by schedule


@dataclass
class DarsConfig:
    schedule: str = "hw"
    """Δn rule: et (equal treatment, the authors' resampling_func=1) or hw (hardness-weighted, resampling_func=2).
    Authors: both are released; hw is the one of their 7B and Llama runs and their best 1.5B Pass@128."""
    n_max: int | None = None
    """Cap on a group's total rows N + Δn. None: the authors' N_max of the schedule (et 32, hw 64)."""
    use_std: bool = False
    """The authors' grpo_use_std (default False): S = 2 sqrt(a(1 - a)) in Δn, and std-normalised advantages."""
    correct_threshold: float = 0.5
    """A row is correct when its weighted reward is above this (NOT FOUND — ours; the authors' rewards are 0/1)."""
    filter_groups: bool = True
    """Drop groups with accuracy 0 or >= upper_threshold after stage 2 (authors: on)."""
    upper_threshold: float = 1.0
    """Groups at or above this accuracy are dropped (authors: 1.0, i.e. all correct)."""

    def validate(self):
        if self.schedule not in N_MAX:
            raise ConfigError(f"exploration.schedule must be et or hw: {self.schedule}")
        if self.n_max is not None and self.n_max < 1:
            raise ConfigError(f"exploration.n_max must be >= 1 (or null for the schedule's): {self.n_max}")
        if not math.isfinite(self.correct_threshold):
            raise ConfigError(f"exploration.correct_threshold must be a finite number: {self.correct_threshold}")
        if not 0 < self.upper_threshold <= 1:
            raise ConfigError(f"exploration.upper_threshold must be in (0, 1]: {self.upper_threshold}")


def extra_samples(acc: float, n: int, schedule: str, n_max: int, use_std: bool = False) -> int:
    """Δn for a prompt with stage-1 accuracy `acc` over `n` rows (0 when acc >= 0.5)."""
    if acc >= 0.5:
        return 0
    a = acc if acc > 0 else 0.5 / n
    s, peak = (2 * math.sqrt(a * (1 - a)), n) if use_std else (2 * a * (1 - a), 0.5 * n)
    target = peak if schedule == "et" else 2 * (1 - a) * peak  # hw: (1 - a) N without std
    return max(0, min(math.ceil((target - n * s) / s - 1e-9), n_max - n))  # 1e-9: exact quotients stay exact


def merge(first: Rollout, second: Rollout, owner: list[int]) -> Rollout:
    """Group k of `first` followed by the rows of `second` with owner k, under group k's id."""
    if (first.loss_mask is None) != (second.loss_mask is None):  # keep a module's prefix mask
        first, second = (
            replace(r, loss_mask=r.loss_mask or [[1] * len(c) for c in r.completion_ids]) for r in (first, second)
        )
    groups = first.groups()
    both = Rollout.concat([first, second])
    both.group_ids = first.group_ids + [first.group_ids[groups[k][0]] for k in owner]
    extra = [[] for _ in groups]
    for j, k in enumerate(owner):
        extra[k].append(len(first) + j)
    return both.select([i for k, rows in enumerate(groups) for i in rows + extra[k]])


class Dars(Explorer):
    """Extra rollouts for low-accuracy prompts (groups of N + Δn), filter of solved/unsolved groups, mean-only A."""

    config_cls = DarsConfig
    supports_multiprocess = False

    def grpo_overrides(self) -> dict:
        return {"scale_rewards": "group" if self.config.use_std else "none"}

    def setup(self, run) -> None:
        super().setup(run)
        if self.config.n_max is not None and self.config.n_max < run.num_generations:
            raise ConfigError(f"exploration.n_max ({self.config.n_max}) must be >= train.num_generations")

    def accuracies(self, rollout: Rollout) -> list[float]:
        correct = (rollout.rewards > self.config.correct_threshold).tolist()  # NaN: not correct
        return [sum(correct[i] for i in rows) / len(rows) for rows in rollout.groups()]

    def select_groups(self, ctx, rollout):
        cfg = self.config
        n_max = cfg.n_max if cfg.n_max is not None else N_MAX[cfg.schedule]
        groups, acc = rollout.groups(), self.accuracies(rollout)
        extra = [extra_samples(a, len(g), cfg.schedule, n_max, cfg.use_std) for a, g in zip(acc, groups)]
        owner = [k for k, n in enumerate(extra) for _ in range(n)]
        merged = rollout
        if owner:
            rows = [rollout.rows[groups[k][0]] for k in owner]
            second = ctx.score(ctx.sample(rows, [rollout.group_ids[groups[k][0]] for k in owner]))
            merged = merge(rollout, second, owner)
        final = self.accuracies(merged)
        for name, hit in (("none", lambda a: a == 0), ("partial", lambda a: 0 < a < 1), ("all", lambda a: a == 1)):
            self.log(f"solve_{name}", sum(map(hit, acc)) / len(acc))
        self.log("second_rollout", len(owner))
        unsolved = [k for k, a in enumerate(acc) if a == 0]
        if unsolved:
            self.log("second_saved", sum(final[k] > 0 for k in unsolved) / len(unsolved))
        keep = list(range(len(final)))
        if cfg.filter_groups:
            keep = [k for k in keep if 0 < final[k] < cfg.upper_threshold]
        self.log("nothing_left", float(not keep))
        keep = keep or list(range(len(final)))  # nothing left: train on every group (see the docstring)
        merged_groups = merged.groups()
        sizes = [len(merged_groups[k]) for k in keep]
        self.log("kept_groups", len(keep) / len(final))
        self.log("group_size", sum(sizes) / len(sizes))
        self.log("max_group_size", max(sizes))
        self.log("trained_all_wrong", sum(final[k] == 0 for k in keep) / len(keep))
        return merged.select([i for k in keep for i in merged_groups[k]])
