"""RLVRTrainer: TRL's GRPOTrainer plus exploration hooks. The only place rlvr touches TRL internals.

Every experiment runs this loop; what varies is the exploration module (`rlvr/exploration/`), called at:

    _generate_single_turn             -> explorer.generate          (rollout; else rlvr's fast sampler or TRL's)
    _generate_and_score_completions   -> explorer.select_groups     (whole groups, before TRL's row shuffle)
                                      -> explorer.shape_advantages  ((B,) or (B, T))
    _compute_loss                     -> explorer.extra_loss        (added to TRL's loss, same GA scaling)

With the `none` module and `sampler: trl` this is exactly GRPOTrainer (tests/test_trainer.py checks the
loss trajectory). The TRL methods overridden here are pinned by tests/test_trl_seam.py (trl==1.16.*).
"""

from __future__ import annotations

import torch
from trl import GRPOTrainer

from rlvr import batch as B
from rlvr.errors import RLVRError
from rlvr.exploration.base import Explorer


class NonFiniteLossError(RLVRError):
    """Raised before the backward pass, so the parameters (and the last checkpoint) are still good."""


class RLVRTrainer(GRPOTrainer):
    def __init__(self, *args, explorer: Explorer | None = None, sampler: str = "fast", **kwargs):
        self.explorer = explorer if explorer is not None else Explorer()
        self.rlvr_sampler = sampler
        self._logps_cache = None
        self._last_rewards_per_func = None
        self._extra_rows = None
        self._sampled_tokens = 0  # sampled on this process since the last rollout batch was logged
        self.current_rows: list[dict] = []
        super().__init__(*args, **kwargs)
        self._check_whole_groups()
        self._check_unsharded()
        self.explorer.setup(self)

    def _check_whole_groups(self) -> None:
        # TRL gathers rewards before computing advantages, but the hooks (select_groups, generate) see only this
        # process's rows: with several processes every process must hold whole groups of num_generations rows.
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

    # -- rollout ------------------------------------------------------------------------------------
    def _generate_single_turn(self, prompt_ids, images, multimodal_fields, num_generations, has_tool_images=False):
        out = self.explorer.generate(prompt_ids)
        if out is not None:
            return out
        if self._fast_sampler_applies(images):
            res = self.sample(prompt_ids)
            return res.completion_ids, None
        out = super()._generate_single_turn(prompt_ids, images, multimodal_fields, num_generations, has_tool_images)
        self.add_sampled_tokens(sum(len(ids) for ids in out[0]))
        return out

    def add_sampled_tokens(self, n: int) -> None:
        """Count tokens a rollout sampled, kept or not (oversampling candidates, refills, LATR tree tokens)."""
        self._sampled_tokens += int(n)

    def _fast_sampler_applies(self, images) -> bool:
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

    # -- scoring and group selection ----------------------------------------------------------------
    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        self._last_rewards_per_func = rewards_per_func  # (N_global, n_funcs), kept for the hooks
        return rewards_per_func

    def _generate_and_score_completions(self, inputs):
        batch = self.generate_and_score(inputs)
        if not self.model.training:
            return batch
        n_before = batch["completion_mask"].sum()
        batch = self.explorer.select_groups(batch)
        batch["advantages"] = self.explorer.shape_advantages(batch["advantages"], batch)  # (B,) or (B, T)
        if batch["completion_mask"].sum() != n_before or "tool_mask" in batch:
            batch["num_items_in_batch"] = self.count_loss_tokens(batch)
        self._log_group_diversity(batch)
        self._log_sampled_tokens()
        self._flush_explorer_metrics("train")
        return batch

    def _log_sampled_tokens(self) -> None:
        """`sampled_tokens`: tokens sampled for this rollout batch on all processes (cost beyond what is trained on)."""
        local = torch.tensor([self._sampled_tokens], device=self.accelerator.device)
        self._sampled_tokens = 0
        self._metrics["train"]["sampled_tokens"].append(self.accelerator.gather(local).sum().item())

    def _log_group_diversity(self, batch: dict) -> None:
        """Distinct completions and final answers per group (/ G) of the rows trained on, for every module."""
        from rlvr.tasks.answer import extract_answer

        g = self.num_generations
        ids = (batch["completion_ids"] * batch["completion_mask"]).tolist()  # (B, C), pads zeroed
        texts = self.processing_class.batch_decode(ids, skip_special_tokens=True)
        groups = range(0, len(texts), g)
        comp = [len({tuple(x) for x in ids[i : i + g]}) / g for i in groups]
        ans = [len({extract_answer(t) for t in texts[i : i + g]} - {None}) / g for i in groups]
        self._metrics["train"]["diversity/distinct_completions"].append(sum(comp) / len(comp))
        self._metrics["train"]["diversity/distinct_answers"].append(sum(ans) / len(ans))

    def generate_and_score(self, rows: list[dict]) -> dict:
        """TRL's generate+score+advantage step on `rows` (prompts repeated G times), plus local `rewards` (B,)."""
        self.current_rows = rows
        batch = super()._generate_and_score_completions(rows)
        weights = self.reward_weights.to(self._last_rewards_per_func.device)
        rewards = (self._last_rewards_per_func * weights).nansum(dim=1)  # (N_global,)
        start = self.accelerator.process_index * len(rows)
        batch["rewards"] = rewards[start : start + len(rows)]  # (B,)
        return batch

    def count_loss_tokens(self, batch: dict) -> torch.Tensor:
        mask = batch["completion_mask"] * batch.get("tool_mask", 1)
        return self.accelerator.gather(mask.sum()).sum()

    def score(self, rows: list[dict], completions: list[str]) -> torch.Tensor:
        """Weighted reward of each (row, completion) on this process, without logging: (N,)."""
        keys = [k for k in rows[0] if k not in ("prompt", "completion", "completion_ids")]
        kwargs = {k: [r[k] for r in rows] for k in keys}
        prompts = [r["prompt"] for r in rows]
        cols = []
        for func in self.reward_funcs:
            out = func(
                prompts=prompts, completions=completions, completion_ids=None, trainer_state=self.state, **kwargs
            )
            cols.append(torch.tensor([torch.nan if v is None else v for v in out], dtype=torch.float32))
        per_func = torch.stack(cols, dim=1)  # (N, n_funcs)
        return (per_func * self.reward_weights.cpu()).nansum(dim=1)

    def draw_rows(self, num_prompts: int) -> list[dict]:
        """Fresh training prompts, each repeated G times, from a seeded stream independent of TRL's sampler."""
        step = self.state.global_step
        calls = self._extra_rows[1] + 1 if self._extra_rows and self._extra_rows[0] == step else 0
        self._extra_rows = (step, calls)  # seeded by (seed, step, call): identical after a resume
        rows = B.sample_rows(self.train_dataset, num_prompts, seed=f"{self.args.seed}-{step}-{calls}")
        return [dict(r) for r in rows for _ in range(self.num_generations)]

    # -- loss ---------------------------------------------------------------------------------------
    def _get_per_token_logps_and_entropies(self, model, input_ids, attention_mask, logits_to_keep, *args, **kwargs):
        out = super()._get_per_token_logps_and_entropies(
            model, input_ids, attention_mask, logits_to_keep, *args, **kwargs
        )
        if kwargs.get("compute_entropy") and torch.is_grad_enabled():
            self._logps_cache = out[:2]  # the training forward: (logps (B, T), entropies (B, T)), with grad
        return out

    def _compute_loss(self, model, inputs):
        self._logps_cache = None
        loss = super()._compute_loss(model, inputs)
        if self._logps_cache is not None:
            logps, entropies = self._logps_cache
            mask = inputs["completion_mask"] * inputs.get("tool_mask", 1)  # (B, T)
            extra = self.explorer.extra_loss(inputs, logps, entropies, mask)
            if extra is not None:
                loss = loss + extra
            self._logps_cache = None
        self._flush_explorer_metrics("train" if model.training else "eval")
        if not torch.isfinite(loss):
            raise NonFiniteLossError(
                f"loss is {loss.item()} at step {self.state.global_step}: training stopped before the update; "
                "lower train.learning_rate or check the exploration module's extra loss"
            )
        return loss

    def aggregate(self, per_token: torch.Tensor, mask: torch.Tensor, inputs: dict) -> torch.Tensor:
        """Reduce a (B, T) per-token term exactly like TRL's policy loss for this loss_type (GA-scaled)."""
        ga = self.current_gradient_accumulation_steps if self.model.training else 1.0
        if self.loss_type in ("grpo", "sapo"):
            return ((per_token * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)).mean() / ga
        if self.loss_type == "luspo":  # sequence sums, not length-normalized (TRL scales each sequence by its length)
            return (per_token * mask).sum(-1).mean() / ga
        if self.loss_type == "bnpo":
            return (per_token * mask).sum() / mask.sum().clamp(min=1.0) / ga
        if self.loss_type == "dr_grpo":
            return (per_token * mask).sum() / (per_token.size(0) * self.max_completion_length) / ga
        normalizer = inputs["num_items_in_batch"].clamp(min=1.0) / self.accelerator.num_processes
        if self.model.training:
            normalizer = normalizer * ga / self.args.steps_per_generation
        return (per_token * mask).sum() / normalizer

    # -- metrics ------------------------------------------------------------------------------------
    def _flush_explorer_metrics(self, mode: str) -> None:
        for name, values in self.explorer.pop_metrics().items():
            self._metrics[mode][f"explore/{name}"].extend(values)
