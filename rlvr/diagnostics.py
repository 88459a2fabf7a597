"""Diagnostics every run logs under `diag/`, whatever the module (`none` included), from tensors the step computes.

- `diag/effective_rank`: Roy & Vetterli (2007) effective rank, as the VERL paper uses it (Huang et al. 2025,
  arXiv 2509.23808), of each group's H (g, d): row i is completion i's mean last-layer hidden state over its
  completion tokens (`completion_mask`; a row it zeroes, e.g. mask_truncated_completions, adds no singular value).
  sigma = singular values of H, p = sigma / sum(sigma), erank = exp(-sum p log p), in [1, min(g, d)]; mean over groups.
  H is not centred: Roy & Vetterli's definition on the matrix itself (whether VERL centres: NOT FOUND — ours; VERL
  takes the rank over one response's tokens, ours is across a group's completions). The states come from a forward
  hook on the backbone during the training forward (`_loss_context`), detached: no extra forward, no RNG, same
  numerics. Rows are matched to groups through `diag_row` (TRL shuffles rows across micro-batches); the value is
  logged once a rollout's rows have all been through the loss (its first pass, each micro-batch's policy), i.e.
  at the rollout's last micro-batch: a step after its other metrics when steps_per_generation > 1.
- B-STaR (Zeng et al. 2024, arXiv 2412.17256): exploration = diverse responses, exploitation = "the effectiveness
  of external rewards in distinguishing high-quality candidates from lower-quality ones". Here correct = the
  `correctness` reward is 1 (not logged in runs without it). `diag/distinct_correct_answers`: per group, the number
  of distinct final answers (`extract_answer`) among correct completions, mean over groups (at most 1 on
  single-answer tasks such as addition); `diag/distinct_correct_completions`: distinct correct token sequences
  (B-STaR's exact counting unit: NOT FOUND — ours). `diag/reward_auc` (ours; B-STaR scores a reward model's
  selections, which a verifier makes trivially right): per group with both, the AUC P(r_correct > r_wrong) +
  0.5 P(tie) of the weighted reward GRPO normalises (after module shaping), mean over those groups (1 with the
  verifier alone; below 1 when shaping rewards outrank correctness). NaN (dropped by TRL's log) if no group has both.
- Cost (M7 of exploration-methods.md §0.3), unchanged: `sampled_tokens` per rollout batch (rlvr/rollout_log.py)
  and TRL's `step_time` per optimizer step.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import torch

CORRECTNESS = "correctness"


def effective_rank(h: torch.Tensor) -> float:
    """exp(entropy of the normalised singular values) of h (g, d); NaN for a zero matrix."""
    s = torch.linalg.svdvals(h.double())  # (min(g, d),)
    if s.sum() <= 0:
        return math.nan
    p = s / s.sum()
    p = p[p > 0]
    return math.exp(-(p * p.log()).sum().item())


def distinct_correct(keys: list, correct: list[bool], groups: list[list[int]]) -> list[int]:
    """Per group: how many distinct `keys` (answers, token tuples) its correct rows have."""
    return [len({keys[i] for i in rows if correct[i]} - {None}) for rows in groups]


def reward_auc(rewards: list[float], correct: list[bool], groups: list[list[int]]) -> list[float]:
    """Per group holding correct and wrong rows: P(r_correct > r_wrong) + 0.5 P(tie) over its (correct, wrong) pairs."""
    out = []
    for rows in groups:
        pos = [rewards[i] for i in rows if correct[i]]
        neg = [rewards[i] for i in rows if not correct[i]]
        if pos and neg:
            wins = sum((a > b) + 0.5 * (a == b) for a in pos for b in neg)
            out.append(wins / (len(pos) * len(neg)))
    return out


class DiagnosticsMixin:
    """The trainer's half: `_diag_rollout` after each rollout, `_diag_hidden_states` around the training forward."""

    _diag = None  # this rollout's pending effective-rank state

    def _diag_mean(self, name: str, values: list[float]) -> None:
        """Log the mean of `values` over all processes (every process calls it; NaN when nobody has a value)."""
        stats = torch.tensor([sum(values), len(values)], dtype=torch.float64, device=self.accelerator.device)
        total, count = self.accelerator.gather(stats).view(-1, 2).sum(dim=0).tolist()
        self._metrics["train"][name].append(total / count if count else math.nan)

    def _diag_rollout(self, rollout, batch: dict) -> None:
        """B-STaR measures of the rows trained on; tag the batch rows for the effective rank."""
        groups = rollout.groups()
        n = len(rollout)
        batch["diag_row"] = torch.arange(n, device=self.accelerator.device)  # (B,) survives TRL's shuffle
        self._diag = dict(groups=groups, rows=n, feats=None, seen=0)
        if CORRECTNESS not in self.reward_func_names:
            return
        from rlvr.tasks.answer import extract_answer

        col = rollout.rewards_per_func[:, self.reward_func_names.index(CORRECTNESS)]  # (B,)
        correct = (col >= 1.0).tolist()  # NaN (unscored) is not correct
        texts = [t[-1]["content"] if isinstance(t, list) else t for t in rollout.completions]
        answers = [extract_answer(t) for t in texts]
        seqs = [tuple(ids) for ids in rollout.completion_ids]
        self._diag_mean("diag/distinct_correct_answers", distinct_correct(answers, correct, groups))
        self._diag_mean("diag/distinct_correct_completions", distinct_correct(seqs, correct, groups))
        self._diag_mean("diag/reward_auc", reward_auc(rollout.rewards.tolist(), correct, groups))

    @contextmanager
    def _diag_hidden_states(self, model, inputs: dict):
        """Collect each row's mean completion hidden state from the forward run inside this block (detached)."""
        state = self._diag
        if state is None or "diag_row" not in inputs or not self.model.training:
            yield
            return
        mask = inputs["completion_mask"]  # (B, C)
        chunks = []  # (rows (b,), mean completion hidden state (b, d)) per forward call

        def hook(module, args, output):
            part = getattr(self, "_forward_rows", None)  # set by the compact forward (compact_forward.py)
            if isinstance(part, str):  # its prompt pass: no completion positions
                return
            hs = output.last_hidden_state if hasattr(output, "last_hidden_state") else output[0]  # (b, S, d)
            if part is None:  # a forward over prompt + completion of consecutive rows
                start = sum(len(r) for r, _ in chunks)
                rows = torch.arange(start, start + hs.size(0), device=hs.device)  # (b,)
                hs = hs[:, -mask.size(1) :]  # (b, C, d)
            else:  # a bucket of rows `part`, completions only, cut to the bucket's length
                rows = part
            m = mask[rows, : hs.size(1)].to(hs.dtype)  # (b, C')
            with torch.no_grad():
                total = torch.bmm(m.unsqueeze(1), hs.detach()).squeeze(1).float()  # (b, d)
                chunks.append((rows, total / m.sum(-1, keepdim=True).clamp(min=1).float()))  # (b, d)

        handle = _backbone(self.accelerator.unwrap_model(model)).register_forward_hook(hook)
        try:
            yield
        finally:
            handle.remove()
        if chunks:
            rows = torch.cat([r for r, _ in chunks])  # (b,) the micro-batch's rows the forward calls saw (all of them)
            feats = torch.cat([f for _, f in chunks])  # (b, d)
            ordered = feats.new_zeros(mask.size(0), feats.size(1))  # (B, d): an unseen row adds no singular value
            ordered[rows] = feats
            self._diag_collect(state, inputs["diag_row"], ordered)

    def _diag_collect(self, state: dict, rows: torch.Tensor, feats: torch.Tensor) -> None:
        """Store this micro-batch's rows; after the first pass over the rollout, log the mean group rank."""
        if state["feats"] is None:
            state["feats"] = feats.new_zeros(state["rows"], feats.size(1))  # (N, d)
        state["feats"][rows] = feats
        state["seen"] += len(rows)  # the first pass splits a permutation: no row twice
        if state["seen"] >= state["rows"]:
            self._diag = None  # later passes (num_iterations > 1) add nothing
            h = state["feats"].cpu()  # (N, d)
            ranks = [effective_rank(h[g]) for g in state["groups"]]
            self._diag_mean("diag/effective_rank", [r for r in ranks if not math.isnan(r)])


def _backbone(model):
    """The decoder stack whose output is the last hidden state (what TRL's fused LM head projects)."""
    lm = model.get_base_model() if hasattr(model, "get_base_model") else model  # PEFT: the causal LM inside
    return lm.base_model
