"""The exploration-module contract: a config dataclass plus a class with no-op hooks.

The one training loop (`rlvr/trainer.py`) calls these hooks at fixed points of a GRPO step; a module
overrides only what it needs. In order, per generation batch:

    grpo_overrides()            GRPOConfig fields the module sets (entropy_coef, beta, epsilon_high, ...)
    generate(prompt_ids)        rollout: one completion per row (rows = prompts repeated G times), or None
    select_groups(batch)        after scoring, before TRL shuffles rows: drop / refill / reorder whole groups
    shape_advantages(adv, batch)  per-sequence (B,) or per-token (B, T) advantages
    extra_loss(inputs, logps, entropies, mask)  extra scalar loss for one micro-batch (already GA-scaled)

Metrics recorded with `self.log(name, value)` appear under `explore/<name>`. `batch` is TRL's dict
(`prompt_ids`, `completion_ids`, `completion_mask`, `advantages`, `num_items_in_batch`, ...) plus
`rewards` (B,). `self.trainer` is the `RLVRTrainer` once `setup` ran.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from rlvr.errors import RLVRError


@dataclass
class ExplorerConfig:
    """No settings: plain GRPO as TRL implements it."""


class Explorer:
    """`none`: every hook is a no-op, so training is exactly TRL's GRPOTrainer."""

    config_cls = ExplorerConfig
    supports_multiprocess = True

    def __init__(self, config=None):
        self.config = config if config is not None else self.config_cls()
        self.trainer = None
        self._metrics: dict[str, list[float]] = defaultdict(list)

    # -- set-up ---------------------------------------------------------------------------------
    def grpo_overrides(self) -> dict:
        return {}

    def setup(self, trainer) -> None:
        self.trainer = trainer
        world = trainer.accelerator.num_processes
        if world > 1 and not self.supports_multiprocess:
            raise RLVRError(f"exploration '{type(self).__name__}' does not support {world} processes; run it in one")

    # -- hooks ----------------------------------------------------------------------------------
    def generate(self, prompt_ids: list[list[int]]):
        """Return (completion_ids, logprobs | None) with one completion per row, or None for the default sampler."""
        return None

    def select_groups(self, batch: dict) -> dict:
        return batch

    def shape_advantages(self, advantages, batch):
        return advantages

    def extra_loss(self, inputs: dict, per_token_logps, entropies, mask):
        return None

    # -- metrics --------------------------------------------------------------------------------
    def log(self, name: str, value: float) -> None:
        self._metrics[name].append(float(value))

    def pop_metrics(self) -> dict[str, list[float]]:
        out, self._metrics = dict(self._metrics), defaultdict(list)
        return out
