"""`psr`, `nsr`, `w_reinforce`: sample-polarity advantages ("The Surprising Effectiveness of Negative
Reinforcement in LLM Reasoning", arXiv 2506.01347; authors' code TianHongZXY/RLVR-Decomposed@a5d4e7c,
`core_algos.py::compute_psr_nsr_outcome_advantage` and the subset step of `ray_trainer.py`).

No baseline, no std; one advantage per response, broadcast to its tokens (GRPO's advantages are replaced):

    psr          A_i = +1 if correct                 (incorrect rows: out of the batch)
    nsr          A_i = -1 if incorrect               (correct rows: out of the batch)
    w_reinforce  A_i = lambda if correct, else -1    (every row; lambda = 0.1)

"correct" is `r_i > threshold` on the weighted reward (our setting, 0.5: NOT FOUND — ours; the authors' reward
is exactly 0/1 and their code asserts it). Their code computes A = r (psr), r - 1 (nsr), lambda * r or r - 1
(w_reinforce), which are the constants above for 0/1 rewards; we use the constants so that a shaped reward still
gives +-1. Unscorable rows (NaN reward) get A = 0 and leave the loss.

`subset` (default True, paper code): the authors drop the untrained rows from the batch before the update, so the
token-mean loss is normalised over the kept rows' tokens only. Here the rows stay in the batch (TRL's reward and
length metrics still see them) but leave the loss *and* its normaliser through `loss_mask`. subset=False keeps
them in the normaliser (a ~1/fraction smaller step). Logged: `explore/correct_frac`, `explore/trained_frac`
(rows with A != 0), `explore/trained_rows`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from rlvr.errors import ConfigError
from rlvr.exploration.base import Explorer


def polarity_advantages(rewards: torch.Tensor, threshold: float, pos: float, neg: float) -> torch.Tensor:
    """(N,) rewards -> (N,) A = pos where r > threshold, neg where r <= threshold, 0 where r is NaN."""
    adv = torch.where(rewards > threshold, pos, neg).to(rewards.dtype)  # (N,)
    return torch.where(torch.isnan(rewards), torch.zeros_like(adv), adv)  # (N,)


class RowSubset(Explorer):
    """Rows whose advantage the module zeroed leave the loss and its normaliser (when `config.subset`)."""

    def keep_rows(self, advantages: torch.Tensor) -> None:
        """Remember which rows are trained on: (N,) or (N, T) advantages -> (N,) 0/1, carried by `annotate`."""
        rows = advantages if advantages.dim() == 1 else advantages.abs().amax(dim=1)  # (N,)
        self._keep = (rows != 0).float()  # (N,)
        self.log("trained_frac", self._keep.mean().item())
        self.log("trained_rows", self._keep.sum().item())

    @property
    def keep_key(self) -> str:
        return f"{self.name}_keep"

    def annotate(self, ctx, batch):
        if not self.config.subset:
            return {}
        return {self.keep_key: self._keep.to(batch["completion_ids"].device)}  # (B,)

    def loss_mask(self, lctx):
        if not self.config.subset:
            return None
        return lctx.inputs[self.keep_key].unsqueeze(1).expand_as(lctx.mask)  # (B, T)


@dataclass
class PsrConfig:
    threshold: float = 0.5
    """A row is correct when its weighted reward is above this (NOT FOUND — ours; the authors' rewards are 0/1)."""
    subset: bool = True
    """Drop the untrained rows from the loss normaliser, as the authors' code drops them from the batch."""

    def validate(self):
        if not math.isfinite(self.threshold):
            raise ConfigError(f"exploration.threshold must be a finite number: {self.threshold}")


@dataclass
class WReinforceConfig:
    threshold: float = 0.5
    """A row is correct when its weighted reward is above this (NOT FOUND — ours; the authors' rewards are 0/1)."""
    positive_weight: float = 0.1
    """lambda, the advantage of a correct row (authors' positive_advantage_weight: 0.1)."""

    def validate(self):
        if not (math.isfinite(self.threshold) and self.positive_weight >= 0):
            raise ConfigError("exploration: need a finite threshold and positive_weight >= 0")


class Psr(RowSubset):
    """Positive-sample reinforcement: A = +1 on correct rows, only they are trained on."""

    config_cls = PsrConfig
    replaces_advantages = True
    signs = (1.0, 0.0)  # (A on correct, A on incorrect)

    def shape_advantages(self, ctx, rollout, advantages):
        adv = polarity_advantages(rollout.rewards, self.config.threshold, *self.signs)  # (N,)
        self.log("correct_frac", (rollout.rewards > self.config.threshold).float().mean().item())
        self.keep_rows(adv)
        return adv.to(advantages.device)


class Nsr(Psr):
    """Negative-sample reinforcement: A = -1 on incorrect rows, only they are trained on."""

    signs = (0.0, -1.0)


class WReinforce(Psr):
    """W-REINFORCE: A = lambda on correct rows, -1 on incorrect ones, every row trained on."""

    config_cls = WReinforceConfig

    @property
    def signs(self):
        return (self.config.positive_weight, -1.0)

    def annotate(self, ctx, batch):
        return {}

    def loss_mask(self, lctx):
        return None
