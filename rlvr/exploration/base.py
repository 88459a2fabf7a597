"""The exploration-module contract: a config dataclass plus a class overriding a few no-op hooks.

The one training loop (`rlvr/trainer.py`, `rlvr/rollout.py`, `rlvr/loss.py`) calls the hooks below at fixed points
of a GRPO step, in this order. Every hook is a no-op by default; a module overrides only what it needs, and sees
only the documented contexts of `rlvr/exploration/context.py` (never the trainer):

    at set-up          grpo_overrides()                 GRPOConfig fields the module sets (merged across a stack)
                       reward_funcs(run: RunInfo)       [(func, weight)] extra reward functions (TRL's signature)
                       setup(run: RunInfo)              check the run's geometry; keep what you need
    per rollout        sampling_kwargs(ctx) -> dict     sampler overrides, e.g. a temperature schedule
                       generate(ctx) -> Rollout | None  the rollout (None: the run's sampler, one completion per row)
                       shape_rewards(ctx, rollout)      (N,) rewards before group normalisation (bonuses, penalties)
                       select_groups(ctx, rollout)      drop / refill / resize whole groups (before padding)
                       shape_advantages(ctx, rollout, adv)  (N,) or (N, T) advantages after group normalisation
                       annotate(ctx, batch) -> dict     extra (B, ...) tensors carried into the loss (e.g. a proxy)
    per micro-batch    loss_mask(lctx)                  (B, T) 0/1: tokens kept in the loss *and* its normaliser
                       token_weights(lctx)              (B, T) weights multiplied into the per-token surrogate
                       shape_token_loss(lctx, loss)     (B, T) per-token loss -> per-token loss (replace terms)
                       extra_loss(lctx)                 a scalar added to the loss (use lctx.aggregate)
    any time           self.log(name, value)            metrics, logged as explore/<name>

`ctx` (RolloutContext): step, num_generations, temperature, rows, group_ids, sampling, max_completion_length,
eos/pad ids, tokenizer, policy (current model, for no-grad forwards), frozen (the initial policy, when
`needs_frozen_policy`), and `ctx.sample(rows)`, `ctx.score(rollout)`, `ctx.draw_rows(n)`, `ctx.add_sampled_tokens(n)`.
A `Rollout` holds rows, prompt/completion ids, group ids, loss mask, sampler log-probs and entropies, rewards per
function and the weighted rewards. `lctx` (LossContext): inputs, logps (with grad), entropies, mask, advantages,
old_logps, ratio, step, epsilon_low/high, aggregate(per_token).

Modules stack (`exploration: [{name: a}, {name: b}]`, see `stack.py`): hooks chain in list order; at most one
module may replace `generate`, at most one may set `replaces_advantages`, and a module that only reshapes
advantages must come after the one that replaces them (otherwise its shaping would be silently discarded).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from rlvr.errors import RLVRError
from rlvr.exploration.context import LossContext, Rollout, RolloutContext, RunInfo

HOOKS = (
    "grpo_overrides",
    "reward_funcs",
    "setup",
    "sampling_kwargs",
    "generate",
    "shape_rewards",
    "select_groups",
    "shape_advantages",
    "annotate",
    "loss_mask",
    "token_weights",
    "shape_token_loss",
    "extra_loss",
)


@dataclass
class ExplorerConfig:
    """No settings: plain GRPO as TRL implements it."""


class Explorer:
    """`none`: every hook is a no-op, so training is exactly TRL's GRPOTrainer."""

    config_cls = ExplorerConfig
    supports_multiprocess = True
    needs_frozen_policy = False
    """True: the trainer keeps a frozen copy of the initial policy, handed to hooks as `ctx.frozen`."""
    replaces_advantages = False
    """True: `shape_advantages` ignores the advantages it is given and returns its own (e.g. PSR's +1/0, pass@k's
    closed form), so a stack refuses a second such module and any advantage shaper listed before it."""

    def __init__(self, config=None):
        self.config = config if config is not None else self.config_cls()
        self._metrics: dict[str, list[float]] = defaultdict(list)

    @property
    def name(self) -> str:
        return getattr(self, "registry_name", type(self).__name__)

    # -- set-up ---------------------------------------------------------------------------------
    def grpo_overrides(self) -> dict:
        return {}

    def reward_funcs(self, run: RunInfo) -> list:
        return []

    def setup(self, run: RunInfo) -> None:
        if run.num_processes > 1 and not self.supports_multiprocess:
            raise RLVRError(f"exploration '{self.name}' does not support {run.num_processes} processes; run it in one")

    # -- per rollout ----------------------------------------------------------------------------
    def sampling_kwargs(self, ctx: RolloutContext) -> dict:
        return {}

    def generate(self, ctx: RolloutContext) -> Rollout | None:
        return None

    def shape_rewards(self, ctx: RolloutContext, rollout: Rollout):
        return rollout.rewards

    def select_groups(self, ctx: RolloutContext, rollout: Rollout) -> Rollout:
        return rollout

    def shape_advantages(self, ctx: RolloutContext, rollout: Rollout, advantages):
        return advantages

    def annotate(self, ctx: RolloutContext, batch: dict) -> dict:
        return {}

    # -- per micro-batch ------------------------------------------------------------------------
    def loss_mask(self, lctx: LossContext):
        return None

    def token_weights(self, lctx: LossContext):
        return None

    def shape_token_loss(self, lctx: LossContext, per_token_loss):
        return per_token_loss

    def extra_loss(self, lctx: LossContext):
        return None

    # -- metrics --------------------------------------------------------------------------------
    def log(self, name: str, value: float) -> None:
        self._metrics[name].append(float(value))

    def pop_metrics(self) -> dict[str, list[float]]:
        out, self._metrics = dict(self._metrics), defaultdict(list)
        return out


def overrides_hook(module: Explorer, hook: str) -> bool:
    """Whether `module`'s class replaces the base no-op `hook`."""
    return getattr(type(module), hook) is not getattr(Explorer, hook)
