"""`passk_advantage`: group advantages of the pass@k objective in closed form (Pass@k Training, arXiv 2508.10751;
authors' code RUCAIBox/Passk_Training@c3ba575:code/passk_adv.py, the "analytical" variant).

For a group of N scorable rollouts, N_neg of them wrong, the expected best-of-k reward of a random k-subset and
the per-response advantages are (GRPO's advantages are replaced, broadcast to every token):

    R    = 1 - C(N_neg, k) / C(N, k)
    s    = sqrt(R (1 - R))
    A_pos = (1 - R) / (s + eps)                                        correct rows
    A_neg = (1 - R - C(N_neg - 1, k - 1) / C(N - 1, k - 1)) / (s + eps)  wrong rows

All-correct and all-wrong groups give 0; k = 1 is GRPO with the population std. Defaults: eps 1e-6 (paper code);
k = 4 is NOT FOUND — ours (the k behind the paper's tables is not given; sweep {2, 4} with G = 8). "correct" is
r > threshold (0.5, NOT FOUND — ours; the authors' code tests r == 1 and leaves rewards other than 0 and 1 as
they are, which we do not copy). NaN rows leave their group's N and get A = 0 (the whole group when fewer than
k rows are left). Logged: `explore/group_passk` (mean R over groups), `explore/pos_adv_mean`,
`explore/neg_adv_mean`, `explore/trained_frac` (rows with A != 0), and for comparison the mean positive / negative
advantage GRPO gave the same rows (`explore/grpo_pos_adv_mean`, `explore/grpo_neg_adv_mean`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from rlvr.errors import ConfigError, RLVRError
from rlvr.exploration.base import Explorer


@dataclass
class PasskAdvantageConfig:
    k: int = 4
    """k of the pass@k objective, 1 <= k <= num_generations (NOT FOUND — ours; 1 is plain GRPO)."""
    threshold: float = 0.5
    """A row is correct when its weighted reward is above this (NOT FOUND — ours; the authors' rewards are 0/1)."""
    eps: float = 1e-6
    """Added to the std (authors' code: 1e-6)."""

    def validate(self):
        if self.k < 1 or self.eps < 0 or not math.isfinite(self.threshold):
            raise ConfigError("exploration: need k >= 1, eps >= 0 and a finite threshold")


def passk_advantages(n: int, n_correct: int, k: int, eps: float = 1e-6) -> tuple[float, float, float]:
    """(A_pos, A_neg, R) of a group of n rollouts with n_correct correct, for pass@k."""
    n_neg = n - n_correct
    r = 1 - math.comb(n_neg, k) / math.comb(n, k)
    s = math.sqrt(r * (1 - r))
    a_pos = (1 - r) / (s + eps)
    a_neg = (1 - r - math.comb(n_neg - 1, k - 1) / math.comb(n - 1, k - 1)) / (s + eps) if n_neg else 0.0
    return a_pos, a_neg, r


class PasskAdvantage(Explorer):
    """Replace GRPO's advantages by the closed-form pass@k advantages of each group."""

    config_cls = PasskAdvantageConfig
    replaces_advantages = True

    def setup(self, run) -> None:
        super().setup(run)
        if self.config.k > run.num_generations:
            raise ConfigError(f"exploration.k ({self.config.k}) must be <= num_generations ({run.num_generations})")

    def shape_advantages(self, ctx, rollout, advantages):
        c = self.config
        rewards = rollout.rewards
        adv = torch.zeros(len(rollout), dtype=torch.float32)  # (N,)
        pos, neg, rs = [], [], []
        for rows in rollout.groups():
            scored = [i for i in rows if not math.isnan(float(rewards[i]))]
            correct = [float(rewards[i]) > c.threshold for i in scored]
            if len(rows) < c.k:
                raise RLVRError(f"passk_advantage: a group has {len(rows)} rows, fewer than k = {c.k}; lower k")
            if len(scored) < c.k:  # too few scorable rows for a k-subset: no signal, like an unscorable row
                continue
            a_pos, a_neg, r = passk_advantages(len(scored), sum(correct), c.k, c.eps)
            for i, ok in zip(scored, correct):
                adv[i] = a_pos if ok else a_neg
                if adv[i] != 0:  # rows of all-correct / all-wrong groups carry no signal
                    (pos if ok else neg).append(adv[i].item())
            rs.append(r)
        self.log("group_passk", sum(rs) / len(rs))
        self.log("pos_adv_mean", sum(pos) / len(pos) if pos else 0.0)
        self.log("neg_adv_mean", sum(neg) / len(neg) if neg else 0.0)
        self.log("trained_frac", (adv != 0).float().mean().item())
        grpo = advantages.detach().float().cpu()  # (N,) or (N, T): what GRPO gave the same rows, for comparison
        grpo = grpo if grpo.dim() == 1 else grpo.mean(dim=1)  # (N,)
        for name, rows in (("grpo_pos_adv_mean", grpo > 0), ("grpo_neg_adv_mean", grpo < 0)):
            self.log(name, grpo[rows].mean().item() if rows.any() else 0.0)
        return adv.to(device=advantages.device, dtype=advantages.dtype)
