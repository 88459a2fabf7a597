"""Compact training forward: each distinct prompt encoded once, each completion only up to its own length.

A GRPO batch repeats every prompt `num_generations` times and pads every completion to the longest of the batch;
TRL's training forward encodes all of it. Here the policy runs in its own HF forward, in parts:

    prefix    the U distinct (prompt, prompt mask) rows -> KV cache (with grad) + logits of the last prompt position
    buckets   rows sorted by completion length, cut into buckets of ROWS_PER_BUCKET; each bucket's rows get their
              prompts' cache rows (indexing: backward sums the copies' gradients into the one prompt pass) and run
              their completions truncated to the bucket's longest real completion
    scatter   log-probs and entropies back into (B, T), 0 on padding as TRL scores it

Positions (0..P+T-1, as TRL's forward without position_ids), masks, weights and temperature are TRL's, and causal
attention means a position never sees the padding after it, so log-probs, entropies and gradients equal
`GRPOTrainer._get_per_token_logps_and_entropies` up to float rounding (tests/test_compact_forward.py). The prompt
part is the Shared-Prefix Forward of Prefix Grouper (Liu et al. 2025, arXiv:2506.05433), done here with a KV cache
with grad instead of split attention, so any HF causal LM with plain `DynamicCache` layers works. It saves the
prompt's share of the forward and backward (1 - 1/G of it) and the padding of short completions.

It steps aside (TRL's forward runs) when nothing is shared, for multimodal or MoE-aux inputs, under gradient
checkpointing (HF drops the cache there), for caches with other layer kinds (sliding windows), and when the logits
of a call (rows x T x V floats) would exceed `MAX_LOGIT_ELEMENTS`: TRL's fused head scores large vocabularies in
chunks without materialising them. Written by hand: neither TRL nor transformers trims or shares in this forward.
"""

from __future__ import annotations

import contextlib

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer
from trl.trainer.utils import selective_log_softmax_and_entropy

MAX_LOGIT_ELEMENTS = 2**27  # 512 MB of float32 logits
ROWS_PER_BUCKET = 8  # one forward call per bucket: fewer rows trim more padding, more calls cost more Python


def prompt_groups(prompt_ids: torch.Tensor, prompt_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The distinct (prompt, mask) rows (U, 2P) and each batch row's index into them (B,)."""
    return torch.unique(torch.cat([prompt_ids, prompt_mask], 1), dim=0, return_inverse=True)


def completion_lengths(completion_mask: torch.Tensor) -> torch.Tensor:
    """(B,) one past the last attended completion position (0 for an empty completion)."""
    T = completion_mask.size(1)
    positions = torch.arange(1, T + 1, device=completion_mask.device)  # (T,)
    return (completion_mask.to(positions.dtype) * positions).amax(dim=1)  # (B,)


def buckets(lengths: torch.Tensor, rows: int = ROWS_PER_BUCKET) -> list[torch.Tensor]:
    """Row indices sorted by length, longest first, in chunks of `rows` (the last may be smaller)."""
    order = torch.argsort(lengths, descending=True, stable=True)  # (B,)
    return list(order.split(rows))


def compact_logps(
    model, input_ids, attention_mask, logits_to_keep: int, temperature: float, mark=None, rows=ROWS_PER_BUCKET
):
    """Per-token log-probs and entropies (B, T), T = logits_to_keep, 0 where the completion is padding.

    `model` is called through any wrapper (e.g. DDP). `mark(part)` is a context-manager factory around each call:
    part "prompt" for the prompt pass, else the bucket's row indices (the diagnostics hook reads them)."""
    mark = mark or (lambda part: contextlib.nullcontext())
    B, T = input_ids.size(0), logits_to_keep
    P = input_ids.size(1) - T
    prompt, pmask, completion = input_ids[:, :P], attention_mask[:, :P], input_ids[:, P:]  # (B, P), (B, P), (B, T)
    uniq, inverse = prompt_groups(prompt, pmask)  # (U, 2P), (B,)
    config = _config(model)
    cache = DynamicCache(config=config)
    with mark("prompt"):
        first = model(input_ids=uniq[:, :P], attention_mask=uniq[:, P:], past_key_values=cache, use_cache=True,
                      logits_to_keep=1).logits[:, -1]  # (U, V)  # fmt: skip
    kv = [(layer.keys, layer.values) for layer in cache.layers]  # (U, Hkv, P, D) each
    logps = first.new_zeros((B, T), dtype=torch.float32)  # (B, T)
    ents = first.new_zeros((B, T), dtype=torch.float32)  # (B, T)
    lengths = completion_lengths(attention_mask[:, P:])  # (B,)
    for idx in buckets(lengths, rows):
        L = max(int(lengths[idx].max()), 1)
        sel = inverse[idx]  # (n,) each row's prompt
        # A bucket of one-token completions needs no logits beyond the prompt pass's, but its forward still runs
        # (L - 1 = 0 logits kept): the diagnostics hook reads every row's completion hidden state from these calls.
        part = DynamicCache(config=config)
        for i, (k, v) in enumerate(kv):
            part.update(k[sel], v[sel], i)  # (n, Hkv, P, D): differentiable copies of the prompt rows
        keep = torch.arange(L - 1, device=completion.device)  # (L - 1,) the last position predicts nothing
        ids, attn = completion[idx, :L], attention_mask[idx, : P + L]  # (n, L), (n, P + L)
        with mark(idx):
            rest = model(input_ids=ids, attention_mask=attn, past_key_values=part, use_cache=True,
                         logits_to_keep=keep).logits  # (n, L - 1, V)  # fmt: skip
        logits = torch.cat([first[sel, None], rest], dim=1)  # (n, L, V): position t predicts completion token t
        lp, en = selective_log_softmax_and_entropy(logits.float(), completion[idx, :L], temperature=temperature)
        logps[idx, :L] = lp  # (n, L)
        ents[idx, :L] = en  # (n, L)
    pad = attention_mask[:, P:] == 0  # (B, T) TRL scores padding as 0
    return logps.masked_fill(pad, 0.0), ents.masked_fill(pad, 0.0)


def _config(model):
    return getattr(getattr(model, "module", model), "config", None)  # through DDP


def plain_cache(config) -> bool:
    """Whether this model's cache is plain full-attention layers (what the bucket copies assume)."""
    return all(type(layer) is DynamicLayer for layer in DynamicCache(config=config).layers)


class CompactForwardMixin:
    """RLVRTrainer's half: route `_get_per_token_logps_and_entropies` through the compact forward where it applies."""

    compact_forward = False
    _forward_rows = None

    def _compact_forward_applies(self, input_ids, logits_to_keep, compute_aux_loss, extra: dict) -> bool:
        if not self.compact_forward or compute_aux_loss or any(v is not None for v in extra.values()):
            return False
        if self.args.gradient_checkpointing or logits_to_keep < 2 or logits_to_keep >= input_ids.size(1):
            return False
        config = self.accelerator.unwrap_model(self.model).config
        if input_ids.size(0) * logits_to_keep * config.get_text_config().vocab_size > MAX_LOGIT_ELEMENTS:
            return False
        P = input_ids.size(1) - logits_to_keep
        shared = len(torch.unique(input_ids[:, :P], dim=0)) < input_ids.size(0)
        return shared and plain_cache(config)

    def _get_per_token_logps_and_entropies(
        self, model, input_ids, attention_mask, logits_to_keep, batch_size=None, compute_entropy=False,
        compute_aux_loss=False, **extra,
    ):  # fmt: skip
        if not self._compact_forward_applies(input_ids, logits_to_keep, compute_aux_loss, extra):
            return super()._get_per_token_logps_and_entropies(
                model, input_ids, attention_mask, logits_to_keep, batch_size=batch_size,
                compute_entropy=compute_entropy, compute_aux_loss=compute_aux_loss, **extra,
            )  # fmt: skip
        with self.accelerator.autocast():
            logps, entropies = compact_logps(
                model, input_ids, attention_mask, logits_to_keep, self.temperature, self._forward_part
            )
        return logps, (entropies if compute_entropy else None), None

    @contextlib.contextmanager
    def _forward_part(self, part):
        """Which part of the batch the model call inside sees: "prompt", or a bucket's row indices."""
        self._forward_rows = part
        try:
            yield
        finally:
            self._forward_rows = None
