"""Batched lookahead-tree sampling for LATR (arXiv 2510.24302; code starreeze/latr), on one shared KV cache.

Every prompt grows a greedy decoding tree that forks into the runner-up token where the model is torn between two,
prunes forks whose continuation stays too close to their parent's, then finishes the surviving branches by
ordinary sampling. The rules and knobs are documented on `rlvr.exploration.latr.Latr`.

    out = tree_sample(model, [[1, 5, 7], [1, 9]], n_tree=4, max_new_tokens=32, eos_token_ids=2, pad_token_id=0,
                      temperature=1.0, generator=torch.Generator().manual_seed(0))
    out.completion_ids[0]  # exactly 4 token lists for prompt 0, each cut right after its first EOS
    out.stats              # raw counts: candidates, suppressed, compared, pruned, tree_tokens, ...

Cache rows are the live branches, all advancing in lockstep (step t writes position prompt_len + t). A fork
duplicates its parent's row and a finished or pruned branch drops its row, both with one
`Cache.batch_select_indices(index)` (a repeated index copies a row; checked against uncached greedy decoding in
tests/test_latr.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from rlvr.decoding import Decoder
from rlvr.sampling import (
    _eval_mode,
    _left_pad,
    sample,
)

# The authors' thresholds per pruning criterion (Countdown: edit; Math: suffix and rouge_l).
PRUNE_DEFAULTS = {"edit": 0.4, "suffix": 0.2, "rouge_l": 0.5}


# -- similarity of two token windows (pure Python: r <= ~50 ints, so no library is worth a dependency) ---------
def levenshtein(a: list[int], b: list[int]) -> int:
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


def lcs_length(a: list[int], b: list[int]) -> int:
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, 1):
            cur.append(prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1]))
        prev = cur
    return prev[-1]


def _longest_suffix_in(a: list[int], b: list[int]) -> int:
    """Length of the longest suffix of `a` that occurs contiguously in `b`."""
    for k in range(len(a), 0, -1):
        if any(b[i : i + k] == a[-k:] for i in range(len(b) - k + 1)):
            return k
    return 0


def suffix_match(a: list[int], b: list[int]) -> float:
    return max(_longest_suffix_in(a, b), _longest_suffix_in(b, a)) / max(len(a), 1)


def rouge_l(a: list[int], b: list[int]) -> float:
    lcs = lcs_length(a, b)
    if lcs == 0:
        return 0.0
    prec, rec = lcs / len(a), lcs / len(b)
    return 2 * prec * rec / (prec + rec)


def too_similar(a: list[int], b: list[int], prune: str, threshold: float) -> bool:
    """The lookahead pruning test on a child's window `a` and its parent's window `b` (same length r)."""
    if prune == "edit":
        return levenshtein(a, b) / len(a) < threshold
    if prune == "suffix":
        return suffix_match(a, b) > threshold
    return rouge_l(a, b) > threshold


# -- branching ----------------------------------------------------------------------------------------------
def spawn_mask(top_probs: torch.Tensor, tau_abs: float, tau_rel: float) -> torch.Tensor:
    """(b, m) raw top-m probabilities -> (b, m-1): candidate j >= 2 forks iff p_j > tau_abs and p_1 - p_j < tau_rel."""
    return (top_probs[:, 1:] > tau_abs) & (top_probs[:, :1] - top_probs[:, 1:] < tau_rel)


def allocate(candidates: list[tuple], counts: list[int], capacity: int) -> tuple[list[tuple], int]:
    """Grant (rank, branch_id, prompt, ...) candidates while their prompt has < capacity branches.

    Returns (granted, n_suppressed).

    Sorted by (rank, branch id), as the authors do: runner-ups before third choices, older branches first.
    """
    granted = []
    for cand in sorted(candidates, key=lambda c: (c[0], c[1])):
        if counts[cand[2]] < capacity:
            counts[cand[2]] += 1
            granted.append(cand)
    return granted, len(candidates) - len(granted)


@dataclass
class Branch:
    prompt: int
    parent: int | None
    birth: int  # step at which its first own token (the fork candidate) was chosen
    tokens: list[int] = field(default_factory=list)
    logps: list[float] = field(default_factory=list)  # under the policy at the sampling temperature
    finished: bool = False
    pruned: bool = False
    children: list[int] = field(default_factory=list)


@dataclass
class TreeOutput:
    completion_ids: list[list[list[int]]]  # per prompt, exactly n_tree completions: surviving branches, then fill
    logprobs: list[list[list[float]]]  # same layout: per-token log-probs at the sampling temperature
    stats: dict = field(default_factory=dict)


def tree_sample(
    model,
    prompt_ids: list[list[int]],
    *,
    n_tree: int,
    max_new_tokens: int,
    eos_token_ids: list[int] | int,
    pad_token_id: int,
    temperature: float,
    max_branch_per_token: int = 2,
    tau_abs: float = 0.25,
    tau_rel: float = 0.15,
    lookahead: tuple[int, ...] = (4, 8),
    prune: str = "edit",
    prune_threshold: float | None = None,
    force_return_step: int | None = None,
    fill: str = "root",
    generator: torch.Generator | None = None,
) -> TreeOutput:
    """Grow one tree per (unique) prompt and return n_tree completions each; see the module docstring."""
    if n_tree < 1 or max_new_tokens < 1 or temperature <= 0 or max_branch_per_token < 1:
        raise ValueError("n_tree, max_new_tokens and max_branch_per_token must be >= 1 and temperature > 0")
    if prune not in PRUNE_DEFAULTS or fill not in ("root", "iid"):
        raise ValueError(f"prune must be one of {list(PRUNE_DEFAULTS)} and fill 'root' or 'iid'")
    eos = {eos_token_ids} if isinstance(eos_token_ids, int) else set(eos_token_ids)
    thr = PRUNE_DEFAULTS[prune] if prune_threshold is None else prune_threshold
    force = max_new_tokens if force_return_step is None else force_return_step
    st = dict.fromkeys(("candidates", "suppressed", "compared", "pruned", "tree_tokens", "generated_tokens"), 0)
    with _eval_mode(model), torch.inference_mode():
        ids, mask = _left_pad(prompt_ids, pad_token_id, model.device)  # (n, P)
        n, P = ids.shape
        full_mask = torch.ones((n, P + max_new_tokens), dtype=torch.long, device=ids.device)  # (n, P+N)
        full_mask[:, :P] = mask
        plen = mask.sum(1)  # (n,) positions count real tokens only, as in rlvr.sampling
        dec = Decoder(model, P + max_new_tokens)
        logits = dec.prefill(ids, mask)  # (n, V) prefill of the roots
        br = [Branch(i, None, 0) for i in range(n)]
        rows = list(range(n))  # branch id of each cache row
        counts = [1] * n  # non-pruned branches per prompt; pruning frees capacity, as in the authors' code
        in_tree, tree_len = True, 0
        for t in range(max_new_tokens):
            in_tree = in_tree and t < force and not _tree_done(br, counts, n_tree, t, max(lookahead, default=0))
            z = logits.float()  # (b, V)
            logp = (z / temperature).log_softmax(-1)  # (b, V) the sampling policy, for the off-policy log
            if in_tree:
                tree_len += 1
                st["tree_tokens"] += len(rows)
                tok = z.argmax(-1)  # (b,) tree branches are greedy (same argmax as rlvr.sampling greedy)
            else:
                tok = torch.multinomial(logp.exp(), 1, generator=generator).squeeze(1)  # (b,)
            tok_lp = logp.gather(1, tok[:, None]).squeeze(1)  # (b,)
            st["generated_tokens"] += len(rows)
            for b_id, x, lp in zip(rows, tok.tolist(), tok_lp.tolist()):
                br[b_id].tokens.append(x)
                br[b_id].logps.append(lp)
                br[b_id].finished = x in eos
            new: list[int] = []
            if in_tree:
                _prune(br, counts, lookahead, t, eos, prune, thr, st)
                new = _spawn(br, rows, counts, z, logp, t, n_tree, max_branch_per_token, tau_abs, tau_rel, eos, st)
            keep = [i for i, b in enumerate(rows) if not (br[b].finished or br[b].pruned)]
            index = keep + [rows.index(br[c].parent) for c in new if not br[c].finished]
            rows = [rows[i] for i in keep] + [c for c in new if not br[c].finished]
            if t == max_new_tokens - 1 or not rows:
                break
            if index != list(range(len(tok))):
                dec.select(torch.tensor(index, device=ids.device))  # a repeated index = a forked row
            prow = torch.tensor([br[b].prompt for b in rows], device=ids.device)  # (b,)
            nxt = torch.tensor([br[b].tokens[-1] for b in rows], device=ids.device)  # (b,)
            logits = dec.step(nxt, full_mask[prow, : P + t + 1], plen[prow] + t)  # (b, V)
    st.update(tree_phase_len=tree_len, prompts=n, n_tree=n_tree)
    return _assemble(model, prompt_ids, br, n_tree, fill, max_new_tokens, eos, pad_token_id, temperature, generator, st)


def _tree_done(br: list[Branch], counts: list[int], n_tree: int, t: int, max_r: int) -> bool:
    """Every prompt full or finished, and no lookahead check pending (a fork born at s is last checked at s+max_r)."""
    live = [b for b in br if not b.pruned]
    unfinished = {b.prompt for b in live if not b.finished}
    if any(counts[i] < n_tree for i in unfinished):
        return False
    return not any(b.parent is not None and not b.finished and t <= b.birth + max_r for b in live)


def _prune(br, counts, lookahead, t, eos, prune, thr, st) -> None:
    """Compare each fork born at t-r with its parent over the r tokens after the fork; prune its subtree if alike."""
    for b in br:
        if b.parent is None or b.pruned:
            continue
        for r in lookahead:
            s = b.birth
            if t != s + r or len(b.tokens) <= s + r or len(br[b.parent].tokens) <= s + r:
                continue
            a, p = b.tokens[s + 1 : s + r + 1], br[b.parent].tokens[s + 1 : s + r + 1]  # the r tokens after the fork
            if eos & set(a) or eos & set(p):
                continue
            st["compared"] += 1
            if too_similar(a, p, prune, thr):
                st["pruned"] += 1
                stack = [b]
                while stack:  # the child and all its descendants
                    d = stack.pop()
                    if not d.pruned:
                        d.pruned, counts[d.prompt] = True, counts[d.prompt] - 1
                        stack.extend(br[c] for c in d.children)
                break


def _spawn(br, rows, counts, z, logp, t, n_tree, m, tau_abs, tau_rel, eos, st) -> list[int]:
    """Fork every (branch, candidate) passing the probability filter, within capacity; return the new branch ids."""
    if m < 2:
        return []
    top_p, top_i = z.softmax(-1).topk(m, dim=-1)  # (b, m) raw distribution, no temperature (as the authors)
    hits = spawn_mask(top_p, tau_abs, tau_rel).nonzero().tolist()  # [(row, j-2)]
    top_i = top_i.tolist()
    cands = []
    for row, j in hits:
        parent = br[rows[row]]
        if not parent.pruned and top_i[row][j + 1] != parent.tokens[-1]:  # a tie with the argmax is no fork
            cands.append((j + 1, rows[row], parent.prompt, row, top_i[row][j + 1]))
    st["candidates"] += len(cands)
    granted, suppressed = allocate(cands, counts, n_tree)
    st["suppressed"] += suppressed
    new = []
    for _, pid, prompt, row, c in granted:
        parent = br[pid]
        child = Branch(prompt, pid, t, parent.tokens[:-1] + [c], parent.logps[:-1] + [logp[row, c].item()])
        child.finished = c in eos
        parent.children.append(len(br))
        new.append(len(br))
        br.append(child)
        st["generated_tokens"] += 1
    return new


def _assemble(model, prompt_ids, br, n_tree, fill, max_new, eos, pad, temperature, generator, st) -> TreeOutput:
    comps = [[b for b in br if b.prompt == i and not b.pruned] for i in range(len(prompt_ids))]  # root first
    st["branches"] = sum(len(c) for c in comps)
    ids = [[b.tokens for b in c] + [br[i].tokens] * (n_tree - len(c)) for i, c in enumerate(comps)]
    lps = [[b.logps for b in c] + [br[i].logps] * (n_tree - len(c)) for i, c in enumerate(comps)]
    missing = [i for i, c in enumerate(comps) for _ in range(n_tree - len(c))]
    if fill == "iid" and missing:  # replace the root duplicates by fresh i.i.d. samples
        kw = dict(eos_token_ids=list(eos), pad_token_id=pad, temperature=temperature, generator=generator)
        extra = sample(model, [prompt_ids[i] for i in missing], max_new_tokens=max_new, return_logprobs=True, **kw)
        st["generated_tokens"] += extra.num_generated_tokens
        slot = [len(c) for c in comps]  # next fill slot of each prompt
        for i, c, lp in zip(missing, extra.completion_ids, extra.logprobs):
            ids[i][slot[i]], lps[i][slot[i]] = c, lp
            slot[i] += 1
    return TreeOutput(ids, lps, st)
