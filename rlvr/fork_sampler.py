"""Entropy-fork tree sampling for ETTRL's ETMR (arXiv 2508.11356), on one shared KV cache.

Per prompt: M roots sampled i.i.d. in one batch; per root the N highest-entropy positions (`fork_points`); at each
fork B branches that share the root's prefix and continue to the end. Leaves per prompt: M (1 + B N).

    out = fork_sample(model, [[1, 5, 7]], trees=2, forks=3, branches=1, max_new_tokens=32, eos_token_ids=2,
                      pad_token_id=0, temperature=1.0, generator=torch.Generator().manual_seed(0))
    out.completion_ids[0]  # 8 leaves: per tree [root, fork 1's B branches, fork 2's, ...]
    out.generated_tokens   # new tokens only: a shared prefix counts once, in its root

One decoding loop, all rows in lockstep (step s writes cache column P + s). When a root finishes, its fork points
are known: its cache row is duplicated once per branch (`Decoder.select`, a repeated index) and the branches join
the batch at the next step, while other roots still run; finished rows leave the batch. A branch whose prefix is
root[:k] re-feeds the prefix's last token at its own position (k - 1, or the last prompt token when k = 0) with the
attention mask hiding the root's columns from k - 1 on, so it sees exactly prompt + root[:k]: one extra forward
per branch, no recomputed prefix (tests/test_zoo2_ettrl_tree.py checks the log-probs against a plain forward).
Sampling follows rlvr.sampling: tempered, top-k / top-p filtered; log-probs of the filtered, entropies of the
tempered unfiltered distribution.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rlvr.decoding import Decoder
from rlvr.sampling import COMPACT_FRACTION, _eval_mode, _left_pad, draw


@dataclass
class ForkOutput:
    completion_ids: list[list[list[int]]]  # per prompt, M (1 + B N) leaves: per tree [root, branches by fork rank]
    logprobs: list[list[list[float]]]  # same layout, sampler log-probs per token (prefix: the root's)
    entropies: list[list[list[float]]]  # same layout, sampler entropies per token
    prefix_lens: list[list[int]]  # same layout: tokens a leaf shares with its root (0 for roots)
    fork_positions: list[list[int]]  # per root (prompt-major): its N fork positions, by entropy rank
    generated_tokens: int  # newly sampled tokens: roots plus each branch's own continuation


def fork_points(entropies: list[float], valid: list[bool], n: int, min_gap: int = 1) -> list[int]:
    """The n fork positions of one root: valid positions by descending entropy (ties: the earlier position), each
    at least `min_gap` from those already chosen; if that leaves fewer than n, the skipped ones fill up in entropy
    order, and fewer than n valid positions repeat cyclically. No valid position: [] (the caller re-samples from 0).
    """
    order = sorted((i for i, ok in enumerate(valid) if ok), key=lambda i: -entropies[i])  # stable: ties by position
    chosen: list[int] = []
    for i in order:
        if len(chosen) < n and all(abs(i - j) >= min_gap for j in chosen):
            chosen.append(i)
    chosen += [i for i in order if i not in chosen][: n - len(chosen)]
    return [chosen[j % len(chosen)] for j in range(n)] if chosen else []


def fork_sample(
    model,
    prompt_ids: list[list[int]],
    *,
    trees: int,
    forks: int,
    branches: int,
    max_new_tokens: int,
    eos_token_ids: list[int] | int,
    pad_token_id: int,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    resample_fork_token: bool = True,
    min_fork_gap: int = 1,
    special_token_ids=(),
    generator: torch.Generator | None = None,
) -> ForkOutput:
    """M = `trees` roots per prompt, N = `forks` fork points per root, B = `branches` per fork (module docstring).

    resample_fork_token: a branch re-draws the token at the fork (prefix root[:f]); False: it keeps it (prefix
    root[:f + 1]) and diverges after. Fork candidates exclude EOS, pad and `special_token_ids` (and, when the token
    is kept, the last allowed position, which would leave nothing to generate).
    """
    if min(trees, forks, branches, max_new_tokens) < 1 or temperature <= 0 or min_fork_gap < 1:
        raise ValueError("trees, forks, branches, max_new_tokens and min_fork_gap must be >= 1, temperature > 0")
    eos = {eos_token_ids} if isinstance(eos_token_ids, int) else set(eos_token_ids)
    special = eos | {pad_token_id} | {int(x) for x in special_token_ids}
    samp, N = (temperature, top_k, top_p, generator), max_new_tokens
    with _eval_mode(model), torch.inference_mode():
        ids, mask = _left_pad([p for p in prompt_ids for _ in range(trees)], pad_token_id, model.device)  # (R, P)
        (R, P), dev = ids.shape, ids.device
        dec = Decoder(model, P + 2 * N)
        logits = dec.prefill(ids, mask)  # (R, V)
        masks = torch.cat([mask, mask.new_ones((R, 2 * N))], 1)  # (b, P+2N) attention mask of each cache row
        plen, last = mask.sum(1).tolist(), ids[:, -1].tolist()  # per root: prompt length, last prompt token
        leaves = [[r, 0, [], [], []] for r in range(R)]  # [root, prefix length k, tokens, logps, entropies]
        kids, fps = [[] for _ in range(R)], [[] for _ in range(R)]  # per root: its branches' leaf ids, fork points
        live, col = list(range(R)), P  # leaf id of each cache row (None: finished, not dropped yet); columns written
        while True:
            tok, lp, ent = draw(logits, *samp)
            feed, pos, spawn = [pad_token_id] * len(live), [0] * len(live), []  # spawn: (row, leaf id, k)
            for i, (li, x, a, e) in enumerate(zip(live, tok.tolist(), lp.tolist(), ent.tolist())):
                if li is None:
                    continue
                r, k, toks, lps, ents = leaves[li]
                toks.append(x), lps.append(a), ents.append(e)
                if x not in eos and len(toks) < N:
                    feed[i], pos[i] = x, plen[r] + len(toks) - 1
                    continue
                live[i] = None
                if li < R:  # a finished root: fork it
                    valid = [t not in special and (resample_fork_token or j + 1 < N) for j, t in enumerate(toks)]
                    fps[r] = fork_points(ents, valid, forks, min_fork_gap)
                    for kk in [f + (not resample_fork_token) for f in fps[r]] or [0] * forks:  # none: from scratch
                        for _ in range(branches):
                            kids[r].append(len(leaves))
                            spawn.append((i, len(leaves), kk))
                            leaves.append([r, kk, toks[:kk], lps[:kk], ents[:kk]])
            alive = [i for i, li in enumerate(live) if li is not None]
            if not alive and not spawn:
                break
            if spawn or len(live) - len(alive) >= COMPACT_FRACTION * len(live):  # one gather: drop and fork rows
                index = alive + [i for i, _, _ in spawn]
                dec.select(torch.tensor(index, device=dev))  # a repeated index forks a root's row
                masks = masks[torch.tensor(index, device=dev)]
                live, feed, pos = [live[i] for i in alive], [feed[i] for i in alive], [pos[i] for i in alive]
                for j, (_, li, k) in enumerate(spawn):  # re-feed the prefix's last token at its own position
                    r = leaves[li][0]
                    live.append(li), feed.append(leaves[r][2][k - 1] if k else last[r]), pos.append(plen[r] + k - 1)
                    masks[len(alive) + j, P + k - 1 : col] = 0  # hide the root from its column k - 1 on
            logits = dec.step(torch.tensor(feed, device=dev), masks[:, : col + 1], torch.tensor(pos, device=dev))
            col += 1
    gen_tokens = sum(len(t) - k for _, k, t, _, _ in leaves)
    order = [[li for r in range(p * trees, (p + 1) * trees) for li in [r, *kids[r]]] for p in range(len(prompt_ids))]
    field = lambda j: [[leaves[li][j] for li in grp] for grp in order]  # noqa: E731
    return ForkOutput(field(2), field(3), field(4), field(1), fps, gen_tokens)
