"""EAD: Exploratory Annealed Decoding ("Let it Calm", Yang et al., arXiv 2510.05251; code yangalan123/EAD-RLVR).

Sample hot at the start of a completion and cool down along it; only the sampler changes (hook `sampling_kwargs`:
one temperature per completion position for `rlvr.sampling.sample`), the training log-probs stay at the trainer's
temperature. The authors' `negexp` schedule (annealed_sampling.py), t = tokens generated so far, s = global step:

    tau_t = 1                                                   t < warmup_period
    tau_t = max(1 + exploration_temp - exp(t / (20 df_s)), stability_temp)       otherwise
    df_s  = min(decay_freq + decay_freq_increase_factor * s, 40000)

(the paper's d is 20 df_s). The schedule multiplies the trainer's temperature (vLLM divides the processed logits
by the rollout temperature, 1.0 in the authors' runs). Defaults: recipe/ead/run_annealed_sampling.sh.

Optional truncated importance sampling (`tis`, the authors' `imp_ratio_cap`; off in their script): the per-token
loss times w_t = min(exp(log pi_old(y_t) - log mu(y_t)), tis_cap), pi_old the behaviour policy at the training
temperature, mu the annealed sampler (its log-probs ride into the micro-batch through `annotate`).
Logged: explore/tau_first, tau_last (mean tau over positions in the first / last quarter of max_completion_length),
explore/tis_weight_mean and tis_clip_frac (tis on).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rlvr.errors import ConfigError, RLVRError
from rlvr.exploration.base import Explorer

SAMPLER_LOGPS = "ead_sampler_logps"


@dataclass
class EadConfig:
    exploration_temp: float = 1.2
    """tau_max: the starting temperature (authors' script: start_temp 1.2)."""
    stability_temp: float = 0.1
    """tau_min: the floor (authors' script: end_temp 0.1)."""
    decay_freq: float = 25.0
    """df_0: the decay length is 20 * df_s tokens (authors' script: 25, i.e. d_0 = 500 tokens of up to 3072)."""
    decay_freq_increase_factor: float = 5.0
    """df grows by this per global step (authors' script: 5); capped at `max_decay_freq`."""
    max_decay_freq: float = 40000.0
    """Cap on df_s (annealed_sampling.py, negexp mode: 40000)."""
    warmup_period: int = 10
    """The first positions sample at tau = 1 (authors' script: 10)."""
    tis: bool = False
    """Truncated importance sampling of the loss (authors: imp_ratio_cap -1 = off; the script does not set it)."""
    tis_cap: float = 3.0
    """C in min(ratio, C): the paper's value is NOT FOUND; 3.0 is TRL's vllm_importance_sampling_cap default."""

    def validate(self):
        if not self.exploration_temp > 0 or not self.stability_temp > 0:
            raise ConfigError("exploration.exploration_temp and stability_temp must be > 0")
        if not self.decay_freq > 0 or self.decay_freq_increase_factor < 0 or not self.max_decay_freq > 0:
            raise ConfigError("exploration.decay_freq and max_decay_freq must be > 0, decay_freq_increase_factor >= 0")
        if self.warmup_period < 0 or not self.tis_cap > 0:
            raise ConfigError("exploration.warmup_period must be >= 0 and tis_cap > 0")


def tau(cfg: EadConfig, t: int, step: int) -> float:
    """The annealing factor at completion position t (t tokens generated before it) and global step `step`."""
    if t < cfg.warmup_period:
        return 1.0
    df = min(cfg.decay_freq + cfg.decay_freq_increase_factor * step, cfg.max_decay_freq)
    return max(1.0 + cfg.exploration_temp - math.exp(t / (20.0 * df)), cfg.stability_temp)


def temperature_schedule(cfg: EadConfig, step: int, length: int, base: float = 1.0) -> list[float]:
    """One sampling temperature per completion position: base * tau_t, t = 0 .. length - 1."""
    return [base * tau(cfg, t, step) for t in range(length)]


def tis_weights(old_logps, sampler_logps, cap: float):
    """(B, T) min(exp(old - sampler), cap), detached: the truncated importance weight of each token."""
    return (old_logps.detach() - sampler_logps).exp().clamp(max=cap)  # (B, T)


class Ead(Explorer):
    """Per-position temperature base * tau_t for the rollout; optional truncated IS weight on the loss."""

    config_cls = EadConfig

    def sampling_kwargs(self, ctx) -> dict:
        temps = temperature_schedule(self.config, ctx.step, ctx.max_completion_length, ctx.temperature)
        q = max(len(temps) // 4, 1)
        self.log("tau_first", sum(temps[:q]) / q / ctx.temperature)
        self.log("tau_last", sum(temps[-q:]) / q / ctx.temperature)
        return {"temperature": temps, **({"return_logprobs": True} if self.config.tis else {})}

    def annotate(self, ctx, batch) -> dict:
        if not self.config.tis:
            return {}
        if "sampling_per_token_logps" not in batch:
            raise RLVRError(
                "ead: tis needs the annealed sampler's log-probs, but this rollout came without them (a module "
                "that replaces generate, or sampler: trl); set exploration tis: false or drop that module"
            )
        return {SAMPLER_LOGPS: batch["sampling_per_token_logps"].detach().clone()}  # (B, C)

    def token_weights(self, lctx):
        if not self.config.tis:
            return None
        w = tis_weights(lctx.old_logps, lctx.inputs[SAMPLER_LOGPS], self.config.tis_cap)  # (B, T)
        m = lctx.mask.bool()  # (B, T)
        if m.any():
            self.log("tis_weight_mean", w[m].mean().item())
            self.log("tis_clip_frac", (w[m] >= self.config.tis_cap).float().mean().item())
        return w
