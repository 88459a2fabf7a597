"""Fast i.i.d. sampling from small causal LMs: a tight KV-cache decoding loop for rollouts and evaluation.

HF `generate` pays several milliseconds of Python per step (logits processors, stopping criteria, kwargs
plumbing), which dominates on tiny models. `sample` does only what rollouts need: left-pad, one prefill (each
distinct prompt once), then one-token steps through `rlvr.decoding.Decoder`, with sampling on-device and
finished rows dropped from the batch.

    out = sample(model, [[1, 5, 7], [1, 9]], max_new_tokens=32, eos_token_ids=2, pad_token_id=0,
                 temperature=1.0, generator=torch.Generator().manual_seed(0), return_logprobs=True)
    out.completion_ids  # list of token lists, each cut right after its first EOS (EOS kept, as TRL does)

Greedy outputs equal `model.generate` greedy token for token (tests/test_sampling.py). Logprobs are under the
sampling distribution (tempered, top-k/top-p filtered); entropies are of the tempered, unfiltered
distribution. With `greedy=True` both use the tempered distribution (temperature defaults to 1).
`hf_generate` has the same signature and output and calls `model.generate`, for comparison and as a fallback.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from rlvr.decoding import Decoder

# How often (in steps) to check whether every row has finished. On CPU the check is ~free; it also
# decides when finished rows are dropped from the batch.
CHECK_EVERY = 4
# Finished rows are dropped from the batch (one cache gather per layer) once this fraction of live rows is done;
# 1/4 measured best on addition rollouts (benchmarks/rollout_throughput.py --model ...).
COMPACT_FRACTION = 0.25


@contextmanager
def _eval_mode(model):
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


@dataclass
class SampleOutput:
    completion_ids: list[list[int]]
    logprobs: list[list[float]] | None = None
    entropies: list[list[float]] | None = None
    num_generated_tokens: int = 0


def _left_pad(prompt_ids: list[list[int]], pad_token_id: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    if not prompt_ids or any(len(p) == 0 for p in prompt_ids):
        raise ValueError("prompt_ids must be a non-empty list of non-empty token lists")
    width = max(len(p) for p in prompt_ids)
    ids = torch.full((len(prompt_ids), width), pad_token_id, dtype=torch.long)  # (B, P)
    mask = torch.zeros((len(prompt_ids), width), dtype=torch.long)  # (B, P)
    for i, p in enumerate(prompt_ids):
        ids[i, width - len(p) :] = torch.tensor(p, dtype=torch.long)
        mask[i, width - len(p) :] = 1
    return ids.to(device), mask.to(device)


def filter_logits(logits: torch.Tensor, top_k: int = 0, top_p: float = 1.0) -> torch.Tensor:
    """Top-k then top-p (nucleus) filtering by setting logits to -inf, in HF's order and with HF's tie rules."""
    if top_k > 0 and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]  # (B, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, sorted_idx = torch.sort(logits, descending=False)  # (B, V)
        cum = sorted_logits.softmax(-1).cumsum(-1)  # (B, V)
        remove = cum <= 1 - top_p
        remove[..., -1] = False  # always keep the most likely token
        logits = logits.masked_fill(remove.scatter(-1, sorted_idx, remove), float("-inf"))
    return logits


def draw(logits, temperature, top_k=0, top_p=1.0, gen=None, *, greedy=False, logprobs=True, entropy=True):
    """One token per row of `logits` (b, V): (token (b,), log-prob under the filtered tempered distribution or None,
    entropy of the tempered unfiltered distribution or None). Greedy takes the argmax at temperature 1."""
    z = logits.float() / (1.0 if greedy else temperature)  # (b, V)
    zf = z if greedy else filter_logits(z, top_k, top_p)  # (b, V)
    tok = z.argmax(-1) if greedy else torch.multinomial(zf.softmax(-1), 1, generator=gen).squeeze(1)  # (b,)
    lp = zf.log_softmax(-1).gather(1, tok[:, None]).squeeze(1) if logprobs else None  # (b,)
    ent = z.logsumexp(-1) - (z.softmax(-1) * z).sum(-1) if entropy else None  # (b,) H = lse - E_p[z]
    return tok, lp, ent


def _finish(tokens: torch.Tensor, lps, ents, eos: torch.Tensor) -> SampleOutput:
    """Cut each row right after its first EOS and move to Python lists."""
    is_eos = torch.isin(tokens, eos)  # (B, N)
    n = tokens.shape[1]
    first = torch.where(is_eos.any(1), is_eos.int().argmax(1) + 1, n).tolist()  # (B,)
    rows = tokens.tolist()
    completion_ids = [r[:k] for r, k in zip(rows, first)]
    logprobs = [r[:k] for r, k in zip(lps.tolist(), first)] if lps is not None else None
    entropies = [r[:k] for r, k in zip(ents.tolist(), first)] if ents is not None else None
    return SampleOutput(completion_ids, logprobs, entropies, sum(first))


def _check_args(temperature, greedy: bool, max_new_tokens: int) -> None:
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    if isinstance(temperature, (int, float)):
        temps = [temperature]
    else:
        temps = [float(x) for x in temperature]
        if len(temps) != max_new_tokens:
            raise ValueError(
                f"a per-position temperature needs one value per new token ({max_new_tokens}), got {len(temps)}"
            )
    if not greedy and min(temps) <= 0:
        raise ValueError(f"temperature must be > 0 when sampling (use greedy=True for argmax), got {min(temps)}")


def _temperature_at(temperature, t: int) -> float:
    """The temperature of completion position t: a float, or entry t of a per-position schedule."""
    return temperature if isinstance(temperature, (int, float)) else float(temperature[t])


def sample(
    model,
    prompt_ids: list[list[int]],
    *,
    max_new_tokens: int,
    eos_token_ids: list[int] | int,
    pad_token_id: int,
    temperature: float | Sequence[float] = 1.0,
    top_p: float = 1.0,
    top_k: int = 0,
    greedy: bool = False,
    generator: torch.Generator | None = None,
    return_logprobs: bool = False,
    return_entropy: bool = False,
) -> SampleOutput:
    """Sample one completion per prompt with a KV cache; see the module docstring.

    `temperature` is a float, or one value per completion position (length max_new_tokens) for schedules that
    anneal along the completion (EAD); log-probs and entropies are those of the tempered distribution at each
    position, i.e. of the behaviour policy.
    """
    _check_args(temperature, greedy, max_new_tokens)
    with _eval_mode(model), torch.inference_mode():
        return _sample(
            model,
            prompt_ids,
            max_new_tokens,
            eos_token_ids,
            pad_token_id,
            temperature,
            top_p,
            top_k,
            greedy,
            generator,
            return_logprobs,
            return_entropy,
        )


def _sample(model, prompt_ids, max_new, eos_ids, pad, temperature, top_p, top_k, greedy, gen, want_lp, want_ent):
    device = model.device
    ids, mask = _left_pad(prompt_ids, pad, device)  # (B, P)
    B, P = ids.shape
    eos = torch.tensor([eos_ids] if isinstance(eos_ids, int) else list(eos_ids), device=device)  # (E,)
    # Preallocated mask: slicing it each step is cheaper than growing it with torch.cat.
    full_mask = torch.ones((B, P + max_new), dtype=torch.long, device=device)  # (B, P+N)
    full_mask[:, :P] = mask
    last_pos = mask.sum(1) - 1  # (B,) position of the last prompt token (positions count real tokens only)
    dec = Decoder(model, P + max_new)
    logits = dec.prefill(ids, mask)  # (B, V)
    tokens = torch.full((B, max_new), pad, dtype=torch.long, device=device)  # (B, N)
    lps = torch.zeros((B, max_new), device=device) if want_lp else None  # (B, N)
    ents = torch.zeros((B, max_new), device=device) if want_ent else None  # (B, N)
    rows = torch.arange(B, device=device)  # (b,) original row of each live row
    finished = torch.zeros(B, dtype=torch.bool, device=device)  # (b,)
    for t in range(max_new):
        temp = _temperature_at(temperature, t)
        tok, lp, ent = draw(logits, temp, top_k, top_p, gen, greedy=greedy, logprobs=want_lp, entropy=want_ent)
        tok = tok.masked_fill(finished, pad)  # (b,) finished rows keep emitting pad (their lp / ent are cut later)
        tokens[rows, t] = tok
        if want_lp:
            lps[rows, t] = lp
        if want_ent:
            ents[rows, t] = ent
        finished = finished | torch.isin(tok, eos)  # (b,)
        if t == max_new - 1:
            break
        if (t + 1) % CHECK_EVERY == 0:
            n_done = int(finished.sum())
            if n_done == len(rows):
                break
            if n_done >= COMPACT_FRACTION * len(rows):
                keep = (~finished).nonzero().squeeze(1)  # (b',)
                dec.select(keep)
                rows, finished, tok, last_pos = rows[keep], finished[keep], tok[keep], last_pos[keep]
                full_mask = full_mask[keep]
        logits = dec.step(tok, full_mask[:, : P + t + 1], last_pos + t + 1)  # (b, V)
    return _finish(tokens, lps, ents, eos)


def hf_generate(
    model,
    prompt_ids: list[list[int]],
    *,
    max_new_tokens: int,
    eos_token_ids: list[int] | int,
    pad_token_id: int,
    temperature: float = 1.0,
    top_p: float = 1.0,
    top_k: int = 0,
    greedy: bool = False,
    generator: torch.Generator | None = None,
    return_logprobs: bool = False,
    return_entropy: bool = False,
) -> SampleOutput:
    """Same contract as `sample`, via `model.generate` (seeded from `generator` through a forked global RNG)."""
    _check_args(temperature, greedy, max_new_tokens)
    if not isinstance(temperature, (int, float)):
        raise ValueError("hf_generate takes one temperature; per-position schedules need rlvr.sampling.sample")
    ids, mask = _left_pad(prompt_ids, pad_token_id, model.device)  # (B, P)
    eos_list = [eos_token_ids] if isinstance(eos_token_ids, int) else list(eos_token_ids)
    sampling = {} if greedy else {"temperature": temperature, "top_k": top_k, "top_p": top_p}
    seed = int(torch.randint(0, 2**62, (1,), generator=generator)) if generator is not None else None
    with _eval_mode(model), torch.inference_mode(), torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        out = model.generate(
            input_ids=ids,
            attention_mask=mask,
            do_sample=not greedy,
            max_new_tokens=max_new_tokens,
            pad_token_id=pad_token_id,
            eos_token_id=eos_list,
            return_dict_in_generate=True,
            output_scores=return_logprobs,
            output_logits=return_entropy,
            **sampling,
        )
    tokens = out.sequences[:, ids.shape[1] :]  # (B, N)
    lps = ents = None
    if return_logprobs:
        scores = torch.stack(out.scores, 1).float()  # (B, N, V) processed (tempered, filtered) logits
        lps = scores.log_softmax(-1).gather(2, tokens[..., None]).squeeze(2)  # (B, N)
    if return_entropy:
        z = torch.stack(out.logits, 1).float() / (1.0 if greedy else temperature)  # (B, N, V)
        ents = z.logsumexp(-1) - (z.softmax(-1) * z).sum(-1)  # (B, N)
    return _finish(tokens, lps, ents, torch.tensor(eos_list, device=tokens.device))


def sample_in_batches(model, prompt_ids: list[list[int]], batch_size: int = 256, *, fn=sample, **kw) -> SampleOutput:
    """Run `fn` (default `sample`) over `prompt_ids` in chunks of `batch_size` and concatenate the results."""
    parts = [fn(model, prompt_ids[i : i + batch_size], **kw) for i in range(0, len(prompt_ids), batch_size)]
    cat = lambda name: None if getattr(parts[0], name) is None else [x for p in parts for x in getattr(p, name)]  # noqa: E731
    return SampleOutput(
        cat("completion_ids"), cat("logprobs"), cat("entropies"), sum(p.num_generated_tokens for p in parts)
    )
