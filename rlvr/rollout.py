"""rlvr's rollout step: sample -> score -> select -> advantages -> padded batch, with the modules' hooks between.

    ctx = RolloutContext(rows of this generation batch, group ids, step, ...)
    ctx.sampling = stack.sampling_kwargs(ctx)
    rollout      = stack.generate(ctx) or ctx.sample(ctx.rows)          # one completion per row
    rollout      = ctx.score(rollout)   (TRL's _calculate_rewards, then stack.shape_rewards)  unless already scored
    rollout      = stack.select_groups(ctx, rollout)                   # may drop / refill / resize groups
    advantages   = stack.shape_advantages(ctx, rollout, group advantages of rollout.rewards)
    batch        = padded tensors + old / ref log-probs of the kept rows + stack.annotate(ctx, batch)

Only the rows trained on reach TRL's logged metrics (`reward`, `frac_reward_zero_std`, `completions/*`,
`num_tokens`); every sampled token, kept or not, is counted in `sampled_tokens`. `diag/*` (rlvr/diagnostics.py)
are logged for every module.
"""

from __future__ import annotations

import random

import torch
from trl.data_utils import is_conversational
from trl.models.utils import disable_gradient_checkpointing
from trl.trainer.utils import pad, use_adapter

from rlvr.advantages import advantages as group_advantages
from rlvr.errors import RLVRError
from rlvr.exploration.context import Rollout, RolloutContext


class RolloutMixin:
    """The rollout half of RLVRTrainer (mixed into the GRPOTrainer subclass; reads TRL's public settings)."""

    def _generate_and_score_completions(self, inputs):
        if not self.model.training:  # TRL's evaluation loop (rlvr evaluates with its own sampler instead)
            return super()._generate_and_score_completions(inputs)
        ctx = self.rollout_context(inputs)
        ctx.sampling = self.explorer.sampling_kwargs(ctx)
        rollout = self.explorer.generate(ctx) or ctx.sample(ctx.rows, ctx.group_ids)
        if rollout.rewards is None:
            rollout = ctx.score(rollout)
        rollout = self.explorer.select_groups(ctx, rollout)
        self._check_rollout(rollout)
        batch = self._to_batch(rollout)
        adv, zero_std = self._advantages(rollout)
        batch["advantages"] = self.explorer.shape_advantages(ctx, rollout, adv)  # (B,) or (B, T)
        self._log_rollout(rollout, batch, zero_std)
        batch.update(self.explorer.annotate(ctx, batch))
        self._diag_rollout(rollout, batch)  # rlvr/diagnostics.py: B-STaR measures; rows tagged for the hidden states
        self._flush_explorer_metrics("train")
        return batch

    def rollout_context(self, rows: list[dict]) -> RolloutContext:
        g = self.num_generations
        return RolloutContext(
            step=self.state.global_step,
            num_generations=g,
            temperature=self.temperature,
            rows=rows,
            group_ids=[i // g for i in range(len(rows))],
            max_completion_length=self.max_completion_length,
            eos_token_ids=list(self.eos_token_ids),
            pad_token_id=self.processing_class.pad_token_id,
            tokenizer=self.processing_class,
            policy=self.accelerator.unwrap_model(self.model),
            frozen=self.frozen_policy,
            _engine=self,
        )

    # -- sampling and scoring -----------------------------------------------------------------------
    def sample_rollout(self, rows: list[dict], group_ids: list[int] | None, overrides: dict) -> Rollout:
        prompt_ids = self._tokenize_prompts([r["prompt"] for r in rows])[0]
        names = {"return_logprobs": "return_logprobs", "return_entropies": "return_entropy"}  # ours -> rlvr.sampling's
        want = {names[k]: overrides.pop(k) for k in names if k in overrides}
        lps = ents = None
        if self._fast_sampler_applies():
            res = self.sample(prompt_ids, **want, **overrides)
            ids, lps, ents = res.completion_ids, res.logprobs, res.entropies
        elif overrides:
            raise RLVRError(
                f"sampler overrides {sorted(overrides)} need sampler: fast (TRL's backends take one config)"
            )
        else:  # TRL's backend (generate / vLLM), through self so subclasses and profilers see the call
            ids, lps = self._generate_single_turn(prompt_ids, None, {}, self.num_generations)
            self.add_sampled_tokens(sum(len(x) for x in ids))
        g = self.num_generations
        group_ids = group_ids if group_ids is not None else [i // g for i in range(len(rows))]
        temp = overrides.get("temperature", self.temperature)
        return Rollout(rows, prompt_ids, ids, group_ids, logprobs=lps, entropies=ents, temperature=temp)

    def score_rollout(self, ctx: RolloutContext, rollout: Rollout) -> Rollout:
        rollout.completions = self._decode(rollout)
        prompts = [r["prompt"] for r in rollout.rows]
        rows = [dict(r) for r in rollout.rows]  # TRL's reward kwargs come from the row keys
        per_func = self._calculate_rewards(rows, prompts, rollout.completions, rollout.completion_ids)  # (N_glob, F)
        start = self.accelerator.process_index * len(rows)
        per_func = per_func[start : start + len(rows)]  # (N, F)
        rewards = (per_func * self.reward_weights.to(per_func.device).unsqueeze(0)).nansum(dim=1)  # (N,)
        rewards[torch.isnan(per_func).all(dim=1)] = torch.nan  # no function could score the row
        rollout.rewards_per_func, rollout.rewards = per_func, rewards
        rollout.rewards = self.explorer.shape_rewards(ctx, rollout)
        return rollout

    def _decode(self, rollout: Rollout) -> list:
        texts = self.processing_class.batch_decode(rollout.completion_ids, skip_special_tokens=True)
        if is_conversational({"prompt": rollout.rows[0]["prompt"]}):
            return [[{"role": "assistant", "content": t}] for t in texts]
        return texts

    def draw_rows(self, num_prompts: int) -> list[dict]:
        """Fresh training prompts, each repeated G times, from a seeded stream independent of TRL's sampler."""
        step = self.state.global_step
        calls = self._extra_rows[1] + 1 if self._extra_rows and self._extra_rows[0] == step else 0
        self._extra_rows = (step, calls)  # seeded by (seed, step, call): identical after a resume
        rng = random.Random(f"{self.args.seed}-{step}-{calls}")
        rows = [self.train_dataset[rng.randrange(len(self.train_dataset))] for _ in range(num_prompts)]
        return [dict(r) for r in rows for _ in range(self.num_generations)]

    def add_sampled_tokens(self, n: int) -> None:
        self._sampled_tokens += int(n)

    def _check_rollout(self, rollout: Rollout) -> None:
        if not len(rollout):
            raise RLVRError(
                f"exploration '{self.explorer.name}' left no rows to train on at step {self.state.global_step}"
            )
        if self.accelerator.num_processes > 1:  # TRL gathers rewards and counts row-aligned across processes
            n = self.accelerator.gather(torch.tensor([len(rollout)], device=self.accelerator.device))
            if n.min() != n.max():
                raise RLVRError(
                    f"exploration '{self.explorer.name}' gave processes different row counts {n.tolist()}; "
                    "with several processes every process must train on the same number of rows"
                )

    # -- the padded batch ---------------------------------------------------------------------------
    def _to_batch(self, rollout: Rollout) -> dict:
        dev, pid, mult = self.accelerator.device, self.processing_class.pad_token_id, self.pad_to_multiple_of

        def padded(lists, value, side, dtype=torch.long):
            return pad([torch.tensor(x, dtype=dtype) for x in lists], value, side, mult).to(dev)

        prompt_ids = padded(rollout.prompt_ids, pid, "left")  # (B, P)
        prompt_mask = padded([[1] * len(p) for p in rollout.prompt_ids], 0, "left")  # (B, P)
        completion_ids = padded(rollout.completion_ids, pid, "right")  # (B, C)
        completion_mask = padded([[1] * len(c) for c in rollout.completion_ids], 0, "right")  # (B, C)
        tool_mask = None if rollout.loss_mask is None else padded(rollout.loss_mask, 1, "right")  # (B, C)
        if self.mask_truncated_completions:
            stops = [*self.eos_token_ids, pid]
            kept = torch.tensor([ids[-1] in stops for ids in rollout.completion_ids], device=dev)  # (B,)
            completion_mask = completion_mask * kept.unsqueeze(1).int()
            tool_mask = None if tool_mask is None else tool_mask * kept.unsqueeze(1).int()
        loss_mask = completion_mask if tool_mask is None else completion_mask * tool_mask
        batch = dict(prompt_ids=prompt_ids, prompt_mask=prompt_mask, completion_ids=completion_ids)
        batch.update(completion_mask=completion_mask, num_items_in_batch=self.accelerator.gather(loss_mask.sum()).sum())
        if tool_mask is not None:
            batch["tool_mask"] = tool_mask
        if rollout.logprobs is not None:
            batch["sampling_per_token_logps"] = padded(rollout.logprobs, 0.0, "right", torch.float32)  # (B, C)
        batch.update(self._behaviour_logps(batch))
        return batch

    def _behaviour_logps(self, batch: dict) -> dict:
        """old_per_token_logps when updates go off-policy (TRL's rule), ref_per_token_logps when beta != 0."""
        ids = torch.cat([batch["prompt_ids"], batch["completion_ids"]], dim=1)  # (B, P + C)
        attn = torch.cat([batch["prompt_mask"], batch["completion_mask"]], dim=1)  # (B, P + C)
        keep, bs, out = batch["completion_ids"].size(1), self.args.per_device_train_batch_size, {}
        with torch.no_grad(), disable_gradient_checkpointing(self.model, self.args.gradient_checkpointing_kwargs):
            if self.args.gradient_accumulation_steps % (self.args.steps_per_generation * self.num_iterations):
                out["old_per_token_logps"] = self._get_per_token_logps_and_entropies(
                    self.model, ids, attn, keep, batch_size=bs
                )[0]
            if self.beta != 0.0:
                if self.ref_model is not None:
                    ref = self._get_per_token_logps_and_entropies(self.ref_model, ids, attn, keep, batch_size=bs)[0]
                else:  # LoRA: the adapter-disabled base (or the frozen "ref" adapter), as TRL
                    model = self.accelerator.unwrap_model(self.model)
                    with use_adapter(model, adapter_name="ref" if "ref" in model.peft_config else None):
                        ref = self._get_per_token_logps_and_entropies(self.model, ids, attn, keep, batch_size=bs)[0]
                out["ref_per_token_logps"] = ref
        return out

    def _advantages(self, rollout: Rollout):
        """Group advantages over all processes (groups never straddle processes), this process's slice."""
        acc, n = self.accelerator, len(rollout)
        offset = acc.process_index * (n + 1)
        gids = acc.gather(torch.tensor([g + offset for g in rollout.group_ids], device=acc.device)).tolist()
        rewards = acc.gather(rollout.rewards)  # (N_global,)
        per_func = acc.gather(rollout.rewards_per_func)  # (N_global, F)
        adv, zero_std = group_advantages(
            rewards, gids, self.scale_rewards, per_func, self.reward_weights, self.multi_objective_aggregation
        )
        self._all_advantages = adv
        start = acc.process_index * n
        return adv[start : start + n], zero_std
