"""Which G of K scored completions `oversampling` keeps: the reward-variance and the answer-diversity rules.

Neither rule is in T1 (arXiv 2501.11651), which trains on all K; both are rlvr's (see oversampling.py).
"""

from __future__ import annotations

import statistics


def max_variance_subset(rewards: list[float], g: int) -> list[int]:
    """Indices of the size-g subset with the largest reward variance (top-a plus bottom-(g-a))."""
    order = sorted(range(len(rewards)), key=lambda i: (-rewards[i], i))
    best, best_var = order[:g], -1.0
    for a in range(g, -1, -1):  # a = g first, so ties keep the earliest draws
        idx = order[:a] + order[len(order) - (g - a) :]
        var = statistics.pvariance([float(rewards[i]) for i in idx]) if idx else 0.0
        if var > best_var + 1e-12:
            best, best_var = idx, var
    return sorted(best)


def max_diversity_subset(answers: list, texts: list[str], g: int) -> list[int]:
    """Distinct final answers first, then distinct completions, then the rest, in draw order."""
    chosen, seen_ans, seen_txt = [], set(), set()
    for rule in ("answer", "text", "any"):
        for i in range(len(texts)):
            if len(chosen) == g:
                return sorted(chosen)
            if (
                i in chosen
                or (rule == "answer" and answers[i] in seen_ans)
                or (rule == "text" and texts[i] in seen_txt)
            ):
                continue
            chosen.append(i)
            seen_ans.add(answers[i])
            seen_txt.add(texts[i])
    return sorted(chosen)
