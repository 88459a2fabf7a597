"""`negative_only`: GRPO's group-relative advantage with the positive terms dropped (our reading of "The Debate on
RLVR Reasoning Capability Boundary: Shrinkage, Expansion, or Both?", arXiv 2510.04028).

The paper (abstract only; recipe, hyperparameters and results NOT FOUND) revisits training with only the relative
negative gradients to prolong training. Our reading — NOT FOUND — ours — keeps the group-normalised advantage and
zeroes its positive part, token by token if the advantages are per token:

    A_i <- min(A_i, 0),   A_i = (r_i - mean_g r) / (std_g r + eps)   (whatever GRPO / earlier modules gave)

Unlike `nsr` (a constant -1 with no baseline), a wrong answer in a mostly-correct group is pushed down hard and one
in a mostly-wrong group only a little. `subset` (default False, NOT FOUND — ours) also drops the rows left with
A = 0 from the loss normaliser, the way `nsr` follows its authors; off, they count as zero terms of the token mean.
Logged: `explore/trained_frac` (rows with a negative term), `explore/dropped_pos_frac` (rows whose A > 0 was cut).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rlvr.exploration.negative_reinforcement import RowSubset


@dataclass
class NegativeOnlyConfig:
    subset: bool = False
    """Also drop rows left with A = 0 from the loss normaliser (NOT FOUND — ours; off keeps GRPO's normaliser)."""

    def validate(self):
        pass


class NegativeOnly(RowSubset):
    """Keep only the negative part of GRPO's group-relative advantage."""

    config_cls = NegativeOnlyConfig

    def shape_advantages(self, ctx, rollout, advantages):
        pos = advantages > 0  # (N,) or (N, T)
        rows_pos = pos if pos.dim() == 1 else pos.any(dim=1)  # (N,)
        self.log("dropped_pos_frac", rows_pos.float().mean().item())
        out = torch.clamp(advantages, max=0.0)  # (N,) or (N, T)
        self.keep_rows(out)
        return out
