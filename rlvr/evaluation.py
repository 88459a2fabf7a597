"""Evaluation: unbiased pass@k plus the metrics needed to compare exploration techniques honestly.

pass@k alone rewards diversity and pass@1 alone rewards collapse, so `evaluate_samples` reports both together
with entropy, distinct completions/answers and the zero-reward-variance split (problems where GRPO gets no
signal because all n samples agree).

    metrics = evaluate(model, tokenizer, rows, verify=task.verify, extract_answer=task.extract_answer, n_samples=16)
    metrics["pass@1"], metrics["pass@16"], metrics["greedy_accuracy"], metrics["frac_all_wrong"]

Every returned value is a plain float/int, so the dict can go straight to JSON. `pass@1_sd` is the s.d. of pass@1
from the sampling alone, on the fixed problems (`rlvr.stats.pass1_sampling_sd`).

`make_evaluator(recipe, task, tokenizer, max_new_tokens)` builds the run's evaluator from the recipe's `eval:` block:
calling it runs the periodic evaluation; its `.final` runs the step-0 and final one (`eval.final`: e.g. all 256
committed problems x 64 samples, pass@1..64), which summary.json reports.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from functools import partial

import torch

from rlvr.sampling import sample_in_batches


def _check(n: int, c: int, k: int) -> None:
    if n < 0 or c < 0 or k < 0:
        raise ValueError(f"n, c, k must be non-negative, got n={n}, c={c}, k={k}")
    if c > n or k > n:
        raise ValueError(f"need c <= n and k <= n, got n={n}, c={c}, k={k}")


def pass_at_k(n: int, c: int, k: int) -> float:
    """P(at least one of k samples drawn without replacement from n, c correct, is correct): 1 - C(n-c,k)/C(n,k)."""
    _check(n, c, k)
    if n - c < k:
        return 1.0
    # Product form avoids huge binomials: C(n-c,k)/C(n,k) = prod_{i=n-c+1}^{n} (1 - k/i).
    prob_all_wrong = 1.0
    for i in range(n - c + 1, n + 1):
        prob_all_wrong *= 1.0 - k / i
    return 1.0 - prob_all_wrong


def worst_at_k(n: int, c: int, k: int) -> float:
    """P(all k samples drawn without replacement are correct) = C(c,k)/C(n,k)."""
    _check(n, c, k)
    if k > c:
        return 0.0
    prob = 1.0
    for i in range(k):  # C(c,k)/C(n,k) = prod_{i<k} (c-i)/(n-i)
        prob *= (c - i) / (n - i)
    return prob


def _norm(text: str) -> str:
    return " ".join(text.split())


def evaluate_samples(
    completions_per_problem: list[list[str]],
    correct: list[list[float]],
    ks: Sequence[int] = (1, 2, 4, 8, 16),
    entropies: list[list[float]] | None = None,
    answers: list[list[str | None]] | None = None,
) -> dict:
    """Aggregate n samples per problem; `correct[i][j]` is a reward, counted correct when > 0.5.

    `entropies` is one list of per-token entropies per sample, flattened over problems (token-weighted mean).
    """
    if len(completions_per_problem) != len(correct) or not correct:
        raise ValueError("completions_per_problem and correct must be non-empty and of equal length")
    n = len(correct[0])
    if any(len(r) != n for r in correct) or any(len(c) != n for c in completions_per_problem):
        raise ValueError("every problem needs the same number of samples n")
    num_correct = [sum(1 for r in rewards if r > 0.5) for rewards in correct]
    out: dict = {f"pass@{k}": sum(pass_at_k(n, c, k) for c in num_correct) / len(correct) for k in ks if k <= n}
    all_same = [len(set(r)) == 1 for r in correct]
    out["frac_zero_std"] = sum(all_same) / len(correct)
    out["frac_all_correct"] = sum(c == n for c in num_correct) / len(correct)
    out["frac_all_wrong"] = sum(c == 0 for c in num_correct) / len(correct)
    out["distinct_completions"] = sum(len({_norm(c) for c in comps}) / n for comps in completions_per_problem) / len(
        correct
    )
    if answers is not None:
        out["distinct_answers"] = sum(len({a for a in ans if a is not None}) / n for ans in answers) / len(answers)
    if entropies is not None:
        num_tokens = sum(len(e) for e in entropies)
        out["entropy"] = sum(sum(e) for e in entropies) / num_tokens if num_tokens else 0.0
    if n > 1:  # unbiased p(1 - p) per problem, c (n - c) / (n (n - 1)), over P^2 n: the variance of pass@1
        p1_var = sum(c * (n - c) for c in num_correct) / (n * (n - 1)) / (len(correct) ** 2 * n)
        out["pass@1_sd"] = math.sqrt(p1_var)
    out["mean_length"] = sum(len(c) for comps in completions_per_problem for c in comps) / (n * len(correct))
    out["num_problems"] = len(correct)
    out["num_samples"] = n
    return out


def _encode_prompt(tokenizer, prompt) -> list[int]:
    """Token ids of a plain prompt, or of a chat prompt (list of messages) through the chat template, as TRL does."""
    if isinstance(prompt, str):
        return tokenizer(prompt)["input_ids"]
    ids = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=True)
    return list(ids["input_ids"] if hasattr(ids, "keys") else ids)  # transformers 5 returns a BatchEncoding


def evaluate(
    model,
    tokenizer,
    dataset_rows: list[dict],
    verify: Callable[[str, dict], float],
    extract_answer: Callable[[str], str | None],
    *,
    n_samples: int = 16,
    ks: Sequence[int] = (1, 2, 4, 8, 16),
    temperature: float = 1.0,
    max_new_tokens: int = 64,
    batch_size: int = 256,
    seed: int = 0,
    greedy: bool = True,
) -> dict:
    """Sample `n_samples` completions per row, verify them and aggregate (see `evaluate_samples`).

    A row's `prompt` is a string or a list of chat messages (`rlvr.prompts`, applied with the chat template).

    `mean_length` is in characters; `generated_tokens` counts sampled tokens (EOS included), greedy ones too.
    """
    t0 = time.perf_counter()
    eos = tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    kw = dict(max_new_tokens=max_new_tokens, eos_token_ids=eos, pad_token_id=pad, batch_size=batch_size)
    prompts = [_encode_prompt(tokenizer, row["prompt"]) for row in dataset_rows]
    repeated = [p for p in prompts for _ in range(n_samples)]  # each prompt n times, consecutively
    gen = torch.Generator().manual_seed(seed)
    out = sample_in_batches(model, repeated, temperature=temperature, generator=gen, return_entropy=True, **kw)
    texts = [tokenizer.decode(ids, skip_special_tokens=True) for ids in out.completion_ids]
    by_problem = [texts[i * n_samples : (i + 1) * n_samples] for i in range(len(dataset_rows))]
    correct = [[float(verify(t, row)) for t in comps] for comps, row in zip(by_problem, dataset_rows)]
    answers = [[extract_answer(t) for t in comps] for comps in by_problem]
    metrics = evaluate_samples(by_problem, correct, ks, entropies=out.entropies, answers=answers)
    generated = out.num_generated_tokens
    if greedy:
        g = sample_in_batches(model, prompts, greedy=True, **kw)
        g_texts = [tokenizer.decode(ids, skip_special_tokens=True) for ids in g.completion_ids]
        hits = sum(float(verify(t, row)) > 0.5 for t, row in zip(g_texts, dataset_rows))
        metrics["greedy_accuracy"] = hits / len(prompts)
        generated += g.num_generated_tokens
    metrics["generated_tokens"] = generated
    metrics["eval_seconds"] = time.perf_counter() - t0
    return metrics


def eval_rows(recipe, task, count: int) -> list[dict]:
    """The first `count` held-out problems (`eval.eval_set`, else the task's eval split), prompts formatted as in
    training."""
    from pathlib import Path

    from rlvr.errors import RLVRError
    from rlvr.prompts import format_prompt
    from rlvr.tasks.export import load_eval_set

    if recipe.eval.eval_set:
        path = Path(recipe.eval.eval_set)
        if not path.is_file():
            raise RLVRError(f"eval set '{path}' does not exist; write it with `rlvr data` or set eval.eval_set")
        rows = list(load_eval_set(path))[:count]
        if not rows:
            raise RLVRError(f"eval set '{path}' is empty")
    else:  # the task's own eval split at the recipe's difficulty (= data/<task>_eval.jsonl at the default one)
        rows = [task.item(i, "eval") for i in range(count)]
    style = recipe.task.prompt_style, recipe.task.system_prompt
    return [{**row, "prompt": format_prompt(row["prompt"], *style)} for row in rows]


def make_evaluator(recipe, task, tokenizer, max_new_tokens: int):
    """evaluate(model) -> metrics with the periodic settings; `.final(model)` with `eval.final`'s (see module doc)."""
    from rlvr.tasks.answer import extract_answer

    ev = recipe.eval
    final_problems, final_samples, final_ks = ev.final.resolve(ev)
    rows = eval_rows(recipe, task, max(ev.num_problems, final_problems))

    def run(model, problems: int = ev.num_problems, n_samples: int = ev.n_samples, ks: Sequence[int] = ev.ks):
        return evaluate(
            model,
            tokenizer,
            rows[:problems],
            verify=lambda completion, row: task.verify(completion, row["answer"], row["metadata"]),
            extract_answer=extract_answer,
            n_samples=n_samples,
            ks=tuple(ks),
            temperature=ev.temperature,
            max_new_tokens=ev.max_new_tokens or max_new_tokens,
            batch_size=ev.batch_size,
            seed=recipe.seed,
            greedy=ev.greedy,
        )

    run.final = lambda model: run(model, final_problems, final_samples, final_ks)

    def initial(model):  # the step-0 evaluation, shared through rlvr/eval_cache.py by runs with the same start
        from rlvr.config import to_dict
        from rlvr.eval_cache import cached, eval_key

        settings = dict(problems=final_problems, n_samples=final_samples, ks=list(final_ks), task=to_dict(recipe.task))
        settings.update(temperature=ev.temperature, max_new_tokens=ev.max_new_tokens or max_new_tokens)
        settings.update(batch_size=ev.batch_size, seed=recipe.seed, greedy=ev.greedy)
        key = partial(eval_key, model, tokenizer, rows[:final_problems], settings)  # called only if the cache is on
        metrics, hit = cached(key, lambda: run.final(model))
        if hit:
            print("step-0 evaluation reused from the cache (same weights, settings, seed and rlvr code)", flush=True)
        return metrics

    run.initial = initial
    return run
