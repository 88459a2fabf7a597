"""RepExp: an elliptical (leverage-score) novelty bonus in the frozen initial model's representation space
(Tuyls et al., "Representation-Based Exploration for Language Models", arXiv 2510.11686; code: the verl recipe
`recipe/rep_exp`, its `EllipticalRewardModelWorker` and `EllipticalRewardManager`).

Per group of responses y_1..y_G of one prompt, before group normalisation:

    h_i = mean of the frozen initial model's last-layer hidden states over y_i's tokens (prompt + y_i fed)
    z_i = R h_i                  R: a sparse random projection to proj_dim, re-drawn every batch, float64 from here
    z~_i = z_i - mean_j z_j      V = lam I + sum_j z~_j z~_j^T
    b_i = z~_i^T V^-1 z~_i       (leverage, in [0, 1)), or z~_i^T V_{-i}^-1 z~_i with V_{-i} = V - z~_i z~_i^T
    r_i <- r_i + beta * b_i      b = 0 for the whole group when none of its rows is correct (the gate)

In an all-correct group the correctness term is constant, so after std normalisation the bonus alone sets the
advantages; in a mixed group it only nudges them; a group without a correct row keeps GRPO's zero advantage.

Ours, and why it is the same: V^-1 comes from `torch.linalg.solve` on V itself, where the authors build it with G
Sherman-Morrison rank-1 updates from I / lam (the same matrix); leave-one-out solves V_{-i}, where they downdate V^-1.
The bonus is added to the row's reward; the authors write it on the last response token of a token-level reward that
the GRPO outcome advantage sums, which is the same number. Features are averaged over the row's loss-mask-1 tokens
(the authors' response tokens: a CURE-style re-used prefix sits in their prompt). The authors use scikit-learn's
`SparseRandomProjection` (density "auto"); scikit-learn is not a dependency here, so `sparse_projection` draws the
same distribution (Achlioptas / Li, Hastie and Church 2006) with torch, seeded by (run seed, step): deterministic,
one matrix per step. Not reproduced: the off-by-default options (normalisation rnd / z_score, persistent
covariance, the some- / all-correct / per-rollout gates). Logged: explore/bonus_mean, bonus_std (raw b, every row,
before the gate), gated_frac (groups gated off), all_correct_frac (groups where b drives the advantage),
bonus_on_mean (raw b in gated-on groups), bonus_applied_mean (beta-free b after the gate, every row).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from rlvr.errors import ConfigError
from rlvr.exploration.base import Explorer


@dataclass
class RepExpConfig:
    proj_dim: int = 32
    """d': the random projection's dimension (paper script: 32 for MATH / GSM8K, 128 for DAPO-with-AIME; the recipe
    config's default sparse_dim is 512)."""
    lam: float = 0.01
    """lambda: the ridge of V = lambda I + sum z~ z~^T (recipe config `lamb` 0.01, used by the script)."""
    beta: float = 0.01
    """Bonus weight: r <- r + beta b (paper script BETA 0.01; the reward manager's default is 1.0, alpha = 1)."""
    reward_type: str = "leverage"
    """`leverage`: b_i with V including z~_i (paper script); `leave_one_out`: with V_{-i} (recipe config default)."""
    gate_if_none_correct: bool = True
    """Zero the bonus of a group with no correct row (script and config: turn_off_elliptical_if_none_correct)."""
    correct_threshold: float = 0.0
    """A row is correct when its reward (as it reaches this hook) is > this. The authors gate on the group's summed
    0/1 correctness being 0, i.e. no reward > 0."""
    redraw_projection: bool = True
    """A new projection every step (authors: randomize_sparse_matrix True); False: one matrix for the run."""

    def validate(self):
        if self.proj_dim < 1:
            raise ConfigError(f"exploration.proj_dim must be >= 1, got {self.proj_dim}")
        if not self.lam > 0:
            raise ConfigError(f"exploration.lam must be > 0 (V must be invertible), got {self.lam}")
        if not self.beta >= 0:
            raise ConfigError(f"exploration.beta must be >= 0, got {self.beta}")
        if self.reward_type not in ("leverage", "leave_one_out"):
            raise ConfigError(f"exploration.reward_type must be leverage or leave_one_out, got {self.reward_type}")


def sparse_projection(n_features: int, n_components: int, seed: int) -> torch.Tensor:
    """(n_features, n_components) float64 sparse random projection, as scikit-learn's density "auto": each entry is
    -s or +s with probability 1 / (2 sqrt(n_features)) each, else 0, with s = n_features^(1/4) / sqrt(n_components)."""
    density = 1 / math.sqrt(n_features)
    scale = math.sqrt(1 / density) / math.sqrt(n_components)
    u = torch.rand(n_features, n_components, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return scale * ((u < density).double() - 2 * (u < density / 2).double())  # (H, d')


def elliptical_bonus(z: torch.Tensor, groups: list[list[int]], lam: float, reward_type: str) -> torch.Tensor:
    """(N, d) features -> (N,) b_i per group: leverage z~_i^T V^-1 z~_i or leave-one-out z~_i^T V_{-i}^-1 z~_i."""
    z = z.double()
    b = torch.zeros(len(z), dtype=torch.float64)  # (N,)
    eye = torch.eye(z.size(1), dtype=torch.float64)  # (d, d)
    for rows in groups:
        zc = z[rows] - z[rows].mean(0)  # (g, d): centred in its group
        v = lam * eye + zc.T @ zc  # (d, d)
        if reward_type == "leverage":
            x = torch.linalg.solve(v, zc.T).T  # (g, d): V^-1 z~_i per row
        else:
            v_minus = v - zc.unsqueeze(2) * zc.unsqueeze(1)  # (g, d, d): V_{-i}
            x = torch.linalg.solve(v_minus, zc.unsqueeze(2)).squeeze(2)  # (g, d)
        b[rows] = (zc * x).sum(1)
    return b


class RepExp(Explorer):
    """Add beta x the leverage of each response's frozen-model features within its group (gated by correctness)."""

    config_cls = RepExpConfig
    needs_frozen_policy = True

    def setup(self, run) -> None:
        super().setup(run)
        self._seed = int(getattr(run.args, "seed", 0))

    def features(self, ctx, rollout) -> torch.Tensor:
        """(N, proj_dim) float64: projected mean hidden states of the frozen initial policy (one no-grad forward)."""
        h = ctx.frozen.mean_hidden(rollout.prompt_ids, rollout.completion_ids, rollout.loss_mask).cpu().double()
        step = ctx.step if self.config.redraw_projection else 0
        return h @ sparse_projection(h.size(1), self.config.proj_dim, getattr(self, "_seed", 0) * 1_000_003 + step)

    def shape_rewards(self, ctx, rollout):
        c, groups = self.config, rollout.groups()
        b = elliptical_bonus(self.features(ctx, rollout), groups, c.lam, c.reward_type)  # (N,)
        correct = (rollout.rewards.detach().cpu().double() > c.correct_threshold).tolist()  # NaN: not correct
        on = [any(correct[i] for i in rows) or not c.gate_if_none_correct for rows in groups]
        applied = b.clone()  # (N,): the gated bonus
        for rows in (rows for rows, keep in zip(groups, on) if not keep):
            applied[rows] = 0.0
        self.log("bonus_mean", b.mean().item())
        self.log("bonus_std", b.std().item() if len(b) > 1 else 0.0)
        self.log("gated_frac", 1 - sum(on) / len(groups))
        self.log("all_correct_frac", sum(all(correct[i] for i in rows) for rows in groups) / len(groups))
        self.log("bonus_applied_mean", applied.mean().item())
        on_rows = [i for rows, keep in zip(groups, on) if keep for i in rows]
        if on_rows:
            self.log("bonus_on_mean", b[on_rows].mean().item())
        bonus = (c.beta * applied).to(device=rollout.rewards.device, dtype=rollout.rewards.dtype)
        return rollout.rewards + bonus  # (N,)
