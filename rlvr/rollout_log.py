"""Metrics of the rows trained on, under TRL's names (`completions/*`, `rewards/*`, `reward`, `frac_reward_zero_std`,
`num_tokens`) plus rlvr's (`sampled_tokens`, `diversity/*`). Logged once per rollout from the final batch, so
candidates a module sampled and dropped never reach them (they count only in `sampled_tokens`).
"""

from __future__ import annotations

import torch
from accelerate.utils import gather_object
from trl.trainer.utils import nanstd


class RolloutLogMixin:
    def _log_rollout(self, rollout, batch: dict, zero_std: torch.Tensor) -> None:
        metrics = self._metrics["train"]
        self._log_lengths(rollout, metrics)
        for i, name in enumerate(self.reward_func_names):
            col = self.accelerator.gather(rollout.rewards_per_func[:, i])  # (N_global,)
            metrics[f"rewards/{name}/mean"].append(torch.nanmean(col).item())
            metrics[f"rewards/{name}/std"].append(nanstd(col).item())
        rewards = self.accelerator.gather(rollout.rewards)  # (N_global,)
        metrics["reward"].append(torch.nanmean(rewards).item())
        metrics["reward_std"].append(nanstd(rewards).item())
        metrics["frac_reward_zero_std"].append(zero_std.float().mean().item())
        self._log_tables(rollout)
        self._log_group_diversity(rollout)
        local = torch.tensor([self._sampled_tokens], device=self.accelerator.device)
        self._sampled_tokens = 0
        metrics["sampled_tokens"].append(self.accelerator.gather(local).sum().item())

    def _log_lengths(self, rollout, metrics) -> None:
        dev = self.accelerator.device
        prompt_len = self.accelerator.gather(torch.tensor([len(p) for p in rollout.prompt_ids], device=dev))
        ids = rollout.completion_ids
        lengths = [len(c) for c in ids] if rollout.loss_mask is None else [sum(m) for m in rollout.loss_mask]
        comp_len = self.accelerator.gather(torch.tensor(lengths, device=dev))
        self.state.num_input_tokens_seen += (prompt_len.sum() + comp_len.sum()).item()  # tokens trained on
        metrics["num_tokens"] = [self.state.num_input_tokens_seen]
        metrics["completions/mean_length"].append(comp_len.float().mean().item())
        metrics["completions/min_length"].append(comp_len.float().min().item())
        metrics["completions/max_length"].append(comp_len.float().max().item())
        stops = [*self.eos_token_ids, self.processing_class.pad_token_id]
        truncated = self.accelerator.gather(torch.tensor([c[-1] not in stops for c in ids], device=dev))
        metrics["completions/clipped_ratio"].append(truncated.float().mean().item())
        term = comp_len[~truncated]
        term = term if len(term) else torch.zeros(1, device=dev)
        metrics["completions/mean_terminated_length"].append(term.float().mean().item())
        metrics["completions/min_terminated_length"].append(term.float().min().item())
        metrics["completions/max_terminated_length"].append(term.float().max().item())

    def _log_tables(self, rollout) -> None:
        """TRL's completion table and the metrics reward functions logged with `log_metric` / `log_extra`."""
        self._logs["prompt"].extend(gather_object([r["prompt"] for r in rollout.rows]))
        self._logs["completion"].extend(gather_object(rollout.completions))
        per_func = self.accelerator.gather(rollout.rewards_per_func)
        for i, name in enumerate(self.reward_func_names):
            self._logs["rewards"][name].extend(per_func[:, i].tolist())
        self._logs["advantages"].extend(self._all_advantages.tolist())
        for column in sorted(set(gather_object(list(self._pending_extra_logs)))):
            values = self._pending_extra_logs.get(column, [None] * len(rollout))
            self._logs["extra"][column].extend(gather_object(values))
        self._pending_extra_logs.clear()
        for name in sorted(set(gather_object(list(self._pending_metrics)))):
            values = self._pending_metrics.get(name, [])
            stats = torch.tensor([sum(values), len(values)], dtype=torch.float32, device=self.accelerator.device)
            total, count = self.accelerator.gather(stats).view(-1, 2).sum(dim=0).tolist()
            self._metrics["train"][name].append(total / count)
        self._pending_metrics.clear()

    def _log_group_diversity(self, rollout) -> None:
        """Distinct completions and final answers per group (/ group size) of the rows trained on."""
        from rlvr.tasks.answer import extract_answer

        texts = rollout.completions
        texts = [t[0]["content"] if isinstance(t, list) else t for t in texts]
        comp, ans = [], []
        for rows in rollout.groups():
            comp.append(len({tuple(rollout.completion_ids[i]) for i in rows}) / len(rows))
            ans.append(len({extract_answer(texts[i]) for i in rows} - {None}) / len(rows))
        self._metrics["train"]["diversity/distinct_completions"].append(sum(comp) / len(comp))
        self._metrics["train"]["diversity/distinct_answers"].append(sum(ans) / len(ans))
