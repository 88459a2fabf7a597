"""`ExplorerStack`: several modules as one. The trainer always talks to a stack (one module is a stack of one).

Hooks chain in list order: rewards, rollouts, advantages and per-token losses flow through each module in turn;
sampler overrides and GRPOConfig overrides merge (two modules setting one key to different values stop with one
line naming both); loss masks and token weights multiply; extra losses add. At most one module may replace `generate`,
and at most one the advantages (listed before any other advantage shaper).
"""

from __future__ import annotations

from rlvr.errors import RLVRError
from rlvr.exploration.base import Explorer, overrides_hook


def merge_settings(modules: list[Explorer], values: list[dict], what: str) -> dict:
    """Union of per-module dicts; the same key with different values is a one-line error naming both modules."""
    out, owner = {}, {}
    for module, d in zip(modules, values):
        for key, value in d.items():
            if key in out and out[key] != value:
                raise RLVRError(
                    f"exploration modules '{owner[key]}' and '{module.name}' both set {what} {key} "
                    f"({out[key]!r} vs {value!r}); remove one of them from the stack or make them agree"
                )
            out[key], owner[key] = value, module.name
    return out


class ExplorerStack:
    def __init__(self, modules: list[Explorer]):
        self.modules = list(modules) or [Explorer()]
        gen = [m.name for m in self.modules if overrides_hook(m, "generate")]
        if len(gen) > 1:
            raise RLVRError(f"exploration modules {' and '.join(gen)} both replace the rollout (generate); keep one")
        names = [m.name for m in self.modules]
        if len(set(names)) < len(names):
            raise RLVRError(f"exploration stack {names} lists a module twice; give it once with its settings")
        self._check_advantage_order()

    def _check_advantage_order(self) -> None:
        """Advantage replacers discard what they are given: one at most, and every other shaper after it."""
        replacers = [m.name for m in self.modules if m.replaces_advantages]
        if len(replacers) > 1:
            raise RLVRError(
                f"exploration modules {' and '.join(replacers)} both replace the advantages, so only the last "
                "would count; keep one"
            )
        before = []
        for m in self.modules:
            if m.replaces_advantages and before:
                raise RLVRError(
                    f"exploration module '{m.name}' replaces the advantages, which discards the shaping of "
                    f"{', '.join(repr(b) for b in before)} listed before it; list '{m.name}' first"
                )
            if overrides_hook(m, "shape_advantages"):
                before.append(m.name)

    @property
    def name(self) -> str:
        return "+".join(m.name for m in self.modules)

    @property
    def supports_multiprocess(self) -> bool:
        return all(m.supports_multiprocess for m in self.modules)

    @property
    def needs_frozen_policy(self) -> bool:
        return any(m.needs_frozen_policy for m in self.modules)

    def __iter__(self):
        return iter(self.modules)

    # -- set-up ---------------------------------------------------------------------------------
    def grpo_overrides(self) -> dict:
        return merge_settings(self.modules, [m.grpo_overrides() for m in self.modules], "train.")

    def reward_funcs(self, run) -> list:
        return [f for m in self.modules for f in m.reward_funcs(run)]

    def setup(self, run) -> None:
        for m in self.modules:
            m.setup(run)

    # -- per rollout ----------------------------------------------------------------------------
    def sampling_kwargs(self, ctx) -> dict:
        return merge_settings(self.modules, [m.sampling_kwargs(ctx) for m in self.modules], "sampling")

    def generate(self, ctx):
        for m in self.modules:
            out = m.generate(ctx)
            if out is not None:
                return out
        return None

    def shape_rewards(self, ctx, rollout):
        for m in self.modules:
            rollout.rewards = m.shape_rewards(ctx, rollout)  # (N,)
        return rollout.rewards

    def select_groups(self, ctx, rollout):
        for m in self.modules:
            rollout = m.select_groups(ctx, rollout)
        return rollout

    def shape_advantages(self, ctx, rollout, advantages):
        for m in self.modules:
            advantages = m.shape_advantages(ctx, rollout, advantages)  # (N,) or (N, T)
        return advantages

    def annotate(self, ctx, batch) -> dict:
        extra = {}
        for m in self.modules:
            new = m.annotate(ctx, batch)
            clash = (set(new) & set(extra)) | (set(new) & set(batch))
            if clash:
                raise RLVRError(f"exploration module '{m.name}' annotates existing batch keys {sorted(clash)}")
            extra.update(new)
        return extra

    # -- per micro-batch ------------------------------------------------------------------------
    def _product(self, hook: str, lctx):
        """The product of the modules' (B, T) tensors from `hook`, or None when none returns one."""
        out = None
        for m in self.modules:
            x = getattr(m, hook)(lctx)  # (B, T) or None
            if x is not None:
                out = x if out is None else out * x
        return out

    def loss_mask(self, lctx):
        return self._product("loss_mask", lctx)

    def token_weights(self, lctx):
        return self._product("token_weights", lctx)

    def shape_token_loss(self, lctx, per_token_loss):
        for m in self.modules:
            per_token_loss = m.shape_token_loss(lctx, per_token_loss)  # (B, T)
        return per_token_loss

    def extra_loss(self, lctx):
        total = None
        for m in self.modules:
            x = m.extra_loss(lctx)
            if x is not None:
                total = x if total is None else total + x
        return total

    def pop_metrics(self) -> dict[str, list[float]]:
        out: dict[str, list[float]] = {}
        for m in self.modules:
            for k, v in m.pop_metrics().items():
                out.setdefault(k, []).extend(v)
        return out


def as_stack(explorer) -> ExplorerStack:
    if isinstance(explorer, ExplorerStack):
        return explorer
    if explorer is None:
        return ExplorerStack([])
    if isinstance(explorer, list | tuple):
        return ExplorerStack(list(explorer))
    return ExplorerStack([explorer])
