"""samples.jsonl: what the model actually writes, for a few held-out problems (one JSON object per completion).

    {"step": 200, "problem": 0, "prompt": "457+68=", "answer": "525", "completion": "7+8=15,...#525",
     "extracted": "525", "score": 1.0, "greedy": false}

Written after a run's final evaluation and by `rlvr eval`, from the same rows, verifier and sampling settings as
the evaluation (`rlvr.evaluation.eval_rows`), a few problems x a few samples plus the greedy completion, so it is
cheap next to the evaluation itself.
"""

from __future__ import annotations

import json
from pathlib import Path

NUM_PROBLEMS = 4
NUM_SAMPLES = 4


def sample_completions(model, tokenizer, recipe, task, max_new_tokens: int, step: int | None = None) -> list[dict]:
    import torch

    from rlvr.evaluation import _encode_prompt, eval_rows
    from rlvr.sampling import sample_in_batches
    from rlvr.tasks.answer import extract_answer

    rows = eval_rows(recipe, task, NUM_PROBLEMS)
    prompts = [_encode_prompt(tokenizer, row["prompt"]) for row in rows]
    eos = tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    kw = dict(max_new_tokens=recipe.eval.max_new_tokens or max_new_tokens, eos_token_ids=eos, pad_token_id=pad)
    gen = torch.Generator().manual_seed(recipe.seed)
    repeated = [p for p in prompts for _ in range(NUM_SAMPLES)]
    sampled = sample_in_batches(model, repeated, temperature=recipe.eval.temperature, generator=gen, **kw)
    greedy = sample_in_batches(model, prompts, greedy=True, **kw)
    out = []
    for i, row in enumerate(rows):
        ids = [(sampled.completion_ids[i * NUM_SAMPLES + j], False) for j in range(NUM_SAMPLES)]
        for completion_ids, is_greedy in [*ids, (greedy.completion_ids[i], True)]:
            text = tokenizer.decode(completion_ids, skip_special_tokens=True)
            score = float(task.verify(text, row["answer"], row["metadata"]))
            prompt = row["prompt"] if isinstance(row["prompt"], str) else row["prompt"][-1]["content"]
            out.append(
                dict(step=step, problem=i, prompt=prompt, answer=row["answer"], completion=text,
                     extracted=extract_answer(text), score=score, greedy=is_greedy)
            )  # fmt: skip
    return out


def write_samples(path: Path, rows: list[dict], append: bool = False) -> Path:
    path = Path(path)
    with path.open("a" if append else "w") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in rows)
    return path
