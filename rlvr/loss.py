"""rlvr's per-token policy loss: TRL 1.16's clipped surrogate, with the modules' token weights inside it.

Per micro-batch, with ratio w = exp(log pi - log pi_old) per token (or the masked mean log-ratio per sequence,
`importance_sampling_level: sequence`, GSPO):

    l_t = -min(w A, clip(w, 1 - eps_low, 1 + eps_high) A)      (w first capped at `delta` when set: two-sided clip)
    l_t <- l_t * m_t * h_t * u_t                               off-policy mask m, top-entropy mask h, module weights u
    l_t <- shape_token_loss(l_t)                               modules may replace terms (Lp-Reg, KL-Cov)
    l_t <- l_t + beta * KL_k3(pi || pi_ref)_t (* w with use_bias_correction_kl)
    L    = aggregate(l) - entropy_coef * mean_t H_t + extra_loss

aggregate, for loss_type: grpo = mean over rows of each row's token mean; bnpo = token mean of the micro-batch;
dr_grpo = sum / (rows * max_completion_length); dapo = sum / the rollout's loss tokens per micro-batch
(num_items_in_batch / processes * GA / steps_per_generation). Every loss is divided by the GA steps once.
With no module hooks this is TRL's `_compute_loss` operation for operation, so `none` is bit-identical to
GRPOTrainer (tests/test_parity.py); cispo, sapo, luspo and vespo are refused at start-up.
"""

from __future__ import annotations

import torch
from trl.trainer.utils import nanmax, nanmin

from rlvr.errors import RLVRError

SUPPORTED_LOSS_TYPES = ("grpo", "bnpo", "dr_grpo", "dapo")


def check_loss_settings(args) -> None:
    if args.loss_type not in SUPPORTED_LOSS_TYPES:
        raise RLVRError(
            f"train.loss_type={args.loss_type!r} is not supported by rlvr's policy loss; "
            f"use one of {', '.join(SUPPORTED_LOSS_TYPES)}"
        )
    if args.importance_sampling_level not in ("token", "sequence"):
        raise RLVRError(f"train.importance_sampling_level must be token or sequence: {args.importance_sampling_level}")
    if args.use_vllm and args.vllm_importance_sampling_correction:
        raise RLVRError(
            "rlvr's rollout step does not apply TRL's vLLM importance-sampling correction; "
            "set train.vllm_importance_sampling_correction=false (or train.use_vllm=false)"
        )


def importance_ratio(logps, old_logps, mask, level: str) -> torch.Tensor:
    """w = pi / pi_old: (B, T) per token, or (B, 1) per sequence (exp of the masked mean log-ratio)."""
    log_ratio = logps - old_logps  # (B, T)
    if level == "sequence":
        log_ratio = ((log_ratio * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)).unsqueeze(-1)  # (B, 1)
    return torch.exp(log_ratio)


def clipped_surrogate(ratio, advantages, eps_low: float, eps_high: float, delta: float | None):
    """Per-token PPO-clip loss (B, T) or (B, 1), and the ratio after the two-sided cap (for clip metrics)."""
    clipped = torch.clamp(ratio, 1 - eps_low, 1 + eps_high)
    if delta is not None:
        ratio = torch.clamp(ratio, max=delta)
    return -torch.min(ratio * advantages, clipped * advantages), ratio


def aggregate(per_token, mask, loss_type: str, *, ga: float, max_len: int, num_items=None, processes=1, spg=1):
    """Reduce (B, T) per-token losses like TRL for `loss_type`; returns (GA-scaled loss, unscaled loss)."""
    if loss_type == "grpo":
        loss = ((per_token * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)).mean()
    elif loss_type == "bnpo":
        loss = (per_token * mask).sum() / mask.sum().clamp(min=1.0)
    elif loss_type == "dr_grpo":
        loss = (per_token * mask).sum() / (per_token.size(0) * max_len)
    else:  # dapo: the rollout's token count, rescaled to one accumulation window
        normalizer = num_items.clamp(min=1.0) / processes
        if ga is not None:
            normalizer = normalizer * ga / spg
        loss = (per_token * mask).sum() / normalizer
        return loss, loss.detach()
    return loss / (ga or 1.0), loss.detach()


def kl_k3(ref_logps, logps) -> torch.Tensor:
    """k3 estimate of KL(pi || pi_ref) per token: exp(r - l) - (r - l) - 1."""
    return torch.exp(ref_logps - logps) - (ref_logps - logps) - 1


class EntropyControl:
    """TRL's entropy bonus (static `entropy_coef`, or Skywork-OR1's adaptive controller), on the trainer's state.

    The coefficient state lives in TRL's trainer attributes so that TRL's checkpointing of the controller still
    applies; this object is the one place that reads them.
    """

    def __init__(self, trainer):
        self.t = trainer

    def term(self, entropies, effective_mask, mode: str):
        """The scalar to subtract from the loss (GA-scaled), and the controller update at step boundaries."""
        t = self.t
        factor = t.current_gradient_accumulation_steps if mode == "train" else 1.0
        entropy_loss = (entropies * effective_mask).sum() / effective_mask.sum().clamp(min=1.0) / factor
        if t.use_adaptive_entropy:
            coef = t.entropy_coef if t._last_world_entropy <= t.args.entropy_target else 0.0
        else:
            coef = t.entropy_coef
        if t.use_adaptive_entropy and mode == "train":
            self._update(entropies, effective_mask)
        if mode == "train" and t.accelerator.sync_gradients:
            t._metrics[mode]["entropy_coef"].append(t.entropy_coef)
        return coef * entropy_loss

    def _update(self, entropies, effective_mask) -> None:
        t = self.t
        stats = torch.stack([(entropies * effective_mask).sum(), effective_mask.sum()]).detach()
        t._entropy_window_stats = stats if t._entropy_window_stats is None else t._entropy_window_stats + stats
        if t.accelerator.sync_gradients:
            window = t.accelerator.reduce(t._entropy_window_stats, reduction="sum")
            world = (window[0] / window[1].clamp(min=1.0)).item()
            a = t.args
            if world <= a.entropy_target:
                t.entropy_coef = min(t.entropy_coef + a.entropy_coef_delta, a.entropy_coef_max)
            else:
                t.entropy_coef = max(t.entropy_coef - a.entropy_coef_delta, a.entropy_coef_min)
            t._last_world_entropy = world
            t._entropy_window_stats = None


def log_loss_metrics(trainer, mode, mask, entropies, ratio, advantages, kl, eps_low, eps_high) -> None:
    """TRL's loss metrics under TRL's names: kl, entropy, clip_ratio/{low,high,region}_mean, low_min, high_max."""
    acc, metrics = trainer.accelerator, trainer._metrics[mode]

    def global_mean(x):  # (B, T) token mean over all processes, or (B, 1) row mean
        if x.shape[1] == 1:
            s, n = x.sum(), torch.tensor(float(x.shape[0]), device=x.device)
        else:
            s, n = (x * mask).sum(), mask.sum().float()
        totals = acc.reduce(torch.stack([s, n]), reduction="sum")
        return (totals[0] / totals[1].clamp(min=1.0)).item()

    def seq_mean(x):
        return x.squeeze(1) if x.shape[1] == 1 else (x * mask).sum(-1) / mask.sum(-1)

    if kl is not None:
        metrics["kl"].append(global_mean(kl))
    metrics["entropy"].append(global_mean(entropies))
    low = (ratio < 1 - eps_low) & (advantages < 0)
    high = (ratio > 1 + eps_high) & (advantages > 0)
    metrics["clip_ratio/low_mean"].append(global_mean(low.float()))
    metrics["clip_ratio/high_mean"].append(global_mean(high.float()))
    metrics["clip_ratio/region_mean"].append(global_mean((low | high).float()))
    metrics["clip_ratio/low_min"].append(nanmin(acc.gather(seq_mean(low.float()))).item())
    metrics["clip_ratio/high_max"].append(nanmax(acc.gather(seq_mean(high.float()))).item())
