"""RLVRTrainer: TRL's GRPOTrainer with rlvr's rollout step and policy loss, and the exploration hooks between.

Every experiment runs this loop; what varies is the exploration stack (`rlvr/exploration/`, hooks in base.py):

    _generate_and_score_completions   rlvr/rollout.py   sample, score (TRL's _calculate_rewards), select groups,
                                                        group advantages (groups of any size), padded batch
    _prepare_inputs                   here              TRL's shuffle, then a split into steps_per_generation
                                                        micro-batches that drops no row (TRL floors B / steps)
    _compute_loss                     here + loss.py    TRL's clipped surrogate with module weights inside
    diagnostics (every module)        diagnostics.py    diag/*: hidden-state effective rank, B-STaR measures

With the `none` module this is exactly GRPOTrainer for loss_type grpo, bnpo, dr_grpo and dapo, with and without
num_iterations > 1 (tests/test_parity.py). The TRL methods overridden or called here are pinned by
tests/test_trl_seam.py (trl==1.16.*).
"""

from __future__ import annotations

import torch
from trl import GRPOTrainer
from trl.trainer.utils import shuffle_sequence_dict

from rlvr import loss as L
from rlvr.compact_forward import CompactForwardMixin
from rlvr.diagnostics import DiagnosticsMixin
from rlvr.errors import RLVRError
from rlvr.exploration.base import overrides_hook
from rlvr.exploration.context import LossContext, RunInfo
from rlvr.exploration.stack import as_stack
from rlvr.rollout import RolloutMixin
from rlvr.rollout_log import RolloutLogMixin


class NonFiniteLossError(RLVRError):
    """Raised before the backward pass, so the parameters (and the last checkpoint) are still good."""


class RLVRTrainer(RolloutMixin, RolloutLogMixin, DiagnosticsMixin, CompactForwardMixin, GRPOTrainer):
    def __init__(self, *args, explorer=None, sampler: str = "fast", compact_forward: bool | None = None, **kwargs):
        self.explorer = as_stack(explorer)
        self.rlvr_sampler = sampler
        # Each distinct prompt once and each completion to its own length in the training forward
        # (compact_forward.py); by default with the fast sampler only, so `sampler="trl"` stays GRPOTrainer bit for bit.
        self.compact_forward = sampler == "fast" if compact_forward is None else compact_forward
        self._extra_rows = None
        self._sampled_tokens = 0  # sampled on this process since the last rollout batch was logged
        run = self._run_info(kwargs)
        self._add_module_rewards(kwargs, run)
        super().__init__(*args, **kwargs)
        self._check_supported()
        self._check_whole_groups()
        self._check_unsharded()
        self.entropy_control = L.EntropyControl(self)
        self.frozen_policy = self._make_frozen_policy() if self.explorer.needs_frozen_policy else None
        self.explorer.setup(run)

    # -- set-up checks ------------------------------------------------------------------------------
    @staticmethod
    def _run_info(kwargs: dict) -> RunInfo:
        """The run's geometry, known before TRL's set-up (module reward functions are added before it)."""
        from accelerate import PartialState
        from peft import PeftModel

        args = kwargs["args"]
        is_peft = kwargs.get("peft_config") is not None or isinstance(kwargs.get("model"), PeftModel)
        procs = PartialState().num_processes
        return RunInfo(args, args.num_generations, procs, is_peft, kwargs.get("processing_class"))

    def _add_module_rewards(self, kwargs: dict, run: RunInfo) -> None:
        """Module-provided reward functions join the recipe's, with their weights (TRL's reward_weights)."""
        extra = self.explorer.reward_funcs(run)
        if not extra:
            return
        funcs = kwargs.get("reward_funcs")
        funcs = list(funcs) if isinstance(funcs, list | tuple) else [funcs]
        args = kwargs["args"]
        weights = list(args.reward_weights) if args.reward_weights is not None else [1.0] * len(funcs)
        kwargs["reward_funcs"] = funcs + [f for f, _ in extra]
        args.reward_weights = weights + [float(w) for _, w in extra]

    def _check_supported(self) -> None:
        L.check_loss_settings(self.args)
        if self.tools or self.environment_factories is not None or self.rollout_func is not None:
            raise RLVRError("tools, environments and rollout_func are not supported by rlvr's rollout step")
        shaping = [m.name for m in self.explorer.modules if overrides_hook(m, "shape_rewards")]
        if shaping and self.multi_objective_aggregation == "normalize_then_sum":
            raise RLVRError(
                f"module(s) {shaping} shape the reward, but multi_objective_aggregation=normalize_then_sum builds "
                "advantages from each reward function's own scores and would drop that shaping: use "
                "sum_then_normalize, or add the bonus as a reward function"
            )

    def _check_whole_groups(self) -> None:
        # Groups are normalised on gathered rewards, but the hooks see only this process's rows: with several
        # processes every process must hold whole groups of num_generations rows.
        a = self.args
        rows = a.per_device_train_batch_size * a.steps_per_generation
        if self.accelerator.num_processes > 1 and rows % self.num_generations:
            raise RLVRError(
                f"with {self.accelerator.num_processes} processes, per_device_train_batch_size * steps_per_generation "
                f"({rows}) must be a multiple of num_generations ({self.num_generations}) so groups are not split"
            )

    def _check_unsharded(self) -> None:
        # rlvr's samplers, LATR's tree and the held-out evaluation call the local module directly: on a parameter
        # shard (ZeRO-3, FSDP) they would compute garbage or hang in a collective, so refuse before training.
        ds = getattr(self.accelerator.state, "deepspeed_plugin", None)
        what = "FSDP" if self.is_fsdp_enabled else "DeepSpeed ZeRO-3" if ds and ds.zero_stage == 3 else None
        if what:
            raise RLVRError(
                f"{what} shards the parameters, which rlvr does not support yet (its samplers and evaluation call "
                "the whole model): use DDP (accelerate launch --multi_gpu) or DeepSpeed ZeRO-1/2"
            )

    @property
    def is_peft(self) -> bool:
        from accelerate.utils import is_peft_model

        return is_peft_model(self.accelerator.unwrap_model(self.model))

    def _make_frozen_policy(self):
        from rlvr.frozen import FrozenPolicy

        model = self.accelerator.unwrap_model(self.model)
        return FrozenPolicy(model, self.temperature, self.processing_class.pad_token_id, self.is_peft)

    # -- sampling -----------------------------------------------------------------------------------
    def _fast_sampler_applies(self, images=None) -> bool:
        plain = self.min_p is None and self.repetition_penalty == 1.0 and not self.args.generation_kwargs
        return (
            self.rlvr_sampler == "fast"
            and not self.use_vllm
            and not self.use_transformers_continuous_batching
            and (images is None and plain)
        )

    def sample(self, prompt_ids: list[list[int]], **overrides):
        """rlvr's KV-cache sampler at the trainer's sampling settings (overridable, e.g. temperature=1.2)."""
        from rlvr.sampling import sample

        kwargs = dict(
            max_new_tokens=self.max_completion_length,
            eos_token_ids=self.eos_token_ids,
            pad_token_id=self.processing_class.pad_token_id,
            temperature=self.temperature,
            top_p=self.top_p,
            top_k=self.top_k or 0,
        )
        kwargs.update(overrides)
        model = self.accelerator.unwrap_model(self.model)
        with torch.no_grad():
            res = sample(model, prompt_ids, **kwargs)
        self.add_sampled_tokens(res.num_generated_tokens)
        return res

    # -- micro-batches ------------------------------------------------------------------------------
    def _prepare_inputs(self, generation_batch):
        if not self.model.training:
            return super()._prepare_inputs(generation_batch)
        every = self.args.steps_per_generation * self.num_iterations
        if self._step % every == 0 or self._buffered_inputs is None:  # None after a resume
            batch = shuffle_sequence_dict(self._generate_and_score_completions(generation_batch))
            self._buffered_inputs = split_rows(batch, self.args.steps_per_generation)
        return self._buffered_inputs[self._step % self.args.steps_per_generation]

    # -- loss ---------------------------------------------------------------------------------------
    def _compute_loss(self, model, inputs):
        lctx, entropy_mask, aux_loss = self._loss_context(model, inputs)
        per_token, ratio, kl = self._surrogate(lctx, entropy_mask)  # (B, T)
        loss, policy_loss = lctx.aggregate(per_token, full=True)
        mode = "train" if self.model.training else "eval"
        if self._entropy_bonus_enabled:  # TRL's bonus, on the tokens in the loss
            effective = lctx.mask if entropy_mask is None else lctx.mask * entropy_mask
            loss = loss - self.entropy_control.term(lctx.entropies, effective, mode)
            self._metrics[mode]["policy_loss"].append(self.accelerator.gather(policy_loss).nanmean().item())
        if self.aux_loss_enabled:  # MoE router loss, GA-scaled like the policy loss
            ga = self.current_gradient_accumulation_steps if mode == "train" else 1.0
            loss = loss + self.router_aux_loss_coef * aux_loss / ga
            self._metrics[mode]["aux_loss"].append(self.accelerator.gather_for_metrics(aux_loss).mean().item())
        mask = inputs["completion_mask"] * inputs.get("tool_mask", 1)  # metrics over every completion token
        L.log_loss_metrics(self, mode, mask, lctx.entropies, ratio, lctx.advantages, kl, *self._eps)
        extra = self.explorer.extra_loss(lctx)
        loss = loss if extra is None else loss + extra
        self._flush_explorer_metrics(mode)
        if not torch.isfinite(loss):
            raise NonFiniteLossError(
                f"loss is {loss.item()} at step {self.state.global_step}: training stopped before the update; "
                "lower train.learning_rate or check the exploration module's loss hooks"
            )
        return loss

    @property
    def _eps(self) -> tuple[float, float]:
        return self.epsilon_low, self.epsilon_high

    def _loss_context(self, model, inputs: dict):
        """The training forward (log-probs with grad, entropies) and the LossContext the loss hooks see."""
        ids = torch.cat([inputs["prompt_ids"], inputs["completion_ids"]], dim=1)  # (B, P + T)
        attn = torch.cat([inputs["prompt_mask"], inputs["completion_mask"]], dim=1)  # (B, P + T)
        mask = (
            inputs["completion_mask"] if "tool_mask" not in inputs else inputs["completion_mask"] * inputs["tool_mask"]
        )
        with self._diag_hidden_states(model, inputs):  # diag/effective_rank from this forward's hidden states
            logps, entropies, aux_loss = self._get_per_token_logps_and_entropies(
                model, ids, attn, inputs["completion_ids"].size(1), compute_entropy=True,
                compute_aux_loss=self.aux_loss_enabled,
            )  # (B, T), (B, T)  # fmt: skip
        q = self.top_entropy_quantile
        entropy_mask = self.get_high_entropy_mask(entropies, mask, 1 - q) if q < 1.0 else None  # (B, T)
        adv = inputs["advantages"]
        adv = adv.unsqueeze(1) if adv.dim() == 1 else adv  # (B, 1) or (B, T)
        old = inputs.get("old_per_token_logps")
        old = logps.detach() if old is None else old  # (B, T)
        lctx = LossContext(inputs, logps, entropies, mask, adv, old, None, self.state.global_step, *self._eps)
        keep = self.explorer.loss_mask(lctx)  # (B, T) or None: tokens that stay in the loss and its normaliser
        if keep is not None:
            lctx.mask = mask * keep
        lctx.aggregate = self._aggregator(inputs, lctx.mask, masked=keep is not None)
        return lctx, entropy_mask, aux_loss

    def _surrogate(self, lctx: LossContext, entropy_mask):
        """Per-token loss (B, T) with the off-policy mask, entropy mask, module weights and KL inside."""
        lctx.ratio = L.importance_ratio(lctx.logps, lctx.old_logps, lctx.mask, self.importance_sampling_level)
        kl = None
        if self.beta != 0.0:
            kl = L.kl_k3(lctx.inputs["ref_per_token_logps"], lctx.logps)  # (B, T)
            kl = kl * lctx.ratio if self.args.use_bias_correction_kl else kl
        per_token, ratio = L.clipped_surrogate(
            lctx.ratio, lctx.advantages, self.epsilon_low, self.epsilon_high, self.args.delta
        )
        if self.off_policy_mask_threshold is not None:
            sampled = lctx.inputs.get("sampling_per_token_logps", lctx.old_logps)
            per_token = per_token * self.get_off_policy_mask(
                advantages=lctx.advantages, per_token_logps=lctx.logps, sampling_per_token_logps=sampled,
                mask=lctx.mask, off_policy_threshold=self.off_policy_mask_threshold,
            )  # fmt: skip
        if entropy_mask is not None:
            per_token = per_token * entropy_mask
        weights = self.explorer.token_weights(lctx)  # (B, T) or None
        if weights is not None:
            per_token = per_token * weights
        per_token = self.explorer.shape_token_loss(lctx, per_token)
        if kl is not None:
            per_token = per_token + self.beta * kl
        return per_token, ratio, kl

    def _aggregator(self, inputs: dict, mask: torch.Tensor, masked: bool = False):
        """aggregate(per_token, mask=None): reduce like this run's loss_type, GA-scaled (rlvr.loss.aggregate).

        With a module's `loss_mask`, dapo's normaliser counts the kept tokens of this micro-batch on every process
        (in place of the rollout's share of num_items_in_batch); grpo and bnpo count kept tokens by construction.
        """
        ga = self.current_gradient_accumulation_steps if self.model.training else None
        num_items = inputs["num_items_in_batch"]
        spg = self.args.steps_per_generation if self.model.training else 1
        if masked:
            num_items = self.accelerator.reduce(mask.sum().detach(), reduction="sum") * spg
        kw = dict(ga=ga, max_len=self.max_completion_length, num_items=num_items)
        kw.update(processes=self.accelerator.num_processes, spg=self.args.steps_per_generation)

        def aggregate(per_token, m=None, full=False):
            out = L.aggregate(per_token, mask if m is None else m, self.loss_type, **kw)
            return out if full else out[0]

        return aggregate

    # -- metrics ------------------------------------------------------------------------------------
    def _flush_explorer_metrics(self, mode: str) -> None:
        for name, values in self.explorer.pop_metrics().items():
            self._metrics[mode][f"explore/{name}"].extend(values)


def split_rows(batch: dict, parts: int) -> list[dict]:
    """Split every per-row entry into `parts` consecutive chunks whose sizes differ by at most one row.

    TRL's split_tensor_dict floors B / parts and silently drops the remainder, which variable group sizes would hit;
    with B divisible by `parts` the chunks are exactly TRL's. 0-dim tensors (num_items_in_batch) are shared.
    """
    n = next(len(v) for v in batch.values() if isinstance(v, list) or (isinstance(v, torch.Tensor) and v.dim() > 0))
    if n < parts:
        raise RLVRError(f"a rollout of {n} rows cannot fill {parts} micro-batches (steps_per_generation)")
    bounds = (
        [round(i * n / parts) for i in range(parts + 1)] if n % parts else [i * (n // parts) for i in range(parts + 1)]
    )
    out = []
    for a, b in zip(bounds, bounds[1:]):
        out.append(
            {
                k: v[a:b] if isinstance(v, list) or (isinstance(v, torch.Tensor) and v.dim() > 0) else v
                for k, v in batch.items()
            }
        )
    return out
