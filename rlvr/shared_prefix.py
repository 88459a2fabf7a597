"""Shared-prefix training forward: each distinct prompt of a batch runs through the model once, not once per copy.

A GRPO batch repeats every prompt `num_generations` times, and TRL's training forward encodes every copy. Here the
policy runs in two calls of its own HF forward:

    prefix   the U distinct (prompt, prompt mask) rows -> KV cache (with grad) + logits of the last prompt position
    expand   cache rows indexed out to the B batch rows (U -> B); backward sums the copies' gradients into the one
             prompt pass
    suffix   the B completions against that cache -> logits of completion positions 0..T-2

Positions (0..P+T-1, as TRL's forward without position_ids), masks, weights and temperature are TRL's, so log-probs
and entropies equal `GRPOTrainer._get_per_token_logps_and_entropies` up to float rounding, and so do the gradients
(tests/test_shared_prefix.py). This is the Shared-Prefix Forward of Prefix Grouper (Liu et al. 2025,
arXiv:2506.05433), which splits attention into prefix and suffix parts; a KV cache with grad does the same through
the model's own forward, so any HF causal LM with a `DynamicCache` works. The saving is the prompt's share of the
training forward and backward times (1 - 1/G): on countdown (prompts ~2.5x the completion length) most of it.

It steps aside (TRL's forward runs) when nothing is shared, for multimodal or MoE-aux inputs, under gradient
checkpointing (HF drops the cache there), and when the two calls' full logits (B x T x V floats) would exceed
`MAX_LOGIT_ELEMENTS`: TRL's fused head scores large vocabularies in chunks without materialising them.
Written by hand: neither TRL nor transformers shares prompts in the training forward.
"""

from __future__ import annotations

import torch
from transformers import DynamicCache
from trl.trainer.utils import selective_log_softmax_and_entropy

MAX_LOGIT_ELEMENTS = 2**27  # 512 MB of float32 logits


def prompt_groups(prompt_ids: torch.Tensor, prompt_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The distinct (prompt, mask) rows (U, 2P) and each batch row's index into them (B,)."""
    return torch.unique(torch.cat([prompt_ids, prompt_mask], 1), dim=0, return_inverse=True)


def shared_prefix_logps(model, input_ids, attention_mask, logits_to_keep: int, temperature: float, on_prefix=None):
    """Per-token log-probs and entropies (B, T), T = logits_to_keep, zero where the completion is padding.

    `model` is called twice (through any wrapper, e.g. DDP); `on_prefix` is a context manager factory that marks
    the prefix call (diagnostics hooks skip it)."""
    import contextlib

    P = input_ids.size(1) - logits_to_keep
    prompt, pmask, completion = input_ids[:, :P], attention_mask[:, :P], input_ids[:, P:]  # (B, P), (B, P), (B, T)
    uniq, inverse = prompt_groups(prompt, pmask)  # (U, 2P), (B,)
    cache = DynamicCache(config=_config(model))
    with on_prefix() if on_prefix else contextlib.nullcontext():
        first = model(input_ids=uniq[:, :P], attention_mask=uniq[:, P:], past_key_values=cache, use_cache=True,
                      logits_to_keep=1).logits[:, -1]  # (U, V)  # fmt: skip
    cache.batch_select_indices(inverse)  # (U, ...) -> (B, ...): differentiable indexing
    keep = torch.arange(logits_to_keep - 1, device=completion.device)  # (T - 1,) the last position predicts nothing
    rest = model(input_ids=completion, attention_mask=attention_mask, past_key_values=cache, use_cache=True,
                 logits_to_keep=keep).logits  # (B, T - 1, V)  # fmt: skip
    logits = torch.cat([first[inverse, None], rest], dim=1)  # (B, T, V): position t predicts completion token t
    logps, entropies = selective_log_softmax_and_entropy(logits.float(), completion, temperature=temperature)
    pad = attention_mask[:, P:] == 0  # (B, T) TRL scores padding as 0
    return logps.masked_fill(pad, 0.0), entropies.masked_fill(pad, 0.0)


def _config(model):
    inner = getattr(model, "module", model)  # DDP
    return getattr(inner, "config", None)


class SharedPrefixMixin:
    """RLVRTrainer's half: route `_get_per_token_logps_and_entropies` through the shared-prefix forward."""

    shared_prefix = False
    _in_prefix_forward = False

    def _shared_prefix_applies(self, input_ids, logits_to_keep, compute_aux_loss, extra: dict) -> bool:
        if not self.shared_prefix or compute_aux_loss or any(v is not None for v in extra.values()):
            return False
        if self.args.gradient_checkpointing or logits_to_keep < 2 or logits_to_keep >= input_ids.size(1):
            return False
        vocab = self.accelerator.unwrap_model(self.model).config.get_text_config().vocab_size
        if input_ids.size(0) * logits_to_keep * vocab > MAX_LOGIT_ELEMENTS:
            return False
        P = input_ids.size(1) - logits_to_keep
        return len(torch.unique(input_ids[:, :P], dim=0)) < input_ids.size(0)  # something to share

    def _get_per_token_logps_and_entropies(
        self, model, input_ids, attention_mask, logits_to_keep, batch_size=None, compute_entropy=False,
        compute_aux_loss=False, **extra,
    ):  # fmt: skip
        if not self._shared_prefix_applies(input_ids, logits_to_keep, compute_aux_loss, extra):
            return super()._get_per_token_logps_and_entropies(
                model, input_ids, attention_mask, logits_to_keep, batch_size=batch_size,
                compute_entropy=compute_entropy, compute_aux_loss=compute_aux_loss, **extra,
            )  # fmt: skip
        with self.accelerator.autocast():
            logps, entropies = shared_prefix_logps(
                model, input_ids, attention_mask, logits_to_keep, self.temperature, self._prefix_marker
            )
        return logps, (entropies if compute_entropy else None), None

    def _prefix_marker(self):
        import contextlib

        @contextlib.contextmanager
        def mark():
            self._in_prefix_forward = True
            try:
                yield
            finally:
                self._in_prefix_forward = False

        return mark()
